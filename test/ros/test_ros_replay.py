"""Replay node against the mock arm (real MuJoCo world), real rclpy."""

import json

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from ros_helpers import spin_for, spin_until  # noqa: I100
from vag_ros.errors import ConfigError, TrajectoryError
from vag_ros.robot.interpolation import TrajectoryInterpolator
from vag_ros.ros.conversions import arrays_to_trajectory
from vag_ros.ros.mock_arm_node import MockArmNode
from vag_ros.ros.replay_node import check_interpolated_velocity, ControllerWatch, \
    ReplayNode
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


class Rig:
    """Mock arm + replay + a peer that sends trajectories, calls services, counts commands."""

    def __init__(self, context, **params):
        import rclpy
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.arm = MockArmNode(context=context)
        self.replay = ReplayNode(context=context, parameter_overrides=overrides)
        self.peer = rclpy.create_node('replay_test_peer', context=context)
        self.commands, self.trajectories, self.errors = [], [], []
        self.peer.create_subscription(Float64MultiArray, '/arm_controller/commands',
                                      self.commands.append, 100)
        self.peer.create_subscription(JointTrajectory, '/arm_controller/joint_trajectory',
                                      self.trajectories.append, 10)
        self.peer.create_subscription(DiagnosticArray, '/vag/status', self._status, 100)
        self.traj_pub = self.peer.create_publisher(JointTrajectory,
                                                   '/vag/predicted_trajectory', 10)
        self.clients = {name: self.peer.create_client(kind, f'/vag_replay/{name}')
                        for name, kind in (('arm', SetBool), ('execute', Trigger),
                                           ('cancel', Trigger))}
        self.executor = SingleThreadedExecutor(context=context)
        for node in (self.arm, self.replay, self.peer):
            self.executor.add_node(node)
        assert spin_until(self.executor, lambda: self.replay._joints_at is not None
                          and self.traj_pub.get_subscription_count() > 0, 10.0)

    def _status(self, msg):
        for status in msg.status:
            values = status_values(status)
            if status.name.endswith('vag_replay') and values['level'] == '2':
                self.errors.append(values['last_error'])

    def call(self, name, data=None):
        request = SetBool.Request(data=data) if name == 'arm' else Trigger.Request()
        assert self.clients[name].wait_for_service(timeout_sec=5.0)
        future = self.clients[name].call_async(request)
        assert spin_until(self.executor, future.done, 5.0)
        return future.result()

    def send(self, names, times, positions):
        self.replay.pending = None
        before = len(self.errors)
        self.traj_pub.publish(arrays_to_trajectory(names, times, positions))
        spin_until(self.executor, lambda: self.replay.pending is not None
                   or len(self.errors) > before, 5.0)
        return self.errors[before:]

    def motion(self, delta=0.3, duration=2.0, steps=21):
        """Smooth move of joint1 by ``delta`` rad from the measured state."""
        start = self.arm.joints()
        times = np.linspace(0.0, duration, steps)
        s = 0.5 - 0.5 * np.cos(np.pi * times / duration)  # (T,) rest at both ends
        positions = np.repeat(start[None], steps, axis=0)
        positions[:, 0] += delta * s
        return list(self.arm.names), times, positions

    def close(self):
        self.executor.shutdown()
        for node in (self.replay, self.arm, self.peer):
            node.destroy_node()


@pytest.fixture
def rig(ros_context):
    r = Rig(ros_context, dry_run=False)
    yield r
    r.close()


