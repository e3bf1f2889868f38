"""Every rejection reason of validate_trajectory, reordering, slow-down math, config errors."""

import dataclasses
import math

import numpy as np
import pytest

from vag_ros.errors import ConfigError, TrajectoryError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.safety_config import load_safety_config, SafetyConfig
from vag_ros.robot.trajectory_validation import validate_trajectory


@pytest.fixture(scope='module')
def robot():
    return load_robot_description()


@pytest.fixture(scope='module')
def config():
    return SafetyConfig()


def _start(robot):
    q = np.zeros(robot.dof)  # (D,)
    q[-1] = 0.02             # gripper half open [m]
    return q


def _smooth(robot, steps=21, period=0.1):
    """(names, positions (T, D), times (T,)): a gentle rest-to-rest move from _start."""
    times = np.arange(steps) * period
    shape = 0.5 * (1 - np.cos(np.pi * times / times[-1]))        # (T,) 0 -> 1
    amplitude = np.array([0.2, -0.2, 0.3, 0.2, -0.2, 0.3, 0.01])  # (D,)
    positions = _start(robot) + shape[:, None] * amplitude        # (T, D)
    return list(robot.joint_names), positions, times


def _validate(robot, config, names, positions, times, current='start', **kwargs):
    current = _start(robot) if isinstance(current, str) else current
    return validate_trajectory(names, positions, times, robot, config, current, **kwargs)


def _rejects(match, robot, config, names, positions, times, **kwargs):
    with pytest.raises(TrajectoryError, match=match) as info:
        _validate(robot, config, names, positions, times, **kwargs)
    return str(info.value)


def test_accepts_a_gentle_trajectory(robot, config):
    names, positions, times = _smooth(robot)
    out = _validate(robot, config, names, positions, times, current_age_s=0.05)
    assert out.joint_names == robot.joint_names
    np.testing.assert_array_equal(out.positions, positions)
    # step 0 is the state itself: the shortest lead-in (min_lead_in_s) precedes it
    np.testing.assert_allclose(out.times, times + config.min_lead_in_s)
    assert out.lead_in_s == pytest.approx(config.min_lead_in_s)
    assert out.time_scale == 1.0 and out.warnings == ()
    assert 0 < out.max_velocity_ratio <= 1 and 0 < out.max_acceleration_ratio <= 1
    assert out.duration_s == pytest.approx(2.0 + config.min_lead_in_s)
    assert not out.positions.flags.writeable
    assert positions.flags.writeable  # inputs untouched


def test_reorders_any_name_order_to_the_robot_order(robot, config):
    names, positions, times = _smooth(robot)
    perm = [6, 2, 0, 5, 1, 4, 3]
    out = _validate(robot, config, [names[i] for i in perm], positions[:, perm], times)
    assert out.joint_names == robot.joint_names
    np.testing.assert_array_equal(out.positions, positions)
    out = _validate(robot, config, np.array(names)[perm], positions[:, perm], times)
    np.testing.assert_array_equal(out.positions, positions)
    current = {n: v for n, v in zip(robot.joint_names, _start(robot))}
    current['right_finger_joint'] = 0.02  # extra joints in /joint_states are ignored
    out = _validate(robot, config, names, positions, times, current=current)
    np.testing.assert_array_equal(out.start_positions, _start(robot))


def test_with_start_prepends_the_current_state(robot, config):
    names, positions, times = _smooth(robot)
    out = _validate(robot, config, names, positions[1:], times[1:])
    t, p = out.with_start()
    assert t[0] == 0.0 and t.shape == (21,) and p.shape == (21, robot.dof)
    np.testing.assert_array_equal(p[0], _start(robot))


def test_empty_and_wrong_shapes(robot, config):
    names, positions, times = _smooth(robot)
    _rejects(r'\[empty\]', robot, config, names, np.zeros((0, 7)), [])
    msg = _rejects(r'\[shape\]', robot, config, names, positions[:, :6], times)
    assert '(T, 7)' in msg and '(21, 6)' in msg
    _rejects(r'\[shape\].*times', robot, config, names, positions, times[:-1])
    _rejects(r'\[shape\]', robot, config, names, positions[0], times[:1])
    _rejects(r'\[shape\].*not a numeric', robot, config, names, [[0.0] * 7, [0.0]], [0, 1])


