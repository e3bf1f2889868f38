"""Episode bags -> a LeRobot data set (``vag-ros export-lerobot`` and synthesis): v3.0, or
v2.1 for openpi (``dataset_writer``).

``observation.images.camera`` is the episode's camera (for a synthesized episode: the
render of its replayed joints), ``observation.images.generated`` the generated video when
asked for, ``observation.state`` the measured joints, ``action`` the commanded ones,
``task`` the instruction. Per-episode metadata columns (``vag/...``): scene, seed, task
family, source, success and every score (``time_scale``: the slow-down the arm needs).
"""

import functools
import json
from pathlib import Path
import typing

from vag_ros.datasets.lerobot_v21 import LeRobotV21Writer, OPENPI_ACTION_HORIZON
from vag_ros.datasets.lerobot_v3 import DatasetEpisode, LeRobotWriter
from vag_ros.datasets.video_files import DEFAULT_CODEC
from vag_ros.errors import EpisodeError
from vag_ros.synth.keep_rules import SCORES

CAMERA = 'camera'
GENERATED = 'generated'
FORMATS = ('v3.0', 'v2.1')   # LeRobot codebase versions written; v2.1 is what openpi reads


def dataset_writer(dataset_format: str = 'v3.0',
                   openpi_action_horizon: typing.Optional[int] = None) -> typing.Callable:
    """The writer of a LeRobot layout (called as LeRobotWriter): v3.0, or v2.1 with openpi's
    norm stats for ``openpi_action_horizon`` (default OPENPI_ACTION_HORIZON)."""
    if dataset_format not in FORMATS:
        raise EpisodeError(f'data set format {dataset_format!r}: expected one of '
                           f'{", ".join(FORMATS)}')
    if dataset_format == 'v3.0':
        if openpi_action_horizon is not None:
            raise EpisodeError('--openpi-action-horizon: only a --format v2.1 data set has '
                               'openpi\'s norm stats')
        return LeRobotWriter
    return functools.partial(LeRobotV21Writer, openpi_action_horizon=(
        OPENPI_ACTION_HORIZON if openpi_action_horizon is None else openpi_action_horizon))


def read_exported(root: Path, decode_videos: bool = False):
    """The data set at ``root`` read back by the reader of its codebase_version."""
    from vag_ros.datasets import lerobot_reader, lerobot_v21_reader
    try:
        version = json.loads((Path(root) / 'meta' / 'info.json').read_text()).get(
            'codebase_version')
    except (OSError, ValueError) as exc:
        raise EpisodeError(f'{root}: no readable meta/info.json ({exc})') from None
    reader = lerobot_v21_reader if version == 'v2.1' else lerobot_reader
    return reader.read_dataset(root, decode_videos=decode_videos)


def _metadata(episode, scores: typing.Optional[dict] = None) -> dict:
    meta = episode.metadata
    out = {'name': None, 'scene': meta.extra.get('scene'), 'seed': int(meta.seed),
           'task_family': meta.task, 'source': meta.source, 'success': bool(meta.success),
           'episode_id': meta.episode_id, 'checkpoint_sha256': meta.extra.get(
               'checkpoint_sha256')}
    recorded = meta.extra.get('scores') if scores is None else scores
    for key, value in (recorded or {}).items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


def _camera_shapes(episode, generated) -> typing.Dict[str, typing.Tuple[int, int]]:
    shapes = {CAMERA: tuple(episode.frames.shape[1:3])}
    if generated is not None:
        shapes[GENERATED] = tuple(generated.frames.shape[1:3])
    return shapes


def _to_dataset_episode(episode, generated, metadata: dict) -> DatasetEpisode:
    videos = {CAMERA: episode.frames}
    if generated is not None:
        if generated.num_steps != episode.num_steps:
            raise EpisodeError(f'generated episode has {generated.num_steps} frames, the '
                               f'executed one {episode.num_steps}')
        videos[GENERATED] = generated.frames
    return DatasetEpisode(episode.metadata.instruction, episode.joints, episode.actions,
                          videos, metadata)


Pair = typing.Tuple[str, Path, typing.Optional[Path], typing.Optional[dict]]


def _check_rate(bag: Path, rate: float, fps: typing.Optional[int]) -> None:
    """EpisodeError unless an episode recorded at ``rate`` [Hz] can be a frame of a data set
    at ``fps`` (None: the episodes' own rate, which LeRobot needs to be an integer)."""
    if fps is not None and rate != fps:
        raise EpisodeError(f'{bag}: recorded at {rate:g} Hz, not the --fps {fps} asked for; '
                           f'export it with --fps native, or ingest its bag again with '
                           f'--fps {fps} (frames are never resampled here)')
    if round(rate) != rate:
        raise EpisodeError(f'{bag}: recorded at {rate:g} Hz; a LeRobot data set needs an '
                           'integer rate: ingest its bag again with an integer --fps')


