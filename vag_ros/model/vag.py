"""VagModel: video branch + action U-Net joined by the pooling bridge, one flow for both."""

import dataclasses
import typing

import torch
from torch import nn

from vag_ros.model import flow
from vag_ros.model.sampler import StepFunction, SynchronizedEuler
from vag_ros.model.action_unet import ActionUNet
from vag_ros.model.bridge import bridge
from vag_ros.model.observation import ObservationEncoder
from vag_ros.model.video_branch import VideoBranch


WAYPOINTS = 4  # evenly spaced action steps, the last one included


def split_labels(actions_norm: torch.Tensor
                 ) -> typing.Tuple[typing.Optional[torch.Tensor], torch.Tensor]:
    """(mask (B, 1, 1) of the labelled windows, or None when all are; actions (B, T, D) with
    the unlabelled ones zeroed): a window of an episode whose actions are withheld (video
    only) is NaN and adds no action loss."""
    labelled = torch.isfinite(actions_norm).flatten(1).all(1)   # (B,)
    if bool(labelled.all()):
        return None, actions_norm
    return labelled[:, None, None], torch.where(labelled[:, None, None], actions_norm,
                                                torch.zeros_like(actions_norm))


def waypoint_index(horizon: int) -> torch.Tensor:
    """(WAYPOINTS,) step indices of the auxiliary waypoints, ending at the last step."""
    # on the CPU even inside a meta-device context: a model built there reads it as data
    return torch.linspace(horizon / WAYPOINTS, horizon, WAYPOINTS,
                          device='cpu').round().long() - 1


