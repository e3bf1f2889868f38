"""Video branch: diffusers' CosmosTransformer3DModel as a Video2World velocity model.

Cosmos-Predict2 is already a rectified-flow model: its pipeline feeds x_t (EDM latents
times c_in = 1 - t), timestep t per frame, and reads x0 = x_t - t * out, so ``out`` is the
velocity eps - x. The first latent frame is the clean conditioning latent, marked by a
condition-mask channel and a near-zero timestep.
"""

import json
from pathlib import Path
import typing

import torch
from torch import nn

from vag_ros.errors import CheckpointError


def transformer_kwargs(video_config, text_embed_dim: int) -> dict:
    """Return the CosmosTransformer3DModel kwargs for a ``VideoConfig``."""
    c = video_config
    extra = 1 + (1 if c.padding_mask_channel else 0)  # condition mask (+ padding mask)
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
                 transformer: typing.Optional[nn.Module] = None, observation_dim: int = 0):
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

    @classmethod
    def from_pretrained(cls, video_config, text_embed_dim: int, path,
                        subfolder: typing.Optional[str] = 'transformer',
                        dtype: torch.dtype = torch.float32,
                        observation_dim: int = 0) -> 'VideoBranch':
        """Load a diffusers transformer folder (e.g. Cosmos-Predict2-2B-Video2World's).

        The folder's config is overridden by ours where the two differ only in how the
        padding-mask channel is fed, so the official checkpoint loads without torchvision.
        """
        return cls(video_config, text_embed_dim,
                   load_transformer_folder(path, subfolder, video_config, text_embed_dim, dtype),
                   observation_dim)

    def condition(self, x_t: torch.Tensor, cond_latent: torch.Tensor, t: torch.Tensor):
        """Insert the clean first frame.

        -> inputs (B, C, T', H, W), per-frame t (B, 1, T', 1, 1),
        mask channels (B, 1 or 2, T', H, W).
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
                features: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predict the velocity, zero on the conditioning frame.

        x_t (B, C, T', H, W), t (B,), cond_latent (B, C, 1, H, W), text (B, L, E),
        observation features (B, obs_dim) with video.observation_token
        -> velocity (B, C, T', H, W). Padded text tokens are zero (no attention mask),
        as in Cosmos-Predict2.
        """
        text_emb = self.context(text_emb, features)
        x_in, tt, masks = self.condition(x_t, cond_latent, t)
        out = self.transformer(
            hidden_states=x_in, timestep=tt, encoder_hidden_states=text_emb.to(x_t.dtype),
            fps=self.config.fps, condition_mask=masks, return_dict=False)[0]
        # the conditioning frame does not move
        return torch.cat([torch.zeros_like(out[:, :, :1]), out[:, :, 1:]], dim=2)

    def guided(self, x_t: torch.Tensor, t: torch.Tensor, cond_latent: torch.Tensor,
               text_emb: torch.Tensor, null_emb: torch.Tensor,
               guidance_scale: float, features: typing.Optional[torch.Tensor] = None,
               null_features: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """Classifier-free guided velocity v_u + g (v_c - v_u), cond/uncond in one batch.

        ``features`` / ``null_features``: the observation features read with the text and
        with the null text (video.observation_token only).
        """
        if guidance_scale == 1.0:
            return self(x_t, t, cond_latent, text_emb, features)
        b = x_t.shape[0]
        t = torch.as_tensor(t, dtype=x_t.dtype, device=x_t.device).reshape(-1).expand(b)
        both = None
        if self.observation_token is not None:
            if features is None or null_features is None:
                raise ValueError('video.observation_token: guidance needs the observation '
                                 'features with the text and with the null text')
            both = torch.cat([features, null_features])
        v = self(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond_latent, cond_latent]),
                 torch.cat([text_emb, null_emb.to(text_emb)]), both)
        v_c, v_u = v[:b], v[b:]
        return v_u + guidance_scale * (v_c - v_u)


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
