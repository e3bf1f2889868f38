"""Write episodes as rosbag2 (MCAP) directories with `rosbags`, atomically."""

import dataclasses
import errno
import hashlib
import json
import os
from pathlib import Path
import re
import shutil
import time
import typing

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore

from vag_ros.episodes import topics as tp
from vag_ros.episodes.episode import Episode, EpisodeMetadata
from vag_ros.errors import EpisodeError
from vag_ros.outputs import OutputError, PARTIAL_MARKER, staging_folder

_NAME_OK = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*$')
_PER_MESSAGE_BYTES = 1024      # CDR header, MCAP record and index overhead, generous
_FIXED_BYTES = 256 * 1024      # metadata.yaml, MCAP summary, schemas

_TYPESTORE = None


def typestore():
    """Return the shared rosbags type store, built once since building it is slow."""
    global _TYPESTORE
    if _TYPESTORE is None:
        _TYPESTORE = get_typestore(tp.TYPESTORE)
    return _TYPESTORE


def metadata_to_json(metadata: EpisodeMetadata) -> str:
    """Serialize metadata to JSON; EpisodeError if `extra` is not JSON-serializable."""
    record = dataclasses.asdict(metadata)
    del record['robot_urdf']  # custom_data carries it (CUSTOM_DATA_URDF_KEY)
    record.update(
        seed=int(metadata.seed), success=bool(metadata.success),
        frame_rate=float(metadata.frame_rate), joint_names=list(metadata.joint_names))
    try:
        return json.dumps(record, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EpisodeError(f'metadata.extra={metadata.extra!r}: not JSON-serializable: {exc}')


def default_bag_name(metadata: EpisodeMetadata) -> str:
    """Name a bag after its task, seed and id, e.g. 'pick_cube_s0007_1f3a9c2b'."""
    task = re.sub(r'[^A-Za-z0-9_\-]+', '_', metadata.task).strip('_') or 'episode'
    return f'{task}_s{int(metadata.seed):04d}_{metadata.episode_id[:8]}'


def episode_digest(frames: np.ndarray, joints: np.ndarray, actions: np.ndarray) -> str:
    """sha256 of the arrays' shapes and little-endian bytes, to catch silent corruption."""
    digest = hashlib.sha256()
    for array, dtype in ((frames, '|u1'), (joints, '<f8'), (actions, '<f8')):
        digest.update(repr(array.shape).encode())
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()


def estimate_episode_bytes(episode: Episode) -> int:
    """Upper estimate of an episode bag's size on disk (uncompressed MCAP)."""
    t = episode.num_steps
    payload = episode.frames.nbytes + 2 * episode.joints.nbytes + episode.actions.nbytes
    names = sum(len(n) + 8 for n in episode.metadata.joint_names) * (t + 1)
    meta = 3 * len(metadata_to_json(episode.metadata)) + len(episode.metadata.instruction)
    return int(1.1 * (payload + names + meta + _PER_MESSAGE_BYTES * (2 * t + 8))) + _FIXED_BYTES


def _stamp(ns: int):
    ts = typestore()
    return ts.types['builtin_interfaces/msg/Time'](sec=int(ns // 10**9), nanosec=int(ns % 10**9))


def _duration(ns: int):
    ts = typestore()
    return ts.types['builtin_interfaces/msg/Duration'](
        sec=int(ns // 10**9), nanosec=int(ns % 10**9))


def _header(ns: int, frame_id: str = ''):
    return typestore().types['std_msgs/msg/Header'](stamp=_stamp(ns), frame_id=frame_id)


def _fsync_tree(root: Path) -> None:
    """Flush every file under root and the directories themselves to disk."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f'no space left on device ({exc})'
    return f'{type(exc).__name__}: {exc}'


class EpisodeBagWriter:
    """One episode bag, written into a hidden partial directory and renamed on commit.

    Use as a context manager (or start() ... commit() / abort()): the bag appears under its
    final name only if the block succeeds; on any error the partial directory is removed
    and EpisodeError raised. Metadata and instruction are written on start; then add
    frames, joint states, trajectories and strings on the default topics or any other
    (e.g. the predicted streams), or any typestore message with add_message().
    """

    def __init__(self, out_dir: typing.Union[str, Path], name: str, metadata: EpisodeMetadata,
                 topics: tp.EpisodeTopics = tp.EpisodeTopics(),
                 start_time_ns: typing.Optional[int] = None, estimated_bytes: int = 0):
        metadata.validate()
        topics.validate()
        if not isinstance(name, str) or not _NAME_OK.match(name) or PARTIAL_MARKER in name:
            raise EpisodeError(
                f'bag name {name!r}: use letters, digits, _ . - and no leading dot')
        self.out_dir = Path(out_dir)
        self.name = name
        self.path = self.out_dir / name
        self.metadata = metadata
        self.topics = topics
        self.start_time_ns = time.time_ns() if start_time_ns is None else int(start_time_ns)
        self.estimated_bytes = int(estimated_bytes)
        self._metadata_json = metadata_to_json(metadata)
        self._partial: typing.Optional[Path] = None
        self._writer: typing.Optional[Writer] = None
        self._connections: typing.Dict[str, typing.Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> 'EpisodeBagWriter':
        """Check the output directory and free space, and start the partial bag."""
        self._check_out_dir()
        if os.path.lexists(self.path):
            raise EpisodeError(f'{self.path} exists already; refusing to overwrite it')
        free = shutil.disk_usage(self.out_dir).free
        if free < self.estimated_bytes:
            raise EpisodeError(
                f'not enough free space in {self.out_dir}: the bag needs about '
                f'{self.estimated_bytes / 1e6:.1f} MB, {free / 1e6:.1f} MB are free')
        try:  # a partial of this name whose writer was killed goes first
            self._partial = staging_folder(self.out_dir, self.name)
        except OutputError as exc:
            raise EpisodeError(f'cannot write the episode bag {self.path}: {exc}') from None
        try:
            self._writer = Writer(self._partial / self.name, version=tp.BAG_VERSION,
                                  storage_plugin=StoragePlugin.MCAP)
            self._writer.set_custom_data(tp.CUSTOM_DATA_METADATA_KEY, self._metadata_json)
            self._writer.set_custom_data(
                tp.CUSTOM_DATA_TOPICS_KEY, json.dumps(dataclasses.asdict(self.topics)))
            if self.metadata.robot_urdf:
                self._writer.set_custom_data(tp.CUSTOM_DATA_URDF_KEY, self.metadata.robot_urdf)
            self._writer.open()
            self.add_string(self.topics.metadata, self._metadata_json, self.start_time_ns)
            self.add_string(self.topics.instruction, self.metadata.instruction,
                            self.start_time_ns)
        except BaseException as exc:
            self._fail(exc)
        return self

    def commit(self) -> Path:
        """Finish the bag, flush it to disk and move it to its final name."""
        if self._writer is None or self._partial is None:
            raise EpisodeError(f'bag {self.path} is not started (or already committed)')
        try:
            self._writer.close()  # writes the MCAP summary, then metadata.yaml
            self._writer = None
            staged = self._partial / self.name
            _fsync_tree(staged)
            if os.path.lexists(self.path):
                raise EpisodeError(f'{self.path} appeared while writing; refusing to overwrite')
            try:
                os.rename(staged, self.path)
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise EpisodeError(
                        f'{self.path} exists already; refusing to overwrite it') from exc
                raise
        except BaseException as exc:
            self._fail(exc)
        # The bag is complete under its final name; tidying up is best effort from here.
        partial, self._partial = self._partial, None
        for tidy in (lambda: os.rmdir(partial), lambda: _fsync_dir(self.out_dir)):
            try:
                tidy()
            except OSError:
                pass
        return self.path

    def abort(self) -> None:
        """Drop the partial bag; nothing remains on disk."""
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.abort()
            except Exception:  # noqa: B902 - best effort, the directory goes anyway
                pass
        partial, self._partial = self._partial, None
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)

    def __enter__(self) -> 'EpisodeBagWriter':
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
            return False
        self._fail(exc)

    def _fail(self, exc: BaseException) -> typing.NoReturn:
        self.abort()
        if isinstance(exc, EpisodeError) or not isinstance(exc, Exception):
            raise exc
        raise EpisodeError(f'could not write episode bag {self.path}: {_describe(exc)}') from exc

    def _check_out_dir(self) -> None:
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EpisodeError(
                f'cannot create output directory {self.out_dir}: {_describe(exc)}') from exc
        if not os.access(self.out_dir, os.W_OK | os.X_OK):
            raise EpisodeError(f'output directory {self.out_dir} is not writable')

    # -- messages ----------------------------------------------------------------------------

    def set_custom_data(self, key: str, value: str) -> None:
        """Add a string to the bag's custom_data (written when the bag is closed)."""
        if self._writer is None:
            raise EpisodeError(f'bag {self.path} is not started (or already committed)')
        self._writer.set_custom_data(key, value)

    def add_message(self, topic: str, msgtype: str, message, stamp_ns: int) -> None:
        """Write any message of the typestore (e.g. a DiagnosticArray) on any topic."""
        if self._writer is None:
            raise EpisodeError(f'bag {self.path} is not started (or already committed)')
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = conn
        elif conn.msgtype != msgtype:
            raise EpisodeError(f'topic {topic}: has type {conn.msgtype}, not {msgtype}')
        self._writer.write(conn, int(stamp_ns), typestore().serialize_cdr(message, msgtype))

    def add_frame(self, frame: np.ndarray, stamp_ns: int, topic: typing.Optional[str] = None,
                  frame_id: str = tp.CAMERA_FRAME_ID) -> None:
        """Write one RGB frame (H, W, 3) uint8 as an 'rgb8' Image."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise EpisodeError(f'frame: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}')
        height, width = frame.shape[:2]
        msg = typestore().types[tp.IMAGE_TYPE](
            header=_header(stamp_ns, frame_id), height=height, width=width,
            encoding=tp.IMAGE_ENCODING, is_bigendian=0, step=3 * width,
            data=np.ascontiguousarray(frame).reshape(-1))
        self.add_message(topic or self.topics.frames, tp.IMAGE_TYPE, msg, stamp_ns)

    def add_compressed_frame(self, frame: np.ndarray, stamp_ns: int,
                             topic: typing.Optional[str] = None, fmt: str = 'jpeg',
                             quality: int = 90, frame_id: str = tp.CAMERA_FRAME_ID) -> int:
        """Write one RGB frame (H, W, 3) uint8 as a JPEG or PNG CompressedImage on
        ``<topic>/compressed`` (image_transport's layout); returns the encoded bytes."""
        import io
        from PIL import Image as PilImage
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise EpisodeError(f'frame: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}')
        if fmt not in tp.COMPRESSED_FORMATS:
            raise EpisodeError(f'compressed frame format {fmt!r}: expected one of '
                               f'{tp.COMPRESSED_FORMATS}')
        buffer = io.BytesIO()
        options = {'quality': int(quality)} if fmt == 'jpeg' else {'compress_level': 1}
        PilImage.fromarray(np.ascontiguousarray(frame)).save(buffer, format=fmt.upper(),
                                                             **options)
        data = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
        msg = typestore().types[tp.COMPRESSED_IMAGE_TYPE](
            header=_header(stamp_ns, frame_id), format=f'rgb8; {fmt} compressed bgr8',
            data=data)
        self.add_message((topic or self.topics.frames) + tp.COMPRESSED_SUFFIX,
                         tp.COMPRESSED_IMAGE_TYPE, msg, stamp_ns)
        return len(data)

    def add_joint_state(self, positions: np.ndarray, stamp_ns: int,
                        topic: typing.Optional[str] = None) -> None:
        """Write measured joint positions (D,) as a JointState named by metadata.joint_names."""
        positions = np.asarray(positions, dtype=np.float64).reshape(-1)  # (D,)
        empty = np.zeros(0, dtype=np.float64)
        msg = typestore().types[tp.JOINT_STATE_TYPE](
            header=_header(stamp_ns), name=list(self.metadata.joint_names),
            position=positions, velocity=empty, effort=empty)
        self.add_message(topic or self.topics.joints, tp.JOINT_STATE_TYPE, msg, stamp_ns)

    def add_trajectory(self, positions: np.ndarray, stamp_ns: int,
                       topic: typing.Optional[str] = None,
                       frame_rate: typing.Optional[float] = None) -> None:
        """Write positions (T, D) as one JointTrajectory, point k at k / frame_rate."""
        positions = np.asarray(positions, dtype=np.float64)  # (T, D)
        rate = float(frame_rate or self.metadata.frame_rate)
        types = typestore().types
        empty = np.zeros(0, dtype=np.float64)
        points = [
            types['trajectory_msgs/msg/JointTrajectoryPoint'](
                positions=np.ascontiguousarray(row), velocities=empty, accelerations=empty,
                effort=empty, time_from_start=_duration(round(k * 1e9 / rate)))
            for k, row in enumerate(positions)]
        msg = types[tp.TRAJECTORY_TYPE](
            header=_header(stamp_ns), joint_names=list(self.metadata.joint_names), points=points)
        self.add_message(topic or self.topics.actions, tp.TRAJECTORY_TYPE, msg, stamp_ns)

    def add_string(self, topic: str, text: str, stamp_ns: int) -> None:
        """Write one std_msgs/String."""
        msg = typestore().types[tp.STRING_TYPE](data=text)
        self.add_message(topic, tp.STRING_TYPE, msg, stamp_ns)


def frame_stamp_ns(start_time_ns: int, k: int, frame_rate: float) -> int:
    """Stamp of frame k at the frame rate from the start time."""
    return int(start_time_ns) + round(k * 1e9 / frame_rate)


def write_episode(episode: Episode, out_dir: typing.Union[str, Path],
                  name: typing.Optional[str] = None,
                  topics: tp.EpisodeTopics = tp.EpisodeTopics(),
                  start_time_ns: typing.Optional[int] = None) -> Path:
    """Validate an episode and write it as the bag out_dir/name; return the bag's path.

    Raises EpisodeError on an invalid episode, an existing bag, an unwritable directory,
    too little free space or any failure while writing (nothing is left behind then).
    """
    episode.validate()
    if episode.num_steps == 0:
        raise EpisodeError('episode has no frames (T = 0)')
    return write_episode_frames(iter(episode.frames), episode.joints, episode.actions,
                                episode.metadata, out_dir, name, topics, start_time_ns,
                                estimate_episode_bytes(episode))


def write_episode_frames(frames: typing.Iterator[np.ndarray], joints: np.ndarray,
                         actions: np.ndarray, metadata: EpisodeMetadata,
                         out_dir: typing.Union[str, Path], name: typing.Optional[str] = None,
                         topics: tp.EpisodeTopics = tp.EpisodeTopics(),
                         start_time_ns: typing.Optional[int] = None,
                         estimated_bytes: int = 0) -> Path:
    """Write an episode whose T frames (H, W, 3) uint8 arrive one by one from ``frames``
    (long recordings never sit in memory whole); ``joints``, ``actions`` (T, D)."""
    joints, actions = np.asarray(joints, np.float64), np.asarray(actions, np.float64)
    t = len(joints)
    if t == 0 or actions.shape != joints.shape or joints.ndim != 2:
        raise EpisodeError(f'joints {joints.shape} and actions {actions.shape}: expected the '
                           'same (T, D) with T >= 1')
    first = next(frames, None)
    if first is None or first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise EpisodeError(f'first frame: expected (H, W, 3) uint8, got '
                           f'{getattr(first, "shape", None)}')
    name = default_bag_name(metadata) if name is None else name
    estimate = estimated_bytes or int(1.1 * t * (first.nbytes + 40 * joints.shape[1])) \
        + _FIXED_BYTES
    bag = EpisodeBagWriter(out_dir, name, metadata, topics=topics,
                           start_time_ns=start_time_ns, estimated_bytes=estimate)
    digest = hashlib.sha256(repr((t,) + first.shape).encode())
    with bag:
        t0 = bag.start_time_ns
        bag.add_trajectory(actions, t0)  # (T, D)
        frame = first
        for k in range(t):
            if k:
                frame = next(frames, None)
                if frame is None or frame.shape != first.shape or frame.dtype != np.uint8:
                    raise EpisodeError(f'frame {k}: expected {first.shape} uint8, got '
                                       f'{getattr(frame, "shape", None)} (frames: {t} wanted)')
            stamp = frame_stamp_ns(t0, k, metadata.frame_rate)
            bag.add_frame(frame, stamp)  # (H, W, 3)
            bag.add_joint_state(joints[k], stamp)  # (D,)
            digest.update(np.ascontiguousarray(frame).tobytes())
        for array in (joints, actions):
            digest.update(repr(array.shape).encode())
            digest.update(np.ascontiguousarray(array, dtype='<f8').tobytes())
        bag.set_custom_data(tp.CUSTOM_DATA_DIGEST_KEY, digest.hexdigest())
    return bag.path
