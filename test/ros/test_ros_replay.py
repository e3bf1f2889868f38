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
from vag_ros.errors import ConfigError
from vag_ros.robot.safety_config import load_safety_config
from vag_ros.ros.conversions import arrays_to_trajectory, trajectory_to_arrays
from vag_ros.ros.mock_arm_node import MockArmNode
from vag_ros.robot.controller_watch import ControllerWatch
from vag_ros.ros.replay_node import ReplayNode
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


class Rig:
    """Mock arm + replay + a peer that sends trajectories, calls services, counts commands."""

    def __init__(self, context, arm_params=None, **params):
        import rclpy
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.arm = MockArmNode(context=context, parameter_overrides=[
            Parameter(k, value=v) for k, v in (arm_params or {}).items()])
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
                                           ('cancel', Trigger), ('validate', Trigger))}
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
        """Publish a trajectory; the replay's errors it caused (empty: validated)."""
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


def assert_braked(commands, rate, acceleration):
    """The streamed commands (each ``data`` (D,)) change by at most the acceleration limit
    between ticks, and end at rest."""
    stream = np.array([c.data for c in commands])                 # (N, D) at 1 / rate
    velocity = np.diff(stream, axis=0) * rate                      # (N - 1, D)
    change = np.abs(np.diff(velocity, axis=0)) * rate              # (N - 2, D)
    assert np.all(change.max(0) <= acceleration * 1.05 + 1e-9), change.max(0)
    assert np.all(np.abs(velocity[-1]) < 0.05)


def assert_held(rig):
    """After a stop: the commands braked to rest within the limits, then nothing."""
    spin_for(rig.executor, 0.3)
    count = len(rig.commands)
    spin_for(rig.executor, 0.5)
    assert len(rig.commands) == count
    assert_braked(rig.commands, rig.replay.config.stream_rate_hz, rig.replay.limits.acceleration)


def assert_braking_trajectory(trajectory, limits):
    """A joint_trajectory stop: two points, from a velocity to rest within the limits."""
    t, p = trajectory_to_arrays(trajectory)[1:]
    v = np.array([pt.velocities for pt in trajectory.points])
    assert len(t) == 2 and t[0] == 0.0 and np.all(v[1] == 0)
    assert np.all(np.abs(v[0]) / t[1] <= limits.acceleration * (1 + 1e-6))  # ns rounding
    np.testing.assert_allclose(p[1], np.clip(p[0] + v[0] * t[1] / 2, limits.lower,
                                             limits.upper))


@pytest.fixture
def rig(ros_context):
    r = Rig(ros_context, dry_run=False, controller_mode='forward_position')
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
    reply = rig.call('execute')  # checks the newest trajectory again: still too far
    assert not reply.success and '[start state]' in reply.message
    assert not rig.replay.armed
    spin_for(rig.executor, 0.2)
    assert rig.commands == [] and rig.trajectories == []


def test_execute_without_arming_refused(rig):
    assert rig.send(*rig.motion()) == []
    reply = rig.call('execute')
    assert not reply.success and 'not armed' in reply.message
    spin_for(rig.executor, 0.2)
    assert rig.commands == []


def test_armed_execute_reaches_the_end_state(rig):
    names, times, positions = rig.motion(delta=0.3, duration=1.5, steps=16)
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
    assert_held(rig)
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
            'controller silent' in e for e in rig.errors)
            and any(s['state'] == 'stopped' for s in states), 3.0), rig.errors
        # the stop starts where the arm is, not at the setpoint it never followed: a deaf
        # controller that wakes up is not first driven to the path
        if mode == 'forward_position':
            spin_for(rig.executor, 0.3)
            count = len(rig.commands)
            spin_for(rig.executor, 0.5)
            assert len(rig.commands) == count
            np.testing.assert_allclose(rig.commands[-1].data, rig.arm.joints(), atol=1e-3)
        else:  # the stop: a braking trajectory after the motion's one
            assert spin_until(rig.executor, lambda: len(rig.trajectories) == 2, 2.0)
            assert_braking_trajectory(rig.trajectories[-1], rig.replay.limits)
            start = trajectory_to_arrays(rig.trajectories[-1])[2][0]
            np.testing.assert_allclose(start, rig.arm.joints(), atol=1e-3)
        by_state = {s['state']: s for s in states}
        assert by_state['moving']['episode_stamp_ns'] == 123
        assert 'controller silent' in by_state['stopped']['message']
    finally:
        rig.close()