def export_pairs(pairs: typing.Iterable[Pair], root: Path, codec: str = DEFAULT_CODEC,
                 overwrite: bool = True, fps: typing.Optional[int] = None,
                 make_writer: typing.Callable = LeRobotWriter) -> Path:
    """(name, bag, generated bag or None, scores or None) per episode -> data set at root,
    at the episodes' own rate (one for all) or ``fps``, which they must be recorded at;
    ``make_writer``: LeRobotWriter or another of ``dataset_writer``."""
    from vag_ros.datasets.merge import content_digest
    from vag_ros.episodes.bag_reader import read_episode
    writer = None
    seen: typing.Dict[tuple, Path] = {}   # merge-datasets' duplicate key -> its bag
    try:
        for name, bag, generated_bag, scores in pairs:
            episode = read_episode(bag)
            generated = read_episode(generated_bag) if generated_bag is not None else None
            meta = episode.metadata
            if writer is None:
                _check_rate(bag, meta.frame_rate, fps)
                writer = make_writer(root, meta.frame_rate, meta.joint_names, meta.robot,
                                     _camera_shapes(episode, generated), codec, overwrite)
                rate, first = meta.frame_rate, bag  # the first episode's, as recorded
            elif (meta.robot, list(meta.joint_names)) != (writer.robot_type,
                                                          writer.joint_names):
                raise EpisodeError(f'{bag}: robot {meta.robot!r}, joints '
                                   f'{list(meta.joint_names)}; {first}: robot '
                                   f'{writer.robot_type!r}, joints {writer.joint_names} (one '
                                   'data set, one robot: export them apart)')
            elif _camera_shapes(episode, generated) != writer.cameras:
                raise EpisodeError(f'{bag}: cameras {_camera_shapes(episode, generated)} '
                                   f'differ from the first episode\'s {writer.cameras}; one '
                                   'data set holds one camera size per key')
            if meta.frame_rate != rate:
                raise EpisodeError(f'{bag}: {meta.frame_rate:g} Hz; {first}: {rate:g} Hz (one '
                                   'data set, one rate: export them apart, or ingest again '
                                   'at one --fps)')
            metadata = _metadata(episode, scores)
            metadata['name'] = name
            item = _to_dataset_episode(episode, generated, metadata)
            same = (content_digest(item), metadata['seed'])
            if same in seen:
                raise EpisodeError(f'{bag}: the same episode as {seen[same]} (same task, '
                                   'states, actions and seed: one bag copied under two '
                                   'names?); a data set holds each episode once: remove '
                                   'one of them from the folder')
            seen[same] = bag
            writer.add(item)
        if writer is None:
            raise EpisodeError(f'{root}: no episodes to export')
        return writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


def export_records(out: Path, records: typing.Sequence[dict], root: Path, robot,
                   with_generated: bool = True, codec: str = DEFAULT_CODEC,
                   make_writer: typing.Callable = LeRobotWriter) -> Path:
    """The synthesized episodes of ``records`` (scores.jsonl rows) -> data set at root."""
    pairs = []
    for r in records:
        generated = out / r['generated_bag'] if with_generated and r.get('generated_bag') \
            else None
        pairs.append((r['name'], out / r['bag'], generated, {k: r.get(k) for k in SCORES}))
    return export_pairs(pairs, root, codec, make_writer=make_writer)


def export_folder(episodes: Path, root: Path, generated: typing.Optional[Path] = None,
                  codec: str = DEFAULT_CODEC, overwrite: bool = False,
                  fps: typing.Optional[int] = None,
                  make_writer: typing.Callable = LeRobotWriter) -> Path:
    """Every bag of ``episodes`` (with its namesake in ``generated``) -> data set at root,
    at their own rate (``fps`` None) or ``fps``."""
    from vag_ros.episodes.bag_reader import list_episode_bags
    bags = list_episode_bags(episodes)
    if not bags:
        raise EpisodeError(f'{episodes}: no episode bags')
    pairs = []
    for bag in bags:
        twin = None
        if generated is not None:
            twin = Path(generated) / bag.name
            if not twin.is_dir():
                raise EpisodeError(f'{bag.name}: no generated bag {twin}')
        pairs.append((bag.name, bag, twin, None))
    return export_pairs(pairs, root, codec, overwrite, fps, make_writer)
