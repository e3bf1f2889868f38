"""generate(): uint8 frame + instruction -> uint8 video + joint actions, seeded."""

import numpy as np
import pytest
import torch

from vag_ros.model.action_space import StateError
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


STATE = np.array([0.1, -0.3, 1.9, 0.05, 1.4, -0.2, 0.02])  # (D,) joints [rad, m]


def test_generate_shapes_units_timings_and_determinism(pipe, config):
    r1 = pipe.generate(_frame(), 'pick up the cube', seed=3, num_steps=2, state=STATE)
    r2 = pipe.generate(_frame(), 'pick up the cube', seed=3, num_steps=2, state=STATE)
    r3 = pipe.generate(_frame(), 'pick up the cube', seed=4, num_steps=2, state=STATE)
    assert r1.video.shape == (config.video.frames, 32, 32, 3) and r1.video.dtype == np.uint8
    assert r1.actions.shape == (config.action.horizon, 7) and r1.actions.dtype == np.float32
    assert set(r1.timings) >= {'text', 'encode', 'denoise', 'decode', 'total'}
    assert np.array_equal(r1.video, r2.video) and np.array_equal(r1.actions, r2.actions)
    assert not np.array_equal(r1.actions, r3.actions)
    # the first video frame is the given frame (the patch codec is exact up to rounding)
    assert np.abs(r1.video[0].astype(int) - _frame().astype(int)).max() <= 1
    assert r1.fps == config.video.fps and r1.seed == 3


def test_generate_resizes_or_rejects(pipe):
    r = pipe.generate(_frame(48, 40), 'open the drawer', seed=0, num_steps=1, state=STATE)
    assert r.video.shape[1:] == (32, 32, 3)
    pipe.resize = False
    with pytest.raises(GenerationError, match='resize'):
        pipe.generate(_frame(48, 40), 'open the drawer', seed=0, num_steps=1, state=STATE)


@pytest.mark.parametrize('frame, text, match', [
    (np.zeros((32, 32, 3), np.float32), 'x', 'uint8'),
    (np.zeros((32, 32), np.uint8), 'x', r'\(H, W, 3\)'),
    (np.zeros((32, 32, 4), np.uint8), 'x', r'\(H, W, 3\)'),
    ([[0]], 'x', 'numpy'),
    (np.zeros((32, 32, 3), np.uint8), '  ', 'instruction'),
])
def test_generate_rejects_bad_input(pipe, frame, text, match):
    with pytest.raises(GenerationError, match=match):
        pipe.generate(frame, text, seed=0, num_steps=1, state=STATE)
    assert issubclass(GenerationError, ValueError)


@pytest.mark.parametrize('state, match', [
    (None, 'conditioned on the arm state'), (STATE[:6], 'expected 7 joint positions'),
    (np.full(7, np.nan), 'NaN'), ('abc', 'not numeric')])
def test_generate_refuses_a_missing_or_bad_state(pipe, state, match):
    with pytest.raises(StateError, match=match):
        pipe.generate(_frame(), 'x', seed=0, num_steps=1, state=state)


def test_state_conditioning_starts_the_trajectory_at_the_state(pipe, config):
    """The first point lands on the measured state (anchored), the state moves the whole
    trajectory, and the raw distance before anchoring is reported."""
    a = pipe.generate(_frame(), 'pick', seed=0, num_steps=2, state=STATE)
    moved = STATE + np.array([0.3, -0.2, 0.1, 0.0, 0.2, 0.4, 0.0])
    b = pipe.generate(_frame(), 'pick', seed=0, num_steps=2, state=moved)
    np.testing.assert_allclose(a.actions[0], STATE, atol=1e-6)
    np.testing.assert_allclose(b.actions[0], moved, atol=1e-6)
    assert np.abs(b.actions[-1] - a.actions[-1]).max() > 0.05  # relative to the state
    assert a.raw_start_error.shape == (7,) and np.all(a.raw_start_error >= 0)
    np.testing.assert_array_equal(a.state, STATE.astype(np.float32))
    # past the anchor's steps the trajectory is the model's own
    k = config.action.anchor_steps
    raw = a.actions[k:]
    assert np.isfinite(raw).all()


