"""Fixtures of the engine tests: micro checkpoints and their exported engines (CPU)."""

from engine_helpers import micro_config, save_micro_checkpoint
import pytest


@pytest.fixture(scope='session')
def checkpoint(tmp_path_factory):
    """Micro joint checkpoint, guidance 1 (no CFG pair)."""
    return save_micro_checkpoint(tmp_path_factory.mktemp('ckpt'))


@pytest.fixture(scope='session')
def cfg_checkpoint(tmp_path_factory):
    """Micro joint checkpoint with guidance 3 (the engine carries the CFG pair)."""
    return save_micro_checkpoint(tmp_path_factory.mktemp('ckpt_cfg'), micro_config(3.0))


@pytest.fixture(scope='session')
def engine(checkpoint, tmp_path_factory):
    """float32 engine of ``checkpoint`` with one cached instruction."""
    from vag_ros.engines.export import export_engine
    out = tmp_path_factory.mktemp('engines') / 'micro'
    export_engine(checkpoint, out, instructions=['pick up the red block'], log=lambda m: None)
    return out


@pytest.fixture(scope='session')
def cfg_engine(cfg_checkpoint, tmp_path_factory):
    from vag_ros.engines.export import export_engine
    out = tmp_path_factory.mktemp('engines') / 'micro_cfg'
    export_engine(cfg_checkpoint, out, log=lambda m: None)
    return out


@pytest.fixture(scope='session')
def pca_checkpoint(tmp_path_factory):
    """Micro joint checkpoint on a fitted 16-channel PCA codec (codec.* tensors)."""
    return save_micro_checkpoint(tmp_path_factory.mktemp('ckpt_pca'), micro_config(codec='pca'))


@pytest.fixture(scope='session')
def refiner_checkpoint(tmp_path_factory):
    """As ``pca_checkpoint``, the codec with a learned decoder stage (random refiner)."""
    import dataclasses
    config = micro_config(codec='pca')
    codec = dataclasses.replace(config.video.codec, refiner_width=8)
    config = dataclasses.replace(config, video=dataclasses.replace(config.video, codec=codec))
    return save_micro_checkpoint(tmp_path_factory.mktemp('ckpt_refiner'), config.validate())


def _token_checkpoint(tmp_path_factory, name: str, plan_dim: int = 0):
    """Micro joint checkpoint, guidance 3, whose video reads the observation token
    (random token weights, so the token matters) and with ``plan_dim`` the waypoint plan."""
    import dataclasses

    import torch
    config = micro_config(3.0)
    config = dataclasses.replace(config, video=dataclasses.replace(
        config.video, observation_token=True, plan_dim=plan_dim)).validate()
    return save_micro_checkpoint(
        tmp_path_factory.mktemp(name), config,
        prepare=lambda m: torch.nn.init.normal_(m.video.observation_token.weight))


def _export(checkpoint, tmp_path_factory, name: str):
    from vag_ros.engines.export import export_engine
    out = tmp_path_factory.mktemp('engines') / name
    export_engine(checkpoint, out, log=lambda m: None)
    return out


@pytest.fixture(scope='session')
def token_checkpoint(tmp_path_factory):
    return _token_checkpoint(tmp_path_factory, 'ckpt_token')


@pytest.fixture(scope='session')
def token_engine(token_checkpoint, tmp_path_factory):
    return _export(token_checkpoint, tmp_path_factory, 'micro_token')


@pytest.fixture(scope='session')
def plan_checkpoint(tmp_path_factory):
    """As ``token_checkpoint``, the video also reading the waypoint plan (video.plan_dim)."""
    return _token_checkpoint(tmp_path_factory, 'ckpt_plan', plan_dim=7)


@pytest.fixture(scope='session')
def plan_engine(plan_checkpoint, tmp_path_factory):
    return _export(plan_checkpoint, tmp_path_factory, 'micro_plan')