def test_name_errors(robot, config):
    names, positions, times = _smooth(robot)
    bad = names[:-1] + ['elbow']
    msg = _rejects(r'\[names\]: unknown', robot, config, bad, positions, times)
    assert "'elbow'" in msg
    dup = names[:-1] + ['joint1']
    _rejects(r"\[names\]: duplicate joint name\(s\) \['joint1'\]", robot, config, dup,
             positions, times)
    _rejects(r"\[names\]: missing joint\(s\) \['left_finger_joint'\]", robot, config,
             names[:-1], positions[:, :-1], times)
    _rejects(r'\[names\].*strings', robot, config, names[:-1] + [7], positions, times)
    _rejects(r'\[names\]', robot, config, 'joint1', positions[:, :1], times)


def test_non_finite_values(robot, config):
    names, positions, times = _smooth(robot)
    positions = positions.copy()
    positions[4, 2] = np.nan
    _rejects(r"\[finite\]: position of joint 'joint3' at step 4 is nan", robot, config,
             names, positions, times)
    names, positions, times = _smooth(robot)
    times = times.copy()
    times[3] = np.inf
    _rejects(r'\[finite\]: time at step 3 is inf', robot, config, names, positions, times)


def test_times_must_start_at_zero_or_later_and_increase(robot, config):
    names, positions, times = _smooth(robot)
    _rejects(r'\[times\]: time at step 0 is -0.1', robot, config, names, positions,
             times - 0.1)
    times = times.copy()
    times[6] = times[5]
    _rejects(r'\[times\]: .*step 6 t=0.5 s <= step 5 t=0.5 s', robot, config, names,
             positions, times)


def test_position_limit_names_joint_step_value_and_limit(robot, config):
    names, positions, times = _smooth(robot)
    positions = positions.copy()
    positions[5, 2] = 2.58  # URDF upper 2.6 minus the 0.05 margin = 2.55
    msg = _rejects(r'\[position limit\]', robot, config, names, positions, times)
    assert "joint 'joint3' at step 5" in msg and '2.58 rad' in msg
    assert 'above upper limit 2.55 rad' in msg
    # slow_down never fixes a position violation
    slow = dataclasses.replace(config, on_violation='slow_down')
    _rejects(r'\[position limit\]', robot, slow, names, positions, times)


def test_gripper_limit_in_metres(robot, config):
    names, positions, times = _smooth(robot)
    positions = positions.copy()
    positions[-1, -1] = 0.041
    msg = _rejects(r'\[position limit\]', robot, config, names, positions, times)
    assert "'left_finger_joint'" in msg and '0.041 m' in msg and '0.04 m' in msg


def test_velocity_limit(robot, config):
    names, positions, times = _smooth(robot)
    positions = positions.copy()
    positions[10:, 1] += 0.15  # a 1.5 rad/s jump between step 9 and 10 (limit 1.0)
    msg = _rejects(r'\[dynamics\]: velocity limit', robot, config, names, positions, times)
    assert "velocity limit: joint 'joint2' from step 9 (t=0.9 s) to step 10 (t=1 s)" in msg
    assert '> 1 rad/s' in msg and 'URDF 2' in msg


@pytest.mark.parametrize('gap', [0.0, 0.01, 0.03, 0.045])
def test_every_motion_starts_at_the_state_with_a_lead_in_within_the_limits(robot, config,
                                                                           gap):
    """A first point up to start_tolerance away is reached by a timed lead-in, never a step:
    the curve starts at the measured state at t=0 and its lead-in peaks within the limits."""
    names, positions, times = _smooth(robot)
    positions = positions[1:] + np.array([gap, 0, 0, 0, 0, 0, 0])  # (T, D) step 0 is away
    out = _validate(robot, config, names, positions, times[1:] - times[1])  # from t=0
    limits = config.resolve(robot)
    curve = out.curve()
    np.testing.assert_array_equal(curve.sample(0.0), _start(robot))
    assert curve.times[0] == 0.0 and curve.times[1] == pytest.approx(out.lead_in_s)
    # the lead-in alone needs 1.5 d / v and sqrt(6 d / a); the bend toward step 1 more
    assert out.lead_in_s >= max(config.min_lead_in_s, 1.5 * gap / limits.velocity[0],
                                math.sqrt(6 * gap / limits.acceleration[0])) - 1e-12
    ts = np.linspace(0.0, out.lead_in_s, 2001)
    velocity = curve.velocity_many(ts)                               # (N, D)
    acceleration = np.diff(velocity, axis=0) / np.diff(ts)[:, None]  # (N - 1, D)
    assert np.all(np.abs(velocity).max(0) <= limits.velocity + 1e-9)
    assert np.all(np.abs(acceleration).max(0) <= limits.acceleration * 1.001)
    assert out.time_scale == 1.0


