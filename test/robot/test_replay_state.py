"""The replay's state machine without ROS: arm, validate, execute, watch, stop, refuse."""

import types

import numpy as np
import pytest

from ros_free import ros_modules_imported_by
from vag_ros.errors import TrajectoryError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.replay_events import ERROR, OK, Report, SendStop, Status, WARN
from vag_ros.robot.replay_state import ReplayStateMachine
from vag_ros.robot.safety_config import load_safety_config
from vag_ros.ros.configs import ReplayNodeConfig

ROBOT = load_robot_description()
SAFETY = load_safety_config()  # the shipped config/safety.yaml, the node's default
LIMITS = SAFETY.resolve(ROBOT)
NAMES = list(ROBOT.joint_names)
START = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02])  # (D,) gripper half open
TOPIC = '/vag/predicted_trajectory'


def controller_traits(mode, rate_hz, joints=None):
    """What the state machine reads of the node's controller interface, for ``mode``."""
    columns = list(range(len(NAMES))) if joints is None else [NAMES.index(n) for n in joints]
    streams = mode == 'forward_position'
    return types.SimpleNamespace(
        joint_names=[NAMES[c] for c in columns], columns=columns, streams=streams,
        ends_by_result=mode == 'follow_joint_trajectory',
        # forward_position: the last command sent; the others: the controller's clock
        commanded_until=(lambda ticks, elapsed: max(ticks - 1, 0) / rate_hz) if streams
        else (lambda ticks, elapsed: elapsed))


class Cell:
    """A state machine, the arm's measured joints and a clock [s] that only tests move."""

    def __init__(self, mode='joint_trajectory', joints=None, **config):
        self.config = ReplayNodeConfig(controller_mode=mode, **config)
        self.machine = ReplayStateMachine(self.config, ROBOT, SAFETY, LIMITS,
                                          controller_traits(mode, self.config.stream_rate_hz,
                                                            joints))
        self.now = 100.0
        self.hear(START)

    def hear(self, positions, velocities=None, names=NAMES):
        """A joint state now, at rest unless ``velocities``."""
        velocities = np.zeros(len(names)) if velocities is None else velocities
        self.machine.joint_state(self.now, dict(zip(names, map(float, positions))),
                                 names=names, velocities=list(velocities))

    def send(self, delta=0.3, duration=2.0, stamp=7, offset=0.0):
        """Receive a smooth move of joint1 by ``delta`` from ``offset`` past the start."""
        times = np.linspace(0.0, duration, 21)                        # (T,)
        positions = np.repeat(START[None], len(times), axis=0)        # (T, D)
        positions[:, 0] += offset + delta * (0.5 - 0.5 * np.cos(np.pi * times / duration))
        self.positions = positions
        return self.machine.receive(self.now, stamp, (NAMES, times, positions))

    def start(self, **kwargs):
        """Receive (``send``), arm and execute; the execute's outcome."""
        self.send(**kwargs)
        assert self.machine.arm(self.now, True).success
        return self.machine.execute(self.now)

    def setpoint(self):
        """(D,) where the controller's clock has the curve now (non-streaming modes)."""
        curve, start = self.machine.motion
        return curve.sample(min(self.now - start, curve.end_time))

    def follow(self, seconds, step=0.02):
        """The arm follows its setpoint for ``seconds``; the ticks' events, flattened."""
        events = []
        for _ in range(int(round(seconds / step))):
            if self.machine.motion is None:
                break
            self.now += step
            self.hear(self.setpoint())
            events += self.machine.tick(self.now)
        return events


def summary(events):
    """[(kind, state, level)] of ``events``: the order the node carries them out in."""
    out = []
    for e in events:
        if isinstance(e, Status):
            out.append(('status', e.state, e.level))
        elif isinstance(e, Report):
            out.append(('report', e.state))
        else:
            out.append((type(e).__name__,))
    return out


