"""Teleoperation bags -> the project's episodes, through a topic contract.

Per bag: read every contract stream once (stamps, joints, text), cut it into episodes
(one per bag, at a topic's messages, or around idle stretches), sample each at the
contract's fps (as-of within ``tolerance_s``: a sample without a fresh camera frame or
state ends the episode there; or hold the newest), decode only the camera frames sampled,
write one episode bag each, and a quality report (JSON) of what was found.
"""

import dataclasses
import json
from pathlib import Path
import shutil
import typing

import numpy as np

from vag_ros.episodes.bag_writer import write_episode_frames
from vag_ros.episodes.episode import EpisodeMetadata
from vag_ros.episodes.withhold import WITHHELD
from vag_ros.errors import EpisodeError
from vag_ros.ingest.contract import TopicContract
from vag_ros.ingest.streams import asof, camera_frames_in_order, read_streams, Stream
from vag_ros.outputs import check_name, deferred_signals, staging_folder, writable_folder

REPORT = 'ingest_report.json'


@dataclasses.dataclass
class Segment:
    """One episode's samples: times (K,) [ns], camera message numbers (K,), joints (K, D)."""

    times: np.ndarray
    camera: np.ndarray
    joints: np.ndarray
    actions: np.ndarray


def _joint_table(streams: typing.Dict[str, Stream], sources, joint_names, times: np.ndarray,
                 tolerance_ns: int, hold: bool, what: str, report: dict):
    """(K, D) joint values at ``times`` from the sources, and (K,) bool: all fresh."""
    values = np.full((len(times), len(joint_names)), np.nan)
    fresh = np.ones(len(times), bool)
    for source in sources:
        stream = streams[source.topic]
        order = stream.order()
        stamps = stream.stamps[order]
        cols = [joint_names.index(j) for j in source.joints]
        rows = np.full((len(stamps), len(cols)), np.nan)   # (N, d) in stamp order
        for r, k in enumerate(order):
            got = stream.values[k]
            rows[r] = [got.get(j, np.nan) for j in source.joints]
        absent = [j for c, j in enumerate(source.joints) if np.all(np.isnan(rows[:, c]))]
        if absent:
            report.setdefault('joints_missing', {})[source.topic] = absent
            raise EpisodeError(f'{what} topic {source.topic}: joint(s) {absent} '
                               f'({[source.joints[j] for j in absent]} in its messages) never '
                               'carry a finite value: absent from every message (check the '
                               'contract\'s joint names) or NaN/inf in every one (check the '
                               'driver)')
        rows = rows * source.scale + source.offset
        index = asof(stamps, times)                        # (K,)
        known = index >= 0
        age = np.where(known, times - stamps[np.maximum(index, 0)], np.iinfo(np.int64).max)
        values[:, cols] = np.where(known[:, None], rows[np.maximum(index, 0)], np.nan)
        if not hold:
            fresh &= known & (age <= tolerance_ns)
        else:
            fresh &= known
    fresh &= np.all(np.isfinite(values), axis=1)
    return values, fresh


def _segments(contract: TopicContract, streams, start: int, end: int) -> typing.List[tuple]:
    """[(start ns, end ns)] of episodes before sampling: the bag, or cut at split messages."""
    if contract.split == 'topic':
        cuts = np.sort(streams[contract.split_topic].stamps)
        edges = [start] + [int(c) for c in cuts if start < c < end] + [end]
        return list(zip(edges[:-1], edges[1:]))
    return [(start, end)]


