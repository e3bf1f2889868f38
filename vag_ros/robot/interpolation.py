"""Smooth resampling of a validated trajectory for streaming to a position controller.

Monotone piecewise-cubic Hermite (PCHIP, Fritsch-Carlson with Fritsch-Butland slopes) per
joint: it passes through every waypoint, has continuous velocity, starts and ends at rest,
and on each segment stays between the segment's two waypoints, so it never leaves the
range that validation accepted. Results are also clipped to that hull against rounding.
Peak velocity inside a segment can exceed the segment's finite-difference velocity (up to
1.5x at rest ends, more where slopes are steep); ``max_abs_velocity`` and
``max_abs_acceleration`` report the curve's peaks exactly.
"""

import typing

import numpy as np

from vag_ros.errors import TrajectoryError


def _slopes(times: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(T, D) waypoint velocities: zero at both ends and at local extrema."""
    h = np.diff(times)[:, None]                        # (T - 1, 1)
    d = np.diff(positions, axis=0) / h                 # (T - 1, D) secant slopes
    m = np.zeros_like(positions)                       # (T, D)
    if len(times) > 2:
        h0, h1 = h[:-1], h[1:]
        d0, d1 = d[:-1], d[1:]
        w1, w2 = 2 * h1 + h0, h1 + 2 * h0
        same_sign = d0 * d1 > 0
        with np.errstate(divide='ignore', invalid='ignore'):
            harmonic = (w1 + w2) / (w1 / d0 + w2 / d1)
        m[1:-1] = np.where(same_sign, harmonic, 0.0)
    return m


class TrajectoryInterpolator:
    """``sample(t)`` of a trajectory (times (T,), positions (T, D), optional velocities
    (T, D), else PCHIP's); held at both ends."""

    def __init__(self, times, positions, velocities=None):
        times = np.array(times, dtype=float)           # (T,)
        positions = np.array(positions, dtype=float)   # (T, D)
        if positions.ndim != 2 or positions.shape[0] == 0:
            raise TrajectoryError(f'interpolation: positions must be (T, D) with T >= 1, '
                                  f'got {positions.shape}')
        if times.shape != (positions.shape[0],):
            raise TrajectoryError(f'interpolation: times must be ({positions.shape[0]},), '
                                  f'got {times.shape}')
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(positions))):
            raise TrajectoryError('interpolation: times and positions must be finite')
        if np.any(np.diff(times) <= 0):
            raise TrajectoryError('interpolation: times must strictly increase')
        self.times = times
        self.positions = positions
        # given velocities (a trajectory message's): cubic Hermite through them, as a
        # joint_trajectory_controller does; the curve may then leave the waypoints' hull
        self._hull = velocities is None
        if velocities is None:
            self.velocities = _slopes(times, positions)    # (T, D)
        else:
            self.velocities = np.array(velocities, dtype=float)
            if self.velocities.shape != positions.shape or \
                    not np.all(np.isfinite(self.velocities)):
                raise TrajectoryError(f'interpolation: velocities must be finite and shaped '
                                      f'{positions.shape}, got {self.velocities.shape}')

    @property
    def start_time(self) -> float:
        """First waypoint time [s]."""
        return float(self.times[0])

    @property
    def end_time(self) -> float:
        """Last waypoint time [s]; ``sample`` holds the last point after it."""
        return float(self.times[-1])

    def _segments(self, ts: np.ndarray):
        """(segment index (N,), normalized time in [0, 1] (N,), segment length (N,))."""
        if len(self.times) == 1:
            zeros = np.zeros(ts.shape)
            return zeros.astype(int), zeros, np.ones(ts.shape)
        ts = np.clip(ts, self.times[0], self.times[-1])
        k = np.clip(np.searchsorted(self.times, ts, side='right') - 1, 0, len(self.times) - 2)
        h = self.times[k + 1] - self.times[k]
        return k, (ts - self.times[k]) / h, h

    def _check(self, ts) -> np.ndarray:
        ts = np.asarray(ts, dtype=float)
        if ts.ndim != 1:
            raise TrajectoryError(f'interpolation: sample times must be (N,), got {ts.shape}')
        if not np.all(np.isfinite(ts)):
            raise TrajectoryError('interpolation: sample times must be finite')
        return ts

    def sample_many(self, ts) -> np.ndarray:
        """(N, D) positions at times ``ts`` (N,) [s]; clamped to the first/last point."""
        ts = self._check(ts)
        if len(self.times) == 1:
            return np.repeat(self.positions, len(ts), axis=0)
        k, s, h = self._segments(ts)
        s, h = s[:, None], h[:, None]
        p0, p1 = self.positions[k], self.positions[k + 1]      # (N, D)
        m0, m1 = self.velocities[k], self.velocities[k + 1]
        s2, s3 = s * s, s * s * s
        out = ((2 * s3 - 3 * s2 + 1) * p0 + (s3 - 2 * s2 + s) * h * m0
               + (-2 * s3 + 3 * s2) * p1 + (s3 - s2) * h * m1)
        if not self._hull:
            return out
        # PCHIP stays in this hull exactly; the clip only removes rounding.
        return np.clip(out, np.minimum(p0, p1), np.maximum(p0, p1))

    def sample(self, t: float) -> np.ndarray:
        """(D,) positions at time ``t`` [s]."""
        return self.sample_many([t])[0]

    def velocity_many(self, ts) -> np.ndarray:
        """(N, D) velocities at ``ts`` (N,) [rad/s or m/s]; zero outside the time range."""
        ts = self._check(ts)
        out = np.zeros((len(ts), self.positions.shape[1]))
        if len(self.times) == 1:
            return out
        k, s, h = self._segments(ts)
        s, h = s[:, None], h[:, None]
        p0, p1 = self.positions[k], self.positions[k + 1]
        m0, m1 = self.velocities[k], self.velocities[k + 1]
        out = ((6 * s * s - 6 * s) * (p0 - p1) / h + (3 * s * s - 4 * s + 1) * m0
               + (3 * s * s - 2 * s) * m1)
        inside = (ts >= self.times[0]) & (ts <= self.times[-1])
        return np.where(inside[:, None], out, 0.0)

    def segment_peaks(self) -> typing.Tuple[np.ndarray, np.ndarray]:
        """(peak |velocity| (S, D), peak |acceleration| (S, D)) on each of the S segments.

        On a segment of length h with s = t / h, velocity is a quadratic in s (its peak is at
        an end or the vertex) and acceleration is linear in s (its peak is at an end).
        """
        d = self.positions.shape[1]
        if len(self.times) == 1:
            return np.zeros((0, d)), np.zeros((0, d))
        h = np.diff(self.times)[:, None]                   # (S, 1)
        p0, p1 = self.positions[:-1], self.positions[1:]   # (S, D)
        m0, m1 = self.velocities[:-1], self.velocities[1:]
        # v(s) = A s^2 + B s + m0
        a = 6 * (p0 - p1) / h + 3 * m0 + 3 * m1
        b = -6 * (p0 - p1) / h - 4 * m0 - 2 * m1
        with np.errstate(divide='ignore', invalid='ignore'):
            s = np.clip(np.where(a != 0, -b / (2 * a), 0.0), 0.0, 1.0)
        vertex = np.abs(a * s * s + b * s + m0)
        peak_v = np.maximum(np.maximum(np.abs(m0), np.abs(m1)), vertex)
        # dv/dt = (2 A s + B) / h: its ends s = 0 and s = 1
        peak_a = np.maximum(np.abs(b), np.abs(2 * a + b)) / h
        return peak_v, peak_a

    def max_abs_velocity(self) -> np.ndarray:
        """(D,) largest |velocity| anywhere on the curve (at segment ends or the vertex)."""
        peak_v, _ = self.segment_peaks()
        return peak_v.max(axis=0) if len(peak_v) else np.zeros(self.positions.shape[1])

    def max_abs_acceleration(self) -> np.ndarray:
        """(D,) largest |acceleration| anywhere on the curve (at a segment end)."""
        _, peak_a = self.segment_peaks()
        return peak_a.max(axis=0) if len(peak_a) else np.zeros(self.positions.shape[1])

    def sample_times(self, rate_hz: float, start: typing.Optional[float] = None) -> np.ndarray:
        """(N,) times at ``rate_hz`` from ``start`` (default first point) to the end."""
        if not rate_hz > 0:
            raise TrajectoryError(f'interpolation: rate_hz={rate_hz!r} must be > 0')
        start = self.start_time if start is None else float(start)
        n = int(np.floor((self.end_time - start) * rate_hz + 1e-9)) + 1
        return start + np.arange(max(n, 1)) / rate_hz
