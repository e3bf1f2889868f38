"""Trajectory validation: the one gate every trajectory passes before the arm moves.

``validate_trajectory`` is a pure function of its inputs. It checks names, shapes,
finiteness, timing, position limits, the current joint state (known, fresh, close to the
first point), velocity and acceleration, and the duration. Every motion starts at the
measured state at t=0: a lead-in to step 0 (``with_lead_in``) is timed within the limits,
and step 0 and everything after it are shifted by it. Velocity and acceleration are checked
twice over the whole motion, lead-in included: by finite differences between waypoints and
as the exact peaks of the PCHIP curve that every controller mode executes
(``ValidatedTrajectory.curve``). With ``on_violation='slow_down'`` velocity and
acceleration violations (only those) are fixed by stretching time uniformly by the smallest
sufficient factor s: velocities scale by 1/s, accelerations by 1/s^2.
"""

import dataclasses
import math
import typing

import numpy as np

from vag_ros.errors import TrajectoryError
from vag_ros.robot.interpolation import TrajectoryInterpolator
from vag_ros.robot.description import RobotDescription
from vag_ros.robot.safety_config import JointLimits, SafetyConfig


# Relative slack on the ratio checks, so a trajectory stretched by exactly the computed
# factor passes despite rounding; far below any physical significance.
RATIO_TOLERANCE = 1e-9


@dataclasses.dataclass(frozen=True)
class ValidatedTrajectory:
    """A trajectory that passed every check, in the robot's joint order."""

    joint_names: typing.Tuple[str, ...]  # the robot's actuated joints, its order
    positions: np.ndarray        # (T, D) rad or m, read-only
    times: np.ndarray            # (T,) s from start of motion: after the lead-in, any slow-down
    time_scale: float            # s >= 1 applied to the input times (1.0: unchanged)
    start_positions: np.ndarray  # (D,) the current joint state the checks used
    max_velocity_ratio: float    # max |v| / limit over joints and segments, <= 1
    max_acceleration_ratio: float  # max |a| / limit, <= 1
    warnings: typing.Tuple[str, ...] = ()
    lead_in_s: float = 0.0       # time added before step 0 for the move from the state [s]

    @property
    def duration_s(self) -> float:
        """Time of the last point [s]."""
        return float(self.times[-1])

    def with_start(self) -> typing.Tuple[np.ndarray, np.ndarray]:
        """(times (T + 1,), positions (T + 1, D)): the motion, the measured state at t=0."""
        return (np.concatenate([[0.0], self.times]),
                np.concatenate([self.start_positions[None], self.positions]))

    def curve(self) -> TrajectoryInterpolator:
        """The curve every controller mode executes: PCHIP through ``with_start()``."""
        return TrajectoryInterpolator(*self.with_start())


def _fail(check: str, detail: str):
    raise TrajectoryError(f'trajectory rejected [{check}]: {detail}')


def _as_array(value, what: str) -> np.ndarray:
    try:
        return np.array(value, dtype=float)  # a copy: the caller's arrays stay untouched
    except (TypeError, ValueError) as exc:
        _fail('shape', f'{what} is not a numeric array: {exc}')


def _name_list(names) -> typing.List[str]:
    """``names`` as a list of strings, or TrajectoryError."""
    if isinstance(names, np.ndarray) and names.ndim == 1:
        names = names.tolist()
    if isinstance(names, (str, bytes)) or not isinstance(names, typing.Sequence):
        _fail('names', f'joint names must be a sequence of strings, got {names!r}')
    names = list(names)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        _fail('names', f'joint names must be strings, got {bad!r}')
    return names


