"""Read episode bags back, with `rosbags` or with the independent `mcap` reader."""

import json
from pathlib import Path
import typing

import numpy as np
from rosbags.rosbag2 import Reader
import yaml

from vag_ros.episodes import topics as tp
from vag_ros.episodes.bag_writer import episode_digest, PARTIAL_MARKER, typestore
from vag_ros.episodes.episode import Episode, EpisodeMetadata
from vag_ros.errors import EpisodeError, read_utf8


PathLike = typing.Union[str, Path]
_METADATA_FIELDS = ('task', 'seed', 'success', 'robot', 'joint_names', 'frame_rate', 'source',
                    'instruction', 'episode_id', 'extra')


def metadata_from_json(text: str, where: str = 'metadata') -> EpisodeMetadata:
    """Parse metadata JSON written by metadata_to_json; EpisodeError names what is wrong."""
    try:
        record = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise EpisodeError(f'{where}: not valid JSON: {exc}') from exc
    if not isinstance(record, dict):
        raise EpisodeError(f'{where}: expected a JSON object, got {type(record).__name__}')
    missing = [k for k in _METADATA_FIELDS if k not in record]
    if missing:
        raise EpisodeError(f'{where}: missing fields {missing}')
    try:
        meta = EpisodeMetadata(
            task=str(record['task']), seed=int(record['seed']), success=bool(record['success']),
            robot=str(record['robot']), joint_names=tuple(str(n) for n in record['joint_names']),
            frame_rate=float(record['frame_rate']), source=str(record['source']),
            instruction=str(record['instruction']), episode_id=str(record['episode_id']),
            extra=dict(record['extra']))
    except (TypeError, ValueError) as exc:
        raise EpisodeError(f'{where}: bad field value: {exc}') from exc
    meta.validate()
    return meta


def is_partial(path: PathLike) -> bool:
    """Tell whether path lies in a hidden .partial- directory (being written, or crashed)."""
    return any(p.startswith('.') and PARTIAL_MARKER in p for p in Path(path).parts)


def _bag_info(path: Path) -> dict:
    """Check that path is a complete rosbag2 directory; return its bagfile information."""
    if is_partial(path):
        raise EpisodeError(f'{path}: an incomplete (partial) bag, still being written or crashed')
    if not path.exists():
        raise EpisodeError(f'{path}: no such episode bag')
    if not path.is_dir():
        raise EpisodeError(f'{path}: not a rosbag2 directory')
    meta_file = path / 'metadata.yaml'
    if not meta_file.is_file():
        raise EpisodeError(f'{path}: not a rosbag2 directory (no metadata.yaml)')
    try:
        data = yaml.safe_load(read_utf8(meta_file, 'bag metadata', EpisodeError))
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        raise EpisodeError(f'{path}: not a rosbag2 bag: {meta_file} is not valid YAML ('
                           f'{getattr(exc, "problem", exc)}'
                           + (f' at line {mark.line + 1}' if mark else '') + '): truncated '
                           'or edited; restore it (ros2 bag reindex rebuilds it)') from None
    if not isinstance(data, dict) or 'rosbag2_bagfile_information' not in data:
        raise EpisodeError(f'{path}: not a rosbag2 bag: {meta_file} '
                           + ('is empty' if data is None else
                              'has no rosbag2_bagfile_information')
                           + '; restore it (ros2 bag reindex rebuilds it)')
    try:
        info = data['rosbag2_bagfile_information']
        files = [path / Path(f).name for f in info['relative_file_paths']]
        topics = {t['topic_metadata']['name']: t['topic_metadata']['type']
                  for t in info['topics_with_message_count']}
    except (KeyError, TypeError) as exc:
        raise EpisodeError(f'{path}: not a rosbag2 bag, bad metadata.yaml: {exc!r}') from exc
    missing_files = [str(f) for f in files if not f.is_file()]
    if missing_files:
        raise EpisodeError(f'{path}: storage files missing: {missing_files}')
    info['_files'] = files
    info['_topics'] = topics
    custom = info.get('custom_data') or {}
    if not isinstance(custom, dict):
        raise EpisodeError(f'{path}: bad custom_data in metadata.yaml: {custom!r}')
    info['_custom'] = custom
    return info


