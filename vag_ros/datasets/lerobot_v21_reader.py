"""Read a LeRobot v2.1 data set back by its specification (pyarrow, PyAV).

Every cross-reference lerobot's v2.1 ``LeRobotDataset`` follows is checked: info.json's
totals and path templates (each episode's parquet file and videos resolve, no file beside
them), episode and frame indices, the global index, timestamps at the fps, task indices,
per-episode stats of every feature, and openpi's norm stats where the set has them.
"""

import dataclasses
import json
import math
from pathlib import Path
import typing

import numpy as np

from vag_ros.datasets import lerobot_v21 as v21
from vag_ros.datasets import lerobot_v3 as v3
from vag_ros.datasets import openpi_norm_stats, video_files
from vag_ros.datasets.lerobot_reader import ReadDataset, ReadEpisode
from vag_ros.errors import EpisodeError

TIMESTAMP_TOLERANCE_S = 1e-4      # LeRobotDataset's default tolerance_s


@dataclasses.dataclass
class ReadV21Dataset(ReadDataset):
    """A v2.1 data set as read back; ``norm_stats`` None where it has no norm_stats.json."""

    norm_stats: typing.Optional[typing.Dict[str, typing.Dict[str, np.ndarray]]] = None


def _fail(root: Path, detail: str):
    raise EpisodeError(f'{root}: not a valid LeRobot v2.1 data set: {detail}')


def _json(root: Path, relative: str):
    try:
        return json.loads((root / relative).read_text())
    except (OSError, ValueError) as exc:
        _fail(root, f'{relative} unreadable ({exc})')


def _jsonl(root: Path, relative: str) -> typing.List[dict]:
    try:
        lines = (root / relative).read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        _fail(root, f'{relative} unreadable ({exc})')


def _by_index(root: Path, rows: typing.List[dict], key: str, what: str) -> typing.List[dict]:
    """``rows`` sorted by ``key``, which must run 0..N-1."""
    rows = sorted(rows, key=lambda r: r[key])
    if [r[key] for r in rows] != list(range(len(rows))):
        _fail(root, f'{what}: {key} is not 0..{len(rows) - 1}')
    return rows


def _check_totals(root: Path, info: dict, episodes: list, tasks: dict, video_keys) -> None:
    count = len(episodes)
    expected = {'total_episodes': count, 'total_frames': sum(e['length'] for e in episodes),
                'total_tasks': len(tasks), 'total_videos': count * len(video_keys),
                'total_chunks': math.ceil(count / info['chunks_size']),
                'splits': {'train': f'0:{count}'}}
    for key, value in expected.items():
        if info.get(key) != value:
            _fail(root, f'info.json {key} is {info.get(key)!r}, the tables say {value!r}')


def _check_stats(root: Path, index: int, stats: dict, features: dict, length: int) -> None:
    """Every feature has min/max/mean/std/count of its shape ((3, 1, 1) for videos)."""
    if set(stats) != set(features):
        _fail(root, f'episode {index}: stats of {sorted(stats)}, features {sorted(features)}')
    for key, values in stats.items():
        if set(values) != set(v21.STATS):
            _fail(root, f'episode {index}: stats of {key} are {sorted(values)}')
        video = features[key]['dtype'] == 'video'
        shape = (3, 1, 1) if video else tuple(features[key]['shape'])
        for name in ('min', 'max', 'mean', 'std'):
            if values[name].shape != shape:
                _fail(root, f'episode {index}: {key} {name} has shape {values[name].shape}, '
                      f'expected {shape}')
        if not video and values['count'].tolist() != [length]:
            _fail(root, f'episode {index}: {key} count {values["count"]}, length {length}')


def _read_norm_stats(root: Path, dof: int):
    if not (root / v21.NORM_STATS_PATH).is_file():
        return None
    stats = _json(root, v21.NORM_STATS_PATH).get('norm_stats', {})
    if set(stats) != {'state', 'actions'}:
        _fail(root, f'{v21.NORM_STATS_PATH}: norm_stats of {sorted(stats)}, expected actions '
              'and state')
    out = {}
    for key, values in stats.items():
        out[key] = {name: np.asarray(values.get(name)) for name in
                    ('mean', 'std', *openpi_norm_stats.QUANTILES)}
        if any(v.shape != (dof,) for v in out[key].values()):
            _fail(root, f'{v21.NORM_STATS_PATH}: {key} is not {dof} values per statistic')
    return out