def _check_names(names: typing.List[str], description: RobotDescription) -> typing.List[int]:
    """Column of the input for each robot joint, in robot order."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        _fail('names', f'duplicate joint name(s) {duplicates}')
    robot = description.joint_names
    unknown = [n for n in names if n not in robot]
    if unknown:
        _fail('names', f'unknown joint name(s) {unknown}; {description.name} has '
              f'{list(robot)}')
    missing = [n for n in robot if n not in names]
    if missing:
        _fail('names', f'missing joint(s) {missing}; every joint of {list(robot)} is required')
    return [names.index(n) for n in robot]


def _current_state(current, age_s, description: RobotDescription,
                   config: SafetyConfig) -> np.ndarray:
    """The current joint positions (D,) in robot order, known, finite and fresh."""
    robot = description.joint_names
    if current is None:
        _fail('start state', 'current joint positions unknown (no joint state received); '
              'refusing to move')
    if isinstance(current, typing.Mapping):
        missing = [n for n in robot if n not in current]
        if missing:
            _fail('start state', f'current joint state lacks joint(s) {missing}')
        current = [current[n] for n in robot]
    state = _as_array(current, 'current joint positions')
    if state.shape != (len(robot),):
        _fail('start state', f'current joint positions: expected shape ({len(robot)},) in '
              f'the order {list(robot)}, got {state.shape}')
    bad = np.flatnonzero(~np.isfinite(state))
    if bad.size:
        _fail('start state', f'current position of joint {robot[bad[0]]!r} is '
              f'{state[bad[0]]}')
    if age_s is not None:
        try:
            age = float(age_s)
        except (TypeError, ValueError):
            age = math.nan
        if not math.isfinite(age) or age < 0:
            _fail('start state', f'joint state age {age_s!r} s is not a finite age >= 0')
        if age > config.max_state_age_s:
            _fail('start state', f'joint state is {age:.3f} s old > max_state_age_s '
                  f'{config.max_state_age_s} s (stale)')
    return state


def _segment_label(k: int, times: np.ndarray, lead_in_end: float) -> str:
    """Text for segment ``k`` of the motion; point 0 is the measured state, ``times`` (T,)
    are the input's, step 0 is reached at ``lead_in_end`` s."""
    if k == 0:
        return (f'on the lead-in from the measured state (t=0) to step 0 '
                f'(reached at t={lead_in_end:.4g} s)')
    return f'from step {k - 1} (t={times[k - 1]:.4g} s) to step {k} (t={times[k]:.4g} s)'


def _point_label(k: int, times: np.ndarray) -> str:
    """Text for point ``k`` of the motion (point 0 is the measured state)."""
    if k == 0:
        return 'at the measured state (start of motion)'
    label = f'at step {k - 1} (t={times[k - 1]:.4g} s)'
    if k == len(times):
        label += ' (stopping at the end)'
    return label


def _problem(name, ratio, values, limits, description, config, times, lead_in_end) -> str:
    """The worst violation of one check, its joint and place, as text."""
    robot = description.joint_names
    k, j = np.unravel_index(np.argmax(ratio), ratio.shape)
    unit = limits.units[j]
    value = abs(values[name][k, j])
    if 'velocity' in name:
        where = _segment_label(k, times, lead_in_end)
        return (f'{name}: joint {robot[j]!r} {where}: |v| = {value:.4g} {unit}/s > '
                f'{limits.velocity[j]:.4g} {unit}/s (velocity_scale {config.velocity_scale} '
                f'x URDF {description.velocity[j]:.4g})')
    where = _point_label(k, times) if name == 'acceleration limit' else \
        _segment_label(k, times, lead_in_end)
    return (f'{name}: joint {robot[j]!r} {where}: |a| = {value:.4g} {unit}/s^2 > '
            f'{limits.acceleration[j]:.4g} {unit}/s^2')


def _check_at_rest(velocities, description: RobotDescription, limits: JointLimits) -> None:
    """TrajectoryError when a joint moves faster than ``limits.start_velocity``."""
    robot = description.joint_names
    if isinstance(velocities, typing.Mapping):
        velocities = [velocities.get(n, 0.0) for n in robot]
    v = np.abs(_as_array(velocities, 'current joint velocities'))
    if v.shape != (len(robot),):
        _fail('start state', f'current joint velocities: expected shape ({len(robot)},), got '
              f'{v.shape}')
    moving = np.flatnonzero(~(v <= limits.start_velocity))  # NaN counts as moving
    if moving.size:
        j = moving[0]
        _fail('start state', f'the arm is moving: joint {robot[j]!r} at {v[j]:.4g} '
              f'{limits.units[j]}/s > max_start_velocity {limits.start_velocity[j]:.4g} '
              f'{limits.units[j]}/s; a motion starts from rest')


def lead_in_duration(start: np.ndarray, first: np.ndarray, limits: JointLimits,
                     min_s: float) -> float:
    """Shortest time [s] >= ``min_s`` for a rest-to-rest cubic from ``start`` to ``first``.

    The cubic 3s^2 - 2s^3 over a distance d in time T peaks at |v| = 1.5 d / T and
    |a| = 6 d / T^2; both must stay within the limits, for every joint (D,).
    """
    d = np.abs(np.asarray(first, dtype=float) - start)   # (D,)
    return float(max(min_s, np.max(1.5 * d / limits.velocity),
                     np.max(np.sqrt(6 * d / limits.acceleration))))