def test_a_lead_in_the_input_already_gives_is_kept_when_long_enough(robot, config):
    names, positions, times = _smooth(robot)
    out = _validate(robot, config, names, positions[1:], times[1:] + 0.5)  # step 0 at 0.6 s
    np.testing.assert_allclose(out.times, times[1:] + 0.5)
    assert out.lead_in_s == 0.0


def test_too_fast_a_lead_in_is_lengthened_not_commanded(robot, config):
    names, positions, times = _smooth(robot)
    shifted = positions[1:] + np.array([0.04, 0, 0, 0, 0, 0, 0])
    out = _validate(robot, config, names, shifted, times[1:] - 0.09)  # 0.04 rad in 0.01 s
    assert out.times[0] >= math.sqrt(6 * 0.04 / 2.0) and out.lead_in_s > 0.3


def test_acceleration_limit(robot, config):
    names, positions, times = _smooth(robot)
    positions = positions.copy()
    positions[10, 0] += 0.03  # a spike: 0.6 rad/s swings in 0.1 s
    msg = _rejects(r'\[dynamics\]: acceleration limit', robot, config, names, positions,
                   times)
    assert "joint 'joint1' at step 10" in msg and '> 2 rad/s^2' in msg


def test_start_state_checks(robot, config):
    names, positions, times = _smooth(robot)
    far = _start(robot)
    far[3] = 0.08
    msg = _rejects(r'\[start state\]', robot, config, names, positions, times, current=far)
    assert "joint 'joint4'" in msg and 'start_tolerance 0.05 rad' in msg
    _rejects(r'\[start state\]: current joint positions unknown', robot, config, names,
             positions, times, current=None)
    partial = dict(zip(robot.joint_names[:-1], _start(robot)))
    _rejects(r"\[start state\]: .*lacks joint\(s\) \['left_finger_joint'\]", robot, config,
             names, positions, times, current=partial)
    nan = _start(robot)
    nan[0] = np.nan
    _rejects(r"\[start state\]: current position of joint 'joint1' is nan", robot, config,
             names, positions, times, current=nan)
    _rejects(r'\[start state\]: .*expected shape \(7,\)', robot, config, names, positions,
             times, current=np.zeros(6))
    _rejects(r'\[start state\]: joint state is 0.900 s old > max_state_age_s 0.5 s', robot,
             config, names, positions, times, current_age_s=0.9)
    _rejects(r'\[start state\]: joint state age', robot, config, names, positions, times,
             current_age_s=-1.0)
    _rejects(r'\[start state\]: joint state age', robot, config, names, positions, times,
             current_age_s='old')


def test_duration_limit(robot, config):
    names, positions, times = _smooth(robot)
    short = dataclasses.replace(config, max_duration_s=1.5)
    _rejects(r'\[duration\]: 2.1 s > max_duration_s 1.5 s', robot, short, names, positions,
             times)


def _ramp(robot, speed, steps=6, period=0.1):
    """joint1 moving at constant ``speed`` rad/s from the start state, times from 0."""
    times = np.arange(steps) * period
    positions = np.tile(_start(robot), (steps, 1))
    positions[:, 0] = speed * times
    return list(robot.joint_names), positions, times


# The ramp starts from rest: the lead-in is a 0.1 s hold (step 0 is the state), so the
# streamed curve enters the ramp with slope 0 at step 0 and 2 at step 1 (the secant): on
# that segment v(s) = -6 s^2 + 8 s (in units of the speed), peaking at 8/3 x the speed.
RAMP_PEAK = 4.0 / 3.0


