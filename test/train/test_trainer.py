"""Trainer: checkpoints, loss log, exact resume, out-dir refusal, modes and the CLI."""

import dataclasses
import json
from pathlib import Path
import shutil

import pytest
import torch
from train_helpers import JOINTS, micro_config, write_bags
import yaml

from vag_ros import cli
from vag_ros.errors import CheckpointError, EpisodeError, VagError
from vag_ros.model.checkpoint import load_checkpoint, read_weights
from vag_ros.model.vag import VagModel
from vag_ros.train import trainer
from vag_ros.train.dataset import EpisodeDataset
from vag_ros.train.train_config import load_train_config, TrainConfig
from vag_ros.train.training_state import read_training_state


@pytest.fixture(scope='module')
def dataset(bag_dir):
    return EpisodeDataset(micro_config(), bag_dir)


def test_train_writes_a_loadable_ema_checkpoint_and_loss_log(tmp_path, bag_dir, dataset,
                                                             train_config):
    out = tmp_path / 'run'
    result = trainer.train(micro_config(), train_config, bag_dir, out, progress=False,
                           dataset=dataset)
    assert result.step == 3 and result.seconds_per_step > 0
    log = [json.loads(line) for line in (out / 'loss_log.jsonl').read_text().splitlines()]
    assert [r['step'] for r in log] == [1, 2, 3]
    assert set(log[0]) >= {'step', 'loss', 'video_loss', 'action_loss', 'lr', 'seconds'}
    assert all(r['video_loss'] > 0 and r['action_loss'] > 0 for r in log)
    ckpt = load_checkpoint(out)
    assert ckpt.extra['step'] == 3 and ckpt.config == micro_config()
    assert ckpt.normalizer.to_dict() == dataset.normalizer.to_dict()
    # the checkpoint holds the EMA weights, the training state the raw ones
    tensors, meta = read_training_state(out)
    assert meta['step'] == 3
    key = next(k for k in ckpt.model.state_dict() if k.endswith('weight'))
    assert torch.equal(ckpt.model.state_dict()[key], tensors['ema.' + key])
    assert any(not torch.equal(tensors['ema.' + k], tensors['model.' + k])
               for k in ckpt.model.state_dict())


class _Crash(Exception):
    pass


