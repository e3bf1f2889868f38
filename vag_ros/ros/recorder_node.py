"""Recorder: each generated episode, predicted and executed, as one MCAP bag.

Identity: an episode is the stamp of its predicted frame 0, which the generator gives the
trajectory header too, repeats as ``episode_stamp_ns`` in its request results (with the
request's own instruction, seed and frame count) and the replay node repeats on
/vag/replay/state; the bag is ``generated-<stamp>``. The predicted frames of an episode are
those at its own frame stamps (frame 0's stamp + k / fps), never a neighbour's. When a
trajectory arrives the episode opens; if the replay executes it (state ``moving``, with
the motion's duration), /joint_states and camera frames (sensor-data QoS, as capture) are
kept until ``settle_s`` after a terminal state, or until the motion's duration + settle_s
+ ``MOTION_GRACE_S`` if no terminal state comes (a replay that died); which episodes are
open, executing and due is ``EpisodeLifecycle``'s (``vag_ros.episodes.episode_lifecycle``,
no ROS there). The episode is then
written on a worker thread with ``EpisodeBagWriter`` (atomic, free-space check): metadata,
the request's instruction,
conditioning frame, predicted video and trajectory, measured joints, camera frames and the
replay states. An episode nobody executes is written after ``execution_wait_s``, when the
replay rejects it, or when the next trajectory arrives. Annotations (JSON on
/vag/episode_annotation: task, seed, success...) fill the metadata: with
``episode_stamp_ns`` for that episode, without it for the next one. A failed write is an
ERROR on /vag/status; the node keeps running.
"""

import queue
import threading
import time
import typing

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from vag_ros.episodes import topics as tp
from vag_ros.episodes.bag_writer import EpisodeBagWriter
from vag_ros.episodes.camera_storage import write_camera_frame
from vag_ros.episodes.episode import EpisodeMetadata
from vag_ros.episodes.episode_lifecycle import EpisodeLifecycle, OpenEpisode, trim
from vag_ros.errors import VagError
from vag_ros.robot.description import load_robot_description
from vag_ros.ros.configs import RecorderNodeConfig, REPLAY_TERMINAL_STATES
from vag_ros.image_decoding import compressed_to_numpy, image_to_numpy
from vag_ros.ros.conversions import joint_state_to_dict, time_to_ns, trajectory_to_arrays
from vag_ros.ros.parameters import check_overrides, declare_config
from vag_ros.ros.protocol import REQUEST_RESULT_TOPIC, RequestResult
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_recorder'
CONDITIONING_TOPIC = '/vag/conditioning_frame'
REPLAY_STATES_IN_BAG = '/vag/replay/state'
# shutdown waits this long for the open episodes to be written (the launch file gives the
# recorder 30 s before SIGKILL) [s]
FLUSH_TIMEOUT_S = 25.0
# a predicted frame belongs to an episode when its stamp is this close to one of the
# episode's frame stamps [ns]
FRAME_STAMP_TOLERANCE_NS = 1_000_000


def episode_name(stamp_ns: int) -> str:
    """The bag name (and episode id) of the episode whose frame 0 is at ``stamp_ns``."""
    return f'generated-{int(stamp_ns)}'