def _moving(rig, delta=0.3, duration=3.0):
    """Validate, arm and execute a joint1 move; return once it streams."""
    assert rig.send(*rig.motion(delta=delta, duration=duration, steps=31)) == []
    rig.call('arm', True)
    assert rig.call('execute').success
    assert spin_until(rig.executor, lambda: len(rig.commands) >= 10, 5.0)


def _report(rig, positions, velocity, seconds, until_stopped=False):
    """Stand in for the arm's /joint_states (its own publishing off) for ``seconds``, or
    until the motion stopped."""
    import time
    from sensor_msgs.msg import JointState
    publisher = rig.peer.create_publisher(JointState, '/joint_states', 10)
    rig.arm.publishing = False
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until_stopped and rig.replay._motion is None):
        publisher.publish(JointState(name=list(rig.arm.names),
                                     position=[float(v) for v in positions],
                                     velocity=[float(v) for v in velocity]))
        spin_for(rig.executor, 0.02)


def test_an_arm_off_its_path_is_stopped_where_it_is(rig):
    """The arm is measured 0.3 rad from its setpoint (blocked, pushed, or driven the wrong
    way) while it keeps moving: path_tolerance (0.2 rad) stops it, and the stop holds it
    where it is measured instead of driving it back to the path."""
    _moving(rig)
    away = rig.arm.joints().copy()
    away[0] -= 0.3
    _report(rig, away, np.zeros(len(away)), 2.0, until_stopped=True)  # a blocked arm
    assert rig.replay._motion is None
    assert spin_until(rig.executor, lambda: any(
        "path tolerance: 'joint1'" in e for e in rig.errors), 2.0), rig.errors
    spin_for(rig.executor, 0.3)
    count = len(rig.commands)
    spin_for(rig.executor, 0.3)
    assert len(rig.commands) == count
    np.testing.assert_allclose(rig.commands[-1].data, away, atol=1e-6)


def test_a_cancel_with_an_arm_lagging_its_setpoint_brakes_the_commands_smoothly(rig):
    """A real arm lags its setpoint (here 0.08 rad: past tracking_tolerance, within
    path_tolerance): a cancel brakes from the commanded motion, so the command stream stays
    within the acceleration limit; it does not step back to where the arm was measured."""
    import time
    from sensor_msgs.msg import JointState
    assert rig.send(*rig.motion(delta=0.6, duration=2.0, steps=41)) == []
    rig.call('arm', True)
    assert rig.call('execute').success
    publisher = rig.peer.create_publisher(JointState, '/joint_states', 10)
    rig.arm.publishing = False
    end = time.monotonic() + 0.6
    while time.monotonic() < end:  # the arm follows 0.08 rad behind at ~0.6 rad/s
        if rig.commands:
            lagging = np.array(rig.commands[-1].data, dtype=float)
            lagging[0] -= 0.08
            velocity = np.zeros(len(lagging))
            velocity[0] = 0.6
            publisher.publish(JointState(name=list(rig.arm.names),
                                         position=[float(v) for v in lagging],
                                         velocity=[float(v) for v in velocity]))
        spin_for(rig.executor, 0.01)
    assert rig.replay._motion is not None  # the lag alone stops nothing
    rig.call('cancel')
    spin_for(rig.executor, 0.5)
    assert_braked(rig.commands, rig.replay.config.stream_rate_hz, rig.replay.limits.acceleration)


def test_a_joint_state_that_is_not_finite_stops_the_motion(rig):
    """Fresh /joint_states with NaN positions cannot be watched for a silent controller:
    the motion stops (braking from the setpoint, the only position known)."""
    _moving(rig)
    broken = rig.arm.joints().copy()
    broken[2] = np.nan
    _report(rig, broken, np.zeros(len(broken)), 2.0, until_stopped=True)
    assert rig.replay._motion is None
    assert spin_until(rig.executor, lambda: any(
        "joint state of 'joint3' is not finite" in e for e in rig.errors), 2.0), rig.errors
    assert_held(rig)