def test_resume_continues_exactly(tmp_path, bag_dir, dataset, monkeypatch):
    cfg = TrainConfig(steps=4, batch_size=2, lr=1e-3, warmup_steps=1, ema_decay=0.9,
                      log_every=1, save_every=2, seed=3)
    full = tmp_path / 'full'
    trainer.train(micro_config(), cfg, bag_dir, full, progress=False, dataset=dataset)

    part = tmp_path / 'part'
    save = trainer._save

    def crash_after_first_save(*args):
        save(*args)
        with open(part / 'loss_log.jsonl', 'a') as log:  # logged, then lost by the crash
            log.write('{"step": 3, "loss": 1.0}\n{"step": 4, "lo')
        raise _Crash

    monkeypatch.setattr(trainer, '_save', crash_after_first_save)
    with pytest.raises(_Crash):
        trainer.train(micro_config(), cfg, bag_dir, part, progress=False, dataset=dataset)
    monkeypatch.setattr(trainer, '_save', save)
    assert read_training_state(part)[1]['step'] == 2
    result = trainer.train(micro_config(), cfg, bag_dir, part, resume=True, progress=False,
                           dataset=dataset)
    assert result.step == 4
    a, _ = read_weights(full)
    b, _ = read_weights(part)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    sa, sb = read_training_state(full)[0], read_training_state(part)[0]
    for k in sa:
        if k.startswith(('model.', 'optim.')):
            torch.testing.assert_close(sa[k], sb[k], rtol=1e-5, atol=1e-6, msg=k)
    steps = [json.loads(x)['step'] for x in (part / 'loss_log.jsonl').read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_refuses_non_empty_out_dir_and_bad_resume(tmp_path, bag_dir, dataset, train_config):
    out = tmp_path / 'busy'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    with pytest.raises(trainer.TrainError, match='not empty'):
        trainer.train(micro_config(), train_config, bag_dir, out, progress=False,
                      dataset=dataset)
    with pytest.raises(trainer.TrainError, match='nothing|no training_state'):
        trainer.train(micro_config(), train_config, bag_dir, out, resume=True,
                      progress=False, dataset=dataset)
    assert sorted(p.name for p in out.iterdir()) == ['notes.txt']
    # a finished run: plain rerun is refused; resume with another mode is refused
    done = tmp_path / 'done'
    one = dataclasses.replace(train_config, steps=1)
    trainer.train(micro_config(), one, bag_dir, done, progress=False, dataset=dataset)
    with pytest.raises(trainer.TrainError, match='--resume'):
        trainer.train(micro_config(), one, bag_dir, done, progress=False, dataset=dataset)
    with pytest.raises(CheckpointError, match='mode'):
        trainer.train(micro_config(), one, bag_dir, done, mode='video_only', resume=True,
                      progress=False, dataset=dataset)
    # a run saved before a model config field existed resumes (the field takes its default)
    state = done / 'training_state' / 'state.json'
    meta = json.loads(state.read_text())
    del meta['model_config']['loss']['motion_weight']
    state.write_text(json.dumps(meta))
    from vag_ros.checksums import write_checksums
    write_checksums(state.parent, ['state.json'])
    two = dataclasses.replace(train_config, steps=2)
    trainer.train(micro_config(), two, bag_dir, done, resume=True, progress=False,
                  dataset=dataset)
    assert json.loads(state.read_text())['step'] == 2


@pytest.mark.parametrize('mode', ['video_only', 'action_no_bridge'])
def test_modes_train_and_load(tmp_path, bag_dir, dataset, train_config, mode):
    one = dataclasses.replace(train_config, steps=1)
    out = tmp_path / mode
    trainer.train(micro_config(), one, bag_dir, out, mode=mode, progress=False,
                  dataset=dataset)
    ckpt = load_checkpoint(out)
    assert ckpt.config.mode == mode
    log = json.loads((out / 'loss_log.jsonl').read_text())
    if mode == 'video_only':
        assert log['action_loss'] == 0 and log['video_loss'] > 0
    else:
        assert log['video_loss'] == 0 and log['action_loss'] > 0


def test_action_no_bridge_fast_path():
    from micro_model import micro_observation
    cfg = micro_config('action_no_bridge')
    torch.manual_seed(0)
    model = VagModel(cfg).eval()
    c, t, h, w = cfg.video.latent_shape
    lat = torch.randn(2, c, t, h, w)
    emb, mask = torch.randn(2, 4, 16), torch.ones(2, 4, dtype=torch.bool)
    obs = micro_observation(cfg, emb, mask)
    assert model.video is None  # no DiT to run, and none stored in its checkpoint
    out = model.training_loss(lat, emb, mask, torch.rand(2, t, 7) * 2 - 1,
                              torch.Generator().manual_seed(0), obs.frame, obs.state)
    assert out['video_loss'] == 0 and out['action_loss'] > 0


def test_init_and_freeze_video_train_the_action_branch_only(tmp_path, bag_dir, dataset,
                                                            train_config):
    first = tmp_path / 'stage1'
    one = dataclasses.replace(train_config, steps=1)
    trainer.train(micro_config(), one, bag_dir, first, progress=False, dataset=dataset)
    frozen = dataclasses.replace(train_config, steps=2, freeze_video=True)
    second = tmp_path / 'stage2'
    trainer.train(micro_config(), frozen, bag_dir, second, progress=False, init=first)
    a, b = load_checkpoint(first), load_checkpoint(second)
    assert a.normalizer.to_dict() == b.normalizer.to_dict()
    assert torch.equal(read_weights(first)[0]['codec.mean'], read_weights(second)[0]['codec.mean'])
    video_a, video_b = a.model.video.state_dict(), b.model.video.state_dict()
    assert all(torch.equal(video_a[k], video_b[k]) for k in video_a)
    action_a, action_b = a.model.action.state_dict(), b.model.action.state_dict()
    assert any(not torch.equal(action_a[k], action_b[k]) for k in action_a)
    # another model config, or freezing a model without a video branch, is refused
    with pytest.raises(trainer.TrainError, match='model config differs'):
        trainer.train(micro_config('action_no_bridge'), one, bag_dir, tmp_path / 'x',
                      progress=False, init=first)
    # ... but another training objective (loss) from the same weights is a fine-tune
    cfg = micro_config()
    weighted = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, motion_weight=1.0))
    trainer.train(weighted, one, bag_dir, tmp_path / 'weighted', progress=False, init=first)
    assert load_checkpoint(tmp_path / 'weighted').config.loss.motion_weight == 1.0
    from vag_ros.errors import ConfigError
    with pytest.raises(ConfigError, match='freeze_video'):
        trainer.train(micro_config(), frozen, bag_dir, tmp_path / 'y', progress=False,
                      mode='action_no_bridge', dataset=dataset)
    # init_video: the video branch and codec only; the action branch starts afresh
    third = tmp_path / 'stage2_fresh'
    trainer.train(micro_config(), frozen, bag_dir, third, progress=False, init_video=first)
    c = load_checkpoint(third)
    assert all(torch.equal(video_a[k], c.model.video.state_dict()[k]) for k in video_a)
    fresh = VagModel(micro_config()).action.state_dict()  # seed 0, as the trainer starts
    assert any(not torch.equal(action_a[k], c.model.action.state_dict()[k]) for k in action_a)
    assert set(fresh) == set(c.model.action.state_dict())
    with pytest.raises(ConfigError, match='not both'):
        trainer.train(micro_config(), frozen, bag_dir, tmp_path / 'z', progress=False,
                      init=first, init_video=first)