class RecorderNode(Node):
    """One bag per generated episode, written off the executor; ``RecorderNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = cfg = declare_config(self, RecorderNodeConfig)
        check_overrides(self)
        self.robot = load_robot_description(cfg.urdf or None)
        self._frames = _Deque(cfg.max_buffered_frames)
        self._latest_conditioning: typing.Optional[Image] = None
        self._conditioning: typing.Dict[int, Image] = {}  # by stamp: newest at acceptance
        # by stamp: the generator's results (request id, instruction, seed, frames, fps...)
        self._generation: typing.Dict[int, dict] = {}
        self.episodes = EpisodeLifecycle(cfg, REPLAY_TERMINAL_STATES)
        # newest position of each joint: an arm and its gripper may publish apart (e.g. two
        # joint_state_broadcasters, or a gripper driver that publishes on change only), so
        # messages are merged per joint
        self._joint_values: typing.Dict[str, float] = {}
        self.written: typing.List[str] = []
        self.failed: typing.List[str] = []
        self._jobs: queue.Queue = queue.Queue()
        self.result_pub = self.create_publisher(String, REQUEST_RESULT_TOPIC, 50)
        self._worker = threading.Thread(target=self._work, name='vag_recorder', daemon=True)
        self._worker.start()
        sub = self.create_subscription
        sub(Image, tp.PREDICTED_VIDEO_TOPIC, self._frames.append, 200)
        sub(String, REQUEST_RESULT_TOPIC, self._on_request_result, 50)
        sub(JointTrajectory, tp.PREDICTED_TRAJECTORY_TOPIC, self._on_trajectory, 10)
        sub(Image, cfg.frame_topic, self._on_conditioning, 1)
        if cfg.camera_transport == 'compressed':  # image_transport's <camera>/compressed
            self.camera_topic = self.resolve_topic_name(cfg.camera_topic).rstrip('/') + \
                '/compressed'
            sub(CompressedImage, self.camera_topic, self._on_camera, qos_profile_sensor_data)
        else:
            self.camera_topic = self.resolve_topic_name(cfg.camera_topic)
            sub(Image, cfg.camera_topic, self._on_camera, qos_profile_sensor_data)
        sub(JointState, cfg.joint_states_topic, self._on_joint_state, 50)
        sub(String, cfg.replay_state_topic, self._on_replay_state, 20)
        sub(String, cfg.annotation_topic, self._on_annotation, 20)
        self.create_timer(0.1, self._check)
        self.status.publish('idle', f'recording to {cfg.out_dir}')

    # --- the lifecycle's episodes, under the names the node always had ----------------

    @property
    def _open(self) -> typing.Dict[int, OpenEpisode]:
        """The open episodes by stamp."""
        return self.episodes.open

    @property
    def _recording(self) -> typing.Optional[OpenEpisode]:
        """The episode executing or settling, or None."""
        return self.episodes.recording

    @property
    def _next_annotation(self) -> dict:
        """What the next episode's annotation starts with."""
        return self.episodes.next_annotation

    # --- inputs -----------------------------------------------------------------------

    def _on_conditioning(self, msg: Image) -> None:
        self._latest_conditioning = msg

    def _on_request_result(self, msg: String) -> None:
        """The generator's word on each episode: its request's text, seed, frames."""
        try:
            result = RequestResult.from_json(msg.data)
        except VagError as exc:
            self.status.warn('request result rejected', f'recorder: {exc}')
            return
        stamp = int(result.episode_stamp_ns)
        if not stamp or result.state not in ('accepted', 'generated'):
            return
        if result.state == 'accepted' and self._latest_conditioning is not None:
            self._conditioning[stamp] = self._latest_conditioning  # what it saw, near enough
            trim(self._conditioning)
        entry = self._generation.setdefault(stamp, {})
        entry.update({k: v for k, v in (
            ('request_id', result.request_id), ('instruction', result.instruction),
            ('generator_episode_id', result.episode_id)) if v})
        entry.update(result.details)
        trim(self._generation)

    def _on_annotation(self, msg: String) -> None:
        rejected = self.episodes.annotate(msg.data)
        if rejected:
            self.status.warn('annotation rejected', rejected)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        stamp = time_to_ns(msg.header.stamp)
        try:
            names, times, positions = trajectory_to_arrays(msg)  # (T,), (T, D)
            superseded = self.episodes.open_episode(time.monotonic(), stamp, names, times,
                                                    positions)
        except VagError as exc:
            self.status.error('rejected', f'recorder: episode {episode_name(stamp)} not '
                              f'recorded: {exc}')
            return
        for other in superseded:  # superseded before anyone executed it
            self._finalize(other)
        self.status.publish('episode', f'{episode_name(stamp)} open',
                            episode_id=episode_name(stamp))

    def _on_replay_state(self, msg: String) -> None:
        rejected = self.episodes.replay_state(time.monotonic(), msg.data,
                                              self.get_clock().now().nanoseconds)
        if rejected:
            self.status.warn('replay state rejected', rejected)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            joints = joint_state_to_dict(msg)
        except VagError:
            return
        self._joint_values.update(joints)  # also between episodes: a joint may be quiet
        if self.episodes.recording is None:
            return
        try:
            positions = np.array([self._joint_values[n] for n in self.robot.joint_names])  # (D,)
        except KeyError:  # not every joint heard from yet
            return
        stamp = time_to_ns(msg.header.stamp) or self.get_clock().now().nanoseconds
        self.episodes.record_joint_state(stamp, positions)

    def _on_camera(self, msg: typing.Union[Image, CompressedImage]) -> None:
        self.episodes.record_camera(msg)

    # --- episodes ---------------------------------------------------------------------

    def _check(self) -> None:
        for episode in self.episodes.due(time.monotonic()):
            self._finalize(episode)

    def _finalize(self, episode: OpenEpisode) -> None:
        """Hand a closed episode (``EpisodeLifecycle`` closed it) to the writer thread."""
        generation = dict(self._generation.get(episode.stamp_ns, {}))
        frames = _own_frames(self._frames.items(), episode.stamp_ns,
                             generation.get('fps', episode.rate),
                             generation.get('frames', len(episode.positions)))
        conditioning = self._conditioning.pop(episode.stamp_ns, None)
        self._jobs.put((episode, frames, generation, conditioning))

    def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Write every open episode now and wait for the writer (shutdown, tests)."""
        for episode in self.episodes.close_all():
            self._finalize(episode)
        done = threading.Event()
        self._jobs.put(done)
        done.wait(timeout)

    # --- writer thread ----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if isinstance(job, threading.Event):
                job.set()
                continue
            episode, frames, generation, conditioning = job
            name = episode_name(episode.stamp_ns)
            try:
                path = self._write(episode, frames, generation, conditioning)
            except Exception as exc:  # the node keeps recording; the reason goes out
                self.failed.append(name)
                reason = str(exc) if isinstance(exc, VagError) else \
                    f'{type(exc).__name__}: {exc}'
                self.status.error('write failed', f'recorder: episode {name} not recorded: '
                                  f'{reason}', episode_id=name)
                self._result(episode, generation, 'record_failed', reason)
                continue
            self.written.append(str(path))
            self._result(episode, generation, 'recorded', path=str(path),
                         executed=episode.started_at > 0, execution=episode.execution,
                         predicted_frames=len(frames), camera_frames=len(episode.camera))
            self.status.publish('recorded', f'{path} ({len(frames)} predicted frames, '
                                f'{len(episode.camera)} camera frames, {len(episode.joints)} '
                                'joint states)', episode_id=name, path=str(path),
                                executed=episode.started_at > 0)

    def _result(self, episode: OpenEpisode, generation: dict, state: str, reason: str = '',
                **details) -> None:
        """The episode's bag on /vag/request_result, for its request."""
        self.result_pub.publish(String(data=RequestResult(
            str(generation.get('request_id', '')), state, self.get_name(), reason,
            episode_id=episode_name(episode.stamp_ns), episode_stamp_ns=episode.stamp_ns,
            details=details).to_json()))

    def _write(self, episode: OpenEpisode, frames: list, generation: dict,
               conditioning: typing.Optional[Image]):
        note = episode.annotation
        name = episode_name(episode.stamp_ns)
        seed = note.get('seed', generation.get('seed'))
        executed = episode.started_at > 0  # the replay reached 'moving'
        skipped = [why for why in map(_unreadable, episode.camera) if why]  # frame by frame
        extra = {
            'executed': executed, 'execution': episode.execution,
            'success_known': 'success' in note, 'seed_known': seed is not None,
            'episode_stamp_ns': episode.stamp_ns, 'predicted_joint_names': list(episode.names),
            'camera_frames': len(episode.camera) - len(skipped), 'predicted_frames': len(frames),
            'camera_storage': self.config.camera_storage}
        warnings = []
        if executed and not episode.camera:
            warnings.append(f'no camera frames on {self.camera_topic} while the motion '
                            'executed')
        if skipped:
            extra['camera_frames_skipped'] = len(skipped)
            warnings.append(f'{len(skipped)} of {len(episode.camera)} camera frames on '
                            f'{self.camera_topic} could not be read and are not in the bag '
                            f'(first: {skipped[0]})')
            self.status.warn('camera frames skipped', f'recorder: episode {name}: '
                             f'{warnings[-1]}', episode_id=name)
        if warnings:
            extra['warnings'] = warnings
        extra.update({k: v for k, v in generation.items() if k != 'instruction'})
        extra.update({k: v for k, v in note.items() if k not in ('task', 'seed', 'success')})
        metadata = EpisodeMetadata(
            task=str(note.get('task', 'generated')), seed=int(seed or 0),
            success=bool(note.get('success', False)), robot=self.robot.name,
            joint_names=tuple(self.robot.joint_names), frame_rate=episode.rate,
            source='generated', instruction=generation.get('instruction') or '(unknown)',
            episode_id=name, extra=extra, robot_urdf=self.robot.urdf)
        images = frames + episode.camera + ([conditioning] if conditioning else [])
        estimate = int(1.2 * sum(len(m.data) for m in images)) + 1024 * (
            len(images) + len(episode.joints) + len(episode.replay_states) + 8) + 262144
        order = [episode.names.index(n) for n in self.robot.joint_names
                 if n in episode.names]
        writer = EpisodeBagWriter(self.config.out_dir, name, metadata,
                                  start_time_ns=episode.stamp_ns, estimated_bytes=estimate)
        with writer:
            if conditioning is not None:
                writer.add_frame(image_to_numpy(conditioning), episode.stamp_ns,
                                 topic=CONDITIONING_TOPIC,
                                 frame_id=conditioning.header.frame_id)
            for frame in frames:
                writer.add_frame(image_to_numpy(frame), time_to_ns(frame.header.stamp),
                                 topic=tp.PREDICTED_VIDEO_TOPIC,
                                 frame_id=frame.header.frame_id)
            if len(order) == len(self.robot.joint_names):
                writer.add_trajectory(episode.positions[:, order], episode.stamp_ns,
                                      topic=tp.PREDICTED_TRAJECTORY_TOPIC,
                                      frame_rate=episode.rate)
            for stamp, positions in episode.joints:
                writer.add_joint_state(positions, stamp)
            cfg = self.config
            for image in episode.camera:  # decoded one at a time: an episode's frames
                try:                          # never sit in memory as arrays all at once
                    array = _camera_array(image)
                except VagError:
                    continue  # counted above
                write_camera_frame(writer, array, time_to_ns(image.header.stamp),
                                   image.header.frame_id, cfg.camera_storage,
                                   cfg.camera_max_width, cfg.camera_jpeg_quality)
            for stamp, text in episode.replay_states:
                writer.add_string(REPLAY_STATES_IN_BAG, text, stamp)
        return writer.path

    def destroy_node(self):
        """Write what is open, stop the writer thread, then destroy the node."""
        if self._worker is not None:
            self.flush()
            self._jobs.put(None)
            self._worker.join(timeout=2.0)
            self._worker = None
        return super().destroy_node()


