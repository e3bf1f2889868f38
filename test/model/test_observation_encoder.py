"""The observation encoder: how it reads the instruction's tokens and the named block's shape."""

import dataclasses

import pytest
import torch

from vag_ros.errors import ConfigError
from vag_ros.model.config import load_model_config
from vag_ros.model.observation import AttentionPooling, ObservationEncoder, pooled_text


def _tokens(lengths, dim=8, length=6, seed=0):
    """Random tokens (B, L, E) zeroed after each row's length, and the mask (B, L)."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]  # (B, L)
    return torch.randn(len(lengths), length, dim, generator=g) * mask[..., None], mask


def test_attention_pooling_starts_as_the_mean_encoder():
    """Same weights, untrained scores: both poolings give the same features."""
    torch.manual_seed(0)
    mean = ObservationEncoder(8, 7, 32, heads=2)
    attention = ObservationEncoder(8, 7, 32, heads=2, text_pooling='attention')
    missing = attention.load_state_dict(mean.state_dict(), strict=False).missing_keys
    assert missing == ['pooling.score.weight', 'pooling.score.bias']
    text, mask = _tokens([6, 3, 0])  # a full row, a short one, the CFG null
    frame, state = torch.rand(3, 3, 16, 16) * 2 - 1, torch.randn(3, 7)
    torch.testing.assert_close(attention(frame, text, mask, state),
                               mean(frame, text, mask, state))


def test_padding_is_never_read_and_the_null_instruction_pools_to_zeros():
    pool = AttentionPooling(8, 3)
    torch.nn.init.normal_(pool.score.weight)
    text, mask = _tokens([4, 0])
    pooled = pool(text, mask)  # (B, Q, E)
    assert pooled.shape == (2, 3, 8)
    assert torch.equal(pooled[1], torch.zeros(3, 8))
    garbage = text + 100.0 * (~mask)[..., None]  # padding filled with large values
    torch.testing.assert_close(pool(garbage, mask)[0], pooled[0])


def test_a_learned_weighting_ignores_filler_the_mean_does_not():
    """A slot that scores one feature reads the keyword wherever it is and whatever
    surrounds it; the mean of the same tokens moves with every added word."""
    keyword = torch.zeros(8)
    keyword[0], keyword[1] = 1.0, 2.0  # feature 0 marks it
    filler = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    filler[:, 0] = 0.0
    short = torch.stack([keyword, filler[0]])[None]  # "push <filler>"
    long = torch.stack([filler[1], filler[2], keyword, filler[3], filler[4]])[None]
    pool = AttentionPooling(8, 1)
    with torch.no_grad():
        pool.score.weight[0, 0] = 30.0
    read = [pool(t, torch.ones(t.shape[:2], dtype=torch.bool))[0, 0] for t in (short, long)]
    torch.testing.assert_close(read[0], keyword, atol=1e-6, rtol=0)
    torch.testing.assert_close(read[1], keyword, atol=1e-6, rtol=0)
    means = [pooled_text(t, torch.ones(t.shape[:2], dtype=torch.bool))[0] for t in (short, long)]
    assert (means[0] - means[1]).abs().max() > 0.1


def test_unknown_pooling_is_refused():
    cfg = load_model_config('tiny')
    bad = dataclasses.replace(cfg, action=dataclasses.replace(cfg.action, text_pooling='max'))
    with pytest.raises(ConfigError, match='text_pooling'):
        bad.validate()
    with pytest.raises(ValueError, match='text_pooling'):
        ObservationEncoder(8, text_pooling='max')


def test_local_features_see_a_turn_the_colour_queries_do_not():
    """A bar and the same bar turned: to the per-pixel colour network both are 4 red
    pixels (same answer strength, a centre shifted by half a pixel); the local features,
    read where the heads attend, tell them apart."""
    torch.manual_seed(0)
    frames = -torch.ones(2, 3, 16, 16)
    frames[0, 0, 6:10, 7:8] = 1.0    # a vertical bar, 4 pixels, centre (7.5, 7)
    frames[1, 0, 7:8, 5:9] = 1.0     # a horizontal bar, 4 pixels, centre (7, 6.5)
    text, mask = _tokens([3, 3])
    text[1] = text[0]
    colour_only = ObservationEncoder(8, 0, 32, heads=2)
    _, strength = colour_only.attend(frames, text[:, :3].mean(1))
    torch.testing.assert_close(strength[0], strength[1])  # same colours, same counts
    local = ObservationEncoder(8, 0, 32, heads=2, local_features=4)
    assert local.local is not None
    red = (frames[:, :1] > 0).flatten(2).float()  # (B, 1, H*W): a head that found the bar
    pooled = torch.einsum('bmn,bfn->bmf', red / red.sum(-1, keepdim=True),
                          local.local(frames).flatten(2))  # (B, 1, F)
    assert (pooled[0] - pooled[1]).abs().max() > 1e-3
    out = local(frames, text, mask)
    assert out.shape == (2, 32) and torch.isfinite(out).all()