def test_observation_warmup_trains_the_encoder_alone_first(tmp_path, bag_dir, dataset,
                                                           train_config):
    import dataclasses as dc
    config = micro_config('action_no_bridge')
    config = dc.replace(config, action=dc.replace(config.action, waypoint_weight=1.0))
    warm = dc.replace(train_config, steps=2, observation_warmup_steps=2,
                      observation_lr_scale=3.0, ema_decay=0.0)
    trainer.train(config, warm, bag_dir, tmp_path / 'w', progress=False)
    torch.manual_seed(warm.seed)
    start = VagModel(config)  # the trainer's initial weights
    done = load_checkpoint(tmp_path / 'w').model
    assert all(torch.equal(a, b) for a, b in zip(start.action.parameters(),
                                                 done.action.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(start.observation.parameters(),
                                                     done.observation.parameters()))
    assert not torch.equal(start.waypoints.weight, done.waypoints.weight)
    groups = read_training_state(tmp_path / 'w')[1]['param_groups']
    assert sorted(g['lr_scale'] for g in groups) == [1.0, 3.0]


@pytest.mark.parametrize('plan_dim', [0, 7])
def test_freezing_a_video_that_reads_the_observation_freezes_the_encoder(
        tmp_path, bag_dir, dataset, train_config, plan_dim):
    """video.observation_token: stage 1 trains the encoder with the video; stage 2
    (freeze_video, --init) keeps both as they are, so the video's input does not drift;
    with video.plan_dim the waypoint head, whose plan the video reads, stays too."""
    from vag_ros.errors import ConfigError
    base = micro_config()
    config = dataclasses.replace(base, video=dataclasses.replace(
        base.video, observation_token=True, plan_dim=plan_dim)).validate()
    first = tmp_path / 'stage1'
    warm = dataclasses.replace(train_config, steps=2, observation_warmup_steps=1)
    trainer.train(config, warm, bag_dir, first, progress=False, dataset=dataset)
    frozen = dataclasses.replace(train_config, steps=2, freeze_video=True)
    second = tmp_path / 'stage2'
    trainer.train(config, frozen, bag_dir, second, progress=False, init=first)
    a, b = load_checkpoint(first).model, load_checkpoint(second).model
    for part in ('video', 'observation', *(('waypoints',) if plan_dim else ())):
        before, after = getattr(a, part).state_dict(), getattr(b, part).state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), part
    if not plan_dim:  # without the plan the head trains on (the encoder is frozen)
        assert not torch.equal(a.waypoints.weight, b.waypoints.weight)
    pairs = zip(a.action.parameters(), b.action.parameters())
    assert any(not torch.equal(x, y) for x, y in pairs)
    with pytest.raises(ConfigError, match='observation_warmup_steps'):
        trainer.train(config, dataclasses.replace(frozen, observation_warmup_steps=1),
                      bag_dir, tmp_path / 'x', progress=False, init=first)
    with pytest.raises(ConfigError, match='--init-video'):
        trainer.train(config, frozen, bag_dir, tmp_path / 'y', progress=False,
                      init_video=first)


