"""Rectified-flow math: interpolation, targets, estimates, Euler timesteps."""

import pytest
import torch

from vag_ros.model import flow


def test_interpolation_endpoints_and_velocity():
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(3, 4, 5, generator=g), torch.randn(3, 4, 5, generator=g)
    assert torch.equal(flow.interpolate(x, eps, torch.zeros(3)), x)
    assert torch.equal(flow.interpolate(x, eps, torch.ones(3)), eps)
    t = torch.tensor([0.1, 0.5, 0.9])
    x_t = flow.interpolate(x, eps, t)
    assert torch.allclose(x_t[1], 0.5 * (x[1] + eps[1]))
    v = flow.velocity_target(x, eps)
    assert torch.allclose(v, eps - x)
    # the true velocity gives back both endpoints
    assert torch.allclose(flow.x0_estimate(x_t, v, t), x, atol=1e-6)
    assert torch.allclose(flow.noise_estimate(x_t, v, t), eps, atol=1e-6)
    assert flow.flow_loss(v, x, eps).item() == 0.0


def test_masked_mse_ignores_masked_elements():
    pred, target = torch.zeros(2, 3), torch.ones(2, 3)
    target[:, 0] = 100.0
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    assert flow.mse(pred, target, mask).item() == pytest.approx(1.0)


def test_euler_timesteps_and_linear_flow_reach_the_endpoint_exactly():
    ts = flow.euler_timesteps(7)
    assert ts.shape == (8,) and ts[0] == 1.0 and ts[-1] == 0.0
    assert torch.all(ts[1:] < ts[:-1])
    g = torch.Generator().manual_seed(1)
    x, eps = torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g)
    z = eps.clone()
    for i in range(7):  # straight path: the velocity is constant, Euler is exact
        z = flow.euler_step(z, flow.velocity_target(x, eps), ts[i].item(), ts[i + 1].item())
    assert torch.allclose(z, x, atol=1e-6)
    shifted = flow.euler_timesteps(4, shift=3.0)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0 and shifted[2] > 0.5


def test_sample_timesteps_kinds_and_determinism():
    for kind in ('uniform', 'logit_normal'):
        a = flow.sample_timesteps(64, torch.Generator().manual_seed(3), kind)
        b = flow.sample_timesteps(64, torch.Generator().manual_seed(3), kind)
        assert torch.equal(a, b) and a.shape == (64,)
        assert torch.all((a > 0) & (a < 1))
    with pytest.raises(ValueError, match='cosine'):
        flow.sample_timesteps(2, kind='cosine')
    with pytest.raises(ValueError):
        flow.euler_timesteps(0)