def refused(outcome, reason, service='execute'):
    """The outcome refuses with ``reason`` exactly, warns it and starts nothing."""
    assert (outcome.success, outcome.message) == (False, reason)
    assert outcome.events[-1] == Status('refused', f'{service} refused: {reason}', WARN)
    assert not outcome.started
    return True


def test_the_state_machine_imports_no_ros():
    assert ros_modules_imported_by('vag_ros.robot.replay_state') == []


def test_receive_arm_execute_runs_the_motion_to_its_end():
    cell = Cell(dry_run=False)
    machine = cell.machine
    events = cell.send(stamp=7)
    assert summary(events) == [('status', 'validated', OK), ('report', 'validated')]
    assert events[1].stamp == 7 and events[1].details['duration_s'] > 2.0
    assert machine.pending is not None and not machine.armed
    outcome = machine.arm(cell.now, True)
    assert (outcome.success, outcome.message) == (True, 'armed for one execute')
    assert outcome.events == (Status('armed', 'armed for one execute',
                                     values=dict(armed=True)),)
    outcome = machine.execute(cell.now)
    duration = outcome.events[2].duration_s
    assert (outcome.success, outcome.message) == (True, f'executing {duration:.2f} s')
    assert summary(outcome.events) == [('status', 'validated', OK), ('report', 'validated'),
                                       ('StartMotion',), ('status', 'moving', OK),
                                       ('report', 'moving')]
    start = outcome.events[2]
    assert (start.stamp, start.duration_s) == (7, duration)
    np.testing.assert_allclose(start.curve.sample(0.0), START)  # from the measured state
    np.testing.assert_allclose(start.curve.sample(duration), cell.positions[-1])
    assert outcome.events[3].progress == 0.0 and outcome.events[4].stamp == 7
    # one execute per arming; the trajectory is used up
    assert not machine.armed and machine.pending is None and machine.received is None
    assert machine.is_current(7) and not machine.is_current(8)
    assert cell.follow(duration - 0.1) == []
    events = cell.follow(0.3)
    assert summary(events) == [('status', 'done', OK), ('report', 'done')]
    assert events[0].progress == 1.0 and events[1].stamp == 7
    assert machine.motion is None and not machine.is_current(7)
    refused(machine.execute(cell.now), 'not armed: call ~/arm with data: true first')


def test_forward_position_streams_the_curve_at_its_rate_from_the_measured_state():
    # tight tolerances: the watch's setpoint must be the newest command sent, exactly
    cell = Cell('forward_position', dry_run=False, tracking_tolerance=1e-4,
                path_tolerance=1e-3)
    machine = cell.machine
    assert cell.start().started
    rate = cell.config.stream_rate_hz
    curve = machine.motion.curve
    commands, events = [], []
    while machine.motion is not None:
        position, last = machine.next_command()  # what the stream thread sends
        commands.append(position)
        machine.count_command(last)
        cell.now += 1.0 / rate
        cell.hear(position)  # an ideal position controller
        events += machine.tick(cell.now)
        assert len(commands) < 10 * rate * curve.end_time
    commands = np.array(commands)                                  # (N, D) at k / rate
    assert len(commands) == machine.ticks  # the last one at the curve's end, not later
    assert (len(commands) - 2) / rate < curve.end_time <= (len(commands) - 1) / rate + 1e-9
    np.testing.assert_allclose(commands[0], START)
    np.testing.assert_allclose(commands[-1], cell.positions[-1])
    steps = np.abs(np.diff(commands, axis=0)).max(0)               # (D,)
    assert np.all(steps <= LIMITS.velocity / rate * (1 + 1e-6))
    assert summary(events) == [('status', 'done', OK), ('report', 'done')]


def test_a_late_stream_delays_the_motion_it_does_not_end_or_stop_it():
    cell = Cell('forward_position', dry_run=False)
    cell.start()
    position, last = cell.machine.next_command()
    cell.machine.count_command(last)
    for _ in range(200):  # 4 s of the clock, one command: the setpoint is that command
        cell.now += 0.02
        cell.hear(position)
        assert cell.machine.tick(cell.now) == []
    assert cell.machine.motion is not None and cell.machine.ticks == 1
    np.testing.assert_allclose(cell.machine.next_command()[0],
                               cell.machine.motion.curve.sample(0.02))


