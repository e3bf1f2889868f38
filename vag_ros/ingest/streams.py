"""Streams of a foreign bag: stamps and joint values read once, statistics, as-of lookup.

Reads rosbag2 bags (MCAP or sqlite3) with ``rosbags``' AnyReader and the bag's own message
definitions. Camera messages are only stamped here (their index kept); their pixels are
decoded later, only for the frames an episode samples.
"""

import collections
import dataclasses
import typing

import numpy as np

from vag_ros.errors import EpisodeError

GAP_S = 0.1  # a stream gap longer than this is reported [s]
GAP_NS = round(GAP_S * 1e9)


@dataclasses.dataclass
class Stream:
    """One topic: stamps (N,) [ns] in bag order, and what each message carried."""

    topic: str
    msgtype: str
    stamps: np.ndarray                       # (N,) int64 ns, header or receive
    values: list = dataclasses.field(default_factory=list)  # per message, topic-specific

    def stats(self) -> dict:
        """count, mean and median rate, gaps over GAP_S, out-of-order and duplicate stamps."""
        s = self.stamps.astype(np.float64) * 1e-9
        n = len(s)
        out = {'topic': self.topic, 'type': self.msgtype, 'messages': n}
        if n < 2:
            return dict(out, duration_s=0.0, rate_hz=0.0, median_rate_hz=0.0,
                        gaps_over_100ms=0, max_gap_s=0.0, out_of_order=0, duplicate_stamps=0)
        d = np.diff(s)
        ordered = np.sort(s)
        gaps = np.diff(ordered)
        span = ordered[-1] - ordered[0]
        positive = gaps[gaps > 0]
        return dict(out, duration_s=round(float(span), 4),
                    rate_hz=round(float((n - 1) / span), 3) if span > 0 else 0.0,
                    median_rate_hz=round(float(1 / np.median(positive)), 3)
                    if len(positive) else 0.0,
                    # counted on the integer stamps: 0.1 s steps in float seconds round
                    # to just above 0.1 and a perfect 10 Hz stream would show gaps
                    gaps_over_100ms=int(np.sum(np.diff(np.sort(self.stamps)) > GAP_NS)),
                    max_gap_s=round(float(gaps.max()), 4),
                    out_of_order=int(np.sum(d < 0)), duplicate_stamps=int(np.sum(d == 0)))

    def order(self) -> np.ndarray:
        """(N,) message indices sorted by stamp (stable)."""
        return np.argsort(self.stamps, kind='stable')


