"""Preview (ghost joints, path markers, video playback) and recorder (one bag per episode)."""

import json
from pathlib import Path
import signal

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
import yaml

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from child_signals import default_signals  # noqa: I100
from ros_helpers import spin_until
from vag_ros.robot.description import load_robot_description
from vag_ros.ros.conversions import arrays_to_trajectory, make_joint_state, numpy_to_image
from vag_ros.ros.preview_node import PreviewNode
from vag_ros.ros.protocol import RequestResult
from vag_ros.ros.recorder_node import RecorderNode
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros

START = 5_000_000_000
HOME = np.array([0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02])


class Feed:
    """A peer that plays generator, replay, arm and camera for the recorder and preview."""

    def __init__(self, context, name):
        import rclpy
        self.node = rclpy.create_node(name, context=context)
        self.statuses = []
        pub = self.node.create_publisher
        self.video = pub(Image, '/vag/predicted_video', 100)
        self.trajectory = pub(JointTrajectory, '/vag/predicted_trajectory', 10)
        self.results = pub(String, '/vag/request_result', 10)
        self.annotation = pub(String, '/vag/episode_annotation', 10)
        self.replay_state = pub(String, '/vag/replay/state', 10)
        self.joints = pub(JointState, '/joint_states', 50)
        self.camera = pub(Image, '/camera/image_raw', 10)
        self.node.create_subscription(DiagnosticArray, '/vag/status', self._status, 100)

    def _status(self, msg):
        self.statuses += [status_values(s) for s in msg.status
                          if s.name.endswith('vag_recorder')]

    def episode(self, robot, frames=4, stamp=START):
        rng = np.random.default_rng(0)
        for k in range(frames):
            image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            self.video.publish(numpy_to_image(image, stamp_ns=stamp + k * 100_000_000,
                                              frame_id='camera'))
        positions = HOME + np.linspace(0, 0.2, frames)[:, None] * (np.arange(7) < 6)
        return arrays_to_trajectory(robot.joint_names, np.arange(frames) / 10, positions,
                                    stamp_ns=stamp)

    def state(self, state, stamp=START, **details):
        self.replay_state.publish(String(data=json.dumps(
            dict(details, state=state, episode_stamp_ns=stamp, message=''))))

    def result(self, state, instruction, stamp=START, request_id='r', **details):
        """A generator's request result for the episode at ``stamp``."""
        self.results.publish(String(data=RequestResult(
            request_id, state, 'vag_generator', instruction=instruction,
            episode_stamp_ns=stamp, details=details).to_json()))


def _executor(context, *nodes):
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)
    return executor


def test_preview_publishes_ghost_path_and_video(ros_context):
    robot = load_robot_description()
    preview = PreviewNode(context=ros_context)
    feed = Feed(ros_context, 'preview_test_feed')
    ghosts, markers, video = [], [], []
    feed.node.create_subscription(JointState, '/vag/preview/joint_states', ghosts.append, 10)
    feed.node.create_subscription(MarkerArray, '/vag/preview/markers', markers.append, 10)
    feed.node.create_subscription(Image, '/vag/preview/video', video.append, 10)
    executor = _executor(ros_context, preview, feed.node)
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and feed.video.get_subscription_count() >= 1, 5.0)
        trajectory = feed.episode(robot)
        assert spin_until(executor, lambda: len(preview._frames_in) == 4, 5.0)
        feed.trajectory.publish(trajectory)
        assert spin_until(executor, lambda: markers and ghosts and len(video) >= 3, 10.0)
        line = markers[0].markers[0]
        assert len(line.points) == 4 and line.header.frame_id == robot.root_link
        assert list(ghosts[0].name) == list(robot.joint_names)
        assert (video[0].height, video[0].width, video[0].encoding) == (8, 8, 'rgb8')
    finally:
        executor.shutdown()
        preview.destroy_node()
        feed.node.destroy_node()