def _runs(mask: np.ndarray) -> typing.List[typing.Tuple[int, int]]:
    """[(first, last + 1)] of the True runs of a (K,) bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2]))


def plan_episodes(contract: TopicContract, streams: typing.Dict[str, Stream],
                  joint_names: typing.Sequence[str], report: dict) -> typing.List[Segment]:
    """Sample times, camera frames and joints of every episode of one bag."""
    period = int(round(1e9 / contract.fps))
    tolerance = int(round(contract.tolerance_s * 1e9))
    hold = contract.alignment == 'hold'
    camera = streams[contract.camera_topic]
    cam_order = camera.order()
    cam_stamps = camera.stamps[cam_order]
    state_topics = [s.topic for s in contract.state]
    firsts = [streams[t].stamps.min() for t in [contract.camera_topic] + state_topics
              if len(streams[t].stamps)]
    lasts = [streams[t].stamps.max() for t in [contract.camera_topic] + state_topics
             if len(streams[t].stamps)]
    if len(firsts) < 1 + len(state_topics):
        raise EpisodeError('the camera or a state topic has no messages')
    for topic in dict.fromkeys([contract.camera_topic] + state_topics):
        # a camera's stamps may swap by its jitter, far less than this; a clock reset
        # steps back by more (joint topics are held to stamp order below)
        _check_clock(streams[topic], max(tolerance, CLOCK_JUMP_NS))
    joint_topics = state_topics + ([s.topic for s in contract.action]
                                   if contract.action_source == 'topic' else [])
    for topic in dict.fromkeys(joint_topics):
        _check_joint_order(streams[topic])
    start, end = int(max(firsts)), int(min(lasts))
    if start > end:
        spans = ', '.join(f'{t} {streams[t].stamps.min() * 1e-9:.3f}..'
                          f'{streams[t].stamps.max() * 1e-9:.3f} s'
                          for t in dict.fromkeys([contract.camera_topic] + state_topics))
        raise EpisodeError(f'the camera and state topics never overlap in time ({spans}): '
                           f'their {contract.stamps} stamps come from different clocks? '
                           'Try alignment.stamps: receive')
    counts = {'samples': 0, 'without_camera': 0, 'without_state': 0, 'idle_samples': 0,
              'too_short': 0}
    segments = []
    for seg_start, seg_end in _segments(contract, streams, start, end):
        times = np.arange(seg_start, seg_end + 1, period, dtype=np.int64)   # (K,)
        if len(times) == 0:
            continue
        index = asof(cam_stamps, times)
        cam_age = np.where(index >= 0, times - cam_stamps[np.maximum(index, 0)],
                           np.iinfo(np.int64).max)
        cam_ok = index >= 0 if hold else (index >= 0) & (cam_age <= tolerance)
        joints, state_ok = _joint_table(streams, contract.state, list(joint_names), times,
                                        tolerance, hold, 'state', report)
        counts['samples'] += len(times)
        counts['without_camera'] += int(np.sum(~cam_ok))
        counts['without_state'] += int(np.sum(~state_ok))
        usable = cam_ok & state_ok
        if contract.split == 'idle':
            usable &= ~_idle(joints, contract, counts)
        for a, b in _runs(usable):
            if (b - a - 1) * period < contract.min_episode_s * 1e9:
                counts['too_short'] += 1
                continue
            t = times[a:b]
            q = joints[a:b]
            if contract.action_source == 'next_state':
                actions = np.concatenate([q[1:], q[-1:]])   # the state one step later
            else:
                actions, _ = _joint_table(streams, contract.action, list(joint_names), t,
                                          tolerance, True, 'action', report)
                if not np.all(np.isfinite(actions)):
                    raise EpisodeError('action topics start after the episode; no command '
                                       'is known for its first frames')
            segments.append(Segment(t, cam_order[index[a:b]], q, actions))
    report['samples'] = counts
    return segments


CLOCK_JUMP_NS = 500_000_000  # stamps stepping back by more than this: a clock reset [ns]


def _check_clock(stream: Stream, tolerance: int) -> None:
    """EpisodeError if the stamps, in bag order, step back by more than ``tolerance`` [ns]:
    a clock that jumped (sim time restarted, NTP step); as-of sampling would interleave the
    two stretches that share stamps."""
    steps = np.diff(stream.stamps)
    back = np.flatnonzero(steps < -tolerance)
    if len(back):
        k = int(back[0])
        raise EpisodeError(f'{stream.topic}: its stamps jump back {-steps[k] * 1e-9:.3f} s at '
                           f'message {k + 1} of {len(stream.stamps)} ({len(back)} such jump(s)); '
                           'a clock reset inside the bag: split the bag there, or try '
                           'alignment.stamps: receive')


def _check_joint_order(stream: Stream) -> None:
    """EpisodeError if a joint topic's stamps, in bag order, ever step back (equal stamps
    pass): one publisher stamps its joints in order, so any step back is a driver stamping
    from a clock that runs back, or two publishers on one topic; as-of sampling would put
    those joints at another time than measured, a few milliseconds every message."""
    steps = np.diff(stream.stamps)
    back = np.flatnonzero(steps < 0)
    if len(back):
        raise EpisodeError(
            f'{stream.topic}: its stamps step back {len(back)} time(s) in '
            f'{len(stream.stamps)} messages, by up to {-steps.min() * 1e-6:.3f} ms (first at '
            f'message {int(back[0]) + 1}): joint states must be in stamp order; fix the '
            'publisher\'s stamps (one publisher per joint topic, stamped from one clock), or '
            'try alignment.stamps: receive')


def _idle(joints: np.ndarray, contract: TopicContract, counts: dict) -> np.ndarray:
    """(K,) True inside still stretches of at least idle_s (the joints barely move)."""
    step = np.zeros(len(joints))
    step[1:] = np.nanmax(np.abs(np.diff(joints, axis=0)), axis=1)
    still = step < contract.idle_tolerance
    idle = np.zeros(len(joints), bool)
    need = int(np.ceil(contract.idle_s * contract.fps))
    for a, b in _runs(still):
        if b - a >= need:
            idle[a:b] = True
    counts['idle_samples'] += int(idle.sum())
    return idle


def _instruction(contract: TopicContract, streams, custom: dict, start_ns: int,
                 path) -> typing.Tuple[str, str]:
    """(text, where it came from: topic | metadata | given | fallback) of the episode that
    starts at ``start_ns``: the bag's own (the newest topic message at the start, else the
    first; or its metadata), the contract's text only where the bag has none."""
    if contract.instruction_source == 'given':
        return contract.instruction, 'given'
    fallback = contract.instruction_fallback()
    if contract.instruction_source == 'metadata':
        text = custom.get(contract.instruction_key, '')
        if text:
            return str(text), 'metadata'
        if fallback:
            return fallback, 'fallback'
        raise EpisodeError(f'{path}: no instruction: the bag\'s metadata has no '
                           f'{contract.instruction_key!r} (custom_data keys: '
                           f'{sorted(custom)}); give --instruction or --instruction-topic')
    stream = streams[contract.instruction_topic]
    if not len(stream.stamps):
        if fallback:
            return fallback, 'fallback'
        raise EpisodeError(f'{path}: no message on {contract.instruction_topic}; give '
                           '--instruction TEXT as the fallback for bags without one')
    order = stream.order()
    before = [k for k in order if stream.stamps[k] <= start_ns]
    k = before[-1] if before else order[0]
    return stream.values[k], 'topic'


