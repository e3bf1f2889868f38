"""Video branch: diffusers' CosmosTransformer3DModel as a Video2World velocity model.

Cosmos-Predict2 is already a rectified-flow model: its pipeline feeds x_t (EDM latents
times c_in = 1 - t), timestep t per frame, and reads x0 = x_t - t * out, so ``out`` is the
velocity eps - x. The first latent frame is the clean conditioning latent, marked by a
condition-mask channel and a near-zero timestep.
"""

import bisect
import json
from pathlib import Path
import typing

import torch
from torch import nn

from vag_ros.errors import CheckpointError

PLAN_GRID_CHANNELS = 2  # the latent grid's (x, y) in [-1, 1], beside the plan channels


def plan_weights(frames: int, knots: typing.Sequence[float]) -> typing.List[typing.List[float]]:
    """(frames, K) linear-interpolation weights of K knots at times ``knots`` (fractions of
    the clip, increasing, the first 0) at each of ``frames`` evenly spaced frames; plain
    Python, so a model built on the meta device gets them too."""
    knots = [float(k) for k in knots]
    rows = []
    for f in range(frames):
        time = f / max(frames - 1, 1)
        right = min(bisect.bisect_right(knots, time), len(knots) - 1)
        left = max(right - 1, 0)
        span = knots[right] - knots[left]
        share = 0.0 if span <= 0 else min(max((time - knots[left]) / span, 0.0), 1.0)
        row = [0.0] * len(knots)
        row[left] += 1.0 - share
        row[right] += share
        rows.append(row)
    return rows


def transformer_kwargs(video_config, text_embed_dim: int) -> dict:
    """Return the CosmosTransformer3DModel kwargs for a ``VideoConfig``."""
    c = video_config
    extra = 1 + (1 if c.padding_mask_channel else 0)  # condition mask (+ padding mask)
    extra += c.plan_dim + PLAN_GRID_CHANNELS if c.plan_dim else 0  # plan + (x, y) grid
    return {
        'in_channels': c.latent_channels + extra,
        'out_channels': c.latent_channels,
        'num_attention_heads': c.num_heads,
        'attention_head_dim': c.head_dim,
        'num_layers': c.num_layers,
        'mlp_ratio': c.mlp_ratio,
        'text_embed_dim': text_embed_dim,
        'adaln_lora_dim': c.adaln_lora_dim,
        'max_size': tuple(c.max_size),
        'patch_size': tuple(c.patch_size),
        'rope_scale': tuple(c.rope_scale),
        # we append the padding-mask channel ourselves: diffusers resizes it with torchvision
        'concat_padding_mask': False,
        'extra_pos_embed_type': 'learnable' if c.extra_pos_embed else None,
    }


