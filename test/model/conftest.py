"""Micro model configs and batches shared by the model tests (seconds on 2 CPU cores)."""

import dataclasses

import pytest
import torch

from vag_ros.model.config import CodecConfig, load_model_config


def _micro_config(mode: str = 'joint', **video):
    """Shrink the tiny preset: 5 frames of 32x32, patch codec, 1 layer, text 'none'."""
    cfg = load_model_config('tiny')
    # the exact patch codec (192 channels): no fitting, so random models generate
    v = {'frames': 5, 'height': 32, 'width': 32, 'num_layers': 1, 'num_heads': 2,
         'head_dim': 16, 'adaln_lora_dim': 8, 'latent_channels': 192,
         'codec': CodecConfig(kind='patch', spatial_factor=8, orthogonal=True)}
    v.update(video)
    return dataclasses.replace(
        cfg, mode=mode,
        video=dataclasses.replace(cfg.video, **v),
        text=dataclasses.replace(cfg.text, kind='none', embed_dim=16, max_length=4),
        action=dataclasses.replace(cfg.action, horizon=5, down_dims=(16, 32), n_groups=4,
                                   timestep_embed_dim=16),
        bridge=dataclasses.replace(cfg.bridge, expanded_dim=200),
        sampler=dataclasses.replace(cfg.sampler, num_steps=3)).validate()


def _batch(config, b=2, seed=0):
    """(latents, text_emb, text_mask, actions), random and shaped for ``config``."""
    g = torch.Generator().manual_seed(seed)
    c, t, h, w = config.video.latent_shape
    lat = torch.randn(b, c, t, h, w, generator=g)
    emb = torch.randn(b, config.text.max_length, config.text.embed_dim, generator=g)
    mask = torch.ones(b, config.text.max_length, dtype=torch.bool)
    act = torch.rand(b, config.action.horizon, config.action.dim, generator=g) * 2 - 1
    return lat, emb, mask, act


@pytest.fixture
def micro_config():
    """Give the factory of micro configs (mode, **video overrides)."""
    return _micro_config


@pytest.fixture
def make_batch():
    """Give the factory of random (latents, text, mask, actions) batches."""
    return _batch


@pytest.fixture
def config():
    return _micro_config()


@pytest.fixture
def model(config):
    from vag_ros.model.vag import VagModel
    torch.manual_seed(0)
    return VagModel(config)