def _custom_data(path: Path) -> dict:
    """The bag's metadata.yaml custom_data ({} when there is none)."""
    import yaml
    info = path / 'metadata.yaml'
    if not info.is_file():
        return {}
    try:
        data = yaml.safe_load(info.read_text()) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EpisodeError(f'{info}: unreadable bag metadata ({exc})') from None
    if not isinstance(data, dict):
        raise EpisodeError(f'{info}: expected a mapping (rosbag2_bagfile_information)')
    return dict((data.get('rosbag2_bagfile_information') or {}).get('custom_data') or {})


LIMIT_MARGIN = 0.1   # of a joint's range (at least 0.05 rad or m) beyond its URDF limits


def check_within_limits(values: np.ndarray, robot, what: str) -> None:
    """EpisodeError when joint values (T, D) leave the URDF's limits by more than a margin:
    values a robot cannot have (degrees read as radians, a wrong contract scale or offset,
    another robot's URDF) must not become training data. Joints without limits pass."""
    lower, upper = np.asarray(robot.lower, float), np.asarray(robot.upper, float)
    limited = upper > lower
    margin = np.maximum(LIMIT_MARGIN * (upper - lower), 0.05)
    outside = limited & ((values < lower - margin) | (values > upper + margin))  # (T, D)
    if not outside.any():
        return
    step, joint = (int(i) for i in np.argwhere(outside)[0])
    raise EpisodeError(
        f'{what}: {robot.joint_names[joint]} reaches {values[step, joint]:.4g} at frame '
        f'{step}, outside its URDF limits [{lower[joint]:.4g}, {upper[joint]:.4g}] by more '
        f'than {margin[joint]:.3g} ({int(outside.sum())} value(s) outside): degrees where '
        'radians are expected, a contract scale or offset, or another robot\'s URDF?')


