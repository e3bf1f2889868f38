"""Write a LeRobot v3.0 data set: the layout of LeRobot's ``LeRobotDataset`` (codebase v3.0).

``lerobot`` itself cannot be installed beside this project (lerobot 0.4.4 pins torch < 2.11
and torchvision; the project pins torch 2.13), so this module writes its documented layout
with pyarrow, pandas and PyAV, following lerobot 0.4.4's ``lerobot/datasets/utils.py``::

    meta/info.json                 codebase_version, fps, features, paths, totals
    meta/stats.json                min / max / mean / std / count per feature
    meta/tasks.parquet             task (index) -> task_index
    meta/episodes/chunk-000/file-000.parquet   one row per episode: length, tasks, where its
                                   rows and videos are, its stats, and our own columns
    data/chunk-000/file-000.parquet            one row per frame
    videos/<key>/chunk-000/file-000.mp4        one file per episode and camera here

One video file per episode keeps episodes independent (a merge copies files); LeRobot's
reader follows each episode's chunk / file index and timestamps, so it reads either way.
The data set is written into a hidden ``.<root>.partial-<pid>-<random>`` beside it and renamed into
place by ``close``; no other folder beside ``root`` is ever touched.
"""

import dataclasses
import json
import math
from pathlib import Path
import shutil
import typing

import numpy as np

from vag_ros.datasets import video_files
from vag_ros.errors import EpisodeError
from vag_ros.outputs import deferred_signals, staging_folder

CODEBASE_VERSION = 'v3.0'
CHUNK_SIZE = 1000                 # files per chunk folder (LeRobot's DEFAULT_CHUNK_SIZE)
EPISODES_PER_FILE = 1000          # episodes per data / episodes-metadata parquet file
DATA_FILES_SIZE_MB = 100          # LeRobot's defaults, recorded in info.json
VIDEO_FILES_SIZE_MB = 200
INFO_PATH = 'meta/info.json'
STATS_PATH = 'meta/stats.json'
TASKS_PATH = 'meta/tasks.parquet'
CHUNK_FILE = 'chunk-{chunk_index:03d}/file-{file_index:03d}'
EPISODES_PATH = 'meta/episodes/' + CHUNK_FILE + '.parquet'
DATA_PATH = 'data/' + CHUNK_FILE + '.parquet'
VIDEO_PATH = 'videos/{video_key}/' + CHUNK_FILE + '.mp4'
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'
IMAGE_PREFIX = 'observation.images.'
METADATA_PREFIX = 'vag/'          # our per-episode columns (scores, seeds) in meta/episodes
DEFAULT_FEATURES = {
    'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
    'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'index': {'dtype': 'int64', 'shape': [1], 'names': None},
    'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
}
# LeRobot's DEFAULT_QUANTILES; its pi0.5 normalizes states and actions by them
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f'q{int(round(q * 100)):02d}' for q in QUANTILES)
STATS = ('min', 'max', 'mean', 'std', 'count', *QUANTILE_KEYS)

Scalar = typing.Union[None, bool, int, float, str]


@dataclasses.dataclass
class DatasetEpisode:
    """One episode to write: a task, states, actions, videos and per-episode metadata."""

    task: str                        # the instruction
    state: np.ndarray                # (T, D) measured joints
    action: np.ndarray               # (T, D) commanded joints
    videos: typing.Dict[str, np.ndarray]  # camera name -> (T, H, W, 3) uint8 RGB
    metadata: typing.Dict[str, Scalar] = dataclasses.field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.state)


