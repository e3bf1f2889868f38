"""Micro model configs and batches shared by the model tests (seconds on 2 CPU cores)."""

import micro_model
import pytest
import torch


def _micro_config(mode: str = 'joint', **video):
    """The shared micro config (patch codec, 3 steps); ``video`` overrides VideoConfig."""
    return micro_model.micro_config(mode, **video)


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
def observe():
    """Give the factory of random observations: (config, text_emb, text_mask, seed=0)."""
    return micro_model.micro_observation


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