def asof(stamps_sorted: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(K,) index into ``stamps_sorted`` of the newest stamp <= each time (-1: none yet)."""
    return np.searchsorted(stamps_sorted, times, side='right') - 1


def _stamp(msg, receive_ns: int, use_header: bool) -> int:
    header = getattr(msg, 'header', None)
    if use_header and header is not None:
        ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
        if ns > 0:
            return ns
    return int(receive_ns)


def joint_values(msg, names: typing.Mapping[str, typing.Union[str, int]]) -> dict:
    """{robot joint: value} from a JointState, JointTrajectory (first point) or
    Float64MultiArray (``names`` map to indices) message; absent joints are left out."""
    indexed = False
    if hasattr(msg, 'position') and hasattr(msg, 'name'):          # JointState
        given = list(msg.name)
        twice = sorted({n for n in given if given.count(n) > 1})
        if twice:
            raise EpisodeError(f'a JointState names {twice} more than once: which value is '
                               'the joint\'s? (fix the publisher)')
        by_name = dict(zip(given, np.asarray(msg.position, dtype=float)))
    elif hasattr(msg, 'joint_names') and hasattr(msg, 'points'):   # JointTrajectory
        if not len(msg.points):
            return {}
        by_name = dict(zip(list(msg.joint_names),
                           np.asarray(msg.points[0].positions, dtype=float)))
    elif hasattr(msg, 'data'):                                     # Float64MultiArray
        by_name = dict(enumerate(np.asarray(msg.data, dtype=float)))
        indexed = True
    else:
        raise EpisodeError(f'{type(msg).__name__}: not a joint message (JointState, '
                           'JointTrajectory or Float64MultiArray)')
    out = {}
    for robot, source in names.items():
        key = int(source) if indexed else str(source)
        if key in by_name and np.isfinite(by_name[key]):
            out[robot] = float(by_name[key])
    return out


def read_streams(path, topics: typing.Sequence[str], camera_topic: str,
                 joint_maps: typing.Mapping[str, typing.Mapping], use_header: bool,
                 progress: bool = False, optional: typing.Sequence[str] = ()
                 ) -> typing.Tuple[typing.Dict[str, Stream], dict]:
    """One pass over the bag: {topic: Stream} for ``topics`` and the bag's topic types.

    ``joint_maps``: topic -> {robot joint: message name}; those messages become value dicts;
    String topics keep their text; the camera keeps (message number) only. A topic in
    ``optional`` that the bag lacks is an empty stream, not an error.
    """
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore, Stores
    from tqdm import tqdm
    try:
        reader = AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
    except Exception as exc:  # noqa: B902 - rosbags raises its own errors for bad bags
        raise EpisodeError(f'{path}: not a readable rosbag2 bag: {exc}') from None
    try:
        found = {c.topic: c.msgtype for c in reader.connections}
        missing = [t for t in topics if t not in found and t not in optional]
        if missing:
            raise EpisodeError(
                f'{path}: the contract needs topic(s) {missing}, which the bag does not have; '
                f'it has: ' + ', '.join(f'{t} ({found[t]})' for t in sorted(found)))
        streams = {t: Stream(t, found.get(t, 'not in the bag'), np.zeros(0, np.int64))
                   for t in topics}
        stamps = {t: [] for t in topics}
        connections = [c for c in reader.connections if c.topic in topics]
        total = sum(c.msgcount for c in connections)
        for conn, receive_ns, raw in tqdm(reader.messages(connections=connections),
                                          total=total, desc=f'reading {path.name}',
                                          unit='msg', disable=not progress):
            msg = reader.deserialize(raw, conn.msgtype)
            topic = conn.topic
            stamps[topic].append(_stamp(msg, receive_ns, use_header))
            if topic == camera_topic:
                streams[topic].values.append(len(stamps[topic]) - 1)
            elif topic in joint_maps:
                try:
                    streams[topic].values.append(joint_values(msg, joint_maps[topic]))
                except EpisodeError as exc:
                    raise EpisodeError(f'{path}: {topic} message {len(stamps[topic])}: '
                                       f'{exc}') from None
            else:
                streams[topic].values.append(str(getattr(msg, 'data', '')))
        for topic, stream in streams.items():
            stream.stamps = np.asarray(stamps[topic], dtype=np.int64)
        return streams, found
    finally:
        reader.close()


def camera_frames_in_order(path, topic: str, numbers: typing.Sequence[int]
                           ) -> typing.Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB frames of the camera messages ``numbers`` (message numbers in
    bag order, in the order wanted, repeats allowed), decoded one by one: only the frames
    read ahead of their turn (out-of-order stamps) are held."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore, Stores
    from vag_ros.image_decoding import compressed_to_numpy, ConversionError, image_to_numpy
    remaining = collections.Counter(int(n) for n in numbers)
    pending: typing.Dict[int, np.ndarray] = {}
    position = 0
    with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for number, (conn, _, raw) in enumerate(reader.messages(connections=connections)):
            if position == len(numbers):
                return
            if number not in remaining:
                continue
            msg = reader.deserialize(raw, conn.msgtype)
            try:
                pending[number] = compressed_to_numpy(msg) if hasattr(msg, 'format') else \
                    image_to_numpy(msg)
            except ConversionError as exc:
                raise EpisodeError(f'{path}: {topic} message {number}: {exc}') from None
            while position < len(numbers) and int(numbers[position]) in pending:
                wanted = int(numbers[position])
                yield pending[wanted]
                remaining[wanted] -= 1
                if not remaining[wanted]:
                    del pending[wanted], remaining[wanted]
                position += 1
    if position < len(numbers):
        raise EpisodeError(f'{path}: {topic}: camera message {numbers[position]} not found')
