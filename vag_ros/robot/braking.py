"""A controlled stop: from the commanded position and velocity to rest within the limits.

Cutting a motion short by holding the last setpoint asks a position controller for the whole
velocity change in one tick; the braking motion instead decelerates every joint uniformly
over T = max_j |v_j| / a_j (at least ``min_duration_s``), so no joint exceeds its
acceleration limit: p(t) = p0 + v0 t - v0 t^2 / (2 T), at rest at p0 + v0 T / 2 (kept inside
the position limits). It is a cubic Hermite segment with end velocities v0 and 0, which a
joint_trajectory_controller reproduces exactly from two points with velocities.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Braking:
    """The stop from ``start`` (D,) moving at ``velocity`` (D,) to rest at ``end`` (D,)."""

    start: np.ndarray
    velocity: np.ndarray
    end: np.ndarray
    duration_s: float

    def sample(self, t: float) -> np.ndarray:
        """(D,) position at ``t`` [s] after the stop began (held at ``end`` after it)."""
        t = min(max(float(t), 0.0), self.duration_s)
        s = t / self.duration_s
        # cubic Hermite: p0, v0 at s=0; end, 0 at s=1 (a parabola when end = p0 + v0 T / 2)
        h00, h10, h01 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2
        return h00 * self.start + h10 * self.duration_s * self.velocity + h01 * self.end

    def points(self):
        """(times (2,), positions (2, D), velocities (2, D)) for a trajectory controller."""
        return (np.array([0.0, self.duration_s]), np.stack([self.start, self.end]),
                np.stack([self.velocity, np.zeros_like(self.velocity)]))


def braking(position, velocity, acceleration, lower, upper,
            min_duration_s: float = 0.02) -> Braking:
    """The uniform-deceleration stop from ``position`` at ``velocity`` (all (D,))."""
    position = np.asarray(position, dtype=float)
    velocity = np.asarray(velocity, dtype=float)
    duration = float(max(min_duration_s, np.max(np.abs(velocity) / np.asarray(acceleration))))
    end = np.clip(position + velocity * duration / 2, lower, upper)
    return Braking(position, velocity, end, duration)
