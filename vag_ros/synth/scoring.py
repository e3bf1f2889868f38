"""The scores of one synthesized episode: validation, replay, consistency, tracking."""

import typing

import numpy as np

from vag_ros.errors import VagError


def validate(actions: np.ndarray, state: np.ndarray, fps: float, robot, safety) -> dict:
    """The replay node's validation of ``actions`` (T, D) from rest at ``state``.

    {'valid', 'validation_error', 'time_scale', 'lead_in_s'}: what the replay node would
    decide for this trajectory with the arm measured at ``state`` and at rest.
    """
    from vag_ros.robot.trajectory_validation import validate_trajectory
    times = np.arange(len(actions)) / fps  # (T,) as the generator node stamps them
    try:
        checked = validate_trajectory(robot.joint_names, actions, times, robot, safety,
                                      state, 0.0, np.zeros(robot.dof))
    except VagError as exc:
        return {'valid': False, 'validation_error': str(exc), 'time_scale': None,
                'lead_in_s': None}
    return {'valid': True, 'validation_error': None, 'time_scale': checked.time_scale,
            'lead_in_s': checked.lead_in_s}


def tracking_errors(actions: np.ndarray, executed: np.ndarray,
                    arm: typing.Sequence[int]) -> typing.Tuple[float, float]:
    """(mean, max) |executed joint one frame later - commanded| over the arm joints [rad].

    Action t is held for frame period t, so joints t + 1 are what it achieved.
    """
    error = np.abs(executed[1:, arm] - actions[:-1, arm])  # (T - 1, arm joints)
    return float(error.mean()), float(error.max())


def arm_indices(robot) -> typing.List[int]:
    """Indices of the arm joints (not the gripper) in the robot's joint order."""
    return [robot.joint_names.index(n) for n in robot.arm_joint_names]
