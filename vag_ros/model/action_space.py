"""What the action branch predicts: absolute joints, or joints relative to the measured state.

With ``action.state_conditioning`` the model sees the arm's state and predicts the offsets
``a_k - s`` (normalized), so the trajectory is tied to where the arm is; the conversion to
and from joint units lives here, once, for training and every pipeline.
"""

import typing

import numpy as np
import torch

from vag_ros.errors import VagError
from vag_ros.model.normalization import ActionNormalizer


class StateError(VagError, ValueError):
    """The measured joint state is missing, misshapen or not finite."""


def check_state(state, dim: int) -> torch.Tensor:
    """(D,) or (1, D) joint state -> (1, D) float32 tensor; StateError on anything else."""
    if state is None:
        raise StateError(f'this model is conditioned on the arm state: give the {dim} '
                         f'measured joint positions')
    try:
        x = torch.as_tensor(np.asarray(state, dtype=np.float64), dtype=torch.float32)
    except (TypeError, ValueError):
        raise StateError(f'state: not numeric: {state!r}') from None
    x = x.reshape(1, -1) if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] != dim:
        raise StateError(f'state: expected {dim} joint positions, got shape '
                         f'{tuple(np.shape(state))}')
    if not torch.isfinite(x).all():
        raise StateError('state: contains NaN or inf')
    return x


def to_model(actions: torch.Tensor, state: typing.Optional[torch.Tensor],
             normalizer: ActionNormalizer, relative: bool) -> torch.Tensor:
    """Joint-unit actions (B, T, D) [+ state (B, D)] -> normalized model actions (B, T, D)."""
    if relative:
        actions = actions - state[:, None, :]
    return normalizer.normalize(actions)


def from_model(actions: torch.Tensor, state: typing.Optional[torch.Tensor],
               normalizer: ActionNormalizer, relative: bool, clip: bool = True
               ) -> torch.Tensor:
    """Normalized model actions (B, T, D) [+ state (B, D)] -> joint units (B, T, D)."""
    out = normalizer.denormalize(actions, clip=clip)
    if relative:
        out = out + state[:, None, :].to(out)
    return out


def anchor_start(joints: np.ndarray, state: np.ndarray, steps: int) -> np.ndarray:
    """Shift the first ``steps`` points of (T, D) ``joints`` so point 0 is ``state`` (D,).

    The correction fades linearly to zero at point ``steps``, so nothing jumps: this is the
    trajectory-level counterpart of Diffusion Policy's inpainting of the observed state.
    """
    if steps <= 0:
        return joints
    weight = np.clip(1.0 - np.arange(len(joints)) / steps, 0.0, 1.0)[:, None]  # (T, 1)
    shift = weight.astype(joints.dtype) * (np.asarray(state, joints.dtype) - joints[0])[None]
    return joints + shift