def test_nan_velocity_of_a_position_only_joint_does_not_block_execution(rig):
    """ros2_control's joint_state_broadcaster reports NaN velocity for a joint without a
    velocity interface (a position-only gripper): the velocity is estimated from positions."""
    names, times, positions = rig.motion(delta=0.2, duration=3.0, steps=31)
    velocity = [np.nan if n == 'left_finger_joint' else 0.0 for n in rig.arm.names]
    _report(rig, rig.arm.joints(), velocity, 0.3)
    assert rig.send(names, times, positions) == []
    rig.call('arm', True)
    _report(rig, rig.arm.joints(), velocity, 0.3)
    reply = rig.call('execute')
    assert reply.success, reply.message


def test_a_goal_the_controller_ended_itself_gets_no_stop(rig):
    """An aborted or rejected follow_joint_trajectory goal: the controller already holds
    the arm, so no braking goal follows (it would start from the setpoint and move the arm
    again). The result callback is mode-agnostic; it is driven here on the streaming rig."""
    _moving(rig, delta=0.6)
    spin_for(rig.executor, 0.5)  # well into the motion: a braking stop would take > 0.1 s
    count = len(rig.commands)
    rig.replay._on_controller_result(rig.replay.episode_stamp,
                                     'follow_joint_trajectory failed: error_code -4')
    assert rig.replay._motion is None
    spin_for(rig.executor, 0.5)
    # at most the one command the stream thread may have had in flight; a braking stop
    # streams one per 20 ms of its duration
    assert len(rig.commands) - count <= 1, len(rig.commands) - count
    assert spin_until(rig.executor, lambda: any('error_code -4' in e for e in rig.errors), 2.0)


ARM_JOINTS = ['joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6']


@pytest.mark.parametrize('mode', ['forward_position', 'joint_trajectory'])
def test_a_gripper_on_a_controller_of_its_own_is_not_sent_to_the_arms(ros_context, mode):
    """The arm controller owns joint1-6 (as joint_trajectory_controller, it refuses any other
    joint); the gripper is on a controller of its own. With controller_joints the arm gets
    its six joints only and moves; the gripper's part is validated, not commanded."""
    rig = Rig(ros_context, arm_params={'controller_joints': ARM_JOINTS}, dry_run=False,
              controller_mode=mode, controller_joints=ARM_JOINTS)
    try:
        names, times, positions = rig.motion(delta=0.3, duration=1.5, steps=16)
        positions[:, -1] += np.linspace(0.0, 0.01, len(times))  # the gripper opens a little
        gripper = rig.arm.joints()[-1]
        assert rig.send(names, times, positions) == []
        assert rig.call('arm', True).success
        reply = rig.call('execute')
        assert reply.success and "['left_finger_joint'] not commanded" in reply.message
        assert spin_until(rig.executor, lambda: rig.replay._motion is None, 10.0)
        spin_for(rig.executor, 0.5)  # the position servo settles
        assert np.allclose(rig.arm.joints()[:6], positions[-1, :6], atol=0.03)
        assert abs(rig.arm.joints()[-1] - gripper) < 2e-3  # not commanded: it held
        if mode == 'forward_position':
            assert rig.commands and all(len(c.data) == 6 for c in rig.commands)
        else:
            assert [list(t.joint_names) for t in rig.trajectories] == [ARM_JOINTS]
        assert rig.errors == []
    finally:
        rig.close()


def test_controller_joints_the_robot_lacks_are_refused(ros_context):
    with pytest.raises(ConfigError, match=r"controller_joints=\['elbow'\]: \['elbow'\] not"):
        ReplayNode(context=ros_context, parameter_overrides=[
            Parameter('controller_joints', value=['elbow'])])


def test_controller_watch_follows_and_times_out():
    watch = ControllerWatch(0.5, tracking_tolerance=0.05, progress_tolerance=0.005)
    names = ['a']
    assert watch.update(0.0, np.zeros(1), np.zeros(1), names) is None
    assert watch.update(1.0, np.zeros(1), np.array([0.04]), names) is None  # tracking
    assert watch.update(1.2, np.array([0.01]), np.array([0.2]), names) is None  # moving
    assert watch.update(1.6, np.array([0.01]), np.array([0.3]), names) is None
    assert 'controller silent' in watch.update(1.8, np.array([0.01]), np.array([0.4]), names)
    # off the path: moving, but farther than path_tolerance from the setpoint
    watch = ControllerWatch(0.5, 0.05, 0.005, path_tolerance=0.2)
    assert watch.update(0.0, np.zeros(1), np.array([0.15]), names) is None
    assert watch.update(0.1, np.array([-0.1]), np.array([0.15]), names).startswith(
        "path tolerance: 'a' is 0.250")


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
        names, times, positions = rig.motion(delta=-0.2, duration=1.5, steps=16)
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
    assert rclpy.ok(context=ros_context)