def read_dataset(root: typing.Union[str, Path], decode_videos: bool = True) -> ReadV21Dataset:
    """The v2.1 data set at ``root``; EpisodeError naming the first inconsistency."""
    import pyarrow.parquet as pq
    root = Path(root)
    info = _json(root, v21.INFO_PATH)
    if info.get('codebase_version') != v21.CODEBASE_VERSION:
        _fail(root, f"codebase_version {info.get('codebase_version')!r}")
    fps, features, chunks = info['fps'], info['features'], info['chunks_size']
    video_keys = [k for k, f in features.items() if f['dtype'] == 'video']
    columns = [k for k in features if k not in video_keys]
    tasks = {r['task_index']: r['task']
             for r in _by_index(root, _jsonl(root, v21.TASKS_PATH), 'task_index', 'tasks')}
    rows = _by_index(root, _jsonl(root, v21.EPISODES_PATH), 'episode_index', 'episodes')
    stats_rows = _by_index(root, _jsonl(root, v21.EPISODES_STATS_PATH), 'episode_index',
                           'episodes_stats')
    if len(stats_rows) != len(rows):
        _fail(root, f'{len(stats_rows)} episode stats for {len(rows)} episodes')
    _check_totals(root, info, rows, tasks, video_keys)
    expected_files, episodes, start = set(), [], 0
    for row, stats_row in zip(rows, stats_rows):
        index, length = row['episode_index'], row['length']
        place = {'episode_chunk': index // chunks, 'episode_index': index}
        path = root / info['data_path'].format(**place)
        expected_files.add(path)
        if not path.is_file():
            _fail(root, f'episode {index}: {path} missing')
        table = pq.read_table(path)
        if sorted(table.column_names) != sorted(columns) or table.num_rows != length:
            _fail(root, f'episode {index}: {path.name} has columns {table.column_names} and '
                  f'{table.num_rows} rows; expected {columns} and its length {length}')
        data = {k: np.stack(table.column(k).to_numpy(zero_copy_only=False)) for k in columns}
        if not (np.array_equal(data['frame_index'], np.arange(length))
                and np.all(data['episode_index'] == index)
                and np.array_equal(data['index'], np.arange(start, start + length))):
            _fail(root, f'episode {index}: frame_index, episode_index or index out of step '
                  f'(its rows are {start}..{start + length - 1})')
        times = data['timestamp'].astype(np.float64)
        if not np.allclose(times, np.arange(length) / fps, atol=TIMESTAMP_TOLERANCE_S):
            _fail(root, f'episode {index}: timestamps are not frame_index / fps')
        if any(tasks.get(int(t)) not in row['tasks'] for t in set(data['task_index'])):
            _fail(root, f'episode {index}: task_index does not name one of its tasks')
        stats = {k: {s: np.asarray(v) for s, v in values.items()}
                 for k, values in stats_row['stats'].items()}
        _check_stats(root, index, stats, features, length)
        videos, files = {}, {}
        for key in video_keys:
            files[key] = root / info['video_path'].format(video_key=key, **place)
            expected_files.add(files[key])
            if not files[key].is_file():
                _fail(root, f'episode {index}: video {files[key]} missing')
            if decode_videos:
                videos[key], stamps = video_files.decode_video(files[key])
                shape = (length, *features[key]['shape'])
                if videos[key].shape != shape or not np.allclose(
                        stamps, np.arange(length) / fps, atol=TIMESTAMP_TOLERANCE_S):
                    _fail(root, f'episode {index}: video {key} has {videos[key].shape} at '
                          f'{stamps[:3]}..., expected {shape} at frame_index / fps')
        metadata = {k[len(v3.METADATA_PREFIX):]: v for k, v in row.items()
                    if k.startswith(v3.METADATA_PREFIX)}
        episodes.append(ReadEpisode(
            index, row['tasks'][0], data[v3.STATE_KEY], data[v3.ACTION_KEY], times, videos,
            files, metadata, stats))
        start += length
    found = {p for folder in ('data', 'videos') for p in (root / folder).rglob('*')
             if p.is_file()}
    if found != expected_files:
        _fail(root, f'files no episode names: {sorted(map(str, found - expected_files))[:3]}')
    stats = _json(root, v21.STATS_PATH) if (root / v21.STATS_PATH).is_file() else {}
    dof = features[v3.STATE_KEY]['shape'][0]
    return ReadV21Dataset(root, info, stats, tasks, episodes, _read_norm_stats(root, dof))
