"""Generator node: micro random-weight checkpoint, real rclpy."""

import threading
import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from ros_helpers import spin_until  # noqa: I100
from vag_ros.ros.conversions import numpy_to_image
from vag_ros.ros.generator_node import GeneratorNode
from vag_ros.ros.protocol import RequestResult
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros
STATE = (0.05, -0.3, 2.0, 0.02, 1.44, -0.1, 0.02)  # (D,) measured joints [rad, m]


class Harness:
    """Generator + a test node that feeds frames/instructions and records outputs."""

    def __init__(self, context, **params):
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = GeneratorNode(context=context, parameter_overrides=overrides)
        self.peer = rclpy_node(context)
        self.frames, self.trajectories, self.statuses = [], [], []
        self.peer.create_subscription(Image, '/vag/predicted_video', self.frames.append, 100)
        self.peer.create_subscription(JointTrajectory, '/vag/predicted_trajectory',
                                      self.trajectories.append, 10)
        self.peer.create_subscription(DiagnosticArray, '/vag/status', self._status, 100)
        self.results = []
        self.peer.create_subscription(
            String, '/vag/request_result',
            lambda m: self.results.append(RequestResult.from_json(m.data)), 50)
        self.frame_pub = self.peer.create_publisher(Image, '/vag/frame', 1)
        self.state_pub = self.peer.create_publisher(JointState, '/joint_states', 10)
        self.instruction_pub = self.peer.create_publisher(String, '/vag/instruction', 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)

    def _status(self, msg):
        for status in msg.status:
            if status.name.endswith('vag_generator'):
                self.statuses.append(status_values(status))

    def rejections(self):
        return [s['last_error'] for s in self.statuses if s['state'] == 'rejected']

    def send_frame(self, state=True):
        frame = np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)
        self.frame_pub.publish(numpy_to_image(frame))
        assert spin_until(self.executor, lambda: self.node._frame is not None, 10.0)
        if state:
            self.send_state(STATE)

    def send_state(self, positions, names=None):
        """A robot's /joint_states: the model's joints reversed, plus one it does not use."""
        names = list(names or self.node.joint_names)
        msg = JointState(name=list(reversed(names)) + ['camera_pan'],
                         position=[float(v) for v in reversed(positions)] + [9.0])
        before = dict(self.node._joints)
        self.state_pub.publish(msg)
        spin_until(self.executor, lambda: self.node._joints != before, 5.0)

    def instruct(self, text):
        self.instruction_pub.publish(String(data=text))

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


def rclpy_node(context):
    import rclpy
    return rclpy.create_node('generator_test_peer', context=context)


@pytest.fixture
def harness(ros_context, micro_checkpoint):
    h = Harness(ros_context, checkpoint=str(micro_checkpoint), max_frame_age_s=5.0)
    assert h.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    yield h
    h.close()


def test_instruction_and_fresh_frame_give_video_and_trajectory(harness):
    h = harness
    h.send_frame()
    # publishers need matched subscribers before the instruction goes out
    spin_until(h.executor, lambda: h.instruction_pub.get_subscription_count() > 0, 5.0)
    h.instruct('touch the red block')
    assert spin_until(h.executor, lambda: h.trajectories and len(h.frames) >= 5, 60.0), \
        h.statuses[-3:]
    assert len(h.frames) == 5
    stamps = [f.header.stamp.sec * 10**9 + f.header.stamp.nanosec for f in h.frames]
    assert np.allclose(np.diff(stamps), 1e8)  # 10 Hz
    assert {f.header.frame_id for f in h.frames} == {'camera'}
    assert (h.frames[0].height, h.frames[0].width, h.frames[0].encoding) == (32, 32, 'rgb8')
    traj = h.trajectories[0]
    assert list(traj.joint_names) == list(h.node.joint_names) and len(traj.joint_names) == 7
    assert len(traj.points) == 5
    # the model started from the measured joints, matched by name whatever their order
    np.testing.assert_allclose(traj.points[0].positions, STATE, atol=1e-5)
    assert traj.points[1].time_from_start.nanosec == 100_000_000
    assert traj.header.stamp == h.frames[0].header.stamp  # one episode identity

    def done():  # the timings status follows the last frame; it may still be in flight
        return [s for s in h.statuses if s['state'] == 'idle' and 'timing.total_s' in s]
    assert spin_until(h.executor, lambda: done(), 10.0), h.statuses[-3:]
    assert done()[-1]['episode_id'].startswith('vag_generator-')
    assert any(s['state'] == 'generating' and s.get('progress') for s in h.statuses)


