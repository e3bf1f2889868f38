"""The I/O contract: one declaration of names, dtypes, shapes and profiles."""

from engine_helpers import micro_config
import numpy as np
import pytest
import torch

from vag_ros.engines import io_contract as io
from vag_ros.engines.graphs import sample_inputs
from vag_ros.errors import EngineError


def test_step_contract_follows_the_config():
    cfg = micro_config()
    c = io.engine_contract(cfg, cfg=False)
    step = c.graphs[io.STEP]
    assert step.input_names == ('x_t', 'a_t', 't', 'first_latent', 'text_emb', 'text_mask',
                                'observation_frame', 'state')
    assert step.output_names == ('v_video', 'v_action')
    shapes = step.shapes()
    assert shapes['x_t'] == shapes['v_video'] == (1, 192, 5, 4, 4)
    assert shapes['a_t'] == shapes['v_action'] == (1, 5, 7)
    assert shapes['text_emb'] == (1, 4, 16) and step.spec('text_mask').dtype == 'bool'
    assert step.profile_shapes('x_t') == ((1, 192, 5, 4, 4),) * 3
    assert c.graphs[io.DECODER].shapes()['video'] == (1, 3, 5, 32, 32)
    assert c.graphs[io.ENCODER].shapes()['frame'] == (1, 3, 1, 32, 32)
    assert shapes['observation_frame'] == (1, 3, 32, 32) and shapes['state'] == (1, 7)
    # the action branch reads the frame itself, not the first latent
    assert set(c.graphs[io.ACTION].input_names) == \
        set(step.input_names) - {'first_latent'} | {'v_video'}


def test_cfg_adds_the_uncond_text_and_guidance_and_no_observation_drops_the_mask():
    c = io.engine_contract(micro_config(observation_dim=0, codec='pca'), cfg=True,
                           dtype='bfloat16')
    step = c.graphs[io.STEP]
    assert step.input_names[-2:] == ('null_emb', 'guidance')
    assert 'text_mask' not in step.input_names
    assert step.spec('x_t').dtype == 'bfloat16'
    assert c.graphs[io.DECODER].spec('latents').dtype == 'float32'  # the codec stays fp32


def test_the_decoder_reads_the_first_frame_only_with_a_refiner():
    import dataclasses
    plain = micro_config(codec='pca')
    assert io.engine_contract(plain, cfg=False).graphs[io.DECODER].input_names == ('latents',)
    codec = dataclasses.replace(plain.video.codec, refiner_width=8)
    refined = dataclasses.replace(plain, video=dataclasses.replace(plain.video, codec=codec))
    decoder = io.engine_contract(refined.validate(), cfg=False).graphs[io.DECODER]
    assert decoder.input_names == ('latents', 'frame')
    assert decoder.shapes()['frame'] == (1, 3, 1, 32, 32)
    assert io.EngineContract.from_dict(io.engine_contract(refined, cfg=False).to_dict()) \
        == io.engine_contract(refined, cfg=False)


def test_round_trip_through_json_dicts():
    c = io.engine_contract(micro_config(), cfg=True)
    assert io.EngineContract.from_dict(c.to_dict()) == c


def test_refuses_other_modes_and_dtypes():
    import dataclasses
    cfg = micro_config()
    with pytest.raises(EngineError, match="mode 'video_only'.*joint"):
        io.engine_contract(dataclasses.replace(cfg, mode='video_only'), cfg=False)
    with pytest.raises(EngineError, match='dtype'):
        io.engine_contract(cfg, cfg=False, dtype='int8')


def test_check_feeds_names_the_bad_tensor():
    step = io.engine_contract(micro_config(), cfg=False).graphs[io.STEP]
    feeds = sample_inputs(step)
    step.check_feeds(feeds)
    step.check_feeds({k: v.numpy() for k, v in feeds.items()})  # numpy feeds as well
    with pytest.raises(EngineError, match=r"missing \['t'\]"):
        step.check_feeds({k: v for k, v in feeds.items() if k != 't'})
    with pytest.raises(EngineError, match=r"unexpected \['guidance'\]"):
        step.check_feeds({**feeds, 'guidance': torch.ones(1)})
    with pytest.raises(EngineError, match="'x_t' has shape"):
        step.check_feeds({**feeds, 'x_t': feeds['x_t'][:, :, :3]})
    with pytest.raises(EngineError, match="'a_t' has shape"):
        step.check_feeds({**feeds, 'a_t': torch.zeros(2, 5, 7)})  # batch outside the profile
    with pytest.raises(EngineError, match="'text_mask' has dtype float32, expected bool"):
        step.check_feeds({**feeds, 'text_mask': np.ones((1, 4), np.float32)})


def test_pca_codec_contract_has_16_channels():
    c = io.engine_contract(micro_config(codec='pca'), cfg=False)
    assert c.graphs[io.STEP].shapes()['x_t'] == (1, 16, 5, 4, 4)
    assert c.graphs[io.ENCODER].shapes()['first_latent'] == (1, 16, 1, 4, 4)