@pytest.mark.parametrize('storage, max_width', [('raw', 0), ('jpeg', 4), ('png', 0)])
def test_recorder_writes_predicted_and_executed_episode(ros_context, tmp_path, storage,
                                                        max_width):
    from rosbags.rosbag2 import Reader
    robot = load_robot_description()
    recorder = RecorderNode(context=ros_context, parameter_overrides=[
        Parameter('out_dir', value=str(tmp_path)), Parameter('settle_s', value=0.2),
        Parameter('camera_storage', value=storage),
        Parameter('camera_max_width', value=max_width)])
    feed = Feed(ros_context, 'recorder_test_feed')
    executor = _executor(ros_context, recorder, feed.node)
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and feed.replay_state.get_subscription_count() >= 1, 5.0)
        feed.annotation.publish(String(data=json.dumps({'task': 'touch', 'seed': 7})))
        feed.result('accepted', 'touch the red block')
        trajectory = feed.episode(robot)
        assert spin_until(executor, lambda: len(recorder._frames) == 4
                          and recorder._next_annotation, 5.0)
        feed.trajectory.publish(trajectory)
        assert spin_until(executor, lambda: START in recorder._open, 5.0)
        feed.state('validated')
        feed.state('moving')
        assert spin_until(executor, lambda: recorder._recording is not None, 5.0)
        for k in range(5):
            feed.joints.publish(make_joint_state(robot.joint_names, HOME, START + k * 10**7))
            feed.camera.publish(numpy_to_image(np.full((6, 6, 3), k, np.uint8),
                                               stamp_ns=START + k * 10**7))
        spin_until(executor, lambda: len(recorder._recording.camera) == 5, 5.0)
        feed.state('done')
        feed.annotation.publish(String(data=json.dumps(
            {'episode_stamp_ns': START, 'success': True})))
        assert spin_until(executor, lambda: recorder.written, 10.0), feed.statuses[-3:]
        bag = recorder.written[0]
        assert bag.endswith(f'generated-{START}')
        with Reader(bag) as reader:
            counts = {c.topic: c.msgcount for c in reader.connections}
        info = yaml.safe_load((Path(bag) / 'metadata.yaml').read_text())
        meta = json.loads(info['rosbag2_bagfile_information']['custom_data'][
            'vag_ros.episode_metadata'])
        assert counts['/vag/predicted_video'] == 4
        assert counts['/vag/predicted_trajectory'] == 1
        camera = '/camera/image_raw' + ('' if storage == 'raw' else '/compressed')
        assert counts['/joint_states'] == 5 and counts[camera] == 5
        assert ('/camera/image_raw/compressed' in counts) == (storage != 'raw')
        frames = _camera_frames(bag, camera)  # decoded by a second reader (rosbags + PIL)
        side = max_width or 6
        assert [f.shape for f in frames] == [(side, side, 3)] * 5
        # the frames were np.full(k): every stored pixel is k, whatever the storage
        assert [int(np.median(f)) for f in frames] == [0, 1, 2, 3, 4]
        assert counts['/vag/replay/state'] >= 2
        assert meta['source'] == 'generated' and meta['task'] == 'touch'
        assert meta['seed'] == 7 and meta['success'] is True
        assert meta['instruction'] == 'touch the red block'
        assert meta['episode_id'] == f'generated-{START}'
        assert meta['extra']['executed'] and meta['extra']['execution'] == 'done'
    finally:
        executor.shutdown()
        recorder.destroy_node()
        feed.node.destroy_node()


def test_unwritable_folder_is_an_error_and_the_recorder_keeps_running(ros_context, tmp_path):
    robot = load_robot_description()
    blocker = tmp_path / 'not_a_folder'
    blocker.write_text('a file where the bag folder should be')
    recorder = RecorderNode(context=ros_context, parameter_overrides=[
        Parameter('out_dir', value=str(blocker / 'bags')),
        Parameter('execution_wait_s', value=0.2)])
    feed = Feed(ros_context, 'recorder_error_feed')
    executor = _executor(ros_context, recorder, feed.node)
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and feed.video.get_subscription_count() >= 1, 5.0)
        for stamp in (START, START + 10**9):
            trajectory = feed.episode(robot, stamp=stamp)
            assert spin_until(executor, lambda: any(
                stamp == f.header.stamp.sec * 10**9 for f in recorder._frames.items()), 5.0)
            feed.trajectory.publish(trajectory)
            assert spin_until(executor, lambda: f'generated-{stamp}' in recorder.failed, 10.0)
        assert spin_until(executor, lambda: len(
            [s for s in feed.statuses if s['state'] == 'write failed']) >= 2, 5.0)
        errors = [s for s in feed.statuses if s['state'] == 'write failed']
        assert 'cannot create output directory' in errors[0]['last_error']
        assert errors[0]['level'] == '2' and not recorder.written
    finally:
        executor.shutdown()
        recorder.destroy_node()
        feed.node.destroy_node()