def with_lead_in(current: np.ndarray, positions: np.ndarray, times: np.ndarray,
                 limits: JointLimits, config: SafetyConfig) -> typing.Tuple[np.ndarray, float]:
    """(times (T,) shifted so step 0 comes a safe lead-in after t=0, lead-in added [s]).

    The motion starts at the measured state at t=0 and reaches step 0 at
    max(times[0], lead-in), the lead-in long enough that the streamed curve's first
    segment (which also bends toward step 1) stays within the velocity and acceleration
    limits.
    """
    first = max(float(times[0]), lead_in_duration(current, positions[0], limits,
                                                  config.min_lead_in_s))
    for _ in range(60):  # grows by 1.15x per try; 60 tries cover any realistic case
        shifted = times + (first - times[0])
        points = np.concatenate([current[None], positions[:2]])          # (<= 3, D)
        peak_v, peak_a = TrajectoryInterpolator(
            np.concatenate([[0.0], shifted[:2]]), points).segment_peaks()
        if np.all(peak_v[0] <= limits.velocity) and np.all(peak_a[0] <= limits.acceleration):
            break
        first *= 1.15
    return shifted, float(first - times[0])


def _dynamics(points: np.ndarray, point_times: np.ndarray, rest_at_ends: bool):
    """(velocities (S, D) per segment, accelerations (N, D) per point, NaN where unchecked)."""
    dt = np.diff(point_times)                            # (S,)
    v = np.diff(points, axis=0) / dt[:, None]            # (S, D)
    n, d = points.shape
    a = np.full((n, d), np.nan)                          # (N, D)
    if rest_at_ends:
        vp = np.concatenate([np.zeros((1, d)), v, np.zeros((1, d))])  # (S + 2, D)
        dtp = np.concatenate([[0.0], dt, [0.0]])
        a[:] = np.diff(vp, axis=0) / (0.5 * (dtp[:-1] + dtp[1:]))[:, None]
    elif n >= 3:
        a[1:-1] = np.diff(v, axis=0) / (0.5 * (dt[:-1] + dt[1:]))[:, None]
    return v, a


