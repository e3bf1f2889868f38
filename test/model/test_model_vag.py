"""VagModel: shared-t loss, bridge gradient isolation, ablation modes, seeded sampling."""

import pytest
import torch

from vag_ros.errors import ConfigError
from vag_ros.model.vag import VagModel


def _loss(model, config, batch, observe, seed):
    lat, emb, mask, act = batch
    obs = observe(config, emb, mask)
    return model.training_loss(lat, emb, mask, act, torch.Generator().manual_seed(seed),
                               obs.frame, obs.state)


def test_training_loss_terms_and_backward(model, config, make_batch, observe):
    out = _loss(model, config, make_batch(config), observe, 0)
    assert set(out) == {'loss', 'video_loss', 'action_loss', 'waypoint_loss', 't'}
    assert out['waypoint_loss'] > 0  # the observation features regress the waypoints
    assert out['t'].shape == (2,)
    for key in ('loss', 'video_loss', 'action_loss'):
        assert out[key].ndim == 0 and torch.isfinite(out[key])
    assert torch.allclose(out['loss'], out['video_loss'] + out['action_loss'])
    out['loss'].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_action_loss_does_not_train_the_video_branch(model, config, make_batch, observe):
    out = _loss(model, config, make_batch(config), observe, 1)
    out['action_loss'].backward()
    for name, p in model.video.named_parameters():
        assert p.grad is None or p.grad.abs().max() == 0, name
    grads = [p.grad for p in model.action.parameters()]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum() for g in grads) > 0


def test_same_seed_same_loss(model, config, make_batch, observe):
    batch = make_batch(config)
    a = _loss(model, config, batch, observe, 5)
    b = _loss(model, config, batch, observe, 5)
    assert torch.equal(a['loss'], b['loss'])


def test_video_only_and_no_bridge_modes(micro_config, make_batch, observe):
    cfg = micro_config('video_only')
    torch.manual_seed(0)
    m = VagModel(cfg)
    assert m.action is None
    lat, emb, mask, act = make_batch(cfg)
    obs = observe(cfg, emb, mask)
    out = m.training_loss(lat, emb, mask, None)
    assert out['action_loss'] == 0 and torch.equal(out['loss'], out['video_loss'])
    lat1, actions = m.sample(lat[:, :, :1], obs, num_steps=2,
                             generator=torch.Generator().manual_seed(0))
    assert actions is None and lat1.shape == lat.shape

    cfg = micro_config('action_no_bridge')
    m = VagModel(cfg)
    assert m.action.cond_dim == cfg.action.observation_dim
    out = m.training_loss(lat, emb, mask, act, torch.Generator().manual_seed(0), obs.frame,
                          obs.state)
    out['action_loss'].backward()
    assert m.video is None  # the ablation never reads a video, so it carries none
    assert any(p.grad is not None and p.grad.abs().max() > 0
               for p in m.observation.parameters())
    with pytest.raises(ValueError, match='actions_norm'):
        m.training_loss(lat, emb, mask, None, None, obs.frame, obs.state)
    # the ablation samples actions alone, with the same noise order as the joint model
    x, a = m.sample(lat[:, :, :1], obs, num_steps=3, generator=torch.Generator().manual_seed(0))
    again = m.sample(lat[:, :, :1], obs, num_steps=3,
                     generator=torch.Generator().manual_seed(0))[1]
    assert x is None and a.shape == act.shape and torch.equal(a, again)


def test_sample_is_seeded_keeps_the_first_frame_and_syncs_steps(
        model, config, make_batch, observe):
    lat, emb, mask, _ = make_batch(config, b=1)
    first = lat[:, :, :1]
    obs = observe(config, emb, mask)
    steps = []

    def run(seed, guidance=1.0):
        return model.sample(first, obs, num_steps=3, guidance_scale=guidance,
                            generator=torch.Generator().manual_seed(seed),
                            callback=lambda i, n: steps.append((i, n)))

    x1, a1 = run(0)
    x2, a2 = run(0)
    x3, a3 = run(1)
    assert torch.equal(x1, x2) and torch.equal(a1, a2)
    assert not torch.allclose(x1, x3) and not torch.allclose(a1, a3)
    assert x1.shape == lat.shape and a1.shape == (1, config.action.horizon, config.action.dim)
    assert torch.equal(x1[:, :, :1], first)
    assert steps[:3] == [(1, 3), (2, 3), (3, 3)]
    xg, ag = run(0, guidance=4.0)
    assert not torch.allclose(xg, x1) and torch.isfinite(ag).all()


def test_sampled_actions_depend_on_the_video_through_the_bridge(model, config, make_batch,
                                                                observe):
    lat, emb, mask, _ = make_batch(config, b=1)
    obs = observe(config, emb, mask)
    g = torch.Generator
    _, a1 = model.sample(lat[:, :, :1], obs, num_steps=2, generator=g().manual_seed(0))
    _, a2 = model.sample(lat[:, :, :1] + 3.0, obs, num_steps=2, generator=g().manual_seed(0))
    assert not torch.allclose(a1, a2)