def test_slow_down_velocity_factor_is_exact(robot, config):
    slow = dataclasses.replace(config, on_violation='slow_down', rest_at_ends=False,
                               max_acceleration=1000.0)
    names, positions, times = _ramp(robot, speed=2.0)  # limit 0.5 x 2 rad/s = 1 rad/s
    out = _validate(robot, slow, names, positions, times)
    assert out.time_scale == pytest.approx(2.0 * RAMP_PEAK, rel=1e-12)
    np.testing.assert_allclose(out.times, out.time_scale * (times + 0.1), rtol=1e-12)
    assert out.max_velocity_ratio == pytest.approx(1.0)
    assert out.curve().max_abs_velocity()[0] == pytest.approx(1.0)
    assert 'slowed down by 2.667x' in out.warnings[0] and 'joint1' in out.warnings[0]
    assert 'streamed velocity limit' in out.warnings[0]
    np.testing.assert_array_equal(out.positions, positions)  # only time stretches
    # the same trajectory is refused outright in reject mode, naming the fix
    _rejects(r'velocity limit.*slow-down by 2.667x would fix it', robot,
             dataclasses.replace(slow, on_violation='reject'), names, positions, times)
    # the slowed trajectory passes reject mode as it is, and not 1% faster
    strict = dataclasses.replace(slow, on_violation='reject')
    _validate(robot, strict, names, positions, np.array(out.times))
    _rejects(r'streamed velocity limit', robot, strict, names, positions,
             np.array(out.times) * 0.99)


def test_slow_down_acceleration_factor_is_the_square_root(robot, config):
    slow = dataclasses.replace(config, on_violation='slow_down', rest_at_ends=False)
    names = list(robot.joint_names)
    positions = np.tile(_start(robot), (3, 1))
    positions[2, 0] = 0.05       # rest, then 0.05 rad in 0.1 s
    times = np.array([0.0, 0.1, 0.2])
    out = _validate(robot, slow, names, positions, times)
    # the curve's last segment is 3s^2 - 2s^3: |a| peaks at 6 d / h^2 = 30 rad/s^2 (limit 2)
    assert out.time_scale == pytest.approx(math.sqrt(15.0), rel=1e-12)
    assert out.max_acceleration_ratio == pytest.approx(1.0)
    assert out.curve().max_abs_acceleration()[0] == pytest.approx(2.0)
    assert 'streamed acceleration limit' in out.warnings[0]


def test_slow_down_refused_beyond_max_slowdown(robot, config):
    slow = dataclasses.replace(config, on_violation='slow_down', rest_at_ends=False,
                               max_acceleration=1000.0, max_slowdown=3.0)
    names, positions, times = _ramp(robot, speed=3.5)
    msg = _rejects(r'\[dynamics\]: velocity limit', robot, slow, names, positions, times)
    assert 'slow-down by 4.667x > max_slowdown 3.0' in msg


def test_duration_is_checked_after_the_slow_down(robot, config):
    slow = dataclasses.replace(config, on_violation='slow_down', rest_at_ends=False,
                               max_acceleration=1000.0, max_duration_s=0.8)
    names, positions, times = _ramp(robot, speed=2.0)  # 0.1 + 0.5 s, stretched 2.667x
    _rejects(r'\[duration\]: 1.6 s after slowing down by 2.667x > max_duration_s 0.8', robot,
             slow, names, positions, times)


def test_single_point_at_the_current_state(robot, config):
    out = _validate(robot, config, list(robot.joint_names), _start(robot)[None], [0.0])
    assert out.times.shape == (1,) and out.time_scale == 1.0


# --- SafetyConfig ---------------------------------------------------------------------

def test_default_yaml_loads_and_resolves(robot):
    cfg = load_safety_config()
    limits = cfg.resolve(robot)
    assert cfg.on_violation == 'reject' and cfg.velocity_scale == 0.5
    np.testing.assert_allclose(limits.upper[:6], robot.upper[:6] - cfg.position_margin)
    np.testing.assert_allclose(limits.velocity, 0.5 * robot.velocity)
    assert limits.units == ('rad',) * 6 + ('m',)
    assert limits.acceleration.shape == (7,)