def test_the_safety_file_named_is_the_one_in_force(ros_context, tmp_path):
    shipped = load_safety_config()
    replay = ReplayNode(context=ros_context)
    try:
        assert replay.safety == shipped and replay.safety_file.name == 'safety.yaml'
        # the file's numbers: rad/s^2 for the arm joints, the prismatic one for the finger
        assert replay.limits.acceleration.tolist() == [2.0] * 6 + [0.5]
    finally:
        replay.destroy_node()
    custom = tmp_path / 'cell.yaml'
    custom.write_text('velocity_scale: 0.2\nmax_acceleration: 1.0\n')
    replay = ReplayNode(context=ros_context, parameter_overrides=[
        Parameter('safety_file', value=str(custom))])
    try:
        assert replay.safety.velocity_scale == 0.2 and replay.limits.acceleration[0] == 1.0
    finally:
        replay.destroy_node()
    custom.write_text('velocity_scale: 2.0\n')
    with pytest.raises(ConfigError, match='velocity_scale'):
        ReplayNode(context=ros_context, parameter_overrides=[
            Parameter('safety_file', value=str(custom))])
    with pytest.raises(ConfigError, match='missing.yaml'):
        ReplayNode(context=ros_context, parameter_overrides=[
            Parameter('safety_file', value=str(tmp_path / 'missing.yaml'))])


def _hermite(times, positions, velocities, ts):
    """(positions (N, D), velocities (N, D), accelerations (N, D)) at ``ts`` of the cubic
    Hermite segments a joint_trajectory_controller builds from points with velocities."""
    k = np.clip(np.searchsorted(times, ts, side='right') - 1, 0, len(times) - 2)
    h = (times[k + 1] - times[k])[:, None]
    s = ((ts - times[k])[:, None]) / h
    p0, p1, m0, m1 = positions[k], positions[k + 1], velocities[k] * h, velocities[k + 1] * h
    p = (2 * s**3 - 3 * s**2 + 1) * p0 + (s**3 - 2 * s**2 + s) * m0 \
        + (-2 * s**3 + 3 * s**2) * p1 + (s**3 - s**2) * m1
    v = ((6 * s**2 - 6 * s) * p0 + (3 * s**2 - 4 * s + 1) * m0 + (-6 * s**2 + 6 * s) * p1
         + (3 * s**2 - 2 * s) * m1) / h
    a = ((12 * s - 6) * p0 + (6 * s - 4) * m0 + (-12 * s + 6) * p1 + (6 * s - 2) * m1) / h**2
    return p, v, a


@pytest.mark.parametrize('mode', ['forward_position', 'joint_trajectory'])
@pytest.mark.parametrize('gap', [0.045, -0.03])
def test_every_motion_starts_at_the_measured_state_with_a_lead_in_within_limits(
        ros_context, mode, gap):
    """The first point is ``gap`` rad from the arm (within start_tolerance): the first
    command is the measured state, and the lead-in to the first point keeps the velocity
    and acceleration limits of the safety file in force."""
    rig = Rig(ros_context, dry_run=False, controller_mode=mode)
    try:
        limits = rig.replay.limits
        names, times, positions = rig.motion(delta=0.2, duration=3.0, steps=31)
        positions[:, 0] += gap
        assert rig.send(names, times, positions) == []
        state = rig.arm.joints()
        assert rig.call('arm', True).success and rig.call('execute').success
        lead_in = rig.replay._motion[0].times[1]  # when step 0 is reached [s]
        assert spin_until(rig.executor, lambda: rig.replay._motion is None, 15.0)
        spin_for(rig.executor, 0.3)
        if mode == 'forward_position':
            rate = rig.replay.config.stream_rate_hz
            stream = np.array([c.data for c in rig.commands])       # (N, D) at k / rate
            n = int(np.ceil(lead_in * rate)) + 2
            first, lead = stream[0], stream[:n]
            velocity = np.diff(lead, axis=0) * rate                  # (n - 1, D)
            acceleration = np.diff(np.vstack([lead[:1], lead]), 2, axis=0) * rate ** 2
        else:
            assert len(rig.trajectories) == 1
            t, p = trajectory_to_arrays(rig.trajectories[0])[1:]
            v = np.array([pt.velocities for pt in rig.trajectories[0].points])
            assert t[0] == 0.0 and t[1] == pytest.approx(lead_in)
            first = p[0]
            _, velocity, acceleration = _hermite(t, p, v, np.linspace(0.0, t[1], 4001))
        np.testing.assert_allclose(first, state, atol=1e-3)  # not step 0, 'gap' away
        assert np.all(np.abs(velocity).max(0) <= limits.velocity * (1 + 1e-6))
        assert np.all(np.abs(acceleration).max(0) <= limits.acceleration * (1 + 1e-6))
        assert np.abs(velocity).max() > 0  # the lead-in does move to step 0
    finally:
        rig.close()