def _camera_frames(bag, topic):
    """(H, W, 3) uint8 frames of an Image or CompressedImage topic, read back by rosbags."""
    import io
    from PIL import Image as PilImage
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import get_typestore
    from vag_ros.episodes.topics import TYPESTORE
    store = get_typestore(TYPESTORE)
    out = []
    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if conn.msgtype.endswith('CompressedImage'):
                out.append(np.asarray(PilImage.open(io.BytesIO(bytes(msg.data))).convert('RGB')))
            else:
                out.append(np.asarray(msg.data).reshape(msg.height, msg.width, 3))
    return out


def _bag_summary(bag):
    """({topic: count}, metadata dict, predicted frame stamps) of a written bag."""
    from rosbags.rosbag2 import Reader
    from vag_ros.episodes.topics import TYPESTORE
    from rosbags.typesys import get_typestore
    store = get_typestore(TYPESTORE)
    with Reader(bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        video = [c for c in reader.connections if c.topic == '/vag/predicted_video']
        stamps = [store.deserialize_cdr(raw, c.msgtype).header.stamp
                  for c, _, raw in reader.messages(connections=video)]
    info = yaml.safe_load((Path(bag) / 'metadata.yaml').read_text())
    meta = json.loads(info['rosbag2_bagfile_information']['custom_data'][
        'vag_ros.episode_metadata'])
    return counts, meta, [s.sec * 10**9 + s.nanosec for s in stamps]


def test_each_episode_gets_its_own_request_frames_and_execution_flag(ros_context, tmp_path):
    """Overlapping episodes, a rejected and a dry-run one, a best-effort camera and a
    replay that dies mid-motion: every bag carries its own request's text and frames."""
    from rclpy.qos import qos_profile_sensor_data
    robot = load_robot_description()
    recorder = RecorderNode(context=ros_context, parameter_overrides=[
        Parameter('out_dir', value=str(tmp_path)), Parameter('settle_s', value=0.2)])
    feed = Feed(ros_context, 'recorder_identity_feed')
    best_effort_camera = feed.node.create_publisher(Image, '/camera/image_raw',
                                                    qos_profile_sensor_data)
    executor = _executor(ros_context, recorder, feed.node)
    a, b, d = START, START + 250_000_000, START + 10**9  # a and b overlap in time
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and feed.results.get_subscription_count() >= 1, 5.0)
        feed.result('accepted', 'touch the red block', a, 'req-a')
        feed.result('accepted', 'push the blue block', b, 'req-b')
        trajectories = {stamp: feed.episode(robot, stamp=stamp) for stamp in (a, b)}
        assert spin_until(executor, lambda: len(recorder._frames) == 8
                          and b in recorder._generation, 5.0)
        feed.result('rejected', 'lift the green block', 0, 'req-c')  # never an episode
        for stamp in (a, b):
            feed.result('generated', '', stamp, 'req-a' if stamp == a else 'req-b', frames=4,
                        fps=10.0, seed=stamp % 97)
            feed.trajectory.publish(trajectories[stamp])
            assert spin_until(executor, lambda: stamp in recorder._open, 5.0)
            feed.state('rejected' if stamp == a else 'dry_run', stamp)
            assert spin_until(executor, lambda: recorder._open[stamp].execution, 5.0)
        feed.result('accepted', 'lift the yellow block', d, 'req-d')
        trajectory = feed.episode(robot, stamp=d)
        assert spin_until(executor, lambda: d in recorder._generation
                          and len(recorder._frames) == 12, 5.0)
        feed.trajectory.publish(trajectory)
        assert spin_until(executor, lambda: d in recorder._open, 5.0)
        feed.state('moving', d, duration_s=0.5)  # ... and the replay dies: no end state
        assert spin_until(executor, lambda: recorder._recording is not None, 5.0)
        for k in range(3):
            best_effort_camera.publish(numpy_to_image(np.full((6, 6, 3), k, np.uint8),
                                                      stamp_ns=d + k * 10**7))
        assert spin_until(executor, lambda: len(recorder.written) == 3, 10.0)
        assert not recorder._open and recorder._recording is None
        bags = {int(Path(p).name.split('-')[1]): _bag_summary(p) for p in recorder.written}
        for stamp, text, request, executed in ((a, 'touch the red block', 'req-a', False),
                                               (b, 'push the blue block', 'req-b', False),
                                               (d, 'lift the yellow block', 'req-d', True)):
            counts, meta, frame_stamps = bags[stamp]
            assert meta['instruction'] == text
            assert meta['extra']['request_id'] == request
            assert meta['extra']['executed'] is executed, (stamp, meta['extra'])
            assert frame_stamps == [stamp + k * 100_000_000 for k in range(4)]
        assert bags[a][1]['extra']['execution'] == 'rejected'
        assert bags[b][1]['extra']['execution'] == 'dry_run'
        assert bags[d][1]['extra']['execution'] == 'unfinished'
        assert bags[d][0]['/camera/image_raw'] == 3
        assert bags[d][1]['extra']['camera_frames'] == 3
    finally:
        executor.shutdown()
        recorder.destroy_node()
        feed.node.destroy_node()