def test_learning_rate_schedule_and_batches():
    cfg = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert trainer.learning_rate(0, cfg) == pytest.approx(0.1)
    assert trainer.learning_rate(9, cfg) == pytest.approx(1.0)
    assert trainer.learning_rate(100, cfg) == pytest.approx(0.1)
    # one epoch visits every episode once
    idx = torch.cat([trainer.batch_indices(s, 6, 2, 0) for s in range(3)])
    assert sorted(idx.tolist()) == list(range(6))


def test_default_train_config_loads():
    cfg = load_train_config()
    assert cfg.steps >= 1 and cfg.batch_size == 8


def test_cli_train_and_refusal(tmp_path, bag_dir, capsys):
    model_yaml = tmp_path / 'micro.yaml'
    model_yaml.write_text(yaml.safe_dump(micro_config().to_dict()))
    train_yaml = tmp_path / 'train.yaml'
    train_yaml.write_text(yaml.safe_dump({'steps': 5, 'batch_size': 2, 'warmup_steps': 0,
                                          'log_every': 1, 'save_every': 1}))
    out = tmp_path / 'out'
    args = ['train', '--config', str(model_yaml), '--data', str(bag_dir), '--out', str(out),
            '--train-config', str(train_yaml), '--steps', '1', '--quiet']
    assert cli.main(args) == 0
    assert load_checkpoint(out).extra['step'] == 1
    assert 'trained to step 1' in capsys.readouterr().out
    assert cli.main(args) == 2
    assert 'not empty' in capsys.readouterr().err
    assert cli.main(args[:-3] + ['--steps', '2', '--resume', '--quiet']) == 0
    assert load_checkpoint(out).extra['step'] == 2
    assert cli.main(['train', '--data', str(tmp_path / 'none'), '--out',
                     str(tmp_path / 'o2'), '--quiet']) == 2


def test_cli_seed_overrides_the_train_config(tmp_path, bag_dir):
    """--seed picks the initial weights (stage 0 of the token recipe runs two seeds)."""
    from safetensors.torch import load_file
    model_yaml = tmp_path / 'micro.yaml'
    model_yaml.write_text(yaml.safe_dump(micro_config().to_dict()))
    train_yaml = tmp_path / 'train.yaml'
    train_yaml.write_text(yaml.safe_dump({'steps': 1, 'batch_size': 2, 'warmup_steps': 0,
                                          'seed': 3}))
    weights = {}
    for name, seed in (('a', []), ('b', ['--seed', '3']), ('c', ['--seed', '4'])):
        assert cli.main(['train', '--config', str(model_yaml), '--data', str(bag_dir),
                         '--out', str(tmp_path / name), '--train-config', str(train_yaml),
                         '--quiet', *seed]) == 0
        weights[name] = load_file(str(tmp_path / name / 'model.safetensors'))
    key = next(k for k in weights['a'] if k.startswith('video.'))
    assert torch.equal(weights['a'][key], weights['b'][key])
    assert not torch.equal(weights['a'][key], weights['c'][key])


def test_a_run_killed_in_its_first_save_says_how_to_start_again(
        tmp_path, bag_dir, dataset, train_config):
    out = tmp_path / 'killed'
    one = dataclasses.replace(train_config, steps=1)
    trainer.train(micro_config(), one, bag_dir, out, progress=False, dataset=dataset)
    shutil.rmtree(out / 'training_state')  # as if killed before the state was swapped in
    for resume in (False, True):
        with pytest.raises(trainer.TrainError, match=r'never finished its first save.*rm -r'):
            trainer.train(micro_config(), one, bag_dir, out, resume=resume, progress=False,
                          dataset=dataset)