@pytest.mark.parametrize('valid', [True, False])
@pytest.mark.parametrize('armed', [True, False])
@pytest.mark.parametrize('dry_run', [True, False])
def test_nothing_reaches_the_controller_unless_valid_armed_and_not_a_dry_run(
        valid, armed, dry_run):
    cell = Cell(dry_run=dry_run)
    cell.send(offset=0.0 if valid else 0.2)  # 0.2 rad: beyond start_tolerance
    if armed:
        cell.machine.arm(cell.now, True)
    outcome = cell.machine.execute(cell.now)
    assert outcome.started == (valid and armed and not dry_run)
    assert (cell.machine.motion is not None) == outcome.started
    assert outcome.success == (valid and armed)
    assert not any(isinstance(e, SendStop) for e in outcome.events)


def test_dry_run_is_the_default_and_reports_without_commanding():
    cell = Cell()
    assert cell.config.dry_run
    cell.send(stamp=5)
    outcome = cell.machine.arm(cell.now, True)
    assert outcome.message == 'armed for one execute (dry run: nothing will move)'
    outcome = cell.machine.execute(cell.now)
    duration = outcome.events[1].details['duration_s']
    message = (f'dry run: trajectory of {duration:.2f} s valid; nothing commanded '
               '(set dry_run:=false to move)')
    assert (outcome.success, outcome.message) == (True, message)
    assert summary(outcome.events) == [('status', 'validated', OK), ('report', 'validated'),
                                       ('status', 'dry_run', OK), ('report', 'dry_run')]
    assert outcome.events[-1] == Report('dry_run', message, 5)
    assert cell.machine.motion is None and not cell.machine.armed
    assert cell.machine.received is None  # used up, as an executed one


def test_execute_refusals():
    cell = Cell(dry_run=False)
    machine = cell.machine
    assert refused(machine.execute(cell.now), 'not armed: call ~/arm with data: true first')
    machine.arm(cell.now, True)
    assert refused(machine.execute(cell.now),
                   f'no validated trajectory (send one on {TOPIC})')
    cell.send()  # disarms: arming is for the trajectory the operator reviewed
    machine.arm(cell.now, True)
    unready = 'no FollowJointTrajectory action server on /arm_controller/follow_joint_trajectory'
    assert refused(machine.execute(cell.now, unready), unready)
    assert machine.armed  # a controller not ready yet costs no arming
    assert machine.execute(cell.now).started
    machine.arm(cell.now, True)
    assert refused(machine.execute(cell.now), 'a motion is already running')
    assert refused(machine.validate(cell.now), 'a motion is running', 'validate')


def test_validate_refusals_and_answers():
    cell = Cell()
    assert refused(cell.machine.validate(cell.now),
                   f'no trajectory received (send one on {TOPIC})', 'validate')
    cell.send()
    outcome = cell.machine.validate(cell.now)
    duration = cell.machine.pending.duration_s
    assert (outcome.success, outcome.message) == (True, f'valid: {duration:.2f} s')
    assert summary(outcome.events) == [('status', 'validated', OK), ('report', 'validated')]


def test_a_rejected_trajectory_is_kept_and_checked_again_at_validate_and_execute():
    cell = Cell(dry_run=False)
    machine = cell.machine
    events = cell.send(offset=0.2, stamp=11)  # the operator has not moved the arm there yet
    assert summary(events) == [('status', 'rejected', ERROR), ('report', 'rejected')]
    assert '[start state]' in events[0].text and events[0].values == {'episode_stamp_ns': 11}
    assert machine.pending is None and machine.received is not None
    machine.arm(cell.now, True)
    outcome = machine.execute(cell.now)
    assert not outcome.success and outcome.message == events[0].text
    assert summary(outcome.events) == [('status', 'rejected', ERROR), ('report', 'rejected'),
                                       ('status', 'refused', WARN)]
    assert not machine.armed and machine.episode_stamp == 11
    outcome = machine.validate(cell.now)
    assert not outcome.success and '[start state]' in outcome.message
    assert summary(outcome.events) == [('status', 'rejected', ERROR), ('report', 'rejected')]
    cell.hear(cell.positions[0])  # the arm is at the start now
    assert machine.validate(cell.now).success
    assert 'not armed' in machine.execute(cell.now).message  # the failed execute used it
    machine.arm(cell.now, True)
    assert machine.execute(cell.now).started


