"""The two-stage baseline's inverse-dynamics CNN: trains, round-trips, refuses corruption."""

import json

import numpy as np
import pytest

from vag_ros.checksums import write_checksums
from vag_ros.cli import main
from vag_ros.episodes.bag_writer import write_episode
from vag_ros.episodes.episode import Episode, EpisodeMetadata
from vag_ros.errors import CheckpointError, EpisodeError
from vag_ros.model.inverse_dynamics import CONFIG, InverseDynamicsConfig, InverseDynamicsModel, \
    WEIGHTS
from vag_ros.train.inverse_dynamics import train_inverse_dynamics

NAMES = tuple(f'j{i}' for i in range(7))
SMALL = InverseDynamicsConfig(channels=(8, 16), groups=4)


def _bag(out, seed, steps=4, size=24):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (steps, size, size, 3), dtype=np.uint8)
    joints = rng.normal(size=(steps, 7))
    meta = EpisodeMetadata(task='touch', seed=seed, success=True, robot='arm',
                           joint_names=NAMES, frame_rate=10.0, source='expert',
                           instruction='touch it')
    return write_episode(Episode(frames, joints, joints.copy(), meta), out,
                         name=f'touch_seed{seed:06d}')


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    out = tmp_path_factory.mktemp('bags')
    _bag(out, 0)
    _bag(out, 1)
    return out


def test_trains_round_trips_and_predicts_joint_units(bags, tmp_path):
    summary = train_inverse_dynamics(bags, tmp_path / 'id', steps=3, height=16, width=16,
                                     batch_size=4, config=SMALL, progress=False)
    assert summary.frames == 8 and summary.episodes == 2 and summary.steps == 3
    assert np.isfinite(summary.final_loss) and 'saved to' in summary.describe()
    assert (tmp_path / 'id' / WEIGHTS).is_file()
    config = json.loads((tmp_path / 'id' / CONFIG).read_text())
    assert config['height'] == 16 and config['joint_names'] == list(NAMES)
    model = InverseDynamicsModel.load(tmp_path / 'id')
    frames = np.random.default_rng(5).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    pred = model.predict(frames)  # resized from 24x24 to 16x16 inside
    assert pred.shape == (3, 7) and np.all(np.isfinite(pred))
    again = InverseDynamicsModel.load(tmp_path / 'id').predict(frames)
    np.testing.assert_array_equal(pred, again)
    assert model.normalizer.kind == 'minmax'


def test_refuses_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match='not found'):
        InverseDynamicsModel.load(tmp_path / 'nothing')
    from vag_ros.model.normalization import ActionNormalizer
    good = InverseDynamicsModel(SMALL, ActionNormalizer.identity(7))
    path = good.save(tmp_path / 'ck')
    data = (path / WEIGHTS).read_bytes()
    (path / WEIGHTS).write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        InverseDynamicsModel.load(path)
    good.save(path)
    (path / CONFIG).write_text('{"height": 16, "channels": [8, 32], "groups": 4}')
    with pytest.raises(CheckpointError, match=r'config\) is corrupt or truncated: sha256'):
        InverseDynamicsModel.load(path)
    write_checksums(path, [CONFIG])  # as if edited on purpose, record renewed
    with pytest.raises(CheckpointError, match='does not match its config'):
        InverseDynamicsModel.load(path)
    (path / CONFIG).write_text('{not json')
    write_checksums(path, [CONFIG])
    with pytest.raises(CheckpointError, match='not valid JSON'):
        InverseDynamicsModel.load(path)
    (path / CONFIG).unlink()
    with pytest.raises(CheckpointError, match='config missing'):
        InverseDynamicsModel.load(path)


def test_cli_trains_and_refuses_an_empty_folder(bags, tmp_path, capsys):
    assert main(['train-inverse-dynamics', '--data', str(bags), '--out', str(tmp_path / 'o'),
                 '--steps', '1', '--height', '16', '--width', '16', '--batch-size', '2',
                 '--quiet']) == 0
    assert 'inverse dynamics: 1 steps on 8 frames of 2 episodes' in capsys.readouterr().out
    (tmp_path / 'empty').mkdir()
    assert main(['train-inverse-dynamics', '--data', str(tmp_path / 'empty'), '--out',
                 str(tmp_path / 'o2'), '--quiet']) == 2
    assert 'no episode bags' in capsys.readouterr().err
    with pytest.raises(EpisodeError):
        train_inverse_dynamics(tmp_path / 'missing', tmp_path / 'o3', progress=False)
