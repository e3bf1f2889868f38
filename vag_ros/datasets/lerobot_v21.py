"""Write a LeRobot v2.1 data set: the layout openpi's data loader reads.

openpi trains on ``lerobot.common.datasets.lerobot_dataset.LeRobotDataset`` of the lerobot
commit it pins (0cf8648, codebase v2.1), which reads no v3.0 set. This writes that layout as
its ``utils.py`` and ``lerobot_dataset.py`` define it (one file per episode, JSON-lines
metadata), from the v3.0 writer's pieces (features, frame table, stats, videos)::

    meta/info.json                 codebase_version "v2.1", fps, features, path templates,
                                   totals (episodes, frames, tasks, videos, chunks)
    meta/tasks.jsonl               {task_index, task} per line
    meta/episodes.jsonl            {episode_index, tasks, length} (and our vag/ columns)
    meta/episodes_stats.jsonl      {episode_index, stats: feature -> min/max/mean/std/count}
    meta/stats.json                those pooled over every episode
    meta/norm_stats.json           openpi's norm stats (state, actions; see openpi_norm_stats)
    data/chunk-000/episode_000000.parquet                         one per episode
    videos/chunk-000/observation.images.camera/episode_000000.mp4 one per episode and camera

The set is built in a hidden staging folder beside ``root`` and renamed into place by
``close``, as the v3.0 writer does.
"""

import json
import math
from pathlib import Path
import typing

import numpy as np

from vag_ros.datasets import lerobot_v3 as v3
from vag_ros.datasets import openpi_norm_stats
from vag_ros.errors import EpisodeError

CODEBASE_VERSION = 'v2.1'
CHUNK_SIZE = v3.CHUNK_SIZE        # episodes per chunk folder (DEFAULT_CHUNK_SIZE)
INFO_PATH = v3.INFO_PATH
STATS_PATH = v3.STATS_PATH
TASKS_PATH = 'meta/tasks.jsonl'
EPISODES_PATH = 'meta/episodes.jsonl'
EPISODES_STATS_PATH = 'meta/episodes_stats.jsonl'
NORM_STATS_PATH = 'meta/' + openpi_norm_stats.FILE
DATA_PATH = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
VIDEO_PATH = 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'
STATS = ('min', 'max', 'mean', 'std', 'count')  # compute_stats.get_feature_stats
OPENPI_ACTION_HORIZON = 10        # openpi's pi05_libero (Pi0Config's default is 50)


def episode_chunk(index: int) -> int:
    return index // CHUNK_SIZE


def hf_features(features: dict) -> dict:
    """The ``huggingface`` schema metadata that ``datasets`` writes into each parquet file
    (what lerobot's ``load_dataset('parquet')`` reads the column types from)."""
    out = {}
    for key, feature in features.items():
        if feature['dtype'] == 'video':
            continue
        value = {'dtype': feature['dtype'], '_type': 'Value'}
        out[key] = value if feature['shape'] == [1] else {
            'feature': value, 'length': feature['shape'][0], '_type': 'Sequence'}
    return {'info': {'features': out}}


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise EpisodeError("writing LeRobot data sets needs pandas and pyarrow: pip "
                           "install -e '.[dataset]'") from None
    return pa, pq


def _jsonl(path: Path, rows: typing.Iterable[dict]) -> None:
    path.write_text(''.join(json.dumps(row) + '\n' for row in rows))


