"""``vag-ros generate``: a PNG and an instruction in, a bag + GIF + action plot out."""

import micro_model
import numpy as np
from PIL import Image
import pytest
import torch

from vag_ros.cli import main
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.model.checkpoint import save_checkpoint
from vag_ros.model.config import CodecConfig
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.vag import VagModel
from vag_ros.robot.description import load_robot_description
from vag_ros.media import load_image, MediaError

STATE = '0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02'  # the world's home pose, rad (gripper m)

FRAMES = 4


def _save_checkpoint(path, seed=0):
    """A random-weight micro joint checkpoint: 4 frames of 32x32, 2 sampling steps."""
    cfg = micro_model.micro_config(frames=FRAMES, num_steps=2, expanded_dim=132,
                                   observation_dim=16,
                                   codec=CodecConfig(kind='patch', spatial_factor=8))
    torch.manual_seed(seed)
    save_checkpoint(path, VagModel(cfg), cfg, ActionNormalizer.identity(7),
                    robot=load_robot_description())
    return path


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return _save_checkpoint(tmp_path_factory.mktemp('ckpt'))


@pytest.fixture(scope='module')
def engine(checkpoint, tmp_path_factory):
    """float32 ONNX engine of ``checkpoint`` (vag-ros export), its instruction cached."""
    from vag_ros.engines.export import export_engine
    out = tmp_path_factory.mktemp('engines') / 'micro'
    export_engine(checkpoint, out, instructions=['pick up the red block'], log=lambda m: None)
    return out


def _png(path, mode='RGB', size=(40, 48), alpha=255):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    if mode == 'L':
        image = image.convert('L')
    elif mode == 'RGBA':
        image.putalpha(alpha)
    image.save(path)
    return path


def test_generate_writes_a_readable_bag_gif_and_plot(checkpoint, tmp_path, capsys):
    image = _png(tmp_path / 'first.png')
    out = tmp_path / 'out'
    assert main(['generate', '--checkpoint', str(checkpoint), '--image', str(image),
                 '--instruction', 'pick up the red block', '--out', str(out),
                 '--seed', '3', '--state', STATE]) == 0
    printed = capsys.readouterr().out
    assert 'bag:' in printed and 'timings:' in printed and 'mp4:' in printed
    episode = read_episode(out / 'generated_seed000003')
    meta = episode.metadata
    robot = load_robot_description()
    assert meta.source == 'generated' and meta.task == 'generated' and meta.seed == 3
    assert meta.success is False and meta.instruction == 'pick up the red block'
    assert meta.joint_names == robot.joint_names and meta.robot == robot.name
    assert meta.frame_rate == 10.0
    assert episode.frames.shape == (FRAMES, 32, 32, 3)
    assert episode.actions.shape == (FRAMES, 7)
    np.testing.assert_array_equal(episode.joints, episode.actions)
    with Image.open(out / 'generated_seed000003.gif') as gif:
        assert gif.n_frames == FRAMES and gif.size == (32, 32)
    assert (out / 'generated_seed000003_actions.png').stat().st_size > 1000
    # the same name again is refused, not overwritten
    assert main(['generate', '--checkpoint', str(checkpoint), '--image', str(image),
                 '--instruction', 'x', '--out', str(out), '--seed', '3']) == 2
    assert 'refusing to overwrite' in capsys.readouterr().err


