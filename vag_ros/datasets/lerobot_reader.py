"""Read a LeRobot v3.0 data set back by its specification (pyarrow, pandas, PyAV).

Every cross-reference the format makes is checked: info.json totals, episode and frame
indices, each episode's rows and video files, task indices, timestamps at the fps.
"""

import dataclasses
import json
from pathlib import Path
import typing

import numpy as np

from vag_ros.datasets import lerobot_v3 as v3
from vag_ros.datasets import video_files
from vag_ros.errors import EpisodeError


@dataclasses.dataclass
class ReadEpisode:
    """One episode as read back."""

    index: int
    task: str
    state: np.ndarray                      # (T, D) float32
    action: np.ndarray                     # (T, D) float32
    timestamps: np.ndarray                 # (T,) s
    videos: typing.Dict[str, np.ndarray]   # feature key -> (T, H, W, 3) uint8; {} if skipped
    video_files: typing.Dict[str, Path]    # feature key -> its MP4
    metadata: typing.Dict[str, typing.Any]  # our vag/ columns, prefix removed
    stats: typing.Dict[str, dict]          # feature -> its episode stats


@dataclasses.dataclass
class ReadDataset:
    """A data set as read back: info, stats, tasks and its episodes in index order."""

    root: Path
    info: dict
    stats: dict
    tasks: typing.Dict[int, str]
    episodes: typing.List[ReadEpisode]

    @property
    def video_keys(self) -> typing.List[str]:
        return [k for k, f in self.info['features'].items() if f['dtype'] == 'video']


def _fail(root: Path, detail: str):
    raise EpisodeError(f'{root}: not a valid LeRobot v3.0 data set: {detail}')


def _read_parquets(root: Path, folder: str):
    import pandas as pd
    files = sorted((root / folder).glob('chunk-*/file-*.parquet'))
    if not files:
        _fail(root, f'no {folder}/chunk-*/file-*.parquet')
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def read_dataset(root: typing.Union[str, Path], decode_videos: bool = True) -> ReadDataset:
    """The data set at ``root``; EpisodeError naming the first inconsistency."""
    import pandas as pd
    root = Path(root)
    try:
        info = json.loads((root / v3.INFO_PATH).read_text())
        stats = json.loads((root / v3.STATS_PATH).read_text())
    except (OSError, ValueError) as exc:
        _fail(root, f'meta/info.json or meta/stats.json unreadable ({exc})')
    if info.get('codebase_version') != v3.CODEBASE_VERSION:
        _fail(root, f"codebase_version {info.get('codebase_version')!r}")
    fps, features = info['fps'], info['features']
    tasks_frame = pd.read_parquet(root / v3.TASKS_PATH)
    tasks = {int(i): str(t) for t, i in zip(tasks_frame.index, tasks_frame['task_index'])}
    episodes_frame = _read_parquets(root, 'meta/episodes').sort_values('episode_index')
    data = _read_parquets(root, 'data').sort_values('index')
    if list(data['index']) != list(range(len(data))):
        _fail(root, 'data index is not 0..N-1')
    if (len(episodes_frame), len(data), len(tasks)) != (
            info['total_episodes'], info['total_frames'], info['total_tasks']):
        _fail(root, 'totals in info.json disagree with the tables')
    video_keys = [k for k, f in features.items() if f['dtype'] == 'video']
    episodes = []
    for expected, row in enumerate(episodes_frame.to_dict('records')):
        index = int(row['episode_index'])
        if index != expected:
            _fail(root, f'episode indices skip {expected}')
        rows = data.iloc[int(row['dataset_from_index']):int(row['dataset_to_index'])]
        length = int(row['length'])
        if len(rows) != length or set(rows['episode_index']) != {index}:
            _fail(root, f'episode {index}: its rows disagree with its length {length}')
        if list(rows['frame_index']) != list(range(length)):
            _fail(root, f'episode {index}: frame_index is not 0..{length - 1}')
        times = rows['timestamp'].to_numpy(np.float64)
        if not np.allclose(times, np.arange(length) / fps, atol=1e-4):
            _fail(root, f'episode {index}: timestamps are not frame_index / fps')
        task_ids = set(int(t) for t in rows['task_index'])
        if len(task_ids) != 1 or tasks.get(task_ids.pop()) not in list(row['tasks']):
            _fail(root, f'episode {index}: task_index does not name its task')
        videos, files = {}, {}
        for key in video_keys:
            place = {k: int(row[f'videos/{key}/{k}']) for k in ('chunk_index', 'file_index')}
            path = root / info['video_path'].format(video_key=key, **place)
            if not path.is_file():
                _fail(root, f'episode {index}: video {path} missing')
            files[key] = path
            if decode_videos:
                frames, stamps = video_files.decode_video(path)
                start = float(row[f'videos/{key}/from_timestamp'])
                end = float(row[f'videos/{key}/to_timestamp'])
                keep = (stamps >= start - 1e-4) & (stamps < end - 1e-4)
                frames = frames[keep]
                shape = tuple(features[key]['shape'])
                if frames.shape != (length, *shape):
                    _fail(root, f'episode {index}: video {key} has {frames.shape}, expected '
                          f'({length}, {", ".join(map(str, shape))})')
                videos[key] = frames
        metadata = {k[len(v3.METADATA_PREFIX):]: _plain(v) for k, v in row.items()
                    if k.startswith(v3.METADATA_PREFIX)}
        episode_stats = {}
        for key in features:
            if f'stats/{key}/mean' in row:
                episode_stats[key] = {s: np.asarray(_nested(row[f'stats/{key}/{s}']))
                                      for s in v3.STATS if f'stats/{key}/{s}' in row}
        episodes.append(ReadEpisode(
            index, str(row['tasks'][0]), np.stack(rows[v3.STATE_KEY].to_numpy()),
            np.stack(rows[v3.ACTION_KEY].to_numpy()), times, videos, files, metadata,
            episode_stats))
    return ReadDataset(root, info, stats, tasks, episodes)


def _nested(value):
    """A parquet list cell (possibly arrays of arrays) as nested Python lists."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_nested(v) for v in value]
    return value.tolist() if isinstance(value, np.ndarray) else value


def _plain(value):
    """A numpy / pandas scalar as a Python value; NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