@pytest.mark.parametrize('number', [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_closes_every_open_episode_completely(ros_context, tmp_path, number):
    """vag_recorder in its own process: open episodes (one executing) are all written, and
    the process exits cleanly, within seconds of the signal (SIGHUP: the terminal that
    started it closed). The episode cut mid-motion says so."""
    import subprocess
    import sys
    import time
    robot = load_robot_description()
    feed = Feed(ros_context, f'recorder_signal_feed_{int(number)}')
    executor = _executor(ros_context, feed.node)
    process = subprocess.Popen(
        [sys.executable, '-m', 'vag_ros.ros.recorder_node', '--ros-args', '-p',
         f'out_dir:={tmp_path}'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_signals())
    stamps = [START + k * 10**9 for k in range(3)]
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and feed.replay_state.get_subscription_count() >= 1
                          and feed.results.get_subscription_count() >= 1, 60.0)
        for stamp in stamps:
            feed.result('accepted', f'episode {stamp}', stamp, f'req-{stamp}')
            trajectory = feed.episode(robot, stamp=stamp)
            spin_until(executor, lambda: False, 0.3)
            feed.trajectory.publish(trajectory)
            spin_until(executor, lambda: False, 0.3)
        # every episode is open in the child before the signal (a loaded host is slow)
        assert spin_until(executor, lambda: len(
            {st.get('episode_id') for st in feed.statuses if st['state'] == 'episode'}) == 3,
            30.0), feed.statuses
        feed.state('moving', stamps[-1], duration_s=30.0)
        for k in range(5):
            feed.joints.publish(make_joint_state(robot.joint_names, HOME, stamps[-1] + k))
        spin_until(executor, lambda: False, 1.5)
        sent = time.monotonic()
        process.send_signal(number)
        assert spin_until(executor, lambda: process.poll() is not None, 20.0)
        took = time.monotonic() - sent
        stderr = process.communicate()[1]
        assert process.returncode == 0 and 'Traceback' not in stderr, stderr
        bags = sorted(p.name for p in tmp_path.iterdir())
        assert bags == [f'generated-{s}' for s in stamps], (bags, stderr)
        summaries = [_bag_summary(tmp_path / name) for name in bags]
        assert [m['instruction'] for _, m, _ in summaries] == [f'episode {s}' for s in stamps]
        assert summaries[-1][1]['extra']['executed'] is True
        assert summaries[-1][1]['extra']['execution'] == 'interrupted'
        assert all(c['/vag/predicted_video'] == 4 for c, _, _ in summaries)
        assert took < 10.0, took
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        executor.shutdown()
        feed.node.destroy_node()


def test_a_rejected_trajectory_executed_after_revalidation_is_recorded(ros_context, tmp_path):
    """The operator moves the arm to the start, validates again and executes: the episode
    the replay first rejected records that execution."""
    robot = load_robot_description()
    recorder = RecorderNode(context=ros_context, parameter_overrides=[
        Parameter('out_dir', value=str(tmp_path)), Parameter('settle_s', value=0.2)])
    feed = Feed(ros_context, 'recorder_revalidation_feed')
    executor = _executor(ros_context, recorder, feed.node)
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and feed.replay_state.get_subscription_count() >= 1, 5.0)
        feed.result('accepted', 'touch the red block')
        feed.trajectory.publish(feed.episode(robot))
        assert spin_until(executor, lambda: START in recorder._open, 5.0)
        feed.state('rejected')
        assert spin_until(executor, lambda: recorder._open[START].execution == 'rejected', 5.0)
        spin_until(executor, lambda: False, 0.5)
        assert START in recorder._open and not recorder.written  # still open
        feed.state('validated')
        feed.state('moving', duration_s=0.3)
        assert spin_until(executor, lambda: recorder._recording is not None, 5.0)
        for k in range(3):
            feed.joints.publish(make_joint_state(robot.joint_names, HOME, START + k * 10**7))
        spin_until(executor, lambda: False, 0.2)
        feed.state('done')
        assert spin_until(executor, lambda: recorder.written, 10.0)
        counts, meta, _ = _bag_summary(recorder.written[0])
        assert meta['extra']['executed'] is True and meta['extra']['execution'] == 'done'
        assert counts['/joint_states'] == 3
        # malformed messages are refused with a warning; the node keeps recording
        for text in ('{"episode_stamp_ns": "x", "state": "moving"}', '{"state": 3}'):
            feed.replay_state.publish(String(data=text))
        feed.results.publish(String(data='{"request_id": 1, "state": "accepted", '
                                         '"node": "g", "details": []}'))
        feed.annotation.publish(String(data='{"episode_stamp_ns": "soon", "success": true}'))
        spin_until(executor, lambda: False, 0.5)
        warnings = [s['last_error'] if 'last_error' in s else s.get('message', '')
                    for s in feed.statuses]
        assert any('request result' in w for w in warnings), warnings
    finally:
        executor.shutdown()
        recorder.destroy_node()
        feed.node.destroy_node()


@pytest.mark.parametrize('transport', ['raw', 'compressed'])
def test_recorder_reads_another_robots_camera_and_split_joint_states(ros_context, tmp_path,
                                                                     transport):
    """Another robot's setup: the camera on its own topic (raw, or image_transport's
    /compressed), arm and gripper joints in separate JointState messages (two broadcasters),
    with the gripper's driver publishing on change only (once, before the motion), and one
    unreadable camera frame among the good ones: the bag keeps the good frames and every
    measured joint state, and says what it left out."""
    from sensor_msgs.msg import CompressedImage
    from vag_ros.ros.conversions import numpy_to_compressed
    robot = load_robot_description()
    topic = '/cam/color/image_raw'
    recorder = RecorderNode(context=ros_context, parameter_overrides=[
        Parameter('out_dir', value=str(tmp_path)), Parameter('settle_s', value=0.2),
        Parameter('camera_topic', value=topic), Parameter('camera_transport', value=transport)])
    feed = Feed(ros_context, 'recorder_other_robot_feed')
    camera = feed.node.create_publisher(
        CompressedImage if transport == 'compressed' else Image,
        topic + ('/compressed' if transport == 'compressed' else ''), 10)
    executor = _executor(ros_context, recorder, feed.node)
    try:
        assert spin_until(executor, lambda: feed.trajectory.get_subscription_count() >= 1
                          and camera.get_subscription_count() >= 1, 5.0)
        feed.result('accepted', 'touch the red block')
        trajectory = feed.episode(robot)
        assert spin_until(executor, lambda: len(recorder._frames) == 4, 5.0)
        feed.trajectory.publish(trajectory)
        assert spin_until(executor, lambda: START in recorder._open, 5.0)
        arm, gripper = list(robot.joint_names[:6]), list(robot.joint_names[6:])
        feed.joints.publish(make_joint_state(gripper, HOME[6:], START - 10**8))
        assert spin_until(executor, lambda: gripper[0] in recorder._joint_values, 5.0)
        feed.state('moving')
        assert spin_until(executor, lambda: recorder._recording is not None, 5.0)
        for k in range(5):
            stamp = START + k * 10**7
            feed.joints.publish(make_joint_state(arm, HOME[:6] + 0.01 * k, stamp))
            image = np.full((6, 6, 3), k, np.uint8)
            if transport == 'compressed':
                msg = numpy_to_compressed(image, 'png', stamp_ns=stamp)
                if k == 2:
                    msg.data = b'\x89PNG not an image'
            else:
                msg = numpy_to_image(image, stamp_ns=stamp)
                if k == 2:
                    msg.step = 17  # a driver glitch: step < 3 * width
            camera.publish(msg)
        spin_until(executor, lambda: len(recorder._recording.camera) == 5, 5.0)
        feed.state('done')
        assert spin_until(executor, lambda: recorder.written or recorder.failed, 10.0)
        assert recorder.written and not recorder.failed, feed.statuses[-3:]
        counts, meta, _ = _bag_summary(recorder.written[0])
        # the bag's own layout: camera_storage raw -> /camera/image_raw, whatever the source
        frames = _camera_frames(recorder.written[0], '/camera/image_raw')  # read by rosbags
        assert [int(np.median(f)) for f in frames] == [0, 1, 3, 4]
        assert counts['/joint_states'] == 5  # each arm message, with the gripper's value
        assert meta['extra']['camera_frames'] == 4
        assert meta['extra']['camera_frames_skipped'] == 1
        assert any('could not be read' in w for w in meta['extra']['warnings'])
    finally:
        executor.shutdown()
        recorder.destroy_node()
        feed.node.destroy_node()