@pytest.mark.parametrize('setup, message', [
    (lambda p: p / 'missing.png', 'image not found'),
    (lambda p: (p / 'text.png').write_text('not a picture') and p / 'text.png',
     'is not an image'),
    (lambda p: _png(p / 'clear.png', 'RGBA', alpha=10), 'transparent pixels'),
])
def test_bad_images_exit_2_with_a_message(checkpoint, tmp_path, capsys, setup, message):
    image = setup(tmp_path)
    assert main(['generate', '--checkpoint', str(checkpoint), '--image', str(image),
                 '--instruction', 'touch it', '--out', str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('vag-ros generate: error:') and message in err
    assert not (tmp_path / 'o').exists()


def test_load_image_turns_a_phone_photo_upright_and_refuses_a_bomb(tmp_path):
    """A JPEG stored landscape with EXIF Orientation 6 is shown portrait by every viewer: it
    reaches the model upright. A decompression bomb is a one-line error, not a traceback."""
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to view
    Image.new('RGB', (64, 32), (200, 10, 10)).save(tmp_path / 'phone.jpg', exif=exif)
    assert load_image(tmp_path / 'phone.jpg').shape == (64, 32, 3)  # (H, W, 3) upright
    bomb = tmp_path / 'bomb.png'
    Image.new('1', (20000, 20000)).save(bomb)  # 400 MP: PIL's bomb limit is 179 MP
    with pytest.raises(MediaError, match='bomb'):
        load_image(bomb)


def test_load_image_converts_grayscale_and_opaque_rgba(tmp_path):
    gray = load_image(_png(tmp_path / 'g.png', 'L'))
    assert gray.shape == (48, 40, 3) and gray.dtype == np.uint8
    assert np.array_equal(gray[..., 0], gray[..., 2])
    rgba = load_image(_png(tmp_path / 'a.png', 'RGBA', alpha=255))
    assert rgba.shape == (48, 40, 3)
    with pytest.raises(MediaError, match='not a file'):
        load_image(tmp_path)


def _generate(checkpoint, image, out, *extra):
    return main(['generate', '--checkpoint', str(checkpoint), '--image', str(image),
                 '--instruction', 'pick up the red block', '--out', str(out), '--seed', '5',
                 '--state', STATE, *extra])


def test_onnxruntime_engine_writes_what_torch_writes(checkpoint, engine, tmp_path, capsys):
    image = _png(tmp_path / 'first.png')
    assert _generate(checkpoint, image, tmp_path / 'torch') == 0
    assert 'backend: torch (cpu)' in capsys.readouterr().out
    assert _generate(checkpoint, image, tmp_path / 'ort', '--backend', 'onnxruntime',
                     '--engine', str(engine)) == 0
    printed = capsys.readouterr().out
    assert 'backend: onnxruntime' in printed and 'bag:' in printed and 'mp4:' in printed
    name = 'generated_seed000005'
    want = read_episode(tmp_path / 'torch' / name)
    got = read_episode(tmp_path / 'ort' / name)
    assert got.metadata.source == 'generated' and got.metadata.seed == 5
    assert got.metadata.joint_names == want.metadata.joint_names
    assert got.frames.shape == want.frames.shape == (FRAMES, 32, 32, 3)
    assert got.actions.shape == want.actions.shape == (FRAMES, 7)
    np.testing.assert_allclose(got.actions, want.actions, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(got.joints, got.actions)
    diff = np.abs(got.frames.astype(np.int16) - want.frames.astype(np.int16))
    assert diff.max() <= 1
    for suffix in ('.gif', '_actions.png'):
        assert sorted(p.name for p in (tmp_path / 'ort').glob(f'*{suffix}')) == \
            sorted(p.name for p in (tmp_path / 'torch').glob(f'*{suffix}')) == \
            [name + suffix]
    with Image.open(tmp_path / 'ort' / f'{name}.gif') as gif:
        assert gif.n_frames == FRAMES and gif.size == (32, 32)


@pytest.mark.parametrize('extra, message', [
    (['--backend', 'onnxruntime'], 'backend onnxruntime runs an engine folder: set --engine'),
    (['--backend', 'tensorrt'], 'backend tensorrt runs an engine folder: set --engine'),
    (['--engine', 'engines/x'], '--engine is for backend onnxruntime or tensorrt'),
])
def test_engine_arguments_are_checked_first(checkpoint, tmp_path, capsys, extra, message):
    assert _generate(checkpoint, tmp_path / 'missing.png', tmp_path / 'o', *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith('vag-ros generate: error:') and message in err
    assert not (tmp_path / 'o').exists()


def test_engine_of_another_checkpoint_is_refused(engine, tmp_path, capsys):
    other = _save_checkpoint(tmp_path / 'other', seed=1)
    image = _png(tmp_path / 'first.png')
    assert _generate(other, image, tmp_path / 'o', '--backend', 'onnxruntime',
                     '--engine', str(engine)) == 2
    err = capsys.readouterr().err
    assert f'engine {engine} was exported from checkpoint' in err
    assert f're-export it: vag-ros export --checkpoint {other} --out {engine} --force' in err
    assert not (tmp_path / 'o').exists()


def test_state_is_required_checked_and_can_come_from_an_episode(checkpoint, tmp_path, capsys):
    image = _png(tmp_path / 'first.png')
    base = ['generate', '--checkpoint', str(checkpoint), '--instruction', 'touch it']
    assert main([*base, '--image', str(image), '--out', str(tmp_path / 'a')]) == 2
    assert '--state' in capsys.readouterr().err
    assert main([*base, '--image', str(image), '--out', str(tmp_path / 'b'),
                 '--state', '0, 1, x']) == 2
    assert 'expected numbers' in capsys.readouterr().err
    assert main([*base, '--image', str(image), '--out', str(tmp_path / 'c'),
                 '--state', '0, 1']) == 2
    assert 'expected 7 joint positions' in capsys.readouterr().err
    # degrees typed for radians, a gripper opening in cm: outside the URDF's limits
    assert main([*base, '--image', str(image), '--out', str(tmp_path / 'c'),
                 '--state', '0, -17, 115, 0, 82, 0, 2']) == 2
    err = capsys.readouterr().err
    assert 'outside the joint limits' in err and 'joint2=-17' in err
    assert not any((tmp_path / d).exists() for d in 'abc')
    # an episode bag gives both the first frame and the measured joints
    assert main([*base, '--image', str(image), '--out', str(tmp_path / 'd'),
                 '--state', STATE, '--seed', '1']) == 0
    bag = tmp_path / 'd' / 'generated_seed000001'
    assert main([*base, '--episode', str(bag), '--out', str(tmp_path / 'e')]) == 0
    generated = read_episode(tmp_path / 'e' / 'generated_seed000000')
    first = read_episode(bag).joints[0]
    np.testing.assert_allclose(generated.metadata.extra['state'], first)
    np.testing.assert_allclose(generated.actions[0], first, atol=1e-5)


@pytest.fixture
def no_model(monkeypatch):
    """Loading any model fails loudly: what a test proves is refused before it."""
    from vag_ros.model.pipeline import VagPipeline

    def boom(*args, **kwargs):
        raise AssertionError('a model was loaded before the arguments were checked')
    monkeypatch.setattr(VagPipeline, 'from_checkpoint', boom)


@pytest.mark.parametrize('case, message', [
    ('out_is_a_file', 'exists and is not a folder'),
    ('out_under_a_file', 'is not a folder'),
    ('name_escapes', "--name '../escape'"),
    ('name_hidden', "--name '.hidden'"),
])
def test_output_arguments_are_refused_before_any_model_runs(checkpoint, tmp_path, capsys,
                                                            no_model, case, message):
    image = _png(tmp_path / 'first.png')
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    out, extra = {'out_is_a_file': (blocker, []),
                  'out_under_a_file': (blocker / 'sub', []),
                  'name_escapes': (tmp_path / 'o', ['--name', '../escape']),
                  'name_hidden': (tmp_path / 'o', ['--name', '.hidden'])}[case]
    assert main(['generate', '--checkpoint', str(checkpoint), '--image', str(image),
                 '--state', STATE, '--instruction', 'touch it', '--out', str(out),
                 *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'escape').exists() and not (tmp_path / 'o').exists()


def test_a_checkpoint_whose_horizon_differs_from_its_video_is_refused_before_loading():
    import dataclasses
    from vag_ros.commands.generate import check_checkpoint_fits
    from vag_ros.errors import VagError
    config = micro_model.micro_config(frames=FRAMES)
    robot = load_robot_description()
    check_checkpoint_fits(config, 'ck', robot, np.zeros(7))
    longer = dataclasses.replace(config, action=dataclasses.replace(config.action, horizon=8))
    with pytest.raises(VagError, match='video.frames=4 but action.horizon=8'):
        check_checkpoint_fits(longer, 'ck', robot, np.zeros(7))


@pytest.mark.parametrize('argv, message', [
    (['--device', 'cuda'], 'no CUDA device on this machine'),
    (['--device', 'tpu:0'], 'not a torch device'),
    (['--steps', '100000000'], 'more than the 10,000 allowed'),
    (['--seed', str(2 ** 64)], 'expected a seed <= 18446744073709551615'),
])
def test_impossible_devices_and_counts_are_argument_errors(checkpoint, tmp_path, capsys,
                                                           argv, message):
    if 'cuda' in argv and torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    with pytest.raises(SystemExit) as exit_info:
        main(['generate', '--checkpoint', str(checkpoint), '--instruction', 'x', '--out',
              str(tmp_path), *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