def test_empty_and_oversized_instructions_rejected(harness):
    h = harness
    h.send_frame()
    assert h.node.submit('   ') is None
    assert h.node.submit('x' * 513) is None
    spin_until(h.executor, lambda: len(h.rejections()) >= 2, 5.0)
    reasons = h.rejections()
    assert any('empty instruction' in r for r in reasons)
    assert any('513 characters > max_instruction_length 512' in r for r in reasons)


def test_a_frame_too_small_for_the_model_is_rejected_at_admission(harness):
    """A 6x6 camera frame is bad input, refused with the request (not accepted and then
    reported as a failed generation)."""
    h = harness
    h.frame_pub.publish(numpy_to_image(np.zeros((6, 6, 3), np.uint8)))
    assert spin_until(h.executor, lambda: h.node._frame is not None
                      and h.node._frame[0].shape == (6, 6, 3), 10.0)
    h.send_state(STATE)
    assert h.node.submit('touch the red block') is None
    assert spin_until(h.executor, lambda: h.rejections(), 5.0)
    assert 'smaller than the model input' in h.rejections()[0]
    assert not [r for r in h.results if r.state in ('accepted', 'failed')]


def test_stale_or_missing_frame_rejected(harness):
    h = harness
    assert h.node.submit('touch the red block') is None
    h.send_frame()
    frame, received, stamp = h.node._frame
    h.node._frame = (frame, received - 10.0, stamp)  # as if the camera went silent 10 s ago
    assert h.node.submit('touch the red block') is None
    spin_until(h.executor, lambda: len(h.rejections()) >= 2, 5.0)
    reasons = h.rejections()
    assert 'no camera frame received on /vag/frame' in reasons[0]
    assert 'stale' in reasons[1]


def test_missing_stale_or_partial_joint_state_rejected(harness):
    h = harness
    h.send_frame(state=False)
    assert h.node.submit('touch the red block') is None
    names = list(h.node.joint_names)
    h.send_state(STATE[:6], names[:6])  # the arm alone: the gripper is still missing
    assert h.node.submit('touch the red block') is None
    h.send_state(STATE[6:], names[6:])  # the gripper on its own message completes it
    state, why = h.node.measured_state()
    np.testing.assert_allclose(state, STATE)
    assert why == ''
    position, received = h.node._joints[names[2]]
    h.node._joints[names[2]] = (position, received - 10.0)  # joint3 went silent 10 s ago
    assert h.node.submit('touch the red block') is None
    spin_until(h.executor, lambda: len(h.rejections()) >= 3, 5.0)
    reasons = h.rejections()
    assert 'no joint state received on /joint_states' in reasons[0]
    assert names[6] in reasons[1] and names[0] not in reasons[1]
    assert names[2] in reasons[2] and 'stale' in reasons[2]
    h.send_frame()
    assert h.node.submit('touch the red block')


def test_a_joint_state_whose_lengths_disagree_is_not_read(harness):
    """7 names, 6 positions: which value is whose is unknown, so none is taken (zipping
    them would give the gripper the first arm joint's value)."""
    from sensor_msgs.msg import JointState
    h = harness
    names = list(h.node.joint_names)
    h.send_state(STATE, names)
    before = {n: h.node._joints[n][0] for n in names}
    h.node._on_joint_state(JointState(name=names, position=[float(v) + 1.0 for v in STATE[:6]]),
                           time.monotonic())
    assert {n: h.node._joints[n][0] for n in names} == before


