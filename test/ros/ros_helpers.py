"""Helpers of the ROS tests: spinning with timeouts, the micro model config."""

import dataclasses
import time


def spin_until(executor, predicate, timeout: float = 10.0) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout`` s pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.02)
    return bool(predicate())


def spin_for(executor, seconds: float) -> None:
    """Spin ``executor`` for ``seconds``."""
    spin_until(executor, lambda: False, seconds)


def micro_config():
    """5 frames of 32x32, 1 layer, text 'none', 3 steps; actions D = 7 (the vag_arm)."""
    from vag_ros.model.config import CodecConfig, load_model_config
    cfg = load_model_config('tiny')
    return dataclasses.replace(
        cfg, mode='joint',
        video=dataclasses.replace(cfg.video, frames=5, height=32, width=32, num_layers=1,
                                  num_heads=2, head_dim=16, adaln_lora_dim=8,
                                  latent_channels=192,  # exact patch codec: nothing to fit
                                  codec=CodecConfig(kind='patch', spatial_factor=8)),
        text=dataclasses.replace(cfg.text, kind='none', embed_dim=16, max_length=4),
        action=dataclasses.replace(cfg.action, horizon=5, down_dims=(16, 32), n_groups=4,
                                   timestep_embed_dim=16),
        bridge=dataclasses.replace(cfg.bridge, expanded_dim=200),
        sampler=dataclasses.replace(cfg.sampler, num_steps=2)).validate()
