"""generate(): uint8 frame + instruction -> uint8 video + joint actions, seeded."""

import numpy as np
import pytest
import torch

from vag_ros.model.checkpoint import save_checkpoint
from vag_ros.model.codecs import build_codec
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.pipeline import GenerationError, VagPipeline
from vag_ros.model.text import build_text_encoder


@pytest.fixture
def pipe(model, config):
    norm = ActionNormalizer('minmax', torch.full((7,), -2.0), torch.full((7,), 2.0))
    return VagPipeline(model, build_codec(config.video.codec), build_text_encoder(config.text),
                       norm)


def _frame(h=32, w=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_generate_shapes_units_timings_and_determinism(pipe, config):
    r1 = pipe.generate(_frame(), 'pick up the cube', seed=3, num_steps=2)
    r2 = pipe.generate(_frame(), 'pick up the cube', seed=3, num_steps=2)
    r3 = pipe.generate(_frame(), 'pick up the cube', seed=4, num_steps=2)
    assert r1.video.shape == (config.video.frames, 32, 32, 3) and r1.video.dtype == np.uint8
    assert r1.actions.shape == (config.action.horizon, 7) and r1.actions.dtype == np.float32
    assert set(r1.timings) >= {'text', 'encode', 'denoise', 'decode', 'total'}
    assert np.array_equal(r1.video, r2.video) and np.array_equal(r1.actions, r2.actions)
    assert not np.array_equal(r1.actions, r3.actions)
    # the first video frame is the given frame (the patch codec is exact up to rounding)
    assert np.abs(r1.video[0].astype(int) - _frame().astype(int)).max() <= 1
    assert r1.fps == config.video.fps and r1.seed == 3


def test_generate_resizes_or_rejects(pipe):
    r = pipe.generate(_frame(48, 40), 'open the drawer', seed=0, num_steps=1)
    assert r.video.shape[1:] == (32, 32, 3)
    pipe.resize = False
    with pytest.raises(GenerationError, match='resize'):
        pipe.generate(_frame(48, 40), 'open the drawer', seed=0, num_steps=1)


@pytest.mark.parametrize('frame, text, match', [
    (np.zeros((32, 32, 3), np.float32), 'x', 'uint8'),
    (np.zeros((32, 32), np.uint8), 'x', r'\(H, W, 3\)'),
    (np.zeros((32, 32, 4), np.uint8), 'x', r'\(H, W, 3\)'),
    ([[0]], 'x', 'numpy'),
    (np.zeros((32, 32, 3), np.uint8), '  ', 'instruction'),
])
def test_generate_rejects_bad_input(pipe, frame, text, match):
    with pytest.raises(GenerationError, match=match):
        pipe.generate(frame, text, seed=0, num_steps=1)
    assert issubclass(GenerationError, ValueError)


def test_from_checkpoint(tmp_path, model, config):
    save_checkpoint(tmp_path, model, config, ActionNormalizer.identity(7))
    pipe = VagPipeline.from_checkpoint(tmp_path)
    r = pipe.generate(_frame(), 'stack', seed=1, num_steps=1)
    assert r.video.shape[0] == config.video.frames


def test_tiny_preset_end_to_end_with_minilm():
    from vag_ros.model.config import load_model_config
    from vag_ros.model.vag import VagModel
    cfg = load_model_config('tiny')
    torch.manual_seed(0)
    pipe = VagPipeline.from_config(VagModel(cfg), ActionNormalizer.identity(cfg.action.dim))
    pipe.codec.fit([torch.rand(1, 3, 2, 64, 64) * 2 - 1])  # the pca codec, as training does
    r = pipe.generate(_frame(64, 64), 'put the red cube in the bowl', seed=0, num_steps=1)
    assert r.video.shape == (40, 64, 64, 3) and r.actions.shape == (40, 7)
    assert np.isfinite(r.actions).all()
