"""pack-demo: three checkpoints in one folder, float16 weights, same predictions."""

import json

import numpy as np
import pytest
import torch
from train_helpers import fitted_codec, micro_config

from vag_ros.cli import main
from vag_ros.errors import CheckpointError
from vag_ros.model.checkpoint import load_checkpoint, save_checkpoint
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.vag import VagModel
from vag_ros.robot.description import load_robot_description
from vag_ros.train.demo_checkpoint import pack_demo_checkpoint
from vag_ros.model.inverse_dynamics import InverseDynamicsConfig, InverseDynamicsModel


@pytest.fixture
def trained(tmp_path):
    torch.manual_seed(0)
    normalizer = ActionNormalizer('minmax', torch.linspace(-1.1, 0.3, 7),
                                  torch.linspace(0.5, 2.7, 7))
    dirs = {}
    for name, mode in (('vag', 'joint'), ('no_bridge', 'action_no_bridge')):
        config = micro_config(mode)
        dirs[name] = save_checkpoint(tmp_path / name, VagModel(config), config, normalizer,
                                     codec=fitted_codec(config),
                                     robot=load_robot_description())
    ident = InverseDynamicsModel(InverseDynamicsConfig(channels=(8, 16), groups=4), normalizer)
    dirs['inverse_dynamics'] = ident.save(tmp_path / 'inverse_dynamics')
    return dirs


def test_pack_halves_weights_keeps_stats_and_loads_back(trained, tmp_path):
    out = pack_demo_checkpoint(trained['vag'], trained['no_bridge'],
                               trained['inverse_dynamics'], tmp_path / 'demo')
    before, after = load_checkpoint(trained['vag']), load_checkpoint(out)
    assert torch.equal(after.normalizer.a, before.normalizer.a)  # stats stay float32
    assert before.codec_tensors and all(  # so do the fitted codec's tensors
        torch.equal(after.codec_tensors[k], v) for k, v in before.codec_tensors.items())
    for (name, p), (_, q) in zip(before.model.state_dict().items(),
                                 after.model.state_dict().items()):
        assert q.dtype == torch.float32, name
        torch.testing.assert_close(q, p, atol=2e-3, rtol=1e-3)
    no_bridge = load_checkpoint(out / 'baselines' / 'no_bridge')
    assert no_bridge.config.mode == 'action_no_bridge'
    frames = np.random.default_rng(0).integers(0, 255, (3, 48, 48, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        InverseDynamicsModel.load(out / 'baselines' / 'inverse_dynamics').predict(frames),
        InverseDynamicsModel.load(trained['inverse_dynamics']).predict(frames), atol=2e-2)
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['dtype'] == 'float16' and set(manifest['parts']) == {
        '.', 'baselines/no_bridge', 'baselines/inverse_dynamics'}
    size = sum(p.stat().st_size for p in out.rglob('*.safetensors'))
    full = sum(p.stat().st_size for d in trained.values() for p in d.glob('*.safetensors'))
    assert size < 0.6 * full


def test_pack_refuses_overwrite_and_missing_weights(trained, tmp_path, capsys):
    (tmp_path / 'taken').mkdir()
    (tmp_path / 'taken' / 'x').write_text('x')
    with pytest.raises(CheckpointError, match='refusing to overwrite'):
        pack_demo_checkpoint(trained['vag'], trained['no_bridge'],
                             trained['inverse_dynamics'], tmp_path / 'taken')
    (tmp_path / 'empty').mkdir()
    assert main(['pack-demo', '--vag', str(tmp_path / 'empty'), '--no-bridge',
                 str(trained['no_bridge']), '--inverse-dynamics',
                 str(trained['inverse_dynamics']), '--out', str(tmp_path / 'o')]) == 2
    assert 'no *.safetensors' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists() and not (tmp_path / '.o.partial').exists()
