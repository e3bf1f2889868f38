"""VagModel: video branch + action U-Net joined by the pooling bridge, one flow for both."""

import typing

import torch
from torch import nn

from vag_ros.model import flow
from vag_ros.model.action_unet import ActionUNet
from vag_ros.model.bridge import bridge
from vag_ros.model.observation import ObservationEncoder
from vag_ros.model.video_branch import VideoBranch


class VagModel(nn.Module):
    """Dual-stream video-action flow model.

    Modes (``config.mode``): ``joint`` (VAG), ``video_only`` (no action branch) and
    ``action_no_bridge`` (the U-Net sees the first latent frame + text, no bridge).
    In ``joint`` mode the U-Net sees the bridge and, with ``action.observation_dim`` > 0, the
    first frame and text as well (Diffusion Policy's observation conditioning).
    """

    def __init__(self, config, video_branch: typing.Optional[VideoBranch] = None):
        super().__init__()
        self.config = config
        self.mode = config.mode
        # the ablation's U-Net never reads the video, so it carries no video branch
        self.video: typing.Optional[VideoBranch] = None
        if self.mode != 'action_no_bridge':
            self.video = video_branch or VideoBranch(config.video, config.text.embed_dim)
        self.action: typing.Optional[ActionUNet] = None
        self.observation: typing.Optional[ObservationEncoder] = None
        if self.mode != 'video_only':
            a = config.action
            if a.observation_dim or self.mode == 'action_no_bridge':
                self.observation = ObservationEncoder(
                    config.video.latent_channels, config.text.embed_dim,
                    a.observation_dim or 128)
            self.action = ActionUNet(a.dim, config.action_cond_dim, a.down_dims, a.kernel_size,
                                     a.n_groups, a.timestep_embed_dim)

    # -- conditioning ---------------------------------------------------------------------

    def action_condition(self, z0: torch.Tensor, first_latent: torch.Tensor,
                         text_emb: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        """Global condition of the U-Net, (B, cond_dim); nothing in it reaches the video."""
        parts = []
        if self.mode != 'action_no_bridge':
            parts.append(bridge(z0, self.config.bridge.expanded_dim))  # (B, C'') detached
        if self.observation is not None:
            # data only: the given first latent and the frozen text embedding
            parts.append(self.observation(first_latent.detach(), text_emb.detach(),
                                          text_mask))  # (B, obs + E)
        return torch.cat(parts, dim=-1)

    # -- training -------------------------------------------------------------------------

    def training_loss(self, latents: torch.Tensor, text_emb: torch.Tensor,
                      text_mask: torch.Tensor, actions_norm: typing.Optional[torch.Tensor],
                      generator: typing.Optional[torch.Generator] = None
                      ) -> typing.Dict[str, torch.Tensor]:
        """Compute the joint flow loss, one t per sample for both branches.

        latents (B, C, T', H, W), text (B, L, E) + mask (B, L), actions (B, T, D)
        -> dict(loss, video_loss, action_loss, t).
        """
        lc = self.config.loss
        b, dev = latents.shape[0], latents.device
        t = flow.sample_timesteps(b, generator, lc.timestep_sampling, lc.logit_mean,
                                  lc.logit_std).to(dev)  # (B,)
        # CFG training: drop the text of some samples to the null (zero) embedding
        if lc.text_dropout > 0:
            drop = torch.rand(b, generator=generator).to(dev) < lc.text_dropout  # (B,)
            keep = (~drop).to(text_emb.dtype)[:, None, None]
            text_emb = text_emb * keep
            text_mask = text_mask & ~drop[:, None]
        first = latents[:, :, :1]  # (B, C, 1, H, W) clean conditioning frame
        if self.mode == 'action_no_bridge':
            return self._action_only_loss(first, text_emb, text_mask, actions_norm, t,
                                          generator)
        noise = torch.randn(latents.shape, generator=generator).to(latents)
        x_t = flow.interpolate(latents, noise, t)  # (B, C, T', H, W)
        x_t = torch.cat([first, x_t[:, :, 1:]], dim=2)
        v = self.video(x_t, t, first, text_emb)
        frame_mask = torch.ones(1, 1, latents.shape[2], 1, 1, device=dev)
        frame_mask[:, :, 0] = 0.0  # no loss on the given frame
        video_loss = flow.flow_loss(v, latents, noise, frame_mask)
        out = {'video_loss': video_loss, 't': t}
        action_loss = torch.zeros((), device=dev)
        if self.action is not None:
            if actions_norm is None:
                raise ValueError(f'mode {self.mode!r} needs actions_norm (B, T, D)')
            z0 = flow.x0_estimate(x_t, v, t)  # (B, C, T', H, W), same t as the actions
            cond = self.action_condition(z0, first, text_emb, text_mask)
            a_noise = torch.randn(actions_norm.shape, generator=generator).to(actions_norm)
            a_t = flow.interpolate(actions_norm, a_noise, t)  # (B, T, D)
            va = self.action(a_t, t, cond)
            action_loss = flow.flow_loss(va, actions_norm, a_noise)
        out['action_loss'] = action_loss
        out['loss'] = lc.video_weight * video_loss + lc.action_weight * action_loss
        return out

    def _action_only_loss(self, first: torch.Tensor, text_emb: torch.Tensor,
                          text_mask: torch.Tensor, actions_norm: typing.Optional[torch.Tensor],
                          t: torch.Tensor, generator: typing.Optional[torch.Generator]
                          ) -> typing.Dict[str, torch.Tensor]:
        """``action_no_bridge`` fast path: no DiT forward, video_loss = 0."""
        if actions_norm is None:
            raise ValueError(f'mode {self.mode!r} needs actions_norm (B, T, D)')
        lc = self.config.loss
        cond = self.action_condition(None, first, text_emb, text_mask)  # (B, cond_dim)
        a_noise = torch.randn(actions_norm.shape, generator=generator).to(actions_norm)
        a_t = flow.interpolate(actions_norm, a_noise, t)  # (B, T, D)
        action_loss = flow.flow_loss(self.action(a_t, t, cond), actions_norm, a_noise)
        video_loss = torch.zeros((), device=first.device)
        return {'video_loss': video_loss, 't': t, 'action_loss': action_loss,
                'loss': lc.video_weight * video_loss + lc.action_weight * action_loss}

    # -- sampling -------------------------------------------------------------------------

    @torch.no_grad()
    def sample_actions(self, first_latent: torch.Tensor, text_emb: torch.Tensor,
                       text_mask: torch.Tensor, num_steps: typing.Optional[int] = None,
                       generator: typing.Optional[torch.Generator] = None) -> torch.Tensor:
        """Euler on the action branch alone (mode ``action_no_bridge``, no video).

        first_latent (B, C, 1, H, W), text (B, L, E) -> normalized actions (B, T, D); the
        noise is drawn as in ``sample`` so both give the same actions for one generator.
        """
        if self.mode != 'action_no_bridge' or self.action is None:
            raise ValueError(f'sample_actions needs mode action_no_bridge, not {self.mode!r}')
        sc, ac = self.config.sampler, self.config.action
        num_steps = sc.num_steps if num_steps is None else num_steps
        b, c, _, h, w = first_latent.shape
        dev, dtype = first_latent.device, first_latent.dtype
        # same draws as sample(): the video noise first (unused here), then the actions
        torch.randn((b, c, self.config.video.latent_frames, h, w), generator=generator)
        a = torch.randn((b, ac.horizon, ac.dim), generator=generator).to(dev, dtype)
        cond = self.action_condition(None, first_latent, text_emb, text_mask)  # (B, cond)
        ts = flow.euler_timesteps(num_steps, sc.timestep_shift).tolist()
        for i in range(num_steps):
            t = torch.full((b,), ts[i], device=dev, dtype=dtype)
            a = flow.euler_step(a, self.action(a, t, cond), ts[i], ts[i + 1])
        return a

    def step(self, x_t: torch.Tensor, a_t: typing.Optional[torch.Tensor], t: torch.Tensor,
             first_latent: torch.Tensor, text_emb: torch.Tensor, text_mask: torch.Tensor,
             null_emb: torch.Tensor, guidance: float):
        """Velocities of one synchronized step -> (v_video, v_action or None)."""
        v = self.video.guided(x_t, t, first_latent, text_emb, null_emb, guidance)
        if self.action is None or a_t is None:
            return v, None
        z0 = flow.x0_estimate(x_t, v, t)  # current clean-latent estimate
        cond = self.action_condition(z0, first_latent, text_emb, text_mask)
        return v, self.action(a_t, t, cond)

    @torch.no_grad()
    def sample(self, first_latent: torch.Tensor, text_emb: torch.Tensor,
               text_mask: torch.Tensor, num_steps: typing.Optional[int] = None,
               guidance: typing.Optional[float] = None,
               generator: typing.Optional[torch.Generator] = None,
               null_emb: typing.Optional[torch.Tensor] = None,
               callback: typing.Optional[typing.Callable[[int, int], None]] = None):
        """Run synchronized Euler on one shared timestep sequence.

        first_latent (B, C, 1, H, W), text (B, L, E) -> latents (B, C, T', H, W),
        normalized actions (B, T, D) or None.
        """
        if self.video is None:
            raise ValueError('mode action_no_bridge has no video branch: use sample_actions()')
        sc = self.config.sampler
        num_steps = sc.num_steps if num_steps is None else num_steps
        guidance = sc.guidance_scale if guidance is None else guidance
        b, c, _, h, w = first_latent.shape
        dev, dtype = first_latent.device, first_latent.dtype
        frames = self.config.video.latent_frames
        if null_emb is None:
            null_emb = torch.zeros_like(text_emb)
        x = torch.randn((b, c, frames, h, w), generator=generator).to(dev, dtype)
        x = torch.cat([first_latent, x[:, :, 1:]], dim=2)
        a = None
        if self.action is not None:
            ac = self.config.action
            a = torch.randn((b, ac.horizon, ac.dim), generator=generator).to(dev, dtype)
        ts = flow.euler_timesteps(num_steps, sc.timestep_shift).tolist()
        for i in range(num_steps):
            t = torch.full((b,), ts[i], device=dev, dtype=dtype)
            v, va = self.step(x, a, t, first_latent, text_emb, text_mask, null_emb, guidance)
            x = flow.euler_step(x, v, ts[i], ts[i + 1])
            if va is not None:
                a = flow.euler_step(a, va, ts[i], ts[i + 1])
            if callback is not None:
                callback(i + 1, num_steps)
        return x, a

    def parameter_counts(self) -> typing.Dict[str, int]:
        """Parameters per branch."""
        video = self.video.parameters() if self.video is not None else ()
        counts = {'video': sum(p.numel() for p in video)}
        action = [m for m in (self.action, self.observation) if m is not None]
        counts['action'] = sum(p.numel() for m in action for p in m.parameters())
        counts['total'] = counts['video'] + counts['action']
        return counts
