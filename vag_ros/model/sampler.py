"""The one synchronized sampler: timesteps, noise order, guidance default and callback.

Video and action branches integrate the same rectified flow on one shared timestep sequence
by Euler steps. What a step computes is the caller's: the torch model (``VagModel.sample``)
and every engine (``EnginePipeline.sample``) give only ``step(x_t, a_t, t)`` -> (video
velocity or None, action velocity or None), as diffusers separates schedulers from models.
"""

import dataclasses
import typing

import torch

from vag_ros.model import flow

# (x_t (B, C, T', h, w) or None, a_t (B, T, D) or None, t (B,)) -> (v_video, v_action)
StepFunction = typing.Callable[
    [typing.Optional[torch.Tensor], typing.Optional[torch.Tensor], torch.Tensor],
    typing.Tuple[typing.Optional[torch.Tensor], typing.Optional[torch.Tensor]]]
Callback = typing.Callable[[int, int], None]


@dataclasses.dataclass(frozen=True)
class SynchronizedEuler:
    """Synchronized Euler sampling of one model config (its sampler, video and action)."""

    config: typing.Any  # VagConfig

    def settings(self, num_steps: typing.Optional[int] = None,
                 guidance_scale: typing.Optional[float] = None) -> typing.Tuple[int, float]:
        """(steps, guidance scale): the given ones, else the config's."""
        sc = self.config.sampler
        steps = sc.num_steps if num_steps is None else int(num_steps)
        if steps < 1:
            raise ValueError(f'num_steps={steps}: must be >= 1')
        return steps, sc.guidance_scale if guidance_scale is None else float(guidance_scale)

    def timesteps(self, num_steps: typing.Optional[int] = None) -> typing.List[float]:
        """The N + 1 times from 1 (noise) to 0 (data) both branches step through."""
        steps, _ = self.settings(num_steps)
        return flow.euler_timesteps(steps, self.config.sampler.timestep_shift).tolist()

    def noise(self, first_latent: torch.Tensor, generator: torch.Generator,
              with_video: bool = True, with_actions: bool = True
              ) -> typing.Tuple[typing.Optional[torch.Tensor], typing.Optional[torch.Tensor]]:
        """Initial (x (B, C, T', h, w) with the clean first latent, a (B, T, D)).

        The noise order is fixed: the video's, then the actions'. The video noise is drawn
        even without a video branch, so an action-only model gets the same action noise for
        one generator (seed) as the joint model.
        """
        b, c, _, h, w = first_latent.shape
        dev, dtype = first_latent.device, first_latent.dtype
        x = torch.randn((b, c, self.config.video.latent_frames, h, w), generator=generator)
        x = torch.cat([first_latent, x.to(dev, dtype)[:, :, 1:]], dim=2)
        ac = self.config.action
        a = torch.randn((b, ac.horizon, ac.dim), generator=generator).to(dev, dtype)
        return (x if with_video else None), (a if with_actions else None)

    def run(self, step: StepFunction, x: typing.Optional[torch.Tensor],
            a: typing.Optional[torch.Tensor], num_steps: int,
            callback: typing.Optional[Callback] = None
            ) -> typing.Tuple[typing.Optional[torch.Tensor], typing.Optional[torch.Tensor]]:
        """Integrate from t = 1 (noise) to 0 (data): -> (latents or None, actions or None)."""
        like = x if x is not None else a
        b = like.shape[0]
        ts = self.timesteps(num_steps)
        for i in range(num_steps):
            t = torch.full((b,), ts[i], device=like.device, dtype=like.dtype)
            v, va = step(x, a, t)
            if x is not None:
                x = flow.euler_step(x, v.to(x.dtype), ts[i], ts[i + 1])
            if a is not None:
                a = flow.euler_step(a, va.to(a.dtype), ts[i], ts[i + 1])
            if callback is not None:
                callback(i + 1, num_steps)
        return x, a
