"""Rectified flow, stateless: x_t = (1 - t) x + t eps, velocity eps - x, t = 1 is noise."""

import math
import typing

import torch


def _expand(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against ``like``; scalars pass through."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t
    return t.reshape(t.shape[0], *([1] * (like.ndim - 1)))


def interpolate(x: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x + t eps; x, noise (B, ...), t (B,) or scalar."""
    t = _expand(t, x)
    return (1.0 - t) * x + t * noise


def velocity_target(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Return d x_t / d t = eps - x."""
    return noise - x


def x0_estimate(x_t: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Clean-sample estimate x0 = x_t - t v."""
    return x_t - _expand(t, x_t) * velocity


def noise_estimate(x_t: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Noise estimate eps = x_t + (1 - t) v."""
    return x_t + (1.0 - _expand(t, x_t)) * velocity


def predicted_frames_mask(frames: int, device=None) -> torch.Tensor:
    """(1, 1, frames, 1, 1): 0 on the first latent frame (the given camera frame, no
    prediction), 1 on the others; the video losses' mask."""
    mask = torch.ones(1, 1, frames, 1, 1, device=device)
    mask[:, :, 0] = 0.0
    return mask


def mse(pred: torch.Tensor, target: torch.Tensor,
        mask: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean squared error, optionally over the elements where ``mask`` (broadcastable) is 1."""
    err = (pred - target).pow(2)
    if mask is None:
        return err.mean()
    mask = mask.to(err.dtype).expand_as(err)
    return (err * mask).sum() / mask.sum().clamp_min(1.0)


def flow_loss(pred_velocity: torch.Tensor, x: torch.Tensor, noise: torch.Tensor,
              mask: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
    """MSE between the predicted velocity and eps - x."""
    return mse(pred_velocity, velocity_target(x, noise), mask)


def sample_timesteps(batch: int, generator: typing.Optional[torch.Generator] = None,
                     kind: str = 'uniform', logit_mean: float = 0.0, logit_std: float = 1.0,
                     device: typing.Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """(B,) training times in (0, 1): uniform or logit-normal (SD3's sigmoid(N(m, s)))."""
    if kind == 'uniform':
        t = torch.rand(batch, generator=generator, device=device)
    elif kind == 'logit_normal':
        u = torch.randn(batch, generator=generator, device=device)
        t = torch.sigmoid(logit_mean + logit_std * u)
    else:
        raise ValueError(f"timestep sampling {kind!r}: must be 'uniform' or 'logit_normal'")
    # keep away from exactly 0/1 where x0 / eps estimates degenerate
    return t.clamp(1e-5, 1.0 - 1e-5)


def shift_timesteps(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Resolution shift t' = s t / (1 + (s - 1) t); identity for s = 1."""
    if shift == 1.0:
        return t
    return shift * t / (1.0 + (shift - 1.0) * t)


def euler_timesteps(num_steps: int, shift: float = 1.0,
                    device: typing.Union[str, torch.device] = 'cpu') -> torch.Tensor:
    """(N + 1,) times from 1 (noise) down to 0 (data), shared by both branches."""
    if num_steps < 1:
        raise ValueError(f'num_steps={num_steps}: must be >= 1')
    t = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64, device=device)
    return shift_timesteps(t, shift).to(torch.float32)


def euler_step(x_t: torch.Tensor, velocity: torch.Tensor, t: float,
               t_next: float) -> torch.Tensor:
    """One Euler step of dx/dt = v from t to t_next (t_next < t when denoising)."""
    return x_t + (t_next - t) * velocity


def sinusoidal_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0,
                         max_period: float = 10000.0) -> torch.Tensor:
    """(B,) times -> (B, dim) sin/cos features of ``scale * t`` (Diffusion Policy style)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=t.device) / max(half - 1, 1))
    args = (scale * t.float())[:, None] * freqs[None, :]
    return torch.cat([args.sin(), args.cos()], dim=-1)