def test_a_crash_between_the_state_renames_resumes_from_the_newest_complete_state(
        tmp_path, bag_dir, dataset, train_config):
    from fault_helpers import flip_bits
    from vag_ros.train import training_state as ts
    out = tmp_path / 'run'
    trainer.train(micro_config(), dataclasses.replace(train_config, steps=1, save_every=1),
                  bag_dir, out, progress=False, dataset=dataset)
    shutil.copytree(out / 'training_state', tmp_path / 'step1')  # complete, step 1
    trainer.train(micro_config(), dataclasses.replace(train_config, steps=2, save_every=1),
                  bag_dir, out, resume=True, progress=False, dataset=dataset)
    # the crash between the renames of the next save: .old and the new .tmp, no final
    (out / 'training_state').rename(out / 'training_state.tmp')
    previous = shutil.copytree(tmp_path / 'step1', out / 'training_state.old')
    assert ts.state_dir(out) == out / 'training_state.tmp'        # the newest complete
    assert ts.read_training_state(out)[1]['step'] == 2
    flip_bits(out / 'training_state.tmp' / ts.TENSORS)           # a torn new state ...
    assert ts.state_dir(out) == previous                          # ... falls back to .old
    assert ts.read_training_state(out)[1]['step'] == 1
    (previous / 'SHA256SUMS').unlink()                            # nothing complete left
    assert not ts.has_state(out)


def test_a_bit_flipped_training_state_is_refused(tmp_path, bag_dir, dataset, train_config):
    from fault_helpers import flip_bits
    from vag_ros.train import training_state as ts
    out = tmp_path / 'run'
    trainer.train(micro_config(), dataclasses.replace(train_config, steps=1), bag_dir, out,
                  progress=False, dataset=dataset)
    flip_bits(out / 'training_state' / ts.TENSORS)
    with pytest.raises(CheckpointError, match='training state.*corrupt or truncated'):
        trainer.train(micro_config(), dataclasses.replace(train_config, steps=2), bag_dir,
                      out, resume=True, progress=False, dataset=dataset)


def test_train_from_the_latent_cache_then_resume_from_it(tmp_path, bag_dir, train_config):
    """The cache path trains exactly like the in-memory one (same windows, codec, batches),
    and a resumed run accepts the cache its first run built."""
    cache, out, memory = tmp_path / 'cache', tmp_path / 'run', tmp_path / 'memory'
    one = dataclasses.replace(train_config, steps=1, save_every=1)
    trainer.train(micro_config(), one, bag_dir, out, progress=False, cache_dir=cache)
    trainer.train(micro_config(), one, bag_dir, memory, progress=False)
    assert (cache / 'manifest.json').is_file()
    a, _ = read_weights(out)
    b, _ = read_weights(memory)
    assert a.keys() == b.keys()
    for key in a:  # the cache encodes per episode, memory in batches of 8: float rounding
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    two = dataclasses.replace(train_config, steps=2, save_every=1)
    result = trainer.train(micro_config(), two, bag_dir, out, resume=True, progress=False,
                           cache_dir=cache)
    assert result.step == 2


@pytest.mark.parametrize('change, message', [
    (dict(frame_rate=30.0), 'recorded at 30 Hz, the model config has video.fps=10'),
    (dict(robot='ur5'), "robot 'ur5'"),
    (dict(joint_names=tuple(reversed(JOINTS))), 'one model, one robot and joint order'),
])
def test_bags_of_another_setup_are_refused(tmp_path, train_config, change, message, capsys):
    """One bag of another rate, robot or joint order among the others: refused in one line
    before training (its action columns or timing would mean something else)."""
    from vag_ros.episodes.bag_writer import write_episode
    from train_helpers import make_episode
    bags = write_bags(tmp_path / 'bags', count=2)
    odd = make_episode(7)
    # (without a URDF: the one it carries would not be of that robot or joint order)
    odd_meta = dataclasses.replace(odd.metadata, robot_urdf='', **change)
    write_episode(dataclasses.replace(odd, metadata=odd_meta), bags, name='ep_odd')
    for cache in (None, tmp_path / 'cache'):
        with pytest.raises(EpisodeError, match=message):
            trainer.train(micro_config(), train_config, bags, tmp_path / f'out{cache is None}',
                          progress=False, cache_dir=cache)


