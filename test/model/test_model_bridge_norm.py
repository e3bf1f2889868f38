"""Pooling bridge (no weights, detached) and action normalization."""

import pytest
import torch

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.bridge import bridge, expand_channels, pool_latent
from vag_ros.model.normalization import ActionNormalizer


def test_bridge_pools_tiles_and_detaches():
    z0 = torch.randn(2, 16, 3, 4, 5, requires_grad=True)
    out = bridge(z0, 132)
    assert out.shape == (2, 132) and not out.requires_grad
    pooled = z0.mean(dim=(2, 3, 4))
    assert torch.allclose(out[:, :16], pooled)
    assert torch.allclose(out[:, 128:], pooled[:, :4])  # 8 full copies, then c0..c3
    assert torch.allclose(pool_latent(z0), pooled)
    assert torch.equal(expand_channels(torch.arange(3.0)[None], 7),
                       torch.tensor([[0.0, 1, 2, 0, 1, 2, 0]]))


@pytest.mark.parametrize('kind', ['minmax', 'meanstd'])
def test_normalizer_round_trip_and_serialization(kind):
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(10, 8, 3, generator=g) * 2 + 1
    acts[..., 2] = 0.5  # a constant joint must not divide by zero
    norm = ActionNormalizer.fit(acts, kind)
    n = norm.normalize(acts)
    assert torch.isfinite(n).all()
    if kind == 'minmax':
        assert n[..., :2].min() >= -1 - 1e-6 and n[..., :2].max() <= 1 + 1e-6
    assert torch.allclose(norm.denormalize(n), acts, atol=1e-5)
    again = ActionNormalizer.from_tensors(norm.to_tensors())
    assert torch.allclose(again.denormalize(n), acts, atol=1e-5)
    back = ActionNormalizer.from_dict(norm.to_dict())
    assert back.kind == kind and torch.equal(back.a, norm.a)
    with pytest.raises(ConfigError, match='dims'):
        norm.normalize(torch.zeros(4, 5))
    # clip: generated actions stay inside the training range (minmax), untouched inside it
    wild = n * 1.5
    clipped = norm.denormalize(wild, clip=True)
    assert torch.allclose(norm.denormalize(n, clip=True), acts, atol=1e-5)
    if kind == 'minmax':
        flat = acts.reshape(-1, 3)
        assert (clipped >= flat.min(0).values - 1e-5).all()
        assert (clipped <= flat.max(0).values + 1e-5).all()
    else:
        assert torch.equal(clipped, norm.denormalize(wild))


def test_normalizer_errors():
    with pytest.raises(CheckpointError, match='action_norm'):
        ActionNormalizer.from_tensors({})
    with pytest.raises(ConfigError, match='quantile'):
        ActionNormalizer('quantile', torch.zeros(2), torch.ones(2))
