"""Join LeRobot v3 data sets written by vag-ros (synthesis shards) into one.

Episodes are ordered by their ``vag/scene`` column when every shard has it (so shards of one
synthesis run merge into what a single process would have written), else shard by shard.
Videos are decoded once to check them (a damaged file is refused, not copied), then copied
byte for byte (vag-ros writes one file per episode), rows re-indexed. An episode already
merged (by id, scene and seed, or content and seed) is refused.
"""

import hashlib
from pathlib import Path
import typing

import numpy as np

from vag_ros.datasets import lerobot_v3 as v3, video_files
from vag_ros.datasets.lerobot_reader import read_dataset
from vag_ros.errors import EpisodeError


def content_digest(episode) -> str:
    """sha256 of an episode's task, states and actions (what makes two episodes the same)."""
    digest = hashlib.sha256(episode.task.encode())
    for values in (episode.state, episode.action):
        digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()


def merge_datasets(shards: typing.Sequence[typing.Union[str, Path]],
                   out: typing.Union[str, Path], overwrite: bool = False) -> Path:
    """Write the episodes of every shard into the data set ``out``; its path."""
    if not shards:
        raise EpisodeError('merge: no shards given')
    datasets = [read_dataset(s, decode_videos=False) for s in shards]
    first = datasets[0]
    for other in datasets[1:]:
        for key in ('fps', 'features', 'robot_type'):
            if other.info[key] != first.info[key]:
                raise EpisodeError(f'{other.root}: {key} differs from {first.root}; only data '
                                   'sets of one robot, rate and feature set merge')
    entries = [(d, e) for d in datasets for e in d.episodes]
    for d in datasets:
        for key in d.video_keys:
            files = [e.video_files[key] for e in d.episodes]
            if len(set(files)) != len(files):
                raise EpisodeError(f'{d.root}: episodes share video files; only data sets '
                                   'with one video file per episode (vag-ros) merge')
    seen = {}
    for d, e in entries:  # one episode twice: its id, else its scene and seed
        meta = e.metadata
        key = meta.get('episode_id') or (meta.get('scene'), meta.get('seed'))
        if key != (None, None) and key in seen:
            raise EpisodeError(f'merge: the same scene or episode ({key}) is in {seen[key]} '
                               f'and in {d.root}; the data sets overlap')
        seen[key] = d.root
        # the same content under another id (a second run with the same checkpoint and
        # seeds, one bag exported twice): its task, states, actions and seed
        same = ('content', content_digest(e), meta.get('seed'))
        if same in seen:
            raise EpisodeError(f'merge: episode {e.index} of {d.root} repeats an episode of '
                               f'{seen[same]} (same task, states, actions and seed under '
                               'another id); the data sets overlap')
        seen[same] = d.root
    for d, e in entries:   # every video decoded before anything is written
        for key in d.video_keys:
            height, width = d.info['features'][key]['shape'][:2]
            frames = video_files.count_frames(e.video_files[key], height, width)
            if frames != len(e.state):
                raise EpisodeError(f'{e.video_files[key]}: {frames} frames for an episode of '
                                   f'{len(e.state)}; the data set {d.root} is damaged')
    scenes = [e.metadata.get('scene') for _, e in entries]
    # shards of one run: distinct scene numbers, merged in scene order; separate runs (each
    # numbered from 0) are appended one after another
    if all(s is not None for s in scenes) and len(set(scenes)) == len(scenes):
        entries = [entry for _, entry in sorted(zip(scenes, entries), key=lambda p: p[0])]
    features = first.info['features']
    cameras = {k[len(v3.IMAGE_PREFIX):]: tuple(f['shape'][:2]) for k, f in features.items()
               if f['dtype'] == 'video'}
    codec = next((f['info']['video.codec'] for f in features.values()
                  if f['dtype'] == 'video'), 'av1')
    codec = {'av1': 'libsvtav1', 'h264': 'h264'}.get(codec, 'libsvtav1')
    writer = v3.LeRobotWriter(out, first.info['fps'], features[v3.STATE_KEY]['names'],
                              first.info['robot_type'], cameras, codec, overwrite)
    try:
        for dataset, episode in entries:
            writer.add(v3.DatasetEpisode(episode.task, episode.state, episode.action,
                                         {c: None for c in cameras}, episode.metadata),
                       encoded={c: episode.video_files[v3.IMAGE_PREFIX + c] for c in cameras},
                       image_stats={k: {s: v.tolist() for s, v in episode.stats[k].items()}
                                    for k in episode.video_files})
        return writer.close()
    except BaseException:
        writer.abort()
        raise