def test_a_corrupt_latent_cache_shard_is_refused(tmp_path, bag_dir, train_config):
    """Bytes changed in a shard (same size) fail its SHA256SUMS record; a truncated shard is
    a one-line error, not a traceback."""
    cache = tmp_path / 'cache'
    one = dataclasses.replace(train_config, steps=1, save_every=1)
    trainer.train(micro_config(), one, bag_dir, tmp_path / 'a', progress=False, cache_dir=cache)
    shard = sorted(cache.glob('shard_*.safetensors'))[0]
    data = bytearray(shard.read_bytes())
    data[-64:] = bytes(64)
    shard.write_bytes(bytes(data))
    with pytest.raises(VagError, match='shard'):
        trainer.train(micro_config(), one, bag_dir, tmp_path / 'b', progress=False,
                      cache_dir=cache)


def test_a_checkpoint_that_cannot_be_written_is_a_one_line_error(tmp_path, bag_dir):
    """A file-size limit (as a full disk) while saving: `vag-ros train` says so in one line
    and how to go on, no traceback."""
    import resource
    import subprocess
    import sys
    model_yaml = tmp_path / 'micro.yaml'
    model_yaml.write_text(yaml.safe_dump(micro_config().to_dict()))
    limit = 20_000  # bytes: the loss log fits, the weights do not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    result = subprocess.run(
        [sys.executable, '-m', 'vag_ros.cli', 'train', '--config', str(model_yaml), '--data',
         str(bag_dir), '--out', str(tmp_path / 'out'), '--steps', '1', '--quiet'],
        capture_output=True, text=True, timeout=300, preexec_fn=small_files)
    assert result.returncode == 2, result.stderr
    assert 'cannot write the checkpoint of step 1' in result.stderr
    assert 'Traceback' not in result.stderr


LAB_URDF = Path(__file__).resolve().parents[1] / 'data' / 'lab_arm.urdf'


def _lab_bags(folder, urdf: bool = True, count: int = 2):
    """Episodes of a robot the package has never seen (6 joints, its own names)."""
    from vag_ros.episodes.bag_writer import write_episode
    from vag_ros.robot.description import load_robot_description
    from train_helpers import make_episode
    lab = load_robot_description(LAB_URDF)
    for k in range(count):
        ep = make_episode(k)
        meta = dataclasses.replace(ep.metadata, robot=lab.name, joint_names=lab.joint_names,
                                   robot_urdf=lab.urdf if urdf else '')
        write_episode(dataclasses.replace(ep, joints=ep.joints[:, :6], actions=ep.actions[:, :6],
                                          metadata=meta), folder, name=f'lab_{k}')
    return folder


def test_a_lab_robot_travels_into_the_checkpoint(tmp_path, train_config):
    """Episodes of another arm: the checkpoint records that arm (its URDF), the model's
    action.dim follows its joint count, and the package arm is never applied."""
    from vag_ros.model.checkpoint import checkpoint_robot, load_checkpoint
    bags = _lab_bags(tmp_path / 'bags')
    one = dataclasses.replace(train_config, steps=1)
    trainer.train(micro_config(), one, bags, tmp_path / 'out', progress=False)
    robot = checkpoint_robot(tmp_path / 'out')
    assert robot.name == 'lab_arm' and robot.urdf == LAB_URDF.read_text()
    assert load_checkpoint(tmp_path / 'out').config.action.dim == 6
    with pytest.raises(VagError, match="robot 'vag_arm'.*robot 'lab_arm'"):
        trainer.train(micro_config(), one, bags, tmp_path / 'other', progress=False,
                      urdf='config/robot/vag_arm.urdf')


def test_episodes_without_urdf_need_one_unless_they_are_the_package_arm(tmp_path,
                                                                        train_config):
    bags = _lab_bags(tmp_path / 'bags', urdf=False)
    one = dataclasses.replace(train_config, steps=1)
    with pytest.raises(EpisodeError, match="robot 'lab_arm'.*carry no URDF.*--urdf"):
        trainer.train(micro_config(), one, bags, tmp_path / 'a', progress=False)
    trainer.train(micro_config(), one, bags, tmp_path / 'b', progress=False, urdf=LAB_URDF)
    from vag_ros.model.checkpoint import checkpoint_robot
    assert checkpoint_robot(tmp_path / 'b').name == 'lab_arm'