def _resolve_topics(path: Path, info: dict,
                    topics: typing.Optional[tp.EpisodeTopics]) -> tp.EpisodeTopics:
    """Topics given, else those recorded in the bag's custom_data, else the defaults."""
    if topics is not None:
        return topics
    recorded = info['_custom'].get(tp.CUSTOM_DATA_TOPICS_KEY)
    if recorded is None:
        return tp.EpisodeTopics()
    try:
        return tp.EpisodeTopics(**json.loads(recorded))
    except (TypeError, ValueError) as exc:
        raise EpisodeError(f'{path}: bad {tp.CUSTOM_DATA_TOPICS_KEY} in custom_data') from exc


def _check_topics(path: Path, found: typing.Dict[str, str], topics: tp.EpisodeTopics) -> None:
    wanted = topics.types()
    missing = sorted(t for t in wanted if t not in found)
    if missing:
        raise EpisodeError(
            f'{path}: not an episode bag, missing topics {missing} '
            f'(it has {sorted(found)})')
    wrong = [f'{t} is {found[t]}, expected {ty}' for t, ty in wanted.items() if found[t] != ty]
    if wrong:
        raise EpisodeError(f'{path}: wrong topic types: {"; ".join(wrong)}')


def _reorder(names: typing.Sequence[str], values, joint_names: typing.Sequence[str],
             what: str) -> np.ndarray:
    """Values (D,) in metadata.joint_names order, whatever order the message used."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)  # (D,)
    names = list(names)
    if len(values) != len(names):
        raise EpisodeError(f'{what}: {len(names)} names but {len(values)} positions')
    if names == list(joint_names):
        return values
    index = {n: i for i, n in enumerate(names)}
    absent = [n for n in joint_names if n not in index]
    if absent:
        raise EpisodeError(f'{what}: joints {absent} missing (has {names})')
    return values[[index[n] for n in joint_names]]


def _image_to_array(msg, where: str) -> np.ndarray:
    """Convert an 'rgb8' Image message to (H, W, 3) uint8."""
    if msg.encoding != tp.IMAGE_ENCODING:
        raise EpisodeError(f'{where}: image encoding {msg.encoding!r}, expected '
                           f'{tp.IMAGE_ENCODING!r}')
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8) if not isinstance(
        msg.data, np.ndarray) else msg.data.astype(np.uint8, copy=False)
    if step < 3 * width or len(data) != step * height:
        raise EpisodeError(f'{where}: {len(data)} bytes do not fit {height}x{width} rgb8 '
                           f'with step {step}')
    return data.reshape(height, step)[:, :3 * width].reshape(height, width, 3)  # (H, W, 3)


def _assemble(path: Path, by_topic: typing.Dict[str, list], topics: tp.EpisodeTopics,
              custom: typing.Dict[str, str]) -> Episode:
    """Build and validate an Episode from decoded messages, in log-time order per topic."""
    meta_msgs = by_topic.get(topics.metadata, [])
    if len(meta_msgs) != 1:
        raise EpisodeError(f'{path}: expected 1 message on {topics.metadata}, '
                           f'got {len(meta_msgs)}')
    meta = metadata_from_json(meta_msgs[0].data, f'{path}: {topics.metadata}')
    custom_json = custom.get(tp.CUSTOM_DATA_METADATA_KEY)
    if custom_json is not None:
        if metadata_from_json(custom_json, f'{path}: custom_data') != meta:
            raise EpisodeError(f'{path}: metadata on {topics.metadata} and in custom_data differ')
    _attach_urdf(meta, custom, path)
    instr = by_topic.get(topics.instruction, [])
    if len(instr) != 1 or instr[0].data != meta.instruction:
        raise EpisodeError(f'{path}: {topics.instruction} must hold the one instruction '
                           f'{meta.instruction!r}')

    images = by_topic.get(topics.frames, [])
    frames = [_image_to_array(m, f'{path}: {topics.frames}[{k}]') for k, m in enumerate(images)]
    if not frames:
        raise EpisodeError(f'{path}: no frames on {topics.frames}')
    sizes = sorted({f.shape for f in frames})
    if len(sizes) != 1:
        raise EpisodeError(f'{path}: inconsistent image sizes on {topics.frames}: {sizes}')
    frames_arr = np.stack(frames)  # (T, H, W, 3)

    states = by_topic.get(topics.joints, [])
    joints = np.stack([_reorder(m.name, m.position, meta.joint_names,
                                f'{path}: {topics.joints}[{k}]')
                       for k, m in enumerate(states)]) if states else np.zeros(
        (0, len(meta.joint_names)))  # (T, D)

    trajs = by_topic.get(topics.actions, [])
    if len(trajs) != 1:
        raise EpisodeError(f'{path}: expected 1 JointTrajectory on {topics.actions}, '
                           f'got {len(trajs)}')
    traj = trajs[0]
    actions = np.stack([_reorder(traj.joint_names, p.positions, meta.joint_names,
                                 f'{path}: {topics.actions} point {k}')
                        for k, p in enumerate(traj.points)]) if traj.points else np.zeros(
        (0, len(meta.joint_names)))  # (T, D)

    if not (len(frames_arr) == len(joints) == len(actions)):
        raise EpisodeError(
            f'{path}: frames/joint states/action points disagree in length: '
            f'{len(frames_arr)}/{len(joints)}/{len(actions)}')
    digest = custom.get(tp.CUSTOM_DATA_DIGEST_KEY)
    if digest is not None and digest != episode_digest(frames_arr, joints, actions):
        raise EpisodeError(f'{path}: corrupt bag, content does not match its sha256')
    episode = Episode(frames=frames_arr, joints=joints, actions=actions, metadata=meta)
    try:
        episode.validate()
    except EpisodeError as exc:
        raise EpisodeError(f'{path}: {exc}') from exc
    return episode


def read_episode(path: PathLike, topics: typing.Optional[tp.EpisodeTopics] = None) -> Episode:
    """Read an episode bag with `rosbags`; EpisodeError if it is not a complete, valid one."""
    path = Path(path)
    info = _bag_info(path)
    topics = _resolve_topics(path, info, topics)
    _check_topics(path, info['_topics'], topics)
    wanted = topics.types()
    ts = typestore()
    by_topic: typing.Dict[str, list] = {t: [] for t in wanted}
    try:
        with Reader(path) as reader:
            conns = [c for c in reader.connections
                     if c.topic in wanted and c.msgtype == wanted[c.topic]]
            for conn, _, raw in reader.messages(connections=conns):
                by_topic[conn.topic].append(ts.deserialize_cdr(raw, conn.msgtype))
    except EpisodeError:
        raise
    except Exception as exc:  # noqa: B902 - any failure below rosbags means a corrupt bag
        raise EpisodeError(f'{path}: corrupt or unreadable bag: {type(exc).__name__}: {exc}') \
            from exc
    return _assemble(path, by_topic, topics, info['_custom'])


def read_frame(path: PathLike, k: int = 0, topics: typing.Optional[tp.EpisodeTopics] = None
               ) -> typing.Tuple[np.ndarray, np.ndarray, EpisodeMetadata]:
    """Frame ``k`` of an episode bag (H, W, 3) uint8, the measured joints at it (D,) in its
    metadata's joint order, and the metadata; only that camera message is decoded (a long
    recording is never held whole; its sha256 is not checked, as read_episode does)."""
    path = Path(path)
    info = _bag_info(path)
    topics = _resolve_topics(path, info, topics)
    _check_topics(path, info['_topics'], topics)
    custom_json = info['_custom'].get(tp.CUSTOM_DATA_METADATA_KEY)
    meta = None if custom_json is None else metadata_from_json(custom_json,
                                                               f'{path}: custom_data')
    ts = typestore()
    frame = state = None
    counts = {topics.frames: 0, topics.joints: 0}
    try:
        with Reader(path) as reader:
            conns = [c for c in reader.connections if c.topic in
                     (topics.frames, topics.joints, topics.metadata)]
            for conn, _, raw in reader.messages(connections=conns):
                if conn.topic == topics.metadata:
                    if meta is None:
                        meta = metadata_from_json(ts.deserialize_cdr(raw, conn.msgtype).data,
                                                  f'{path}: {topics.metadata}')
                    continue
                if counts[conn.topic] == k:
                    msg = ts.deserialize_cdr(raw, conn.msgtype)
                    if conn.topic == topics.frames:
                        frame = _image_to_array(msg, f'{path}: {topics.frames}[{k}]')
                    else:
                        state = msg
                counts[conn.topic] += 1
                if frame is not None and state is not None and meta is not None:
                    break
    except EpisodeError:
        raise
    except Exception as exc:  # noqa: B902 - any failure below rosbags means a corrupt bag
        raise EpisodeError(f'{path}: corrupt or unreadable bag: {type(exc).__name__}: {exc}') \
            from exc
    if meta is None:
        raise EpisodeError(f'{path}: no episode metadata on {topics.metadata}')
    if frame is None or state is None:
        raise EpisodeError(f'{path}: frame {k}: the episode has {counts[topics.frames]} '
                           f'frames and {counts[topics.joints]} joint states (frames count '
                           'from 0)')
    joints = _reorder(state.name, state.position, meta.joint_names,
                      f'{path}: {topics.joints}[{k}]')  # (D,)
    if not np.all(np.isfinite(joints)):
        raise EpisodeError(f'{path}: {topics.joints}[{k}]: NaN or inf joint positions')
    return frame, joints, meta


def read_episode_mcap(path: PathLike,
                      topics: typing.Optional[tp.EpisodeTopics] = None) -> Episode:
    """Read the same bag with the independent `mcap` + `mcap_ros2` decoder (a cross-check)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    path = Path(path)
    info = _bag_info(path)
    topics = _resolve_topics(path, info, topics)
    mcaps = [f for f in info['_files'] if f.suffix == '.mcap']
    if len(mcaps) != 1 or len(info['_files']) != 1:
        raise EpisodeError(f'{path}: expected one .mcap file, got {info["_files"]}')
    wanted = topics.types()
    by_topic: typing.Dict[str, list] = {t: [] for t in wanted}
    found: typing.Dict[str, str] = {}
    try:
        with open(mcaps[0], 'rb') as stream:
            reader = make_reader(stream, decoder_factories=[DecoderFactory()])
            for schema, channel, _, msg in reader.iter_decoded_messages(
                    topics=list(wanted), log_time_order=True):
                found[channel.topic] = schema.name
                if schema.name == wanted[channel.topic]:
                    by_topic[channel.topic].append(msg)
    except Exception as exc:  # noqa: B902 - any decoder failure means a corrupt bag
        raise EpisodeError(f'{path}: corrupt or unreadable MCAP: {type(exc).__name__}: {exc}') \
            from exc
    _check_topics(path, found, topics)
    return _assemble(path, by_topic, topics, info['_custom'])


