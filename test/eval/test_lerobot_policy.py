"""lerobot policies in the embedded world: found, refused, trained by lerobot-train on a
vag_ros data set and scored by vag-ros eval-policy. The parts that need lerobot run where
the lerobot extra is installed (make lerobot; .venv-lerobot/bin/python -m pytest ...)."""

import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from vag_ros.cli import main
from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.eval.lerobot_policy import check_features, LerobotPolicy, lerobot_policy_folder
from vag_ros.eval.policy_eval import evaluate_policy

ROOT = Path(__file__).resolve().parents[2]
HAS_LEROBOT = importlib.util.find_spec('lerobot') is not None
needs_lerobot = pytest.mark.skipif(not HAS_LEROBOT, reason='the lerobot extra is not '
                                   'installed here (make lerobot, then run this file with '
                                   '.venv-lerobot/bin/python -m pytest)')


def fake_policy_folder(folder: Path) -> Path:
    """The files lerobot-train leaves in a pretrained_model folder (contents not valid)."""
    folder.mkdir(parents=True)
    (folder / 'config.json').write_text(json.dumps({'type': 'act'}))
    (folder / 'model.safetensors').write_bytes(b'')
    return folder


def test_a_lerobot_policy_is_found_in_each_folder_a_user_names(tmp_path):
    out = tmp_path / 'act'                     # lerobot-train --output_dir
    pretrained = fake_policy_folder(out / 'checkpoints' / '000020' / 'pretrained_model')
    (out / 'checkpoints' / 'last').symlink_to('000020')
    assert lerobot_policy_folder(out) == out / 'checkpoints' / 'last' / 'pretrained_model'
    assert lerobot_policy_folder(pretrained.parent) == pretrained
    assert lerobot_policy_folder(pretrained) == pretrained
    assert lerobot_policy_folder(ROOT / 'checkpoints' / 'tiny_demo') is None
    assert lerobot_policy_folder(tmp_path / 'missing') is None
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad' / 'config.json').write_text('{not json')
    (tmp_path / 'bad' / 'model.safetensors').write_bytes(b'')
    assert lerobot_policy_folder(tmp_path / 'bad') is None


def test_open_loop_and_execute_are_refused_before_anything_loads(tmp_path):
    folder = fake_policy_folder(tmp_path / 'pretrained_model')
    with pytest.raises(ConfigError, match='closed loop only'):
        evaluate_policy(folder, 3, loop='open', progress=False)
    with pytest.raises(ConfigError, match='--execute is for vag_ros'):
        evaluate_policy(folder, 3, execute=4, progress=False)
    with pytest.raises(CheckpointError, match='not a lerobot policy'):
        LerobotPolicy(tmp_path / 'missing')


def test_a_policy_that_reads_what_the_world_cannot_give_is_refused():
    ours = {'observation.images.camera': None, 'observation.state': None}
    check_features('p', ours, {'action': None})
    with pytest.raises(ConfigError, match='export-lerobot'):   # a synthesize data set's
        check_features('p', dict(ours, **{'observation.images.generated': None}),
                       {'action': None})
    with pytest.raises(ConfigError, match='a vag_ros data set gives'):
        check_features('p', {'observation.state': None}, {'action': None})
    with pytest.raises(ConfigError, match='a vag_ros data set gives'):
        check_features('p', ours, {})


@pytest.mark.skipif(HAS_LEROBOT, reason='lerobot is installed here')
def test_without_lerobot_the_message_names_the_extra(tmp_path, capsys):
    folder = fake_policy_folder(tmp_path / 'pretrained_model')
    assert main(['eval-policy', '--checkpoint', str(folder), '--episodes', '3',
                 '--json', str(tmp_path / 'r.json'), '--quiet']) != 0
    err = capsys.readouterr().err
    assert 'lerobot is not installed' in err and 'make lerobot' in err
    assert not (tmp_path / 'r.json').exists()


@pytest.fixture(scope='module')
def act_policy(tmp_path_factory):
    """ACT trained for 2 steps by lerobot-train on a tiny synthesized set: 2 scenes that
    vag-ros synthesize generated and replayed, exported by vag-ros export-lerobot."""
    tmp = tmp_path_factory.mktemp('lerobot')
    assert main(['synthesize', '--checkpoint', str(ROOT / 'checkpoints' / 'tiny_demo'),
                 '--scenes', '2', '--out', str(tmp / 'synth'), '--quiet']) == 0
    assert main(['export-lerobot', '--episodes', str(tmp / 'synth' / 'bags'), '--out',
                 str(tmp / 'data')]) == 0
    out = tmp / 'act'
    subprocess.run([str(Path(sys.executable).parent / 'lerobot-train'),
                    '--dataset.repo_id=local/test', f'--dataset.root={tmp / "data"}',
                    '--dataset.video_backend=pyav', '--policy.type=act',
                    '--policy.device=cpu', '--policy.push_to_hub=false',
                    '--policy.pretrained_backbone_weights=null', '--policy.chunk_size=8',
                    '--policy.n_action_steps=4', '--policy.dim_model=64',
                    '--policy.dim_feedforward=128', f'--output_dir={out}', '--steps=2',
                    '--batch_size=2', '--save_freq=2', '--num_workers=0',
                    '--wandb.enable=false'],
                   check=True, capture_output=True, env=dict(os.environ, HF_HUB_OFFLINE='1'))
    return out


@needs_lerobot
def test_lerobot_trains_act_on_our_data_and_eval_policy_scores_it(
        act_policy, tmp_path, capsys):
    result = tmp_path / 'act.json'
    assert main(['eval-policy', '--checkpoint', str(act_policy), '--episodes', '3',
                 '--json', str(result), '--quiet']) == 0
    record = json.loads(result.read_text())
    assert record['loop'].startswith('lerobot act policy, closed loop')
    assert '4 actions per predicted chunk' in record['loop']
    assert record['episodes'] == 3 and record['replay_success']['n'] == 3
    assert [e['task'] for e in record['per_episode']] == ['touch', 'push', 'pick']
    assert 'lerobot act policy' in capsys.readouterr().out


@needs_lerobot
def test_a_lerobot_policy_is_refused_on_another_camera_or_arm(act_policy, tmp_path):
    from vag_ros.sim.config import SimConfig
    from vag_ros.sim.world import World
    policy = LerobotPolicy(act_policy)
    assert policy.joint_names and len(policy.joint_names) == policy.dof
    world = World(SimConfig(width=64, height=64))
    try:
        with pytest.raises(ConfigError, match='images but the world renders'):
            policy.check_world(world)
        policy.joint_names = ['a'] * policy.dof
        with pytest.raises(ConfigError, match="world's arm has"):
            policy.check_world(world)
    finally:
        world.close()