def _camera_array(msg: typing.Union[Image, CompressedImage]) -> np.ndarray:
    """A camera message -> (H, W, 3) rgb8; VagError when it cannot be read."""
    return compressed_to_numpy(msg) if isinstance(msg, CompressedImage) else image_to_numpy(msg)


def _unreadable(msg) -> str:
    """Why a camera message cannot be read ('' when it can): one malformed frame (a driver's
    bad step, a corrupt JPEG) costs that frame, not the episode's bag."""
    try:
        _camera_array(msg)
    except VagError as exc:
        return str(exc)
    return ''


class _Deque:
    """A bounded buffer of messages (the predicted frames)."""

    def __init__(self, size: int):
        import collections
        self._items = collections.deque(maxlen=size)

    def append(self, item) -> None:
        self._items.append(item)

    def items(self) -> list:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


def _own_frames(frames: typing.List[Image], stamp_ns: int, fps: float, count: int) -> list:
    """The frames stamped frame 0 + k / fps (k < count), one per k, in order."""
    period_ns = 1e9 / float(fps)
    mine = {}
    for frame in frames:
        offset = time_to_ns(frame.header.stamp) - stamp_ns
        k = int(round(offset / period_ns))
        if 0 <= k < int(count) and abs(offset - k * period_ns) <= FRAME_STAMP_TOLERANCE_NS:
            mine.setdefault(k, frame)
    return [mine[k] for k in sorted(mine)]


def main(args=None) -> None:
    """Run the recorder."""
    run_node(RecorderNode, args)


if __name__ == '__main__':
    main()