def validate_trajectory(names: typing.Sequence[str], positions, times,
                        description: RobotDescription, config: SafetyConfig,
                        current_positions=None,
                        current_age_s: typing.Optional[float] = None,
                        current_velocities=None) -> ValidatedTrajectory:
    """Check a trajectory against ``config`` and the robot; TrajectoryError says why not.

    ``positions`` (T, D) follow ``names`` (any order); ``times`` (T,) are seconds from the
    start of motion, strictly increasing from >= 0. ``current_positions`` is the robot's
    joint state, (D,) in robot order or {name: position}; None refuses. ``current_age_s``
    (s since that state was measured) is checked against ``config.max_state_age_s`` when
    given. ``current_velocities`` ((D,) or {name: velocity}), when given, must be within
    ``max_start_velocity``: a motion starts from rest. Returns the trajectory reordered to
    ``description.joint_names``.
    """
    limits: JointLimits = config.resolve(description)
    robot = description.joint_names
    names = _name_list(names)
    positions = _as_array(positions, 'positions')   # (T, D)
    times = _as_array(times, 'times')                # (T,)
    if positions.size == 0 or times.size == 0:
        _fail('empty', f'no points (positions shape {positions.shape}, times shape '
              f'{times.shape})')
    n_names = len(names)
    if positions.ndim != 2 or positions.shape[1] != n_names:
        _fail('shape', f'positions: expected shape (T, {n_names}) for {n_names} joint '
              f'names, got {positions.shape}')
    t_count = positions.shape[0]
    if times.shape != (t_count,):
        _fail('shape', f'times: expected shape ({t_count},) to match positions, got '
              f'{times.shape}')
    order = _check_names(names, description)
    positions = positions[:, order]                  # (T, D) robot order

    bad = np.argwhere(~np.isfinite(positions))
    if bad.size:
        step, j = bad[0]
        _fail('finite', f'position of joint {robot[j]!r} at step {step} is '
              f'{positions[step, j]} ({len(bad)} non-finite value(s))')
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        _fail('finite', f'time at step {bad[0]} is {times[bad[0]]}')
    if times[0] < 0:
        _fail('times', f'time at step 0 is {times[0]} s; times count from the start of '
              'motion and must be >= 0')
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        k = bad[0]
        _fail('times', f'times must strictly increase: step {k + 1} t={times[k + 1]} s '
              f'<= step {k} t={times[k]} s')

    low = positions < limits.lower
    high = positions > limits.upper
    bad = np.argwhere(low | high)
    if bad.size:
        step, j = bad[0]
        side, bound = ('below lower', limits.lower[j]) if low[step, j] else \
            ('above upper', limits.upper[j])
        _fail('position limit', f'joint {robot[j]!r} at step {step} (t={times[step]:.4g} s): '
              f'{positions[step, j]:.6g} {limits.units[j]} is {side} limit {bound:.6g} '
              f'{limits.units[j]} (URDF [{description.lower[j]:.6g}, '
              f'{description.upper[j]:.6g}] shrunk by the position margin); '
              f'{len(bad)} violation(s) in all')

    current = _current_state(current_positions, current_age_s, description, config)
    offset = np.abs(positions[0] - current)          # (D,)
    excess = offset - limits.start_tolerance
    if np.any(excess > 0):
        j = int(np.argmax(excess / limits.start_tolerance.clip(1e-12)))
        _fail('start state', f'joint {robot[j]!r}: first point {positions[0, j]:.6g} is '
              f'{offset[j]:.4g} {limits.units[j]} from the current position '
              f'{current[j]:.6g} > start_tolerance {limits.start_tolerance[j]:.4g} '
              f'{limits.units[j]}')

    if current_velocities is not None:
        _check_at_rest(current_velocities, description, limits)
    input_times = times
    times, lead_in_s = with_lead_in(current, positions, times, limits, config)
    points = np.concatenate([current[None], positions])   # (T + 1, D) from the state
    point_times = np.concatenate([[0.0], times])          # (T + 1,)
    warnings = []
    v, a = _dynamics(points, point_times, config.rest_at_ends)  # (T, D), (T + 1, D)
    peak_v, peak_a = TrajectoryInterpolator(point_times, points).segment_peaks()  # (T, D)
    values = {'velocity limit': v, 'acceleration limit': a,
              'streamed velocity limit': peak_v, 'streamed acceleration limit': peak_a}
    ratios = {name: np.nan_to_num(np.abs(value) / (
        limits.velocity if 'velocity' in name else limits.acceleration), nan=0.0)
        for name, value in values.items()}
    v_ratio = max(float(ratios[k].max()) for k in ratios if 'velocity' in k)
    a_ratio = max(float(ratios[k].max()) for k in ratios if 'acceleration' in k)
    scale = 1.0
    needed = max(1.0, v_ratio, math.sqrt(a_ratio))
    if needed > 1.0 + RATIO_TOLERANCE:
        problems = [_problem(name, ratio, values, limits, description, config, input_times,
                             float(times[0]))
                    for name, ratio in ratios.items()
                    if ratio.max() > 1.0 + RATIO_TOLERANCE]
        if config.on_violation == 'reject':
            _fail('dynamics', '; '.join(problems)
                  + f' (on_violation=reject; a slow-down by {needed:.4g}x would fix it)')
        if needed > config.max_slowdown:
            _fail('dynamics', '; '.join(problems)
                  + f'; fixing it needs a slow-down by {needed:.4g}x > max_slowdown '
                  f'{config.max_slowdown}')
        scale = needed
        times = times * scale
        v_ratio, a_ratio = v_ratio / scale, a_ratio / scale ** 2
        warnings.append(f'slowed down by {scale:.4g}x: ' + '; '.join(problems))

    if times[-1] > config.max_duration_s:
        stretched = f' after slowing down by {scale:.4g}x' if scale > 1 else ''
        _fail('duration', f'{times[-1]:.4g} s{stretched} > max_duration_s '
              f'{config.max_duration_s} s')

    positions.setflags(write=False)
    times.setflags(write=False)
    current.setflags(write=False)
    return ValidatedTrajectory(
        joint_names=tuple(robot), positions=positions, times=times, time_scale=float(scale),
        start_positions=current, max_velocity_ratio=v_ratio, max_acceleration_ratio=a_ratio,
        warnings=tuple(warnings), lead_in_s=lead_in_s * scale)