def test_stale_or_moving_joints_are_refused_at_execute():
    cell = Cell(dry_run=False)
    cell.send()
    cell.machine.arm(cell.now, True)
    cell.now += 0.6  # no joint state since
    outcome = cell.machine.execute(cell.now)
    assert not outcome.success and outcome.message.startswith(
        'trajectory rejected [start state]: joint state is 0.600 s old > max_state_age_s')
    cell = Cell(dry_run=False)
    cell.send()
    cell.machine.arm(cell.now, True)
    cell.hear(START, [0.3 if n == 'joint2' else 0.0 for n in NAMES])
    outcome = cell.machine.execute(cell.now)
    assert not outcome.success
    assert "the arm is moving: joint 'joint2' at 0.3 rad/s" in outcome.message


def test_a_new_trajectory_disarms_and_one_during_a_motion_is_ignored():
    cell = Cell(dry_run=False)
    cell.send()
    cell.machine.arm(cell.now, True)
    events = cell.send(delta=0.2, stamp=8)
    assert events[0] == Status('disarmed', 'a new trajectory replaced the one armed for; '
                               'review it and call ~/arm again', WARN, values=dict(armed=False))
    assert summary(events[1:]) == [('status', 'validated', OK), ('report', 'validated')]
    assert not cell.machine.armed
    cell.machine.arm(cell.now, True)
    assert cell.machine.execute(cell.now).started
    events = cell.send(stamp=9)
    assert events == [Status('moving', 'trajectory ignored: a motion is running; cancel first',
                             WARN), Report('ignored', 'a motion is running', 9)]
    assert cell.machine.pending is None and cell.machine.is_current(8)


def test_an_unreadable_trajectory_is_rejected_and_forgotten():
    cell = Cell()
    cell.send()
    events = cell.machine.receive(cell.now, 3, TrajectoryError('point 2: 6 positions for 7'))
    assert events == [Status('rejected', 'point 2: 6 positions for 7', ERROR,
                             values=dict(episode_stamp_ns=3)),
                      Report('rejected', 'point 2: 6 positions for 7', 3)]
    assert cell.machine.received is None and cell.machine.pending is None
    assert 'no trajectory received' in cell.machine.validate(cell.now).message


def _braked_within_limits(stop):
    """A braking: from a velocity to rest within the acceleration and position limits."""
    assert np.all(np.abs(stop.velocity) / stop.duration_s <= LIMITS.acceleration * (1 + 1e-9))
    np.testing.assert_allclose(stop.end, np.clip(stop.start + stop.velocity * stop.duration_s
                                                 / 2, LIMITS.lower, LIMITS.upper))
    np.testing.assert_allclose(stop.sample(stop.duration_s), stop.end)


