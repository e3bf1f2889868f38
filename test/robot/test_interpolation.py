"""Streaming interpolation: through the waypoints, smooth, no overshoot, held at the ends."""

import numpy as np
import pytest

from vag_ros.errors import TrajectoryError
from vag_ros.robot.interpolation import TrajectoryInterpolator


def _waypoints(seed=0, steps=12, dof=7):
    """(times (T,), positions (T, D)): 10 Hz with jitter, rough like generated actions."""
    rng = np.random.default_rng(seed)
    times = 0.2 + np.cumsum(rng.uniform(0.05, 0.15, steps))
    positions = np.cumsum(rng.normal(0, 0.1, (steps, dof)), axis=0)
    positions[4:7, 0] = positions[4, 0]  # a plateau must stay flat
    return times, positions


def test_passes_through_every_waypoint():
    times, positions = _waypoints()
    interp = TrajectoryInterpolator(times, positions)
    np.testing.assert_allclose(interp.sample_many(times), positions, atol=1e-12)
    np.testing.assert_allclose(interp.sample(times[3]), positions[3], atol=1e-12)


def test_velocity_is_continuous_and_zero_at_the_ends():
    times, positions = _waypoints(1)
    interp = TrajectoryInterpolator(times, positions)
    eps = 1e-7
    for t in times[1:-1]:
        left = interp.velocity_many([t - eps])[0]
        right = interp.velocity_many([t + eps])[0]
        np.testing.assert_allclose(left, right, atol=1e-4)
    np.testing.assert_allclose(interp.velocity_many(times[[0, -1]]), 0.0, atol=1e-12)
    # the analytic velocity is the derivative of the positions
    ts = np.linspace(times[0] + 1e-3, times[-1] - 1e-3, 200)
    numeric = (interp.sample_many(ts + 1e-6) - interp.sample_many(ts - 1e-6)) / 2e-6
    np.testing.assert_allclose(interp.velocity_many(ts), numeric, atol=1e-5)


def test_no_overshoot_beyond_neighbouring_waypoints():
    for seed in range(5):
        times, positions = _waypoints(seed)
        interp = TrajectoryInterpolator(times, positions)
        ts = np.linspace(times[0], times[-1], 2001)
        out = interp.sample_many(ts)                        # (N, D)
        k = np.clip(np.searchsorted(times, ts, side='right') - 1, 0, len(times) - 2)
        low = np.minimum(positions[k], positions[k + 1])
        high = np.maximum(positions[k], positions[k + 1])
        assert np.all(out >= low) and np.all(out <= high)
        plateau = (ts >= times[4]) & (ts <= times[6])
        np.testing.assert_array_equal(out[plateau, 0], positions[4, 0])


def test_holds_the_ends_and_single_point():
    times, positions = _waypoints()
    interp = TrajectoryInterpolator(times, positions)
    np.testing.assert_array_equal(interp.sample(0.0), positions[0])
    np.testing.assert_array_equal(interp.sample(times[-1] + 5.0), positions[-1])
    np.testing.assert_array_equal(interp.velocity_many([times[-1] + 1.0]), 0.0)
    single = TrajectoryInterpolator([0.5], positions[:1])
    np.testing.assert_array_equal(single.sample_many([0.0, 0.5, 9.0]),
                                  np.repeat(positions[:1], 3, axis=0))
    assert np.all(single.max_abs_velocity() == 0)


def test_max_abs_velocity_bounds_dense_samples():
    times, positions = _waypoints(2)
    interp = TrajectoryInterpolator(times, positions)
    ts = np.linspace(times[0], times[-1], 20001)
    dense = np.abs(interp.velocity_many(ts)).max(axis=0)
    peak = interp.max_abs_velocity()
    assert np.all(dense <= peak + 1e-9) and np.allclose(dense, peak, rtol=1e-3)
    # two points at rest ends: the classic 1.5x the secant velocity
    two = TrajectoryInterpolator([0.0, 1.0], [[0.0], [1.0]])
    assert two.max_abs_velocity()[0] == pytest.approx(1.5)


def test_sample_times_at_a_controller_rate():
    interp = TrajectoryInterpolator([0.0, 1.0], [[0.0], [1.0]])
    ts = interp.sample_times(100.0)
    assert ts.shape == (101,) and ts[0] == 0.0 and ts[-1] == pytest.approx(1.0)


def test_bad_inputs():
    with pytest.raises(TrajectoryError, match='strictly increase'):
        TrajectoryInterpolator([0.0, 0.0], [[0.0], [1.0]])
    with pytest.raises(TrajectoryError, match='finite'):
        TrajectoryInterpolator([0.0, 1.0], [[0.0], [np.nan]])
    with pytest.raises(TrajectoryError, match=r'\(T, D\)'):
        TrajectoryInterpolator([], np.zeros((0, 3)))
    with pytest.raises(TrajectoryError, match='times must be'):
        TrajectoryInterpolator([0.0], np.zeros((2, 3)))
    interp = TrajectoryInterpolator([0.0, 1.0], [[0.0], [1.0]])
    with pytest.raises(TrajectoryError, match='finite'):
        interp.sample(np.nan)
    with pytest.raises(TrajectoryError, match='rate_hz'):
        interp.sample_times(0.0)


def test_streams_a_validated_trajectory_within_its_limits():
    from vag_ros.robot.description import load_robot_description
    from vag_ros.robot.safety_config import SafetyConfig
    from vag_ros.robot.trajectory_validation import validate_trajectory
    robot = load_robot_description()
    config = SafetyConfig()
    limits = config.resolve(robot)
    start = np.zeros(robot.dof)
    start[-1] = 0.02
    times = 0.1 * np.arange(1, 31)                                   # (T,)
    shape = 0.5 * (1 - np.cos(np.pi * times / times[-1]))[:, None]
    goal = np.clip(start + [2.9, 1.0, -1.0, 1.0, 1.0, 1.0, 0.1], limits.lower, limits.upper)
    positions = start + shape * (goal - start)                       # (T, D) up to the limits
    valid = validate_trajectory(robot.joint_names, positions, times, robot,
                                SafetyConfig(on_violation='slow_down'), start)
    interp = TrajectoryInterpolator(*valid.with_start())
    out = interp.sample_many(interp.sample_times(500.0))             # (N, D)
    assert np.all(out >= limits.lower) and np.all(out <= limits.upper)
    np.testing.assert_array_equal(out[0], start)
    np.testing.assert_allclose(out[-1], positions[-1], atol=1e-12)