@dataclasses.dataclass
class Observation:
    """What the action branch reads besides the bridge (all data, none of it generated)."""

    frame: typing.Optional[torch.Tensor]      # (B, 3, S, S) first frame in [-1, 1]
    text_emb: torch.Tensor                    # (B, L, E)
    text_mask: torch.Tensor                   # (B, L) bool
    state: typing.Optional[torch.Tensor] = None  # (B, D) measured joints, joint units


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
            token_dim = config.action.observation_dim if config.video.observation_token else 0
            horizon = config.action.horizon  # the plan's knots: the start, the waypoints
            knots = [0.0, *(k / max(horizon - 1, 1) for k in waypoint_index(horizon).tolist())]
            self.video = video_branch or VideoBranch(config.video, config.text.embed_dim,
                                                     observation_dim=token_dim,
                                                     plan_knots=knots)
        self.action: typing.Optional[ActionUNet] = None
        self.observation: typing.Optional[ObservationEncoder] = None
        if self.mode != 'video_only':
            a = config.action
            if a.observation_dim:
                self.observation = ObservationEncoder(
                    config.text.embed_dim, a.dim if a.state_conditioning else 0,
                    a.observation_dim, a.attention_heads, text_pooling=a.text_pooling,
                    local_features=a.local_features)
            self.action = ActionUNet(a.dim, config.action_cond_dim, a.down_dims, a.kernel_size,
                                     a.n_groups, a.timestep_embed_dim)
        # training only: the observation features regress the clean actions at a few
        # waypoints, a direct signal that tells the encoder where the motion goes
        self.waypoints: typing.Optional[nn.Linear] = None
        if self.observation is not None and config.action.waypoint_weight > 0:
            self.waypoints = nn.Linear(config.action.observation_dim,
                                       WAYPOINTS * config.action.dim)

    # -- conditioning ---------------------------------------------------------------------

    def observe(self, observation: 'Observation') -> typing.Optional[torch.Tensor]:
        """Observation features (B, obs_dim), or None without an observation encoder."""
        if self.observation is None:
            return None
        # data only: the given frame, the frozen text embedding and the measured state
        return self.observation(observation.frame.detach(), observation.text_emb.detach(),
                                observation.text_mask, observation.state)

    def plan(self, features: typing.Optional[torch.Tensor]) -> typing.Optional[torch.Tensor]:
        """The waypoint head's plan (B, W, D) for the video (video.plan_dim), detached: the
        video learns to follow it, the head learns from the action side only; else None."""
        if features is None or self.video is None or self.video.plan_start is None:
            return None
        return self.waypoint_guess(features).detach()

    def waypoint_guess(self, features: torch.Tensor) -> torch.Tensor:
        """The waypoint head's guess of the normalized actions at the waypoints (B, W, D)."""
        return self.waypoints(features).view(features.shape[0], WAYPOINTS,
                                             self.config.action.dim)

    @property
    def video_reads_observation(self) -> bool:
        """True when the video branch cross-attends to the observation token."""
        return self.video is not None and self.video.observation_token is not None

    def null_features(self, observation: 'Observation',
                      null_emb: torch.Tensor) -> torch.Tensor:
        """Observation features read with the null text, as text dropout trains them."""
        mask = torch.zeros_like(observation.text_mask)
        return self.observe(Observation(observation.frame, null_emb, mask, observation.state))

    def action_condition(self, z0: typing.Optional[torch.Tensor],
                         observation: 'Observation',
                         features: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """Global condition of the U-Net, (B, cond_dim); nothing in it reaches the video.

        ``features``: ``observe(observation)`` when the caller already has them.
        """
        parts = []
        if self.mode != 'action_no_bridge':
            parts.append(bridge(z0, self.config.bridge.expanded_dim))  # (B, C'') detached
        if self.observation is not None:
            parts.append(self.observe(observation) if features is None else features)
        return torch.cat(parts, dim=-1)

    def waypoint_loss(self, features: typing.Optional[torch.Tensor],
                      actions_norm: torch.Tensor) -> torch.Tensor:
        """MSE of the waypoint head's (B, W, D) guess against the clean actions there (over
        the labelled samples: a window whose actions are withheld is NaN)."""
        if self.waypoints is None or features is None:
            return torch.zeros((), device=actions_norm.device)
        labelled, actions_norm = split_labels(actions_norm)
        index = waypoint_index(actions_norm.shape[1]).to(actions_norm.device)
        target = actions_norm[:, index]  # (B, W, D)
        if labelled is None:
            return torch.nn.functional.mse_loss(self.waypoint_guess(features), target)
        return flow.mse(self.waypoint_guess(features), target, labelled)

    # -- training -------------------------------------------------------------------------

    def training_loss(self, latents: torch.Tensor, text_emb: torch.Tensor,
                      text_mask: torch.Tensor, actions_norm: typing.Optional[torch.Tensor],
                      generator: typing.Optional[torch.Generator] = None,
                      frame: typing.Optional[torch.Tensor] = None,
                      state: typing.Optional[torch.Tensor] = None
                      ) -> typing.Dict[str, torch.Tensor]:
        """Compute the joint flow loss, one t per sample for both branches.

        latents (B, C, T', H, W), text (B, L, E) + mask (B, L), actions (B, T, D),
        observation frame (B, 3, S, S) and state (B, D) for the action branch
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
        observation = Observation(frame, text_emb, text_mask, state)
        if self.mode == 'action_no_bridge':
            return self._action_only_loss(observation, actions_norm, t, generator)
        noise = torch.randn(latents.shape, generator=generator).to(latents)
        x_t = flow.interpolate(latents, noise, t)  # (B, C, T', H, W)
        x_t = torch.cat([first, x_t[:, :, 1:]], dim=2)
        features = self.observe(observation)  # (B, obs_dim) or None
        # the video reads the features detached: the encoder learns from the action side only
        v = self.video(x_t, t, first, text_emb,
                       features.detach() if self.video_reads_observation else None,
                       self.plan(features))
        video_loss = flow.flow_loss(v, latents, noise, self.video_loss_weights(latents))
        out = {'video_loss': video_loss, 't': t}
        action_loss = torch.zeros((), device=dev)
        if self.action is not None:
            if actions_norm is None:
                raise ValueError(f'mode {self.mode!r} needs actions_norm (B, T, D)')
            z0 = flow.x0_estimate(x_t, v, t)  # (B, C, T', H, W), same t as the actions
            action_loss, out['waypoint_loss'] = self._action_loss(
                z0, observation, actions_norm, t, generator, features)
        out['action_loss'] = action_loss
        out['loss'] = lc.video_weight * video_loss + lc.action_weight * action_loss
        return out

    def video_loss_weights(self, latents: torch.Tensor) -> torch.Tensor:
        """Per-position weights of the video flow loss: 0 on the given first frame, 1
        elsewhere, plus ``loss.motion_weight`` x the latent's motion from the first frame
        (channel mean of |z_k - z_0|; a residual codec's latents are that difference,
        scaled per channel to unit RMS) over its batch mean, so that where the arm moves
        counts more than the still table.
        latents (B, C, T', H, W) -> (1 or B, 1, T', 1 or H, 1 or W)."""
        mask = flow.predicted_frames_mask(latents.shape[2], latents.device)
        alpha = self.config.loss.motion_weight
        if alpha <= 0 or latents.shape[2] < 2:
            return mask
        moved = latents if self.config.video.codec.residual else latents - latents[:, :, :1]
        motion = moved.abs().mean(dim=1, keepdim=True) * mask   # (B, 1, T', H, W)
        scale = motion[:, :, 1:].mean().clamp_min(1e-6)
        return mask * (1.0 + alpha * motion / scale)

    def _action_loss(self, z0: typing.Optional[torch.Tensor], observation: Observation,
                     actions_norm: torch.Tensor, t: torch.Tensor,
                     generator: typing.Optional[torch.Generator],
                     features: typing.Optional[torch.Tensor] = None
                     ) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        """(flow loss + weighted waypoint loss, waypoint loss) of the action branch."""
        if features is None:
            features = self.observe(observation)
        cond = self.action_condition(z0, observation, features)  # (B, cond_dim)
        waypoint_loss = self.waypoint_loss(features, actions_norm)
        labelled, actions_norm = split_labels(actions_norm)  # (B, 1, 1): windows with actions
        a_noise = torch.randn(actions_norm.shape, generator=generator).to(actions_norm)
        a_t = flow.interpolate(actions_norm, a_noise, t)  # (B, T, D)
        action_loss = flow.flow_loss(self.action(a_t, t, cond), actions_norm, a_noise,
                                     labelled)
        return action_loss + self.config.action.waypoint_weight * waypoint_loss, waypoint_loss

    def _action_only_loss(self, observation: Observation,
                          actions_norm: typing.Optional[torch.Tensor],
                          t: torch.Tensor, generator: typing.Optional[torch.Generator]
                          ) -> typing.Dict[str, torch.Tensor]:
        """``action_no_bridge`` fast path: no DiT forward, video_loss = 0."""
        if actions_norm is None:
            raise ValueError(f'mode {self.mode!r} needs actions_norm (B, T, D)')
        lc = self.config.loss
        action_loss, waypoint_loss = self._action_loss(None, observation, actions_norm, t,
                                                       generator)
        video_loss = torch.zeros((), device=actions_norm.device)
        return {'video_loss': video_loss, 't': t, 'action_loss': action_loss,
                'waypoint_loss': waypoint_loss,
                'loss': lc.video_weight * video_loss + lc.action_weight * action_loss}

    # -- sampling -------------------------------------------------------------------------

    def step(self, x_t: torch.Tensor, a_t: typing.Optional[torch.Tensor], t: torch.Tensor,
             first_latent: torch.Tensor, observation: Observation,
             null_emb: torch.Tensor, guidance: float,
             features: typing.Optional[torch.Tensor] = None,
             null_features: typing.Optional[torch.Tensor] = None):
        """Velocities of one synchronized step -> (v_video, v_action or None).

        ``features``: ``observe(observation)``, fixed over an episode, when the caller has it;
        ``null_features``: ``null_features(observation, null_emb)`` likewise (guidance with
        video.observation_token).
        """
        if self.video_reads_observation:
            if features is None:
                features = self.observe(observation)
            if null_features is None and not (isinstance(guidance, float) and guidance == 1.0):
                null_features = self.null_features(observation, null_emb)
        v = self.video.guided(x_t, t, first_latent, observation.text_emb, null_emb, guidance,
                              features, null_features, self.plan(features),
                              self.plan(null_features))
        if self.action is None or a_t is None:
            return v, None
        z0 = flow.x0_estimate(x_t, v, t)  # current clean-latent estimate
        cond = self.action_condition(z0, observation, features)
        return v, self.action(a_t, t, cond)

    @torch.no_grad()
    def sample(self, first_latent: torch.Tensor, observation: Observation,
               num_steps: typing.Optional[int] = None,
               guidance_scale: typing.Optional[float] = None,
               generator: typing.Optional[torch.Generator] = None,
               null_emb: typing.Optional[torch.Tensor] = None,
               callback: typing.Optional[typing.Callable[[int, int], None]] = None):
        """Run synchronized Euler on one shared timestep sequence.

        first_latent (B, C, 1, H, W), observation (text (B, L, E), frame, state)
        -> latents (B, C, T', H, W) (None in mode action_no_bridge), normalized actions
        (B, T, D) (None in mode video_only).
        """
        sampler = SynchronizedEuler(self.config)
        num_steps, guidance = sampler.settings(num_steps, guidance_scale)
        x, a = sampler.noise(first_latent, generator, self.video is not None,
                             self.action is not None)
        step = self.step_function(first_latent, observation, guidance, null_emb)
        return sampler.run(step, x, a, num_steps, callback)

    def step_function(self, first_latent: torch.Tensor, observation: Observation,
                      guidance: float, null_emb: typing.Optional[torch.Tensor] = None
                      ) -> StepFunction:
        """The synchronized step of one episode's condition, for ``SynchronizedEuler.run``:
        (x_t, a_t, t) -> (v_video or None, v_action or None)."""
        if null_emb is None:
            null_emb = torch.zeros_like(observation.text_emb)
        # the observation is data: its features are computed once, not at every step
        features = self.observe(observation) if self.action is not None else None
        null_features = None
        if self.video_reads_observation and guidance != 1.0:
            null_features = self.null_features(observation, null_emb)
        if self.video is None:  # the ablation has no bridge: its whole condition is fixed
            fixed_cond = self.action_condition(None, observation, features)

            def step(x_t, a_t, t):
                return None, self.action(a_t, t, fixed_cond)
        else:
            def step(x_t, a_t, t):
                return self.step(x_t, a_t, t, first_latent, observation, null_emb, guidance,
                                 features, null_features)
        return step

    def parameter_counts(self) -> typing.Dict[str, int]:
        """Parameters per branch."""
        video = self.video.parameters() if self.video is not None else ()
        counts = {'video': sum(p.numel() for p in video)}
        action = [m for m in (self.action, self.observation, self.waypoints) if m is not None]
        counts['action'] = sum(p.numel() for m in action for p in m.parameters())
        counts['total'] = counts['video'] + counts['action']
        return counts