class VideoBranch(nn.Module):
    """Predicts the velocity of the noisy latent video given the clean first frame and text."""

    def __init__(self, video_config, text_embed_dim: int,
                 transformer: typing.Optional[nn.Module] = None, observation_dim: int = 0,
                 plan_knots: typing.Sequence[float] = ()):
        super().__init__()
        from diffusers import CosmosTransformer3DModel
        self.config = video_config
        if transformer is None:
            transformer = CosmosTransformer3DModel(
                **transformer_kwargs(video_config, text_embed_dim))
        self.transformer = transformer
        # video.observation_token: observation features -> one extra text token, zero at
        # the start: then it is one more of Cosmos' zero padding tokens
        self.observation_token: typing.Optional[nn.Linear] = None
        if video_config.observation_token:
            if observation_dim < 1:
                raise ValueError('video.observation_token needs observation_dim >= 1')
            self.observation_token = nn.Linear(observation_dim, text_embed_dim)
            nn.init.zeros_(self.observation_token.weight)
            nn.init.zeros_(self.observation_token.bias)
        # video.plan_dim: the plan's start (learned; the waypoints come from the action
        # branch's waypoint head) and the interpolation from the knots to the latent frames
        self.plan_start: typing.Optional[nn.Parameter] = None
        if video_config.plan_dim:
            if len(plan_knots) < 2:
                raise ValueError('video.plan_dim needs the plan knots: 0 and the waypoints')
            self.plan_start = nn.Parameter(torch.zeros(video_config.plan_dim))
            self.plan_weights = plan_weights(video_config.latent_frames, plan_knots)

    @classmethod
    def from_pretrained(cls, video_config, text_embed_dim: int, path,
                        subfolder: typing.Optional[str] = 'transformer',
                        dtype: torch.dtype = torch.float32,
                        observation_dim: int = 0,
                        plan_knots: typing.Sequence[float] = ()) -> 'VideoBranch':
        """Load a diffusers transformer folder (e.g. Cosmos-Predict2-2B-Video2World's).

        The folder's config is overridden by ours where the two differ only in how the
        padding-mask channel is fed, so the official checkpoint loads without torchvision.
        """
        return cls(video_config, text_embed_dim,
                   load_transformer_folder(path, subfolder, video_config, text_embed_dim, dtype),
                   observation_dim, plan_knots)

    def plan_channels(self, waypoints: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Waypoints (B, W, D) -> plan + grid channels (B, D + 2, T', h, w)."""
        b = waypoints.shape[0]
        knots = torch.cat([self.plan_start.to(waypoints).expand(b, 1, -1), waypoints], dim=1)
        weights = torch.tensor(self.plan_weights, dtype=waypoints.dtype,
                               device=waypoints.device)  # (T', K)
        plan = torch.einsum('fk,bkd->bdf', weights, knots)  # (B, D, T')
        frames = plan.shape[-1]
        plan = plan[..., None, None].expand(-1, -1, -1, h, w)
        # Python constants, not linspace: the exported graph keeps them float32
        xs = [[-1.0 + 2.0 * i / max(w - 1, 1) for i in range(w)]] * h
        ys = [[-1.0 + 2.0 * j / max(h - 1, 1)] * w for j in range(h)]
        grid = torch.tensor([xs, ys], dtype=plan.dtype, device=plan.device)  # (2, h, w)
        grid = grid[None, :, None].expand(b, -1, frames, -1, -1)
        return torch.cat([plan, grid], dim=1)

    def condition(self, x_t: torch.Tensor, cond_latent: torch.Tensor, t: torch.Tensor,
                  waypoints: typing.Optional[torch.Tensor] = None):
        """Insert the clean first frame.

        -> inputs (B, C, T', H, W), per-frame t (B, 1, T', 1, 1),
        mask channels (B, 1 or 2 [+ D + 2 with the plan], T', H, W).
        """
        b, _, frames, h, w = x_t.shape
        x_in = torch.cat([cond_latent.to(x_t.dtype), x_t[:, :, 1:]], dim=2)
        t = torch.as_tensor(t, dtype=x_t.dtype, device=x_t.device).reshape(-1)
        t = t.expand(b) if t.numel() == 1 else t
        tt = t.view(b, 1, 1, 1, 1).expand(b, 1, frames, 1, 1).clone()  # (B, 1, T', 1, 1)
        tt[:, :, 0] = self.config.condition_timestep
        first = torch.zeros(1, 1, frames, 1, 1, dtype=x_t.dtype, device=x_t.device)
        first[:, :, 0] = 1.0
        masks = [first.expand(b, 1, frames, h, w)]  # (B, 1, T', H, W)
        if self.config.padding_mask_channel:
            masks.append(torch.zeros(b, 1, frames, h, w, dtype=x_t.dtype, device=x_t.device))
        if self.plan_start is not None:
            if waypoints is None:
                raise ValueError('video.plan_dim: the video branch needs the waypoint plan '
                                 '(B, W, D)')
            masks.append(self.plan_channels(waypoints.to(x_t.dtype), h, w))
        return x_in, tt, torch.cat(masks, dim=1)

    def context(self, text_emb: torch.Tensor,
                features: typing.Optional[torch.Tensor]) -> torch.Tensor:
        """Cross-attention tokens: text (B, L, E), + the observation token -> (B, L + 1, E)."""
        if self.observation_token is None:
            return text_emb
        if features is None:
            raise ValueError('video.observation_token: the video branch needs the '
                             'observation features (B, obs_dim)')
        token = self.observation_token(features.to(text_emb.dtype))[:, None]  # (B, 1, E)
        return torch.cat([text_emb, token], dim=1)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond_latent: torch.Tensor,
                text_emb: torch.Tensor,
                features: typing.Optional[torch.Tensor] = None,
                waypoints: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict the velocity, zero on the conditioning frame.

        x_t (B, C, T', H, W), t (B,), cond_latent (B, C, 1, H, W), text (B, L, E),
        observation features (B, obs_dim) with video.observation_token, waypoint plan
        (B, W, D) with video.plan_dim -> velocity (B, C, T', H, W). Padded text tokens are
        zero (no attention mask), as in Cosmos-Predict2.
        """
        text_emb = self.context(text_emb, features)
        x_in, tt, masks = self.condition(x_t, cond_latent, t, waypoints)
        out = self.transformer(
            hidden_states=x_in, timestep=tt, encoder_hidden_states=text_emb.to(x_t.dtype),
            fps=self.config.fps, condition_mask=masks, return_dict=False)[0]
        # the conditioning frame does not move
        return torch.cat([torch.zeros_like(out[:, :, :1]), out[:, :, 1:]], dim=2)

    def guided(self, x_t: torch.Tensor, t: torch.Tensor, cond_latent: torch.Tensor,
               text_emb: torch.Tensor, null_emb: torch.Tensor,
               guidance_scale: float, features: typing.Optional[torch.Tensor] = None,
               null_features: typing.Optional[torch.Tensor] = None,
               waypoints: typing.Optional[torch.Tensor] = None,
               null_waypoints: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """Classifier-free guided velocity v_u + g (v_c - v_u), cond/uncond in one batch.

        ``features`` / ``null_features``: the observation features read with the text and
        with the null text (video.observation_token only); ``waypoints`` /
        ``null_waypoints`` likewise the plan read from them (video.plan_dim only).
        """
        if guidance_scale == 1.0:
            return self(x_t, t, cond_latent, text_emb, features, waypoints)
        b = x_t.shape[0]
        t = torch.as_tensor(t, dtype=x_t.dtype, device=x_t.device).reshape(-1).expand(b)
        both = _pair('video.observation_token', 'observation features', features,
                     null_features, self.observation_token is not None)
        plans = _pair('video.plan_dim', 'waypoint plan', waypoints, null_waypoints,
                      self.plan_start is not None)
        v = self(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond_latent, cond_latent]),
                 torch.cat([text_emb, null_emb.to(text_emb)]), both, plans)
        v_c, v_u = v[:b], v[b:]
        return v_u + guidance_scale * (v_c - v_u)


def _pair(switch: str, what: str, cond: typing.Optional[torch.Tensor],
          null: typing.Optional[torch.Tensor], used: bool) -> typing.Optional[torch.Tensor]:
    """(2B, ...) the input read with the text, then with the null text; None if unused."""
    if not used:
        return None
    if cond is None or null is None:
        raise ValueError(f'{switch}: guidance needs the {what} with the text and with the '
                         f'null text')
    return torch.cat([cond, null])


def _folder(path, subfolder) -> Path:
    path = Path(path)
    if subfolder and (path / subfolder / 'config.json').is_file():
        return path / subfolder
    if (path / 'config.json').is_file():
        return path
    raise CheckpointError(f'{path}: no config.json (nor {subfolder}/config.json)')


def load_transformer_folder(path, subfolder: typing.Optional[str], video_config,
                            text_embed_dim: int, dtype: torch.dtype = torch.float32):
    """CosmosTransformer3DModel from a diffusers folder, strictly, without ``accelerate``.

    diffusers' own from_pretrained needs accelerate for this class (keep_in_fp32_modules);
    we build on the meta device and assign the safetensors weights instead.
    """
    from diffusers import CosmosTransformer3DModel
    from safetensors.torch import load_file
    folder = _folder(path, subfolder)
    try:
        config = dict(CosmosTransformer3DModel.load_config(str(folder)))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f'{folder}/config.json: {exc}') from None
    ours = transformer_kwargs(video_config, text_embed_dim)
    file_in = config.get('in_channels', 0) + (1 if config.get('concat_padding_mask') else 0)
    if file_in != ours['in_channels']:
        raise CheckpointError(f'{folder}: transformer takes {file_in} input channels, '
                              f'the video config needs {ours["in_channels"]}')
    config.update(in_channels=ours['in_channels'], concat_padding_mask=False)
    with torch.device('meta'):
        model = CosmosTransformer3DModel.from_config(config)
    index = folder / 'diffusion_pytorch_model.safetensors.index.json'
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())['weight_map'].values()))
    else:
        files = ['diffusion_pytorch_model.safetensors']
    state = {}
    for name in files:
        if not (folder / name).is_file():
            raise CheckpointError(f'{folder / name}: weights file missing')
        try:
            state.update(load_file(str(folder / name)))
        except Exception as exc:  # SafetensorError: truncated or not safetensors
            raise CheckpointError(f'{folder / name}: corrupt safetensors: {exc}') from None
    expected = model.state_dict()
    bad = sorted(set(expected) ^ set(state))
    bad += [k for k in expected if k in state and expected[k].shape != state[k].shape]
    if bad:
        raise CheckpointError(f'{folder}: weights do not match config.json: {bad[:5]}')
    model.load_state_dict({k: v.to(dtype) for k, v in state.items()}, strict=True, assign=True)
    return model.eval()