def test_a_rejected_trajectory_is_checked_again_once_the_arm_is_at_its_start(rig):
    names, times, positions = rig.motion(delta=0.2, duration=3.0, steps=31)
    positions[:, 0] += 0.2  # the operator has not moved the arm to the start yet
    assert '[start state]' in rig.send(names, times, positions)[0]
    reply = rig.call('validate')
    assert not reply.success and '[start state]' in reply.message
    rig.peer.create_publisher(Float64MultiArray, '/arm_controller/commands', 10).publish(
        Float64MultiArray(data=[float(v) for v in positions[0]]))  # the operator moves it
    assert spin_until(rig.executor, lambda: np.allclose(rig.arm.joints()[:6],
                                                        positions[0, :6], atol=0.01), 10.0)
    reply = rig.call('validate')  # there, but still settling: a motion starts from rest
    assert reply.success or 'the arm is moving' in reply.message, reply.message
    assert spin_until(rig.executor, lambda: max(
        abs(v) for v in rig.replay._velocities.values()) < 0.01, 10.0)
    reply = rig.call('validate')
    assert reply.success, reply.message
    assert rig.call('arm', True).success and rig.call('execute').success
    assert spin_until(rig.executor, lambda: rig.replay._motion is None, 15.0)
    assert rig.errors == [e for e in rig.errors if '[start state]' in e]


def test_a_moving_arm_is_refused_at_execute(rig):
    """Validation assumes the arm starts at rest: the measured velocity is checked."""
    names, times, positions = rig.motion(delta=0.2, duration=3.0, steps=31)
    assert rig.send(names, times, positions) == []
    rig.call('arm', True)
    from sensor_msgs.msg import JointState
    states = rig.peer.create_publisher(JointState, '/joint_states', 10)
    rig.arm.publishing = False  # a robot whose /joint_states report joint2 moving
    velocity = [0.3 if n == 'joint2' else 0.0 for n in rig.arm.names]
    states.publish(JointState(name=list(rig.arm.names), velocity=velocity,
                              position=[float(v) for v in rig.arm.joints()]))
    assert spin_until(rig.executor, lambda: rig.replay._velocities.get('joint2') == 0.3, 2.0)
    reply = rig.call('execute')
    assert not reply.success and "the arm is moving: joint 'joint2' at 0.3 rad/s" in \
        reply.message
    spin_for(rig.executor, 0.2)
    assert rig.commands == []


def test_replay_results_carry_the_request_id_of_their_episode(rig):
    from vag_ros.ros.protocol import RequestResult
    results = []
    rig.peer.create_subscription(String, '/vag/request_result',
                                 lambda m: results.append(RequestResult.from_json(m.data)), 50)
    generator = rig.peer.create_publisher(String, '/vag/request_result', 10)
    assert spin_until(rig.executor, lambda: generator.get_subscription_count() >= 2, 5.0)
    generator.publish(String(data=RequestResult(
        'req-9', 'accepted', 'vag_generator', episode_stamp_ns=123).to_json()))
    assert spin_until(rig.executor, lambda: 123 in rig.replay._requests, 5.0)
    names, times, positions = rig.motion()
    rig.traj_pub.publish(arrays_to_trajectory(names, times, positions, stamp_ns=123))
    far = positions + 0.3
    rig.traj_pub.publish(arrays_to_trajectory(names, times, far, stamp_ns=456))
    assert spin_until(rig.executor, lambda: len(
        [r for r in results if r.node == 'vag_replay']) >= 2, 5.0)
    mine = [r for r in results if r.node == 'vag_replay']
    assert (mine[0].request_id, mine[0].state, mine[0].episode_stamp_ns) == \
        ('req-9', 'validated', 123)
    assert mine[0].details['duration_s'] > 0
    assert (mine[1].request_id, mine[1].state) == ('', 'rejected')  # no request known
    assert 'trajectory rejected' in mine[1].reason


