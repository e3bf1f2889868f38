"""Latent codecs: exact patch codec, tiny random Wan VAE."""

import pytest
import torch

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.codecs import build_codec, PatchCodec, WanCodec
from vag_ros.model.config import load_model_config


@pytest.mark.parametrize('tf, frames', [(1, 3), (4, 9)])
def test_patch_codec_is_exactly_invertible(tf, frames):
    g = torch.Generator().manual_seed(0)
    video = torch.rand(2, 3, frames, 16, 24, generator=g) * 2 - 1
    codec = PatchCodec(8, tf)
    z = codec.encode(video)
    assert z.shape == (2, 3 * 64 * tf, codec.latent_frames(frames), 2, 3)
    assert torch.equal(codec.decode(z), video)  # bit-exact: only reshapes
    mixed = PatchCodec(8, tf, orthogonal=True, seed=1)
    zm = mixed.encode(video)
    assert not torch.allclose(zm, z)
    assert torch.allclose(mixed.decode(zm), video, atol=1e-5)
    assert codec.pixel_frames(z.shape[2]) == frames


def test_patch_codec_first_latent_frame_is_the_first_frame_alone():
    video = torch.rand(1, 3, 9, 8, 8)
    codec = PatchCodec(4, 4)
    first = codec.encode(video[:, :, :1])  # a single conditioning frame
    assert first.shape[2] == 1
    assert torch.equal(codec.encode(video)[:, :, :1], first)


def test_patch_codec_rejects_bad_shapes():
    codec = PatchCodec(8, 4)
    with pytest.raises(ConfigError, match='1 \\+ 4'):
        codec.encode(torch.zeros(1, 3, 4, 8, 8))
    with pytest.raises(ConfigError, match='divide'):
        codec.encode(torch.zeros(1, 3, 5, 12, 8))
    with pytest.raises(ConfigError, match='B, 3'):
        codec.encode(torch.zeros(1, 4, 5, 8, 8))


def test_build_codec_from_config():
    cfg = load_model_config('tiny')
    codec = build_codec(cfg.video.codec, cfg.video.latent_channels)
    assert codec.latent_channels == 192 and codec.spatial_factor == 8
    with pytest.raises(ConfigError, match='path'):
        build_codec(load_model_config('paper').video.codec)


TINY_WAN = {'base_dim': 8, 'z_dim': 16, 'dim_mult': [1, 2, 2, 2], 'num_res_blocks': 1}


def test_tiny_wan_codec_shapes_and_normalization(tmp_path):
    torch.manual_seed(0)
    codec = WanCodec.from_config(**TINY_WAN).eval()
    assert (codec.spatial_factor, codec.temporal_factor, codec.latent_channels) == (8, 4, 16)
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        z = codec.encode(video)
        assert z.shape == (1, 16, 2, 2, 2)  # T' = 1 + (5 - 1) / 4
        raw = codec.vae.encode(video).latent_dist.mode()
        mean = torch.tensor(codec.vae.config.latents_mean).view(1, 16, 1, 1, 1)
        std = torch.tensor(codec.vae.config.latents_std).view(1, 16, 1, 1, 1)
        assert torch.allclose(z, (raw - mean) / std, atol=1e-5)
        out = codec.decode(z)
    assert out.shape == (1, 3, 5, 16, 16) and out.abs().max() <= 1.0
    # a pipeline-style folder with vae/ loads back to the same weights
    codec.vae.save_pretrained(tmp_path / 'ckpt' / 'vae')
    again = WanCodec.from_pretrained(tmp_path / 'ckpt')
    with torch.no_grad():
        assert torch.allclose(again.encode(video), z, atol=1e-5)
    with pytest.raises(CheckpointError, match='not found'):
        WanCodec.from_pretrained(tmp_path / 'missing')