def ingest_bag(path, contract: TopicContract, robot, out_dir: Path,
               progress: bool = False, video_only: bool = False) -> dict:
    """Write the episodes of one bag into ``out_dir``; its quality report. ``video_only``:
    their actions are withheld from training (``vag_ros.episodes.withhold``)."""
    path = Path(path)
    report: dict = {'bag': str(path), 'episodes': []}
    joint_maps = {s.topic: s.joints for s in contract.state}
    if contract.action_source == 'topic':
        joint_maps.update({s.topic: s.joints for s in contract.action})
    # with a fallback text, a bag without the instruction topic is a bag without a message
    optional = [contract.instruction_topic] if contract.instruction_source == 'topic' and \
        contract.instruction_fallback() else []
    streams, found = read_streams(path, contract.topics(),
                                  contract.camera_topic, joint_maps,
                                  contract.stamps == 'header', progress, optional)
    report['topics'] = {t: s.stats() for t, s in streams.items()}
    camera_type = found[contract.camera_topic]
    expected = {'auto': ('/Image', '/CompressedImage'), 'image': ('/Image',),
                'compressed': ('/CompressedImage',)}[contract.camera_type]
    if not camera_type.endswith(expected):
        raise EpisodeError(f'{path}: {contract.camera_topic} is {camera_type}; the contract\'s '
                           f'camera.type {contract.camera_type!r} wants '
                           f'{" or ".join(e.strip("/") for e in expected)}')
    try:
        segments = plan_episodes(contract, streams, list(robot.joint_names), report)
    except EpisodeError as exc:
        raise EpisodeError(f'{path}: {exc}') from None
    for seg in segments:
        check_within_limits(seg.joints, robot, f'{path}: measured joints')
        check_within_limits(seg.actions, robot, f'{path}: actions')
    custom = _custom_data(path)
    for k, seg in enumerate(segments):
        name = check_name(f'{path.name}_ep{k:03d}', 'episode name')
        frames = camera_frames_in_order(path, contract.camera_topic, list(seg.camera))
        instruction, origin = _instruction(contract, streams, custom, int(seg.times[0]),
                                           path)
        metadata = EpisodeMetadata(
            task='teleop', seed=k, success=True, robot=robot.name,
            joint_names=tuple(robot.joint_names), frame_rate=contract.fps, source='teleop',
            instruction=instruction, episode_id=name, robot_urdf=robot.urdf,
            extra={'bag': str(path), 'start_s': float(seg.times[0] * 1e-9),
                   'camera_topic': contract.camera_topic, 'action': contract.action_source,
                   'instruction_source': origin,
                   **({'actions': WITHHELD} if video_only else {})})
        metadata.validate()
        write_episode_frames(frames, seg.joints, seg.actions, metadata, out_dir, name)
        report['episodes'].append({'name': name, 'frames': len(seg.times),
                                   'duration_s': round(len(seg.times) / contract.fps, 3),
                                   'instruction': instruction,
                                   'instruction_source': origin})
    return report


def _check_bag_names(bags: typing.Sequence) -> None:
    """EpisodeError naming two bags whose episodes would share names (<bag>_ep000...): two
    sessions recorded under one folder name (mon/session, tue/session), or one bag given
    twice; checked before any bag is read."""
    seen: typing.Dict[str, Path] = {}
    for bag in map(Path, bags):
        other = seen.setdefault(bag.name, bag)
        if other is bag:
            continue
        if other.resolve() == bag.resolve():
            raise EpisodeError(f'--bags: {bag} is given twice; give each bag once')
        raise EpisodeError(f'--bags: {other} and {bag} are both named {bag.name!r}: their '
                           f'episodes would share the names {bag.name}_ep000...; rename one '
                           'of the bag folders, or ingest them into separate --out folders')


def ingest(bags: typing.Sequence, contract: TopicContract, robot, out_dir,
           progress: bool = True, video_only: bool = False) -> dict:
    """Ingest every bag, all or nothing; writes ``out_dir``/ingest_report.json, returns it.

    The episodes are written into a hidden staging folder inside ``out_dir`` (skipped by
    every bag listing) and moved into place only once every bag is ingested: a bad bag, an
    episode name already there, Ctrl-C or SIGTERM leave ``out_dir`` as it was, never a
    subset of the episodes that looks like a finished data set.
    """
    _check_bag_names(bags)
    made = not Path(out_dir).exists()
    out = writable_folder(out_dir, '--out folder')
    stage = staging_folder(out, 'ingest')
    try:
        reports = [ingest_bag(Path(b), contract, robot, stage, progress, video_only)
                   for b in bags]
        names = sorted(p.name for p in stage.iterdir())
        there = [n for n in names if (out / n).exists()]
        if there:
            raise EpisodeError(f'{out}: {len(there)} episode(s) exist already ({there[0]}...); '
                               'refusing to overwrite them (nothing was written: ingest '
                               'into a new folder or remove them)')
        summary = {'contract': dataclasses.asdict(contract), 'bags': reports,
                   'episodes': sum(len(r['episodes']) for r in reports)}
        if not summary['episodes']:
            raise EpisodeError('no episode in ' + '; '.join(
                f'{r["bag"]}: {r.get("samples")}' for r in reports) + ' (samples without a '
                'camera frame or a state within alignment.tolerance_s, pieces shorter than '
                'episodes.min_length_s)')
        report = out / REPORT
        for n in range(1, 1000):  # an earlier ingest's report into this folder is kept
            if not report.exists():
                break
            report = out / f'{Path(REPORT).stem}-{n}.json'
        summary['report'] = str(report)
        (stage / REPORT).write_text(json.dumps(summary, indent=2, default=str) + '\n')
        with deferred_signals():  # the moves finish together; a signal lands after them
            for name in names:  # same file system: each move is one rename
                (stage / name).rename(out / name)
            (stage / REPORT).rename(report)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if made and not any(out.iterdir()):   # a refused ingest leaves no folder it made
            out.rmdir()
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return summary