def test_invalid_trajectories_rejected_with_nothing_commanded(rig):
    names, times, positions = rig.motion()
    bad_nan = positions.copy()
    bad_nan[5, 2] = np.nan
    assert '[finite]' in rig.send(names, times, bad_nan)[0]
    too_far = positions.copy()
    too_far[:, 1] = 1.99  # outside joint2's [-2, 2] minus the 0.05 margin
    assert '[position limit]' in rig.send(names, times, too_far)[0]
    assert '[names]' in rig.send(['joint1', 'jointX'] + names[2:], times, positions)[0]
    far_start = positions + 0.2
    far_start[:, -1] = positions[:, -1]
    assert '[start state]' in rig.send(names, times, far_start)[0]
    assert rig.replay.pending is None
    assert rig.call('arm', True).success
    reply = rig.call('execute')
    assert not reply.success and 'no validated trajectory' in reply.message
    spin_for(rig.executor, 0.2)
    assert rig.commands == [] and rig.trajectories == []


def test_execute_without_arming_refused(rig):
    assert rig.send(*rig.motion()) == []
    reply = rig.call('execute')
    assert not reply.success and 'not armed' in reply.message
    spin_for(rig.executor, 0.2)
    assert rig.commands == []


def test_armed_execute_reaches_the_end_state(rig):
    names, times, positions = rig.motion(delta=0.3, duration=1.0, steps=11)
    assert rig.send(names, times, positions) == []
    assert rig.call('arm', True).success
    reply = rig.call('execute')
    assert reply.success, reply.message
    assert spin_until(rig.executor, lambda: rig.replay._motion is None, 10.0)
    spin_for(rig.executor, 0.5)  # the position servo settles
    assert np.allclose(rig.commands[-1].data, positions[-1], atol=1e-9)
    assert np.allclose(rig.arm.joints()[:6], positions[-1, :6], atol=0.03)
    assert not rig.replay.armed  # one execute per arming
    assert not rig.call('execute').success


def test_cancel_mid_motion_stops_commands(rig):
    assert rig.send(*rig.motion(delta=0.3, duration=2.0)) == []
    rig.call('arm', True)
    assert rig.call('execute').success
    assert spin_until(rig.executor, lambda: len(rig.commands) >= 5, 5.0)
    assert rig.call('cancel').success
    spin_for(rig.executor, 0.1)
    count = len(rig.commands)
    spin_for(rig.executor, 0.5)
    assert len(rig.commands) == count and rig.replay._motion is None
    # nothing resumes: the arming is gone, and so is the cancelled trajectory
    assert 'not armed' in rig.call('execute').message
    assert rig.call('arm', True).success
    assert 'no validated trajectory' in rig.call('execute').message
    spin_for(rig.executor, 0.3)
    assert len(rig.commands) == count


def test_a_trajectory_arriving_after_arming_disarms(rig):
    """Arming is for the trajectory the operator reviewed, not for whatever comes next."""
    assert rig.send(*rig.motion(delta=0.3, duration=2.0)) == []
    assert rig.call('arm', True).success
    assert rig.send(*rig.motion(delta=0.2, duration=2.0)) == []
    reply = rig.call('execute')
    assert not reply.success and 'not armed' in reply.message
    spin_for(rig.executor, 0.3)
    assert rig.commands == [] and rig.trajectories == []
    assert rig.call('arm', True).success and rig.call('execute').success  # armed for it


def test_stale_joint_states_stop_motion(rig):
    assert rig.send(*rig.motion(delta=0.3, duration=2.0)) == []
    rig.call('arm', True)
    assert rig.call('execute').success
    assert spin_until(rig.executor, lambda: len(rig.commands) >= 3, 5.0)
    rig.arm.publishing = False
    assert spin_until(rig.executor, lambda: rig.replay._motion is None, 3.0)
    count = len(rig.commands)
    spin_for(rig.executor, 0.5)
    assert len(rig.commands) == count
    assert any('joint states stale' in e for e in rig.errors)


