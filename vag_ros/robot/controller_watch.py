"""A silent controller, told from the measured joints alone (no ROS here)."""

import typing

import numpy as np


class ControllerWatch:
    """Tell a silent controller (the measured joints neither move nor track the setpoint)
    and an arm off its path (any joint farther than ``path_tolerance`` from the setpoint,
    moving or not: blocked, pushed, or driven the wrong way).

    ``update`` returns None while the controller follows, else a reason. No ROS here.
    """

    def __init__(self, timeout_s: float, tracking_tolerance: float, progress_tolerance: float,
                 path_tolerance: float = float('inf')):
        self.timeout_s = timeout_s
        self.path_tolerance = path_tolerance
        self.tracking_tolerance = tracking_tolerance
        self.progress_tolerance = progress_tolerance
        self._mark: typing.Optional[np.ndarray] = None  # (D,) where progress was last seen
        self._mark_at = 0.0

    def update(self, now: float, measured: np.ndarray, setpoint: np.ndarray,
               names: typing.Sequence[str]) -> typing.Optional[str]:
        """Feed measured (D,) and commanded (D,) positions at monotonic ``now`` [s]."""
        error = np.abs(measured - setpoint)  # (D,)
        if np.max(error) > self.path_tolerance:  # moving or not, the arm has left the path
            j = int(np.argmax(error))
            return (f'path tolerance: {names[j]!r} is {error[j]:.3f} from its setpoint '
                    f'(> path_tolerance {self.path_tolerance:g})')
        moved = self._mark is not None and \
            np.max(np.abs(measured - self._mark)) > self.progress_tolerance
        if self._mark is None or moved or np.max(error) <= self.tracking_tolerance:
            self._mark, self._mark_at = measured.copy(), now
            return None
        if now - self._mark_at <= self.timeout_s:
            return None
        j = int(np.argmax(error))
        return (f'controller silent: joints moved < {self.progress_tolerance} for '
                f'{now - self._mark_at:.2f} s > controller_timeout_s {self.timeout_s} s while '
                f'{names[j]!r} is {error[j]:.3f} from its setpoint (> tracking_tolerance '
                f'{self.tracking_tolerance})')
