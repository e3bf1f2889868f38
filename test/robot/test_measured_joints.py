"""MeasuredJoints: per-joint freshness, velocities given or estimated, the braking's state."""

import math

import numpy as np

from vag_ros.robot.measured_joints import MeasuredJoints

NAMES = ['a', 'b']
LIMIT = np.array([1.0, 1.0])  # (D,) velocity limits


def test_every_joint_must_be_heard_and_the_stalest_sets_the_age():
    joints = MeasuredJoints()
    assert joints.current(5.0, NAMES) == (None, None)
    joints.update(1.0, {'a': 0.1})
    assert joints.received_at(NAMES) is None
    assert joints.current(2.0, NAMES) == ({'a': 0.1}, None)  # 'b' never heard
    assert joints.stalest(2.0, NAMES) == 'b'
    joints.update(1.5, {'b': 0.2})
    assert joints.received_at(NAMES) == 1.0
    assert joints.current(2.0, NAMES) == ({'a': 0.1, 'b': 0.2}, 1.0)
    assert joints.stalest(2.0, NAMES) == 'a'


def test_velocities_are_the_message_s_else_estimated_from_stamped_positions():
    joints = MeasuredJoints()
    # a position-only joint: NaN velocity (joint_state_broadcaster), estimated instead
    joints.update(10.0, {'a': 0.0, 'b': 1.0}, 1_000_000_000, NAMES, [0.3, math.nan])
    assert joints.velocities == {'a': 0.3}
    joints.update(10.2, {'a': 0.1, 'b': 1.05}, 1_100_000_000, NAMES, [0.4, math.nan])
    assert joints.velocities['a'] == 0.4
    assert math.isclose(joints.velocities['b'], 0.5)  # 0.05 m in the 0.1 s of the stamps
    # no velocities (or not one per name): all estimated; unstamped: the receive time
    joints.update(10.4, {'a': 0.2}, 0, NAMES, [])
    assert math.isclose(joints.velocities['a'], 0.1 / (10.4 - 1.1))
    joints.update(10.6, {'a': 0.3})
    assert math.isclose(joints.velocities['a'], 0.5)


def test_the_measured_motion_is_fresh_finite_and_within_the_limits():
    joints = MeasuredJoints()
    joints.update(1.0, {'a': 0.1, 'b': 0.2}, 0, NAMES, [3.0, math.nan])
    positions, velocities = joints.motion(1.1, NAMES, 0.5, LIMIT)
    np.testing.assert_allclose(positions, [0.1, 0.2])
    np.testing.assert_allclose(velocities, [1.0, 0.0])  # clipped; unknown counts as 0
    assert joints.motion(1.6, NAMES, 0.5, LIMIT) is None  # stale
    joints.update(1.7, {'a': math.nan, 'b': 0.2})
    assert joints.motion(1.7, NAMES, 0.5, LIMIT) is None  # not finite