def chunk_and_file(number: int, per_file: int = 1) -> typing.Dict[str, int]:
    """{'chunk_index', 'file_index'} of the file holding item ``number``."""
    file_number = number // per_file
    return {'chunk_index': file_number // CHUNK_SIZE, 'file_index': file_number % CHUNK_SIZE}


def feature_stats(values: np.ndarray, axes, sample: typing.Optional[np.ndarray] = None
                  ) -> typing.Dict[str, list]:
    """min, max, mean, std, count and the quantiles of ``values`` over ``axes``, as lists;
    the quantiles of ``sample`` (a subsample of ``values``) when given."""
    values = values.astype(np.float64)
    out = {'min': values.min(axis=axes).tolist(), 'max': values.max(axis=axes).tolist(),
           'mean': values.mean(axis=axes).tolist(), 'std': values.std(axis=axes).tolist(),
           'count': [int(len(values))]}
    sample = values if sample is None else sample
    for key, q in zip(QUANTILE_KEYS, np.quantile(sample, QUANTILES, axis=axes)):
        out[key] = q.tolist()
    return out


def video_stats(frames: np.ndarray) -> typing.Dict[str, list]:
    """Per-channel stats in [0, 1], shape (3, 1, 1), as LeRobot keeps them for videos.

    Frame by frame: a float copy of a whole video is 8 times its bytes (a 10-minute
    640x480 episode: 44 GB), several of them at once in numpy's temporaries."""
    frames = np.asarray(frames)                      # (T, H, W, 3) uint8
    count = frames.shape[0] * frames.shape[1] * frames.shape[2]
    total = np.zeros(3)
    for frame in frames:
        total += frame.reshape(-1, 3).sum(axis=0, dtype=np.float64)
    mean = total / count                             # (3,) in 0..255
    squares = np.zeros(3)
    for frame in frames:
        deviation = frame.reshape(-1, 3) - mean      # (H * W, 3) float64, one frame
        squares += np.einsum('ij,ij->j', deviation, deviation)
    stride = max(1, int(np.sqrt(frames.shape[1] * frames.shape[2] / 4096)))  # ~64x64 px
    sample = frames[:, ::stride, ::stride].reshape(-1, 3).astype(np.float64) / 255.0
    values = {'min': frames.min(axis=(0, 1, 2)) / 255.0,
              'max': frames.max(axis=(0, 1, 2)) / 255.0,
              'mean': mean / 255.0, 'std': np.sqrt(squares / count) / 255.0}
    values.update(zip(QUANTILE_KEYS, np.quantile(sample, QUANTILES, axis=0)))
    out = {k: np.asarray(v, dtype=np.float64).reshape(3, 1, 1).tolist()
           for k, v in values.items()}
    out['count'] = [int(len(frames))]
    return out


def aggregate_stats(per_episode: typing.Sequence[typing.Dict[str, list]]) -> dict:
    """Pool episode stats of one feature: weighted mean, pooled variance, min, max."""
    counts = np.array([s['count'][0] for s in per_episode], dtype=np.float64)
    means = [np.asarray(s['mean']) for s in per_episode]
    total = counts.sum()
    mean = sum(c * m for c, m in zip(counts, means)) / total
    variance = sum(c * (np.asarray(s['std']) ** 2 + (m - mean) ** 2)
                   for c, m, s in zip(counts, means, per_episode)) / total
    out = {'min': np.min([s['min'] for s in per_episode], axis=0).tolist(),
           'max': np.max([s['max'] for s in per_episode], axis=0).tolist(),
           'mean': mean.tolist(), 'std': np.sqrt(variance).tolist(), 'count': [int(total)]}
    for key in QUANTILE_KEYS:  # as LeRobot aggregates them: count-weighted episode quantiles
        if all(key in s for s in per_episode):
            out[key] = (sum(c * np.asarray(s[key]) for c, s in zip(counts, per_episode))
                        / total).tolist()
    return out


def frame_table(pa, frames: typing.Sequence[typing.Tuple[np.ndarray, np.ndarray, int]],
                episode_indices: typing.Sequence[int], first_index: int, fps: int, dof: int):
    """The data table (pyarrow) of episodes given as (state (T, D), action (T, D), task index):
    one row per frame, ``index`` counted from ``first_index``."""
    lengths = [len(state) for state, _, _ in frames]
    frame_index = np.concatenate([np.arange(n) for n in lengths])  # (N,)
    columns = {}
    for key, part in ((STATE_KEY, 0), (ACTION_KEY, 1)):
        flat = np.concatenate([f[part] for f in frames]).reshape(-1)  # (N * D,)
        columns[key] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dof)
    columns['timestamp'] = pa.array((frame_index / fps).astype(np.float32))
    columns['frame_index'] = pa.array(frame_index, pa.int64())
    columns['episode_index'] = pa.array(np.repeat(episode_indices, lengths), pa.int64())
    columns['index'] = pa.array(np.arange(first_index, first_index + sum(lengths)), pa.int64())
    columns['task_index'] = pa.array(np.repeat([t for _, _, t in frames], lengths), pa.int64())
    return pa.table(columns)