def test_a_short_gap_in_joint_states_does_not_stop_a_motion(rig):
    """A busy host delays a 100 Hz /joint_states by ~170 ms now and then: the default
    joint_state_timeout_s (0.5 s) rides through a 0.3 s gap; a longer silence still stops."""
    assert rig.replay.config.joint_state_timeout_s == 0.5
    assert rig.send(*rig.motion(delta=0.2, duration=2.0)) == []
    rig.call('arm', True)
    assert rig.call('execute').success
    assert spin_until(rig.executor, lambda: len(rig.commands) >= 10, 5.0)
    rig.arm.publishing = False
    spin_for(rig.executor, 0.3)
    rig.arm.publishing = True
    assert spin_until(rig.executor, lambda: rig.replay._motion is None, 10.0)
    assert not any('joint states stale' in e for e in rig.errors), rig.errors


def test_each_joint_must_be_fresh_a_gripper_alone_does_not_keep_the_arm_alive(rig):
    """The arm's broadcaster dies while the gripper keeps publishing: the arm's joints go
    stale on their own, and the motion stops."""
    from sensor_msgs.msg import JointState
    gripper = rig.peer.create_publisher(JointState, '/joint_states', 10)
    assert rig.send(*rig.motion(delta=0.3, duration=3.0)) == []
    rig.call('arm', True)
    assert rig.call('execute').success
    assert spin_until(rig.executor, lambda: len(rig.commands) >= 5, 5.0)
    import time
    rig.arm.publishing = False
    end = time.monotonic() + 2.0
    while time.monotonic() < end and rig.replay._motion is not None:
        gripper.publish(JointState(name=['left_finger_joint'], position=[0.02]))
        spin_for(rig.executor, 0.02)
    assert rig.replay._motion is None
    assert spin_until(rig.executor, lambda: any('stale' in e for e in rig.errors), 2.0)
    stale = [e for e in rig.errors if 'joint states stale' in e]
    assert stale and any(f"'joint{k}'" in stale[0] for k in range(1, 7)), rig.errors


def test_at_start_replay_logs_and_publishes_its_safety_file_limits_and_controller(
        ros_context, tmp_path, capfd):
    import rclpy
    custom = tmp_path / 'cell.yaml'
    custom.write_text('velocity_scale: 0.2\nstart_tolerance: 0.03\non_violation: slow_down\n')
    peer = rclpy.create_node('replay_status_peer', context=ros_context)
    statuses = []
    peer.create_subscription(DiagnosticArray, '/vag/status', lambda msg: statuses.extend(
        status_values(s) for s in msg.status if s.name.endswith('vag_replay')), 10)
    replay = ReplayNode(context=ros_context, parameter_overrides=[
        Parameter('safety_file', value=str(custom)),
        Parameter('controller', value='cell_controller'),
        Parameter('controller_mode', value='forward_position')])
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(peer)
    try:
        assert spin_until(executor, lambda: statuses, 5.0)
        start = statuses[0]
        assert start['state'] == 'idle' and start['safety_file'] == str(custom)
        assert (start['controller'], start['controller_mode']) == ('cell_controller',
                                                                   'forward_position')
        assert start['safety.on_violation'] == 'slow_down'
        assert start['safety.velocity_scale'] == '0.2'
        velocity = 0.2 * replay.robot.velocity[0]
        assert f'velocity {velocity:.3f} rad/s' in start['limits.joint1']
        assert 'start tolerance 0.030 rad' in start['limits.joint1']
        assert set(replay.settings()['joints']) == set(replay.robot.joint_names)
    finally:
        executor.shutdown()
        replay.destroy_node()
        peer.destroy_node()
    log = capfd.readouterr().err
    assert f'safety file {custom}' in log and 'forward_position -> /cell_controller' in log
    assert 'joint1: position [' in log and 'start tolerance 0.030 rad' in log