def test_cancel_brakes_from_the_commanded_motion_and_nothing_resumes():
    cell = Cell('forward_position', dry_run=False)
    machine = cell.machine
    cell.start(stamp=4)
    rate = cell.config.stream_rate_hz
    for _ in range(40):  # 0.8 s of commands: mid-motion, moving
        position, last = machine.next_command()
        machine.count_command(last)
    curve = machine.motion.curve
    outcome = machine.cancel(cell.now)
    assert (outcome.success, outcome.message) == (True, 'motion cancelled')
    assert summary(outcome.events) == [('SendStop',), ('status', 'cancelled', OK),
                                       ('report', 'cancelled')]
    stop = outcome.events[0].braking
    t = 39 / rate  # the last command sent
    np.testing.assert_allclose(stop.start, curve.sample(t))
    np.testing.assert_allclose(stop.velocity, curve.velocity_many([t])[0])
    assert np.abs(stop.velocity).max() > 0.05
    _braked_within_limits(stop)
    assert outcome.events[1] == Status('cancelled', 'motion stopped',
                                       values=dict(episode_stamp_ns=4))
    assert outcome.events[2] == Report('cancelled', 'motion stopped', 4,
                                       dict(braking_s=stop.duration_s))
    assert machine.motion is None
    # nothing resumes: the arming is gone, and so is the cancelled trajectory
    refused(machine.execute(cell.now), 'not armed: call ~/arm with data: true first')
    machine.arm(cell.now, True)
    refused(machine.execute(cell.now), f'no validated trajectory (send one on {TOPIC})')
    outcome = machine.cancel(cell.now)
    assert (outcome.message, outcome.events) == ('nothing was moving; disarmed', ())
    assert not machine.armed


def test_a_cancel_before_execute_forgets_the_trajectory_and_the_arming():
    cell = Cell(dry_run=False)
    cell.send()
    cell.machine.arm(cell.now, True)
    outcome = cell.machine.cancel(cell.now)
    assert (outcome.success, outcome.message, outcome.events) == (
        True, 'nothing was moving; disarmed', ())
    assert not cell.machine.armed and cell.machine.pending is None
    cell.machine.arm(cell.now, True)
    refused(cell.machine.execute(cell.now), f'no validated trajectory (send one on {TOPIC})')
    refused(cell.machine.validate(cell.now), f'no trajectory received (send one on {TOPIC})',
            'validate')


def test_disarming_stops_the_motion():
    cell = Cell(dry_run=False)
    cell.start()
    cell.follow(0.5)
    outcome = cell.machine.arm(cell.now, False)
    assert (outcome.success, outcome.message) == (True, 'disarmed')
    assert summary(outcome.events) == [('SendStop',), ('status', 'disarmed', OK),
                                       ('report', 'disarmed'), ('status', 'idle', OK)]
    assert outcome.events[-1] == Status('idle', 'disarmed', values=dict(armed=False))
    assert cell.machine.motion is None


def _stopped(events, message_start):
    """The watchdog's stop: braking, an ERROR status and the 'stopped' report."""
    assert summary(events) == [('SendStop',), ('status', 'stopped', ERROR),
                               ('report', 'stopped')]
    assert events[1].text.startswith(message_start), events[1].text
    assert events[2].message == events[1].text
    assert events[2].details == {'braking_s': events[0].braking.duration_s}
    _braked_within_limits(events[0].braking)
    return events[0].braking


def test_stale_joint_states_stop_the_motion_and_a_new_arming_is_needed():
    cell = Cell(dry_run=False)
    cell.start()
    assert cell.follow(0.6) == []
    heard = cell.setpoint()
    assert cell.machine.tick(cell.now + 0.4) == []  # 0.4 s silent: within 0.5 s
    cell.now += 0.6
    commanded = cell.setpoint()
    stop = _stopped(cell.machine.tick(cell.now), "joint states stale ('joint1': 0.6 s > "
                    'joint_state_timeout_s 0.5 s)')
    # from where the controller is commanded now, not from the last state heard
    np.testing.assert_allclose(stop.start, commanded)
    assert abs(stop.start[0] - heard[0]) > 0.05
    assert cell.machine.motion is None and cell.machine.tick(cell.now) == []
    assert 'not armed' in cell.machine.execute(cell.now).message
    cell.hear(START)
    cell.send(stamp=12)
    assert cell.machine.arm(cell.now, True).success and cell.machine.execute(cell.now).started


def test_each_joint_must_be_fresh_a_gripper_alone_does_not_keep_the_arm_alive():
    cell = Cell(dry_run=False)
    cell.start()
    cell.follow(0.4)
    for _ in range(40):
        cell.now += 0.02
        cell.hear([0.02], names=['left_finger_joint'])
        events = cell.machine.tick(cell.now)
        if events:
            break
    _stopped(events, "joint states stale ('joint1': 0.5")