@pytest.mark.parametrize('text', ['\u200b', '\u200b\u200b \ufeff'])
def test_an_instruction_with_no_word_the_encoder_reads_is_refused(pipe, text):
    """Zero-width characters survive str.strip() but give the encoder an empty text."""
    from vag_ros.model.config import TextConfig
    pipe.text_encoder = build_text_encoder(TextConfig(kind='minilm'))  # one that tokenizes
    with pytest.raises(GenerationError, match='no word the text encoder reads'):
        pipe.check_instruction(text)
    pipe.check_instruction('touch')  # 3 tokens (the micro model reads 4)


@pytest.mark.parametrize('branch', ['video', 'action'])
def test_diverged_weights_are_refused_before_anything_is_published(pipe, branch):
    """A training run that diverged saves NaN weights: generate refuses (every backend goes
    through here) instead of casting NaN to pixels or handing NaN joints on."""
    module = pipe.model.video if branch == 'video' else pipe.model.action
    with torch.no_grad():
        next(p for name, p in module.named_parameters() if name.endswith('weight')).fill_(
            float('nan'))
    with pytest.raises(GenerationError, match='NaN or inf'):
        pipe.generate(_frame(), 'pick up the cube', seed=0, num_steps=2, state=STATE)


def test_from_checkpoint(tmp_path, model, config):
    save_checkpoint(tmp_path, model, config, ActionNormalizer.identity(7))
    pipe = VagPipeline.from_checkpoint(tmp_path)
    r = pipe.generate(_frame(), 'stack', seed=1, num_steps=1, state=STATE)
    assert r.video.shape[0] == config.video.frames


def test_tiny_preset_end_to_end_with_minilm():
    from vag_ros.model.config import load_model_config
    from vag_ros.model.vag import VagModel
    cfg = load_model_config('tiny')
    torch.manual_seed(0)
    pipe = VagPipeline.from_config(VagModel(cfg), ActionNormalizer.identity(cfg.action.dim))
    pipe.codec.fit([torch.rand(1, 3, 2, 64, 64) * 2 - 1])  # the pca codec, as training does
    r = pipe.generate(_frame(128, 128), 'put the red cube in the bowl', seed=0, num_steps=1,
                      state=STATE)
    assert r.video.shape == (40, 64, 64, 3) and r.actions.shape == (40, 7)
    assert np.isfinite(r.actions).all()
    # the model reads 32 tokens: a longer instruction is refused, never silently cut
    long = 'put the red cube in the bowl, ' + 'then wait a little, ' * 20 + 'then stop'
    with pytest.raises(GenerationError, match=r'instruction has \d+ tokens > text.max_length 32'):
        pipe.generate(_frame(128, 128), long, seed=0, num_steps=1, state=STATE)
    pipe.check_instruction('put the red cube in the bowl')


def test_a_frame_of_another_aspect_is_centre_cropped_not_squashed():
    from vag_ros.model.pipeline import frame_to_tensor
    wide = _frame(48, 64)                                   # 4:3
    square = np.ascontiguousarray(wide[:, 8:56])            # its centre 48 x 48
    np.testing.assert_array_equal(frame_to_tensor(wide, 32, 32, True).numpy(),
                                  frame_to_tensor(square, 32, 32, True).numpy())
    tall = _frame(64, 48)
    np.testing.assert_array_equal(frame_to_tensor(tall, 32, 32, True).numpy(),
                                  frame_to_tensor(tall[8:56], 32, 32, True).numpy())


@pytest.mark.parametrize('shape', [(1, 1), (15, 15), (100, 15)])
def test_a_frame_far_smaller_than_the_model_input_is_refused(pipe, shape):
    with pytest.raises(GenerationError, match='more than 2x smaller than the model input'):
        pipe.generate(_frame(*shape), 'open the drawer', seed=0, num_steps=1, state=STATE)