@pytest.mark.parametrize('mode', ['forward_position', 'joint_trajectory'])
def test_silent_controller_stops_motion(ros_context, mode):
    rig = Rig(ros_context, dry_run=False, controller_mode=mode, controller_timeout_s=0.3)
    states = []
    rig.peer.create_subscription(String, '/vag/replay/state',
                                 lambda m: states.append(json.loads(m.data)), 10)
    try:
        names, times, positions = rig.motion(delta=0.4, duration=3.0, steps=31)
        trajectory = arrays_to_trajectory(names, times, positions, stamp_ns=123)
        rig.replay.pending = None
        rig.traj_pub.publish(trajectory)
        assert spin_until(rig.executor, lambda: rig.replay.pending is not None, 5.0)
        for sub in list(rig.arm.subscriptions):  # the controller goes deaf; states go on
            rig.arm.destroy_subscription(sub)
        rig.call('arm', True)
        assert rig.call('execute').success
        assert spin_until(rig.executor, lambda: rig.replay._motion is None, 3.0)
        assert spin_until(rig.executor, lambda: any(
            'controller silent' in e for e in rig.errors) and len(states) >= 3, 3.0), rig.errors
        count = len(rig.commands)
        spin_for(rig.executor, 0.3)
        assert len(rig.commands) == count
        by_state = {s['state']: s for s in states}
        assert by_state['moving']['episode_stamp_ns'] == 123
        assert 'controller silent' in by_state['stopped']['message']
    finally:
        rig.close()


def test_controller_watch_follows_and_times_out():
    watch = ControllerWatch(0.5, tracking_tolerance=0.05, progress_tolerance=0.005)
    names = ['a']
    assert watch.update(0.0, np.zeros(1), np.zeros(1), names) is None
    assert watch.update(1.0, np.zeros(1), np.array([0.04]), names) is None  # tracking
    assert watch.update(1.2, np.array([0.01]), np.array([0.2]), names) is None  # moving
    assert watch.update(1.6, np.array([0.01]), np.array([0.3]), names) is None
    assert 'controller silent' in watch.update(1.8, np.array([0.01]), np.array([0.4]), names)


def test_dry_run_default_commands_nothing(ros_context):
    rig = Rig(ros_context)
    try:
        assert rig.replay.config.dry_run
        assert rig.send(*rig.motion()) == []
        rig.call('arm', True)
        reply = rig.call('execute')
        assert reply.success and 'dry run' in reply.message
        spin_for(rig.executor, 0.3)
        assert rig.commands == [] and rig.trajectories == []
    finally:
        rig.close()


def test_joint_trajectory_mode_sends_one_trajectory(ros_context):
    rig = Rig(ros_context, dry_run=False, controller_mode='joint_trajectory')
    try:
        names, times, positions = rig.motion(delta=-0.2, duration=1.0, steps=11)
        assert rig.send(names, times, positions) == []
        rig.call('arm', True)
        assert rig.call('execute').success
        assert spin_until(rig.executor, lambda: rig.replay._motion is None, 10.0)
        spin_for(rig.executor, 0.5)
        assert len(rig.trajectories) == 1 and rig.commands == []
        assert np.allclose(rig.arm.joints()[:6], positions[-1, :6], atol=0.03)
    finally:
        rig.close()


def test_follow_joint_trajectory_without_control_msgs_is_a_clear_error(ros_context):
    import rclpy
    with pytest.raises(ConfigError, match='control_msgs'):
        ReplayNode(context=ros_context, parameter_overrides=[
            Parameter('controller_mode', value='follow_joint_trajectory')])
    with pytest.raises(ConfigError, match='velocity_scale'):
        ReplayNode(context=ros_context, parameter_overrides=[
            Parameter('safety.velocity_scale', value=2.0)])
    assert rclpy.ok(context=ros_context)


def test_interpolated_peak_velocity_checked():
    interpolator = TrajectoryInterpolator([0.0, 1.0], [[0.0], [1.0]])  # peak 1.5 at s=0.5
    check_interpolated_velocity(interpolator, np.array([1.6]), ['j'])
    with pytest.raises(TrajectoryError, match='interpolated velocity'):
        check_interpolated_velocity(interpolator, np.array([1.4]), ['j'])
