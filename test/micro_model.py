"""The micro VAG config every test folder builds on: the tiny preset shrunk to seconds.

Importable from every test module (pytest puts test/ on sys.path for test/conftest.py).
"""

import dataclasses
import typing

from vag_ros.model.config import CodecConfig, load_model_config

# 192 exact channels, nothing to fit, so a random model generates at once
PATCH = {'latent_channels': 192,
         'codec': CodecConfig(kind='patch', spatial_factor=8, orthogonal=True)}
# the tiny preset's codec: 16 channels, fitted by training or by fit() before use
PCA = {'latent_channels': 16,
       'codec': CodecConfig(kind='pca', spatial_factor=8, residual=True)}


def micro_config(mode: str = 'joint', frames: int = 5, num_steps: int = 3,
                 codec_kind: str = 'patch', expanded_dim: int = 200,
                 observation_dim: typing.Optional[int] = None,
                 guidance: typing.Optional[float] = None, **video):
    """``frames`` frames of 32x32, 1 DiT layer, text 'none' (E = 16, L = 4), D = 7.

    ``codec_kind``: 'patch' or 'pca' (above); ``video`` overrides VideoConfig fields last.
    ``observation_dim`` and ``guidance`` default to the preset's.
    """
    cfg = load_model_config('tiny')
    v = {'frames': frames, 'height': 32, 'width': 32, 'num_layers': 1, 'num_heads': 2,
         'head_dim': 16, 'adaln_lora_dim': 8, **(PATCH if codec_kind == 'patch' else PCA)}
    v.update(video)
    # the observation encoder reads the 32x32 frame itself; 2 queries, anchor over 2 steps
    action = {'horizon': frames, 'down_dims': (16, 32), 'n_groups': 4,
              'timestep_embed_dim': 16, 'observation_size': 0, 'attention_heads': 2,
              'anchor_steps': min(2, frames)}
    if observation_dim is not None:
        action['observation_dim'] = observation_dim
        if not observation_dim:  # no observation encoder: no waypoint head either
            action['waypoint_weight'] = 0.0
    sampler = {'num_steps': num_steps}
    if guidance is not None:
        sampler['guidance_scale'] = guidance
    return dataclasses.replace(
        cfg, mode=mode,
        video=dataclasses.replace(cfg.video, **v),
        text=dataclasses.replace(cfg.text, kind='none', embed_dim=16, max_length=4),
        action=dataclasses.replace(cfg.action, **action),
        bridge=dataclasses.replace(cfg.bridge, expanded_dim=expanded_dim),
        sampler=dataclasses.replace(cfg.sampler, **sampler)).validate()


def micro_observation(config, text_emb, text_mask, seed: int = 0):
    """A random Observation (frame in [-1, 1], state) for ``config`` and the given text."""
    import torch

    from vag_ros.model.vag import Observation
    g = torch.Generator().manual_seed(seed)
    b = text_emb.shape[0]
    h, w = config.observation_hw
    frame = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    state = None
    if config.action.state_conditioning:
        state = torch.randn(b, config.action.dim, generator=g) * 0.5
    return Observation(frame, text_emb, text_mask, state)