def test_scalar_applies_to_rotating_joints_prismatic_uses_its_own(robot):
    limits = SafetyConfig(max_acceleration=2.5, prismatic_max_acceleration=0.3,
                          start_tolerance=0.1).resolve(robot)
    np.testing.assert_allclose(limits.acceleration, [2.5] * 6 + [0.3])
    np.testing.assert_allclose(limits.start_tolerance, [0.1] * 6 + [0.01])


@pytest.mark.parametrize('field, value, match', [
    ('velocity_scale', 1.5, r'velocity_scale=1.5: must be in \(0, 1\]'),
    ('velocity_scale', 0.0, r'velocity_scale=0.0'),
    ('on_violation', 'stop', r"on_violation='stop': expected one of"),
    ('max_slowdown', 0.5, r'max_slowdown=0.5: must be a finite number >= 1'),
    ('max_acceleration', [1.0, -2.0], r'max_acceleration\[1\]=-2.0: must be a finite'),
    ('max_acceleration', 0.0, r'max_acceleration=0.0'),
    ('position_margin', -0.1, r'position_margin=-0.1'),
    ('start_tolerance', float('nan'), r'start_tolerance=nan'),
    ('max_duration_s', float('inf'), r'max_duration_s=inf'),
    ('max_state_age_s', 0, r'max_state_age_s=0'),
    ('rest_at_ends', 'yes', r'rest_at_ends'),
])
def test_config_errors_name_field_and_value(field, value, match):
    with pytest.raises(ConfigError, match=match):
        SafetyConfig.from_dict({field: value})


def test_config_from_yaml_errors(tmp_path):
    path = tmp_path / 'safety.yaml'
    path.write_text('velocity_scale: 0.3\non_violation: slow_down\n')
    cfg = load_safety_config(path)
    assert cfg.velocity_scale == 0.3 and cfg.on_violation == 'slow_down'
    path.write_text('velocity_scal: 0.3\n')
    with pytest.raises(ConfigError, match='unknown field'):
        load_safety_config(path)
    path.write_text('velocity_scale: fast\n')
    with pytest.raises(ConfigError, match="velocity_scale: expected a number, got 'fast'"):
        load_safety_config(path)
    with pytest.raises(ConfigError, match='not found'):
        load_safety_config(tmp_path / 'missing.yaml')


def test_resolve_errors(robot):
    with pytest.raises(ConfigError, match=r"leaves joint 'joint2' no range"):
        SafetyConfig(position_margin=2.1).resolve(robot)
    with pytest.raises(ConfigError, match=r'max_acceleration=\(1.0, 2.0\): expected one'):
        SafetyConfig(max_acceleration=[1.0, 2.0]).resolve(robot)
    per_joint = SafetyConfig(position_margin=[0.1] * 6 + [0.001]).resolve(robot)
    assert per_joint.lower[-1] == pytest.approx(0.001)


def test_the_demo_safety_file_differs_from_the_shipped_one_only_in_on_violation():
    from vag_ros.resources import share_path
    shipped = load_safety_config()
    demo = load_safety_config(share_path('config/safety_demo.yaml'))
    assert shipped.on_violation == 'reject' and demo.on_violation == 'slow_down'
    assert dataclasses.replace(demo, on_violation='reject') == shipped


def test_a_motion_starts_only_from_rest(robot, config):
    names, positions, times = _smooth(robot)
    at_rest = np.full(robot.dof, 0.01)
    _validate(robot, config, names, positions, times, current_velocities=at_rest)
    moving = at_rest.copy()
    moving[3] = -0.2
    _rejects(r"\[start state\]: the arm is moving: joint 'joint4' at 0.2 rad/s > "
             r'max_start_velocity 0.05', robot, config, names, positions, times,
             current_velocities=moving)
    gripper = {'left_finger_joint': 0.02}  # m/s, by name; the others unknown = at rest
    _rejects(r"'left_finger_joint' at 0.02 m/s > max_start_velocity 0.01", robot, config,
             names, positions, times, current_velocities=gripper)
    nan = at_rest.copy()
    nan[0] = np.nan
    _rejects('the arm is moving', robot, config, names, positions, times,
             current_velocities=nan)
