"""video.observation_token: the DiT also cross-attends to the observation encoder's features."""

import pytest
import torch

from vag_ros.errors import ConfigError
from vag_ros.model.vag import Observation, VagModel


@pytest.fixture
def token_config(micro_config):
    return micro_config(observation_token=True)


def _inputs(config, make_batch, observe, seed=0):
    lat, emb, mask, act = make_batch(config, seed=seed)
    return lat, emb, mask, act, observe(config, emb, mask, seed)


def _video_velocity(model, lat, obs):
    """The video branch's velocity at t = 0.6 through VagModel.step (no guidance)."""
    t = torch.full((lat.shape[0],), 0.6)
    v, _ = model.step(lat, None, t, lat[:, :, :1], obs, torch.zeros_like(obs.text_emb), 1.0)
    return v  # (B, C, T', h, w)


def test_the_switch_needs_an_observation_encoder(micro_config):
    with pytest.raises(ConfigError, match='observation_token'):
        micro_config('video_only', observation_token=True)
    with pytest.raises(ConfigError, match='observation_token'):
        micro_config(observation_dim=0, observation_token=True)
    # the no-bridge ablation of a token preset has no video branch: nothing to feed
    assert VagModel(micro_config('action_no_bridge', observation_token=True)).video is None


def test_the_token_starts_as_one_more_zero_padding_token(
        micro_config, token_config, make_batch, observe):
    """Untrained, the token model is the plain model reading the text plus one zero token
    (Cosmos' padding is zero tokens, unmasked)."""
    torch.manual_seed(0)
    plain = VagModel(micro_config()).eval()
    with_token = VagModel(token_config).eval()
    missing = with_token.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ['video.observation_token.weight', 'video.observation_token.bias']
    lat, emb, mask, _, obs = _inputs(token_config, make_batch, observe)
    with torch.no_grad():
        padded = Observation(obs.frame, torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1),
                             torch.cat([mask, mask[:, :1] & False], dim=1), obs.state)
        torch.testing.assert_close(_video_velocity(with_token, lat, obs),
                                   _video_velocity(plain, lat, padded))
        assert not torch.allclose(_video_velocity(plain, lat, obs),
                                  _video_velocity(plain, lat, padded))


def test_the_video_follows_the_observed_frame_only_through_the_token(
        micro_config, token_config, make_batch, observe):
    lat, emb, mask, _, obs = _inputs(token_config, make_batch, observe)
    other = Observation(-obs.frame, obs.text_emb, obs.text_mask, obs.state)
    for config, follows in ((micro_config(), False), (token_config, True)):
        torch.manual_seed(0)
        model = VagModel(config).eval()
        if follows:  # a trained token: nonzero weights
            torch.nn.init.normal_(model.video.observation_token.weight)
        with torch.no_grad():
            a = _video_velocity(model, lat, obs)
            b = _video_velocity(model, lat, other)
        assert (a - b).abs().max() > 1e-4 if follows else torch.equal(a, b)


def test_training_feeds_the_video_detached_features(token_config, make_batch, observe):
    """The video loss trains the token's projection, never the encoder; the action and
    waypoint losses still train the encoder."""
    torch.manual_seed(0)
    model = VagModel(token_config)
    torch.nn.init.normal_(model.video.observation_token.weight)
    lat, emb, mask, act, obs = _inputs(token_config, make_batch, observe)
    out = model.training_loss(lat, emb, mask, act, torch.Generator().manual_seed(0),
                              obs.frame, obs.state)
    out['video_loss'].backward(retain_graph=True)
    assert model.video.observation_token.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.observation.parameters())
    out['action_loss'].backward()
    assert all(p.grad is not None for p in model.observation.parameters())


# video.plan_dim: the video also reads the waypoint plan made from those features
PLAN_DIMS = pytest.mark.parametrize('plan_dim', [0, 7], ids=['token', 'token+plan'])


@PLAN_DIMS
def test_guidance_reads_the_features_of_the_null_text(micro_config, make_batch, observe,
                                                      plan_dim):
    """v = v_u + g (v_c - v_u), the unconditional half with the null text's features (and
    the plan read from them), as text dropout trains it."""
    token_config = micro_config(observation_token=True, plan_dim=plan_dim)
    torch.manual_seed(0)
    model = VagModel(token_config).eval()
    torch.nn.init.normal_(model.video.observation_token.weight)
    lat, emb, mask, _, obs = _inputs(token_config, make_batch, observe)
    null = torch.zeros_like(emb)
    t = torch.full((lat.shape[0],), 0.6)
    first = lat[:, :, :1]
    with torch.no_grad():
        guided, _ = model.step(lat, None, t, first, obs, null, 3.0)
        features = model.observe(obs)
        cond = model.video(lat, t, first, emb, features, model.plan(features))
        null_obs = Observation(obs.frame, null, torch.zeros_like(mask), obs.state)
        null_features = model.observe(null_obs)
        uncond = model.video(lat, t, first, null, null_features, model.plan(null_features))
    assert (model.plan(features) is None) == (plan_dim == 0)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond))
    assert (model.observe(null_obs) - model.observe(obs)).abs().max() > 0
    with pytest.raises(ValueError, match='observation features'):
        model.video(lat, t, first, emb)


@PLAN_DIMS
def test_sampling_runs_with_the_token(micro_config, observe, plan_dim):
    token_config = micro_config(observation_token=True, plan_dim=plan_dim)
    torch.manual_seed(0)
    model = VagModel(token_config).eval()
    c, _, h, w = token_config.video.latent_shape
    emb, mask = torch.randn(1, 4, 16), torch.ones(1, 4, dtype=torch.bool)
    obs = observe(token_config, emb, mask)
    first = torch.randn(1, c, 1, h, w)
    a = model.sample(first, obs, generator=torch.Generator().manual_seed(1))
    b = model.sample(first, obs, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert torch.equal(a[0][:, :, :1], first)
    # the observation is data: with guidance its features, with the text and with the null
    # text, are read once per episode, not once per step
    calls = []
    model.observation.register_forward_hook(lambda *_: calls.append(1))
    guided = model.sample(first, obs, guidance_scale=3.0, num_steps=3,
                          generator=torch.Generator().manual_seed(1))
    assert len(calls) == 2
    assert not torch.equal(guided[0], a[0])
