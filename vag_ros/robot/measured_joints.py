"""The newest measured joint state, joint by joint: position, receive time, velocity.

An arm and a gripper may publish /joint_states apart, so each joint keeps its own receive
time and must be fresh on its own. Times are passed in (monotonic seconds); no ROS here.
"""

import math
import typing

import numpy as np


class MeasuredJoints:
    """Positions, receive times and velocities of the joints heard so far."""

    def __init__(self):
        # newest position of each joint and its receive time (monotonic s)
        self.positions: typing.Dict[str, typing.Tuple[float, float]] = {}
        # measured velocity of each joint (the message's, else from its last two positions)
        self.velocities: typing.Dict[str, float] = {}
        self._stamps: typing.Dict[str, float] = {}  # [s] of each joint's newest value

    def update(self, now: float, positions: typing.Mapping[str, float], stamp_ns: int = 0,
               names: typing.Sequence[str] = (), velocities: typing.Sequence[float] = ()
               ) -> None:
        """One joint state received at ``now`` [s]: ``positions`` {name: value}, stamped
        ``stamp_ns`` (0: unstamped, ``now`` stands in), ``velocities`` along ``names``.

        joint_state_broadcaster gives NaN for a joint without a velocity interface (a
        position-only gripper): such a velocity is estimated from the positions instead.
        """
        stamp = stamp_ns * 1e-9 or now  # [s]
        given = {n: v for n, v in zip(names, velocities) if math.isfinite(v)} \
            if len(velocities) == len(names) else {}
        for name, value in positions.items():
            if name in given:
                self.velocities[name] = float(given[name])
            elif name in self._stamps and stamp > self._stamps[name]:
                self.velocities[name] = (value - self.positions[name][0]) / (
                    stamp - self._stamps[name])
            self._stamps[name] = stamp
        self.positions.update({name: (value, now) for name, value in positions.items()})

    def received_at(self, names: typing.Sequence[str]) -> typing.Optional[float]:
        """Receive time of the stalest of ``names`` (None until every one was heard)."""
        if not all(n in self.positions for n in names):
            return None
        return min(self.positions[n][1] for n in names)

    def current(self, now: float, names: typing.Sequence[str]
                ) -> typing.Tuple[typing.Optional[typing.Dict[str, float]],
                                  typing.Optional[float]]:
        """({name: position} of every joint heard, or None; age [s] of the stalest of
        ``names``, or None)."""
        if not self.positions:
            return None, None
        current = {name: value for name, (value, _) in self.positions.items()}
        at = self.received_at(names)
        return current, None if at is None else now - at

    def stalest(self, now: float, names: typing.Sequence[str]) -> str:
        """The one of ``names`` heard longest ago (or never)."""
        return max(names, key=lambda n: now - self.positions.get(n, (0, -1e9))[1])

    def motion(self, now: float, names: typing.Sequence[str], max_age_s: float,
               velocity_limit: np.ndarray
               ) -> typing.Optional[typing.Tuple[np.ndarray, np.ndarray]]:
        """(positions (D,), velocities (D,)) of ``names``; None unless every one is fresh
        (``max_age_s``) and finite. An unknown velocity counts as 0; velocities are clipped
        to ``velocity_limit`` (D,) (an estimate from two jittery samples may exceed it)."""
        current, age = self.current(now, names)
        if age is None or age > max_age_s:
            return None
        positions = np.array([current[n] for n in names])  # (D,)
        velocities = np.array([self.velocities.get(n, 0.0) for n in names])  # (D,)
        if not np.all(np.isfinite(positions)):
            return None
        velocities = np.where(np.isfinite(velocities), velocities, 0.0)
        return positions, np.clip(velocities, -velocity_limit, velocity_limit)