def test_a_request_judges_the_frame_and_joints_that_arrived_not_those_processed(harness):
    """The generator's executor was held (a starved process): the newest frame and joint
    state it processed are 10 s old, fresher ones wait on their subscriptions. A request
    takes them first and is admitted (issue 29: it was refused as stale)."""
    h = harness
    h.send_frame()
    frame, received, stamp = h.node._frame
    h.node._frame = (frame, received - 10.0, stamp)
    h.node._joints = {n: (v, t - 10.0) for n, (v, t) in h.node._joints.items()}
    h.frame_pub.publish(numpy_to_image(frame))      # arrive while nothing spins the node
    h.state_pub.publish(JointState(name=list(h.node.joint_names),
                                   position=[float(v) + 0.01 for v in STATE]))
    time.sleep(0.3)
    assert h.node.submit('touch the red block'), h.rejections()
    np.testing.assert_allclose(h.node.measured_state()[0], np.add(STATE, 0.01))
    assert time.monotonic() - h.node._frame[1] < 5.0


def test_queue_full_rejected(harness):
    h = harness
    release = threading.Event()
    real = h.node.pipeline.generate

    def held(*args, **kwargs):
        release.wait(30.0)
        return real(*args, **kwargs)

    h.node.pipeline.generate = held
    h.send_frame()
    accepted = [h.node.submit(f'touch block {i}') for i in range(3)]
    release.set()
    assert accepted[0] and accepted[1] and accepted[2] is None  # 1 running + queue_size 1
    spin_until(h.executor, lambda: h.rejections(), 5.0)
    assert 'queue full' in h.rejections()[0]
    assert spin_until(h.executor, lambda: len(h.trajectories) >= 2, 60.0)


def test_generator_exception_is_reported_and_the_node_keeps_serving(harness):
    h = harness
    real = h.node.pipeline.generate
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError('CUDA error: out of memory (simulated)')
        return real(*args, **kwargs)

    h.node.pipeline.generate = failing_once
    h.send_frame()
    spin_until(h.executor, lambda: h.instruction_pub.get_subscription_count() > 0, 5.0)
    h.instruct('touch the red block')

    def failed():
        return [s for s in h.statuses if s['state'] == 'failed']
    assert spin_until(h.executor, failed, 30.0), h.statuses[-3:]
    error = failed()[-1]['last_error']
    assert 'RuntimeError' in error and 'out of memory' in error
    assert not h.trajectories and not h.frames  # nothing to preview, record or replay
    h.instruct('touch the blue block')  # the next request still runs
    assert spin_until(h.executor, lambda: h.trajectories, 60.0), h.statuses[-3:]


def test_missing_checkpoint_fails_configure_cleanly(ros_context, tmp_path):
    h = Harness(ros_context, checkpoint=str(tmp_path / 'nope'))
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        spin_until(h.executor, lambda: any(s['last_error'] for s in h.statuses), 5.0)
        errors = [s['last_error'] for s in h.statuses if s['last_error']]
        assert errors and 'configure failed' in errors[-1] and 'nope' in errors[-1]
        assert h.node.pipeline is None
    finally:
        h.close()


def test_torch_backend_without_checkpoint_fails_configure(ros_context):
    h = Harness(ros_context, checkpoint='', backend='torch')
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        spin_until(h.executor, lambda: any(s['last_error'] for s in h.statuses), 5.0)
        error = [s['last_error'] for s in h.statuses][-1]
        assert 'backend torch runs a checkpoint: set checkpoint to its folder' in error
    finally:
        h.close()


def test_engine_backend_without_engine_dir_fails_configure(ros_context, micro_checkpoint):
    h = Harness(ros_context, checkpoint=str(micro_checkpoint), backend='onnxruntime')
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        spin_until(h.executor, lambda: any(s['last_error'] for s in h.statuses), 5.0)
        error = [s['last_error'] for s in h.statuses][-1]
        assert 'backend onnxruntime runs an engine folder: set engine_dir' in error
        assert 'vag-ros export' in error
    finally:
        h.close()