def test_joint_condition_is_bridge_plus_observation(model, config, make_batch, observe):
    lat, emb, mask, _ = make_batch(config)
    obs = observe(config, emb, mask)
    z0 = torch.randn_like(lat)
    cond = model.action_condition(z0, obs)
    c2 = config.bridge.expanded_dim
    assert cond.shape == (lat.shape[0], config.action_cond_dim)
    assert config.action_cond_dim == c2 + config.action.observation_dim
    # the bridge part follows z0, the observation part does not
    other = model.action_condition(z0 + 1.0, obs)
    assert not torch.allclose(cond[:, :c2], other[:, :c2])
    assert torch.equal(cond[:, c2:], other[:, c2:])


def test_observation_follows_frame_text_and_state(model, config, make_batch, observe):
    """Each input of the action branch's observation changes the condition it gives."""
    import dataclasses
    lat, emb, mask, _ = make_batch(config)
    obs = observe(config, emb, mask)
    z0 = torch.randn_like(lat)
    c2 = config.bridge.expanded_dim
    base = model.action_condition(z0, obs)[:, c2:]
    for changed in (dataclasses.replace(obs, frame=obs.frame.flip(-1)),
                    dataclasses.replace(obs, text_emb=obs.text_emb + 1.0),
                    dataclasses.replace(obs, state=obs.state + 0.3)):
        assert not torch.allclose(model.action_condition(z0, changed)[:, c2:], base)
    with pytest.raises(ValueError, match='arm state'):
        model.action_condition(z0, dataclasses.replace(obs, state=None))


def test_observation_attends_to_the_pixels_the_instruction_names(model, config):
    """The query of a text scores pixels by their colour: the attention's expected point
    moves with a coloured patch, and another query looks elsewhere."""
    enc = model.observation
    torch.manual_seed(0)
    h, w = config.observation_hw
    frame = torch.zeros(1, 3, h, w) - 1.0  # black
    frame[:, 0, 2:6, 20:24] = 1.0          # a red patch, top right
    frame[:, 2, 24:28, 4:8] = 1.0          # a blue patch, bottom left
    red_text = torch.randn(1, config.text.embed_dim)
    # a query that scores 'red' pixels: align it with the red patch's pixel embedding
    with torch.no_grad():
        pixels = enc.pixel(frame)[0]                        # (P, H, W)
        red, blue = pixels[:, 3, 21], pixels[:, 25, 5]
        enc.query.weight.zero_()
        enc.query.bias.copy_(torch.cat([red - blue] * enc.heads) * 20)
        attention, strength = enc.attend(frame, red_text)   # (1, M, H*W)
        at = attention[0, 0].view(h, w)
        assert at[2:6, 20:24].sum() > 0.5 and at[24:28, 4:8].sum() < 0.1
        enc.query.bias.copy_(torch.cat([blue - red] * enc.heads) * 20)
        at = enc.attend(frame, red_text)[0][0, 0].view(h, w)
        assert at[24:28, 4:8].sum() > 0.5


def test_motion_weighting_weighs_where_the_latents_move(config, make_batch, observe):
    """motion_weight 0: the plain loss (first frame masked). Above 0: a position counts more
    the further its latent moved from the first frame's; the first frame still counts 0."""
    import dataclasses
    torch.manual_seed(0)
    plain = VagModel(config)
    lat = make_batch(config)[0]                       # (B, C, T', H, W)
    still = plain.video_loss_weights(lat)
    assert still.shape == (1, 1, lat.shape[2], 1, 1)
    assert still[0, 0, 0].item() == 0.0 and torch.all(still[0, 0, 1:] == 1.0)
    moving = lat.clone()
    moving[:, :, 1:] = moving[:, :, :1]               # nothing moves ...
    moving[:, :, 2:, 0, 0] += 3.0                     # ... but one corner from frame 2 on
    weighted = dataclasses.replace(config, loss=dataclasses.replace(config.loss,
                                                                    motion_weight=2.0))
    torch.manual_seed(0)
    model = VagModel(weighted)
    model.load_state_dict(plain.state_dict())
    residual = weighted.video.codec.residual
    w = model.video_loss_weights(moving if not residual else moving - moving[:, :, :1])
    assert torch.all(w[:, :, 0] == 0.0)
    assert torch.all(w[:, 0, 2:, 0, 0] > 1.5) and torch.all(w[:, 0, 1] == 1.0)
    assert torch.all(w[:, 0, 2:, 1:, 1:] == 1.0)
    # the losses differ only through the weights: the same seed, the same noise
    batch = make_batch(config)
    a = _loss(plain, config, batch, observe, 3)['video_loss']
    b = _loss(model, weighted, batch, observe, 3)['video_loss']
    assert not torch.allclose(a, b)
    with pytest.raises(ConfigError, match='motion_weight'):
        dataclasses.replace(weighted.loss, motion_weight=-1.0).validate()