def _attach_urdf(meta: EpisodeMetadata, custom: typing.Dict[str, str], path: Path) -> None:
    """Set ``meta.robot_urdf`` from the bag's custom_data, checked against its robot."""
    meta.robot_urdf = str(custom.get(tp.CUSTOM_DATA_URDF_KEY) or '')
    try:
        meta.robot_description()
    except EpisodeError as exc:
        raise EpisodeError(f'{path}: {exc}') from None


def read_metadata(path: PathLike) -> typing.Optional[EpisodeMetadata]:
    """An episode bag's metadata (with its robot's URDF, when recorded) from its
    metadata.yaml alone (no message is read); None for a bag written without it."""
    path = Path(path)
    custom = _bag_info(path)['_custom']
    custom_json = custom.get(tp.CUSTOM_DATA_METADATA_KEY)
    if custom_json is None:
        return None
    meta = metadata_from_json(custom_json, f'{path}: custom_data')
    _attach_urdf(meta, custom, path)
    return meta


def list_episode_bags(directory: PathLike) -> typing.List[Path]:
    """Complete bags (directories with metadata.yaml, not partial) in directory, by name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EpisodeError(f'{directory}: not a directory')
    return sorted((p for p in directory.iterdir()
                   if not p.name.startswith('.') and p.is_dir()
                   and (p / 'metadata.yaml').is_file()), key=lambda p: p.name)