def check_scalar(key: str, value) -> Scalar:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if value is not None and not isinstance(value, (bool, int, float, str)):
        raise EpisodeError(f'episode metadata {key!r}: {type(value).__name__} is not a '
                           'number, text, bool or None')
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class LeRobotWriter:
    """Collect episodes, then ``close()`` writes the tables and moves the set into place."""

    def __init__(self, root: typing.Union[str, Path], fps: float,
                 joint_names: typing.Sequence[str], robot_type: str,
                 cameras: typing.Mapping[str, typing.Tuple[int, int]],
                 codec: str = video_files.DEFAULT_CODEC, overwrite: bool = False):
        """``cameras``: camera name -> (height, width); keys become observation.images.*."""
        if round(fps) != fps or fps <= 0:
            raise EpisodeError(f'fps {fps}: LeRobot data sets need a positive integer rate')
        video_files.encoder_options(codec)  # refuses an unknown codec now
        self.root = Path(root)
        if self.root.exists() and not overwrite:
            raise EpisodeError(f'{self.root} already exists; refusing to overwrite it')
        if self.root.exists() and not (self.root / INFO_PATH).is_file():
            raise EpisodeError(f'{self.root} exists and is not a LeRobot data set (no '
                               f'{INFO_PATH}); refusing to replace it')
        # a name of our own: a user's <root>.partial or <root>.old is never ours to remove
        self.partial = staging_folder(self.root.parent, self.root.name)
        self.fps, self.codec, self.robot_type = int(fps), codec, robot_type
        self.joint_names = [str(n) for n in joint_names]
        self.cameras = {str(k): (int(h), int(w)) for k, (h, w) in cameras.items()}
        self.tasks: typing.Dict[str, int] = {}
        # per episode: (state (T, D) float32, action (T, D) float32, task index); the
        # frame columns (timestamp, frame_index, index...) follow from them when written
        self.frames: typing.List[typing.Tuple[np.ndarray, np.ndarray, int]] = []
        self.total_frames = 0
        self.episodes: typing.List[dict] = []  # one per episode
        self.feature_stats: typing.Dict[str, typing.List[dict]] = {}

    def abort(self) -> None:
        """Remove the partial data set; ``root`` stays as it was."""
        shutil.rmtree(self.partial, ignore_errors=True)

    # features ------------------------------------------------------------------------------
    def features(self) -> dict:
        """meta/info.json's features: videos, state, action and LeRobot's index columns."""
        dof = len(self.joint_names)
        features = {}
        for camera, (height, width) in self.cameras.items():
            features[IMAGE_PREFIX + camera] = {
                'dtype': 'video', 'shape': [height, width, 3],
                'names': ['height', 'width', 'channels'],
                'info': video_files.video_info(self.codec, height, width, self.fps)}
        for key in (STATE_KEY, ACTION_KEY):
            features[key] = {'dtype': 'float32', 'shape': [dof], 'names': self.joint_names}
        features.update(DEFAULT_FEATURES)
        return features

    # episodes ------------------------------------------------------------------------------
    def _check(self, episode: DatasetEpisode) -> None:
        dof = len(self.joint_names)
        length = episode.length
        for what, array in (('state', episode.state), ('action', episode.action)):
            array = np.asarray(array)
            if array.shape != (length, dof) or length < 1:
                raise EpisodeError(f'episode {what}: expected ({length}, {dof}) with at least '
                                   f'one step, got {array.shape}')
            if not np.all(np.isfinite(array)):
                raise EpisodeError(f'episode {what}: contains NaN or inf')
        if set(episode.videos) != set(self.cameras):
            raise EpisodeError(f'episode cameras {sorted(episode.videos)}: this data set has '
                               f'{sorted(self.cameras)}')
        for camera, frames in episode.videos.items():
            expected = (length, *self.cameras[camera], 3)
            if frames is not None and (frames.shape != expected or frames.dtype != np.uint8):
                raise EpisodeError(f'episode camera {camera!r}: expected {expected} uint8, '
                                   f'got {frames.shape} {frames.dtype}')
        if not episode.task.strip():
            raise EpisodeError('episode task (instruction) is empty')

    def add(self, episode: DatasetEpisode,
            encoded: typing.Optional[typing.Mapping[str, Path]] = None,
            image_stats: typing.Optional[typing.Mapping[str, dict]] = None) -> int:
        """Append ``episode``; its index. ``encoded``: camera -> an existing MP4 of exactly
        this episode to copy instead of encoding (frames may then be None) with its
        ``image_stats``."""
        self._check(episode)
        index = len(self.episodes)
        length = episode.length
        start = self.total_frames
        task_index = self.tasks.setdefault(episode.task, len(self.tasks))
        state = np.asarray(episode.state, dtype=np.float32)    # (T, D)
        action = np.asarray(episode.action, dtype=np.float32)  # (T, D)
        self.frames.append((state, action, task_index))
        self.total_frames += length
        row = {'episode_index': index, 'tasks': [episode.task], 'length': length}
        row.update({f'data/{k}': v for k, v in chunk_and_file(index, EPISODES_PER_FILE).items()})
        row.update({'dataset_from_index': start, 'dataset_to_index': start + length})
        stats = {STATE_KEY: feature_stats(state, 0), ACTION_KEY: feature_stats(action, 0)}
        for camera in self.cameras:
            key = IMAGE_PREFIX + camera
            place = chunk_and_file(index)
            path = self.partial / VIDEO_PATH.format(video_key=key, **place)
            stats[key] = self._write_video(episode, camera, path, encoded, image_stats)
            row.update({f'videos/{key}/{k}': v for k, v in place.items()})
            row[f'videos/{key}/from_timestamp'] = 0.0
            row[f'videos/{key}/to_timestamp'] = length / self.fps
        row.update({f'meta/episodes/{k}': v
                    for k, v in chunk_and_file(index, EPISODES_PER_FILE).items()})
        for feature, values in stats.items():
            self.feature_stats.setdefault(feature, []).append(values)
            row.update({f'stats/{feature}/{name}': values[name] for name in STATS
                        if name in values})
        for key, value in episode.metadata.items():
            row[METADATA_PREFIX + key] = check_scalar(key, value)
        self.episodes.append(row)
        return index

    def _write_video(self, episode: DatasetEpisode, camera: str, path: Path,
                     encoded: typing.Optional[typing.Mapping[str, Path]],
                     image_stats: typing.Optional[typing.Mapping[str, dict]]) -> dict:
        """Encode ``episode``'s ``camera`` to ``path`` (or copy its ``encoded`` MP4); its
        image stats."""
        if encoded is not None and camera in encoded:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(encoded[camera], path)
            return image_stats[IMAGE_PREFIX + camera]
        video_files.encode_video(episode.videos[camera], path, self.fps, self.codec)
        return video_stats(episode.videos[camera])

    # tables --------------------------------------------------------------------------------
    def _write_data(self, pa, pq) -> None:
        dof = len(self.joint_names)
        for first in range(0, len(self.episodes), EPISODES_PER_FILE):
            episodes = self.episodes[first:first + EPISODES_PER_FILE]
            frames = self.frames[first:first + EPISODES_PER_FILE]
            table = frame_table(pa, frames, [e['episode_index'] for e in episodes],
                                episodes[0]['dataset_from_index'], self.fps, dof)
            path = self.partial / DATA_PATH.format(
                **chunk_and_file(first, EPISODES_PER_FILE))
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)

    def _write_episodes(self, pd, pq) -> None:
        """meta/episodes files, all of one schema (inferred over every episode)."""
        import pyarrow as pa
        keys = list(dict.fromkeys(k for row in self.episodes for k in row))
        frame = pd.DataFrame([{k: row.get(k) for k in keys} for row in self.episodes])
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for first in range(0, len(self.episodes), EPISODES_PER_FILE):
            path = self.partial / EPISODES_PATH.format(
                **chunk_and_file(first, EPISODES_PER_FILE))
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.slice(first, EPISODES_PER_FILE), path)

    def close(self) -> Path:
        """Write the tables and info, then move the data set to ``root``; its path."""
        try:
            import pandas as pd
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise EpisodeError("writing LeRobot data sets needs pandas and pyarrow: pip "
                               "install -e '.[dataset]'") from None
        if not self.episodes:
            raise EpisodeError(f'{self.root}: no episodes to write')
        self._write_data(pa, pq)
        self._write_episodes(pd, pq)
        tasks = pd.DataFrame({'task_index': list(self.tasks.values())},
                             index=pd.Index(list(self.tasks), name='task'))
        tasks.to_parquet(self.partial / TASKS_PATH)
        stats = {key: aggregate_stats(values) for key, values in self.feature_stats.items()}
        (self.partial / STATS_PATH).write_text(json.dumps(stats, indent=2) + '\n')
        info = {
            'codebase_version': CODEBASE_VERSION, 'robot_type': self.robot_type,
            'total_episodes': len(self.episodes), 'total_frames': self.total_frames,
            'total_tasks': len(self.tasks), 'chunks_size': CHUNK_SIZE,
            'data_files_size_in_mb': DATA_FILES_SIZE_MB,
            'video_files_size_in_mb': VIDEO_FILES_SIZE_MB, 'fps': self.fps,
            'splits': {'train': f'0:{len(self.episodes)}'}, 'data_path': DATA_PATH,
            'video_path': VIDEO_PATH if self.cameras else None, 'features': self.features()}
        (self.partial / INFO_PATH).write_text(json.dumps(info, indent=4) + '\n')
        return move_into_place(self.partial, self.root)


def move_into_place(partial: Path, root: Path) -> Path:
    """Replace ``root`` by ``partial``; the old set is removed only after the rename, and
    put back if the rename fails."""
    old = None
    with deferred_signals():
        if root.exists():
            old = staging_folder(root.parent, root.name + '.old') / root.name
            root.rename(old)
        try:
            partial.rename(root)
        except OSError:
            if old is not None:
                old.rename(root)
            raise
    if old is not None:
        shutil.rmtree(old.parent)
    return root
