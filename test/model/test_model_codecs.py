"""Latent codecs: exact patch codec, fitted PCA codec, tiny random Wan VAE."""

import pytest
import torch

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.codecs import build_codec, PatchCodec, PcaCodec, WanCodec
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
    assert isinstance(codec, PcaCodec)
    assert codec.latent_channels == 16 and codec.spatial_factor == 8 and not codec.fitted
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


def _smooth_videos(count=4, seed=0):
    """(1, 3, 3, 32, 32) videos in [-1, 1] with structure (blurred noise), so PCA helps."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        x = torch.randn(1, 3, 3, 8, 8, generator=g)
        x = torch.nn.functional.interpolate(x, size=(3, 32, 32), mode='trilinear')
        out.append(x.tanh())
    return out


def test_pca_codec_refuses_to_run_unfitted():
    codec = PcaCodec(8, 16)
    with pytest.raises(CheckpointError, match='not fitted'):
        codec.encode(torch.zeros(1, 3, 2, 16, 16))
    with pytest.raises(ConfigError, match='channels'):
        PcaCodec(8, 193)


def test_pca_codec_fit_whitens_and_reconstructs():
    videos = _smooth_videos()
    codec = PcaCodec(8, 16).fit(videos)
    z = torch.cat([codec.encode(v) for v in videos])  # (4, 16, 3, 4, 4)
    assert z.shape == (4, 16, 3, 4, 4)
    per_channel = z.transpose(0, 1).reshape(16, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(16), atol=1e-4)
    assert torch.allclose(per_channel.var(1, unbiased=False), torch.ones(16), atol=1e-3)
    # orthonormal basis, and all 192 components reconstruct exactly
    assert torch.allclose(codec.basis @ codec.basis.T, torch.eye(16), atol=1e-5)
    full = PcaCodec(8, 192).fit(videos)
    assert torch.allclose(full.decode(full.encode(videos[0])), videos[0], atol=1e-4)
    # 16 of 192 components keep most of the variance of smooth images, more than 4 do
    kept16 = codec.explained_variance(videos)
    kept4 = PcaCodec(8, 4).fit(videos).explained_variance(videos)
    assert 0.9 < kept16 < 1.0 and kept4 < kept16


def test_pca_codec_fit_is_deterministic_and_survives_state_dict():
    videos = _smooth_videos()
    a, b = PcaCodec(8, 16).fit(videos), PcaCodec(8, 16).fit(videos)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    c = PcaCodec(8, 16)
    c.load_state_dict(a.state_dict())
    assert c.fitted and torch.equal(c.encode(videos[1]), a.encode(videos[1]))


def test_pca_codec_residual_codes_motion_and_decodes_the_same_video():
    videos = _smooth_videos()
    plain, motion = PcaCodec(8, 16).fit(videos), PcaCodec(8, 16, residual=True).fit(videos)
    assert 'residual_scale' in motion.state_dict() and 'residual_scale' not in plain.state_dict()
    z_plain, z_motion = plain.encode(videos[1]), motion.encode(videos[1])  # (B, 16, 3, 4, 4)
    # the first frame stays absolute, so a frame encoded alone is the conditioning latent
    assert torch.equal(z_motion[:, :, :1], z_plain[:, :, :1])
    assert torch.equal(motion.encode(videos[1][:, :, :1]), z_plain[:, :, :1])
    # later frames: (z_k - z_0) / residual_scale, unit RMS over the fit data
    expected = (z_plain[:, :, 1:] - z_plain[:, :, :1]) / motion.residual_scale.view(1, -1, 1, 1, 1)
    assert torch.allclose(z_motion[:, :, 1:], expected, atol=1e-5)
    rms = torch.cat([motion.encode(v)[:, :, 1:] for v in videos]).transpose(0, 1)
    assert torch.allclose(rms.reshape(16, -1).pow(2).mean(1).sqrt(), torch.ones(16), atol=1e-3)
    # the same pixels back, and a still clip is zero after its first frame
    assert torch.allclose(motion.decode(z_motion), plain.decode(z_plain), atol=1e-5)
    still = videos[0][:, :, :1].expand(-1, -1, 3, -1, -1)
    assert motion.encode(still)[:, :, 1:].abs().max() < 1e-6
    with pytest.raises(ConfigError, match='two frames'):
        PcaCodec(8, 16, residual=True).fit([v[:, :, :1] for v in videos])


def test_residual_is_a_pca_codec_option():
    from vag_ros.model.config import CodecConfig
    assert build_codec(CodecConfig(kind='pca', residual=True), 16).residual
    with pytest.raises(ConfigError, match='residual'):
        CodecConfig(kind='patch', residual=True).validate()


def refined_config():
    from vag_ros.model.config import CodecConfig
    return CodecConfig(kind='pca', residual=True, refiner_width=8)


def test_an_untrained_refiner_is_the_linear_decode_with_the_given_first_frame():
    videos = _smooth_videos()
    plain = PcaCodec(8, 16, residual=True).fit(videos)
    refined = PcaCodec(8, 16, residual=True, refiner_width=8)
    refined.load_state_dict(plain.state_dict(), strict=False)
    video = videos[1]                                   # (B, 3, 3, 32, 32)
    z = refined.encode(video)
    given = video[:, :, :1]
    out = refined.decode(z, given)
    assert torch.equal(out[:, :, :1], given.clamp(-1, 1))      # the given frame, exactly
    assert torch.allclose(out[:, :, 1:], plain.decode(z)[:, :, 1:], atol=1e-6)
    # without the frame, frame 0 is its linear decode: the old codec's video
    assert torch.allclose(refined.decode(z), plain.decode(z), atol=1e-6)
    with pytest.raises(ConfigError, match='first frame shape'):
        refined.decode(z, given[:, :, :, :16])
    # its weights are codec tensors: they travel in the state dict (the checkpoint)
    torch.nn.init.normal_(refined.refiner.fine[-1].weight, std=0.1)
    copy = build_codec(refined_config(), 16)
    copy.load_state_dict(refined.state_dict(), strict=True)
    assert torch.equal(copy.decode(z, given), refined.decode(z, given))
    assert not torch.allclose(copy.decode(z, given), plain.decode(z), atol=1e-3)


def test_a_refiner_learns_the_detail_of_the_first_frame():
    """A still clip whose linear decode lost the first frame's detail: trained on it, the
    refiner puts the detail back (the static background of every generated clip)."""
    from vag_ros.model.frame_refiner import FrameRefiner
    g = torch.Generator().manual_seed(0)
    first = torch.rand(4, 3, 1, 16, 16, generator=g) * 2 - 1           # sharp detail
    blurred = torch.nn.functional.avg_pool3d(first, (1, 4, 4)).repeat_interleave(
        4, 3).repeat_interleave(4, 4)                                    # what PCA keeps
    linear = blurred.expand(-1, -1, 4, -1, -1)                          # (4, 3, 4, 16, 16)
    truth = first.expand(-1, -1, 4, -1, -1)
    torch.manual_seed(0)
    refiner = FrameRefiner(16)
    optim = torch.optim.Adam(refiner.parameters(), 3e-3)
    for _ in range(150):
        index = torch.randint(1, 4, (4, 1), generator=g)
        out = refiner.refine_frames(linear, first, index)               # (4, 3, 1, 16, 16)
        loss = ((out - truth[:, :, 1:2]) ** 2).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    with torch.no_grad():
        before = float(((linear[:, :, 1:] - truth[:, :, 1:]) ** 2).mean())
        after = float(((refiner(linear, first)[:, :, 1:] - truth[:, :, 1:]) ** 2).mean())
    assert after < 0.1 * before


def test_refiner_width_is_a_pca_codec_option():
    from vag_ros.model.config import CodecConfig
    assert build_codec(refined_config(), 16).refiner.width == 8
    assert build_codec(CodecConfig(kind='pca'), 16).refiner is None
    with pytest.raises(ConfigError, match='refiner_width'):
        CodecConfig(kind='patch', refiner_width=8).validate()
    with pytest.raises(ConfigError, match='refiner_width'):
        CodecConfig(kind='pca', refiner_width=-1).validate()
    with pytest.raises(ConfigError, match='divisible by 4'):
        CodecConfig(kind='pca', spatial_factor=2, refiner_width=8).validate()
