"""video.plan_dim: the DiT reads the waypoint head's plan, interpolated to every latent frame.

Guidance and sampling with the plan: test_observation_token.py (parametrized over plan_dim).
"""

import dataclasses

import pytest
import torch

from vag_ros.errors import ConfigError
from vag_ros.model.vag import VagModel, WAYPOINTS, waypoint_index
from vag_ros.model.video_branch import plan_weights


@pytest.fixture
def plan_config(micro_config):
    # 9 frames: waypoints at steps 1, 3, 6 and 8, none at the start
    return micro_config(observation_token=True, plan_dim=7, frames=9)


def _inputs(config, make_batch, observe, seed=0):
    lat, emb, mask, act = make_batch(config, seed=seed)
    return lat, emb, mask, act, observe(config, emb, mask, seed)


def test_the_weights_interpolate_between_the_knots():
    w = torch.tensor(plan_weights(11, [0.0, 0.5, 1.0]))  # (11, 3): knots at frames 0, 5, 10
    torch.testing.assert_close(w.sum(dim=1), torch.ones(11))
    torch.testing.assert_close(w[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(w[5], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(w[10], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(w[2], torch.tensor([0.6, 0.4, 0.0]))
    torch.testing.assert_close(w[8], torch.tensor([0.0, 0.4, 0.6]))


def test_the_switch_needs_the_waypoint_head_and_the_action_dim(micro_config):
    with pytest.raises(ConfigError, match='plan_dim'):
        micro_config(observation_token=True, plan_dim=3)  # D = 7
    with pytest.raises(ConfigError, match='plan_dim'):
        micro_config(plan_dim=7)  # no observation token
    with pytest.raises(ConfigError, match='plan_dim'):
        micro_config(observation_dim=0, plan_dim=7)
    plan = micro_config(observation_token=True, plan_dim=7)
    with pytest.raises(ConfigError, match='state_conditioning'):
        dataclasses.replace(plan, action=dataclasses.replace(
            plan.action, state_conditioning=False)).validate()
    with pytest.raises(ConfigError, match='horizon'):
        dataclasses.replace(plan, action=dataclasses.replace(plan.action, horizon=4)).validate()
    # the no-bridge ablation of a plan preset has no video branch: nothing to feed
    assert VagModel(micro_config('action_no_bridge', observation_token=True,
                                 plan_dim=7)).video is None


def test_the_plan_channels_hold_the_start_the_waypoints_and_the_grid(plan_config):
    torch.manual_seed(0)
    model = VagModel(plan_config)
    video = model.video
    frames = plan_config.video.latent_frames
    with torch.no_grad():
        video.plan_start.copy_(torch.arange(7.0))
    waypoints = torch.randn(2, WAYPOINTS, 7)
    channels = video.plan_channels(waypoints, 3, 4)  # (B, 7 + 2, T', 3, 4)
    assert channels.shape == (2, 9, frames, 3, 4)
    torch.testing.assert_close(channels[:, :7, 0, 1, 2], torch.arange(7.0).expand(2, 7))
    # each waypoint on its own step's frame (steps 1, 3, 6, 8), halfway between in between
    for k, step in enumerate(waypoint_index(plan_config.action.horizon).tolist()):
        torch.testing.assert_close(channels[:, :7, step, 0, 0], waypoints[:, k])
    torch.testing.assert_close(channels[:, :7, 2, 0, 0], (waypoints[:, 0] + waypoints[:, 1]) / 2)
    torch.testing.assert_close(channels[0, 7, 0, 0], torch.linspace(-1, 1, 4))  # x
    torch.testing.assert_close(channels[0, 8, 0, :, 0], torch.linspace(-1, 1, 3))  # y


def test_the_video_follows_the_waypoint_head(plan_config, make_batch, observe):
    """Another waypoint head (same features, same token) gives another video velocity."""
    lat, emb, mask, _, obs = _inputs(plan_config, make_batch, observe)
    torch.manual_seed(0)
    model = VagModel(plan_config).eval()
    t = torch.full((lat.shape[0],), 0.6)
    null = torch.zeros_like(emb)
    with torch.no_grad():
        a, _ = model.step(lat, None, t, lat[:, :, :1], obs, null, 1.0)
        torch.nn.init.normal_(model.waypoints.weight)
        b, _ = model.step(lat, None, t, lat[:, :, :1], obs, null, 1.0)
    assert (a - b).abs().max() > 1e-4
    with pytest.raises(ValueError, match='waypoint plan'):
        model.video(lat, t, lat[:, :, :1], emb, model.observe(obs))


def test_the_video_loss_never_trains_the_waypoint_head(plan_config, make_batch, observe):
    """The plan is read detached: the video loss trains the plan's start and the DiT, the
    waypoint head and the encoder learn from the action side only."""
    torch.manual_seed(0)
    model = VagModel(plan_config)
    lat, emb, mask, act, obs = _inputs(plan_config, make_batch, observe)
    out = model.training_loss(lat, emb, mask, act, torch.Generator().manual_seed(0),
                              obs.frame, obs.state)
    out['video_loss'].backward(retain_graph=True)
    assert model.video.plan_start.grad.abs().sum() > 0
    assert model.waypoints.weight.grad is None
    assert all(p.grad is None for p in model.observation.parameters())
    out['action_loss'].backward()
    assert model.waypoints.weight.grad.abs().sum() > 0