def test_a_joint_state_that_is_not_finite_stops_the_motion_from_the_setpoint():
    cell = Cell(dry_run=False)
    cell.start()
    cell.follow(0.5)
    broken = cell.setpoint().copy()
    broken[2] = np.nan
    cell.hear(broken)
    setpoint = cell.setpoint()
    stop = _stopped(cell.machine.tick(cell.now), "joint state of 'joint3' is not finite (nan)")
    np.testing.assert_allclose(stop.start, setpoint)  # the only position known


def test_a_silent_controller_stops_the_motion_where_the_arm_is():
    cell = Cell(dry_run=False, controller_timeout_s=0.3)
    cell.start()
    events = []
    while not events and cell.now < 104.0:  # the controller is deaf: the arm stays put
        cell.now += 0.02
        cell.hear(START)
        events = cell.machine.tick(cell.now)
    stop = _stopped(events, 'controller silent: joints moved < 0.005 for ')
    np.testing.assert_allclose(stop.start, START)  # measured, not the setpoint
    np.testing.assert_allclose(stop.velocity, 0.0)


def test_an_arm_off_its_path_is_stopped_where_it_is_measured():
    cell = Cell(dry_run=False)
    cell.start()
    cell.follow(0.5)
    away = cell.setpoint().copy()
    away[0] -= 0.3
    velocity = np.zeros(len(NAMES))
    velocity[0] = 0.5
    cell.hear(away, velocity)
    stop = _stopped(cell.machine.tick(cell.now), "path tolerance: 'joint1' is 0.300 from "
                    'its setpoint (> path_tolerance 0.2)')
    np.testing.assert_allclose(stop.start, away)
    np.testing.assert_allclose(stop.velocity, velocity)


def test_a_controller_that_ends_the_goal_itself_gets_no_braking():
    cell = Cell('follow_joint_trajectory', dry_run=False)
    cell.start(stamp=21)
    cell.follow(0.5)
    error = "follow_joint_trajectory failed: error_code -4 '' (status 6)"
    events = cell.machine.controller_result(cell.now, 21, error)
    assert events == [Status('stopped', error, ERROR, values=dict(episode_stamp_ns=21)),
                      Report('stopped', error, 21, dict(braking_s=0.0))]
    assert cell.machine.motion is None and not cell.machine.is_current(21)
    assert 'not armed' in cell.machine.execute(cell.now).message


def test_follow_joint_trajectory_ends_by_its_result_or_by_the_backstop():
    cell = Cell('follow_joint_trajectory', dry_run=False)
    cell.start(stamp=22)
    end = cell.machine.motion.curve.end_time
    assert cell.follow(end + 1.0) == []  # past the end: the result ends it, not the clock
    assert cell.machine.controller_feedback(0.01234) == [Status(
        'moving', 'following', values=dict(max_error='0.0123', episode_stamp_ns=22))]
    events = cell.machine.controller_result(cell.now, 22, None)
    assert events == [Status('done', 'trajectory finished', progress=1.0,
                             values=dict(episode_stamp_ns=22)),
                      Report('done', 'trajectory finished', 22)]
    cell.hear(cell.positions[-1])
    cell.send(delta=-0.3, offset=0.3, stamp=23)
    cell.machine.arm(cell.now, True)
    assert cell.machine.execute(cell.now).started
    events = cell.follow(end + 2.2)  # no result ever: goal_time_tolerance_s 1 s + 1 s
    _stopped(events, 'follow_joint_trajectory: no result 2.0')


def test_a_gripper_on_a_controller_of_its_own_is_validated_not_commanded():
    arm = NAMES[:6]
    cell = Cell(dry_run=False, joints=arm)
    assert cell.machine.uncommanded == ['left_finger_joint']
    assert cell.machine.watched == list(range(6))
    outcome = cell.start()
    duration = outcome.events[2].duration_s
    assert outcome.message == (f"executing {duration:.2f} s (['left_finger_joint'] not "
                               'commanded: not on /arm_controller)')
