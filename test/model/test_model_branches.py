"""Video branch (diffusers Cosmos DiT) and action U-Net: shapes and conditioning."""

import dataclasses

import pytest
import torch

from vag_ros.errors import CheckpointError
from vag_ros.model.action_unet import ActionUNet
from vag_ros.model.config import load_model_config
from vag_ros.model.video_branch import transformer_kwargs, VideoBranch


def _inputs(config, b=2):
    g = torch.Generator().manual_seed(0)
    c, t, h, w = config.video.latent_shape
    x = torch.randn(b, c, t, h, w, generator=g)
    text = torch.randn(b, config.text.max_length, config.text.embed_dim, generator=g)
    return x, torch.tensor([0.3, 0.8])[:b], x[:, :, :1].clone(), text


def test_video_branch_shapes_and_conditioning_frame(config):
    torch.manual_seed(0)
    branch = VideoBranch(config.video, config.text.embed_dim).eval()
    x, t, first, text = _inputs(config)
    with torch.no_grad():
        v = branch(x, t, first, text)
        assert v.shape == x.shape
        assert v[:, :, 0].abs().max() == 0  # the given frame does not move
        assert v[:, :, 1:].abs().max() > 0
        # frame 0 of x_t is replaced by the clean latent: its value is irrelevant
        x2 = x.clone()
        x2[:, :, 0] = 99.0
        assert torch.allclose(branch(x2, t, first, text), v, atol=1e-5)
        # but the conditioning latent matters
        assert not torch.allclose(branch(x, t, first + 1.0, text), v)
        # the text matters through cross-attention
        assert not torch.allclose(branch(x, t, first, torch.zeros_like(text)), v)


def test_classifier_free_guidance_combines_cond_and_uncond(config):
    torch.manual_seed(0)
    branch = VideoBranch(config.video, config.text.embed_dim).eval()
    x, t, first, text = _inputs(config)
    null = torch.zeros_like(text)
    with torch.no_grad():
        v_c = branch(x, t, first, text)
        v_u = branch(x, t, first, null)
        assert torch.allclose(branch.guided(x, t, first, text, null, 1.0), v_c)
        guided = branch.guided(x, t, first, text, null, 3.0)
    assert torch.allclose(guided, v_u + 3.0 * (v_c - v_u), atol=1e-5)


def test_padding_mask_channel_variant(config):
    video = dataclasses.replace(config.video, padding_mask_channel=True,
                                condition_timestep=1e-4)
    branch = VideoBranch(video, config.text.embed_dim)
    assert branch.transformer.config.in_channels == video.latent_channels + 2
    x, t, first, text = _inputs(config)
    with torch.no_grad():
        assert branch(x, t, first, text).shape == x.shape


def test_diffusers_folder_round_trip(config, tmp_path):
    torch.manual_seed(0)
    branch = VideoBranch(config.video, config.text.embed_dim).eval()
    branch.transformer.save_pretrained(tmp_path / 'transformer')
    again = VideoBranch.from_pretrained(config.video, config.text.embed_dim, tmp_path).eval()
    x, t, first, text = _inputs(config)
    with torch.no_grad():
        assert torch.equal(again(x, t, first, text), branch(x, t, first, text))


def test_paper_video_branch_is_cosmos_predict2_2b_on_the_meta_device():
    from diffusers import CosmosTransformer3DModel
    cfg = load_model_config('paper')
    with torch.device('meta'):
        ours = VideoBranch(cfg.video, cfg.text.embed_dim).transformer
        # diffusers' conversion config for Cosmos-2.0-Diffusion-2B-Video2World
        official = CosmosTransformer3DModel(
            in_channels=17, out_channels=16, num_attention_heads=16, attention_head_dim=128,
            num_layers=28, mlp_ratio=4.0, text_embed_dim=1024, adaln_lora_dim=256,
            max_size=(128, 240, 240), patch_size=(1, 2, 2), rope_scale=(1.0, 3.0, 3.0),
            concat_padding_mask=True, extra_pos_embed_type=None)
    count = sum(p.numel() for p in ours.parameters())
    assert abs(count - 2e9) / 2e9 < 0.05, count
    # same tensor names and shapes: the official weights load into our branch
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in official.state_dict().items()}
    kw = transformer_kwargs(cfg.video, cfg.text.embed_dim)
    assert kw['in_channels'] == 18 and kw['concat_padding_mask'] is False


def test_action_unet_shapes_condition_and_odd_horizon():
    torch.manual_seed(0)
    net = ActionUNet(action_dim=7, cond_dim=132, down_dims=(16, 32, 64), n_groups=4,
                     timestep_embed_dim=16)
    a = torch.randn(2, 93, 7)  # the paper's horizon is not a power of two
    cond = torch.randn(2, 132)
    t = torch.tensor([0.2, 0.9])
    out = net(a, t, cond)
    assert out.shape == (2, 93, 7)
    assert not torch.allclose(net(a, t, cond + 1.0), out)
    assert not torch.allclose(net(a, t.flip(0), cond), out)
    single = ActionUNet(3, 4, down_dims=(8,), n_groups=4, timestep_embed_dim=8)
    assert single(torch.randn(1, 5, 3), torch.tensor([0.5]), torch.randn(1, 4)).shape == (1, 5, 3)


def test_bad_transformer_folders_are_rejected(config, tmp_path):
    branch = VideoBranch(config.video, config.text.embed_dim)
    branch.transformer.save_pretrained(tmp_path / 'transformer')
    with pytest.raises(CheckpointError, match='config.json'):
        VideoBranch.from_pretrained(config.video, 16, tmp_path / 'empty')
    other = dataclasses.replace(config.video, padding_mask_channel=True)
    with pytest.raises(CheckpointError, match='input channels'):
        VideoBranch.from_pretrained(other, 16, tmp_path)
    weights = tmp_path / 'transformer' / 'diffusion_pytorch_model.safetensors'
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='corrupt'):
        VideoBranch.from_pretrained(config.video, 16, tmp_path)