class LeRobotV21Writer(v3.LeRobotWriter):
    """Collect episodes (each written at once), then ``close()`` writes the metadata and
    moves the set into place."""

    def __init__(self, *args, openpi_action_horizon: int = OPENPI_ACTION_HORIZON, **kwargs):
        """As LeRobotWriter; ``openpi_action_horizon``: the action chunk length of the
        openpi model whose norm stats are written."""
        if int(openpi_action_horizon) < 1:
            raise EpisodeError(f'openpi action horizon {openpi_action_horizon}: expected a '
                               'positive number of actions')
        super().__init__(*args, **kwargs)
        self.action_horizon = int(openpi_action_horizon)
        self.episode_stats: typing.List[dict] = []   # per episode: feature -> STATS

    def add(self, episode: v3.DatasetEpisode,
            encoded: typing.Optional[typing.Mapping[str, Path]] = None,
            image_stats: typing.Optional[typing.Mapping[str, dict]] = None) -> int:
        """Write ``episode``'s parquet file and videos; its index (``encoded`` and
        ``image_stats`` as for LeRobotWriter.add)."""
        pa, pq = _pyarrow()
        self._check(episode)
        index = len(self.episodes)
        task_index = self.tasks.setdefault(episode.task, len(self.tasks))
        state = np.asarray(episode.state, dtype=np.float32)    # (T, D)
        action = np.asarray(episode.action, dtype=np.float32)  # (T, D)
        table = v3.frame_table(pa, [(state, action, task_index)], [index], self.total_frames,
                               self.fps, len(self.joint_names))
        table = table.replace_schema_metadata(
            {'huggingface': json.dumps(hf_features(self.features()))})
        path = self.partial / DATA_PATH.format(episode_chunk=episode_chunk(index),
                                               episode_index=index)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        stats = {}
        for key in table.column_names:   # every column, as compute_episode_stats does
            column = np.stack(table.column(key).to_numpy(zero_copy_only=False))
            stats[key] = v3.feature_stats(column.reshape(len(column), -1), 0)
        for camera in self.cameras:
            key = v3.IMAGE_PREFIX + camera
            path = self.partial / VIDEO_PATH.format(
                episode_chunk=episode_chunk(index), video_key=key, episode_index=index)
            stats[key] = self._write_video(episode, camera, path, encoded, image_stats)
        self.episode_stats.append(
            {key: {s: values[s] for s in STATS} for key, values in stats.items()})
        row = {'episode_index': index, 'tasks': [episode.task], 'length': episode.length}
        for key, value in episode.metadata.items():
            row[v3.METADATA_PREFIX + key] = v3.check_scalar(key, value)
        self.episodes.append(row)
        self.frames.append((state, action, task_index))
        self.total_frames += episode.length
        return index

    def info(self) -> dict:
        """meta/info.json, as ``create_empty_dataset_info`` and ``save_episode`` keep it."""
        episodes = len(self.episodes)
        return {
            'codebase_version': CODEBASE_VERSION, 'robot_type': self.robot_type,
            'total_episodes': episodes, 'total_frames': self.total_frames,
            'total_tasks': len(self.tasks), 'total_videos': episodes * len(self.cameras),
            'total_chunks': math.ceil(episodes / CHUNK_SIZE), 'chunks_size': CHUNK_SIZE,
            'fps': self.fps, 'splits': {'train': f'0:{episodes}'}, 'data_path': DATA_PATH,
            'video_path': VIDEO_PATH if self.cameras else None, 'features': self.features()}

    def close(self) -> Path:
        """Write the metadata, then move the data set to ``root``; its path."""
        if not self.episodes:
            raise EpisodeError(f'{self.root}: no episodes to write')
        meta = self.partial / 'meta'
        meta.mkdir(parents=True, exist_ok=True)
        _jsonl(self.partial / TASKS_PATH,
               ({'task_index': i, 'task': t} for t, i in self.tasks.items()))
        _jsonl(self.partial / EPISODES_PATH, self.episodes)
        _jsonl(self.partial / EPISODES_STATS_PATH,
               ({'episode_index': k, 'stats': s} for k, s in enumerate(self.episode_stats)))
        stats = {key: v3.aggregate_stats([s[key] for s in self.episode_stats])
                 for key in self.episode_stats[0]}
        (self.partial / STATS_PATH).write_text(json.dumps(stats, indent=4) + '\n')
        openpi_norm_stats.write(self.partial / NORM_STATS_PATH, openpi_norm_stats.norm_stats(
            [(state, action) for state, action, _ in self.frames], self.action_horizon))
        (self.partial / INFO_PATH).write_text(json.dumps(self.info(), indent=4) + '\n')
        return v3.move_into_place(self.partial, self.root)