def test_every_request_gets_an_id_and_its_results(harness):
    """A client matches outcomes to its requests by id, not by timing."""
    import json
    h = harness
    h.send_frame()
    spin_until(h.executor, lambda: h.instruction_pub.get_subscription_count() > 0, 5.0)
    h.instruct(json.dumps({'instruction': 'x' * 600, 'request_id': 'too-long'}))
    h.instruct(json.dumps({'instruction': 'touch the red block', 'request_id': 'mine-1'}))
    h.instruct('{"instruction": ')  # broken JSON
    h.instruct(json.dumps({'instruction': 'push it', 'colour': 'red'}))  # unknown field
    h.instruct('push the blue block')  # plain text: the generator names it

    def by(request_id, state):
        return [r for r in h.results if r.request_id == request_id and r.state == state]
    assert spin_until(h.executor, lambda: by('mine-1', 'generated'), 60.0), h.results
    assert spin_until(h.executor, lambda: len(h.results) >= 7, 30.0), h.results
    rejected = [r for r in h.results if r.state == 'rejected']
    assert by('too-long', 'rejected')[0].reason.startswith('instruction has 600 characters')
    assert any('looks like JSON' in r.reason for r in rejected)
    assert any("unknown request field(s) ['colour']" in r.reason for r in rejected)
    accepted, generated = by('mine-1', 'accepted')[0], by('mine-1', 'generated')[0]
    assert accepted.instruction == generated.instruction == 'touch the red block'
    assert accepted.episode_stamp_ns == generated.episode_stamp_ns > 0
    assert generated.details['frames'] == 5 and generated.details['fps'] == 10.0
    stamps = {t.header.stamp.sec * 10**9 + t.header.stamp.nanosec for t in h.trajectories}
    assert accepted.episode_stamp_ns in stamps
    named = [r for r in h.results if r.state == 'accepted' and r.request_id != 'mine-1']
    assert named and named[0].request_id.startswith('vag_generator-req-')
    assert named[0].instruction == 'push the blue block'
    ids = [r.request_id for r in rejected]
    assert len(set(ids)) == len(ids) and all(ids)  # every rejection names its request


@pytest.mark.parametrize('number', [2, 15])  # SIGINT, SIGTERM
def test_the_generator_process_exits_cleanly_on_a_signal_mid_request(ros_context,
                                                                     micro_checkpoint,
                                                                     number):
    import signal
    import subprocess
    import sys
    peer = rclpy_node(ros_context)
    results = []
    peer.create_subscription(String, '/vag/request_result',
                             lambda m: results.append(RequestResult.from_json(m.data)), 50)
    frame_pub = peer.create_publisher(Image, '/vag/frame', 1)
    state_pub = peer.create_publisher(JointState, '/joint_states', 10)
    instruction_pub = peer.create_publisher(String, '/vag/instruction', 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(peer)
    process = subprocess.Popen(
        [sys.executable, '-m', 'vag_ros.ros.generator_node', '--ros-args', '-p',
         f'checkpoint:={micro_checkpoint}', '-p', 'max_frame_age_s:=30.0', '-p',
         'max_joint_state_age_s:=30.0'],  # a loaded host: what is tested is the exit
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # started as a shell's background job is (SIGINT ignored, inherited): ros2 launch's
        # SIGINT must still stop it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert spin_until(executor, lambda: instruction_pub.get_subscription_count() > 0
                          and frame_pub.get_subscription_count() > 0, 60.0)
        frame = np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)
        names = ['joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6',
                 'left_finger_joint']
        for _ in range(40):  # until the generator takes a request
            frame_pub.publish(numpy_to_image(frame))
            state_pub.publish(JointState(name=names, position=list(STATE)))
            instruction_pub.publish(String(data='touch the red block'))
            if spin_until(executor, lambda: any(r.state == 'accepted' for r in results),
                          0.5):
                break
        assert any(r.state == 'accepted' for r in results), results
        process.send_signal(number)
        assert spin_until(executor, lambda: process.poll() is not None, 30.0)
        stderr = process.communicate()[1]
        assert process.returncode == 0 and 'Traceback' not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        executor.shutdown()
        peer.destroy_node()
