"""Evaluation end to end on tiny random-weight checkpoints and a short, small world."""

import json

import numpy as np
import pytest
import torch
import train_helpers
import yaml

from vag_ros.cli import main
from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.checkpoint import save_checkpoint
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.vag import VagModel
from vag_ros.robot.description import load_robot_description
from vag_ros.sim.config import SimConfig
from vag_ros.eval.evaluate import evaluate, METHODS, METRICS
from vag_ros.model.inverse_dynamics import InverseDynamicsConfig, InverseDynamicsModel
from vag_ros.eval.scene_blind import SceneBlindBaseline

STEPS = 4  # frames per episode, model and world alike
SIM = {'width': 48, 'height': 48, 'episode_steps': STEPS}  # resized to the model's 32x32


def micro_config(mode, frames=STEPS):
    """32x32, 1 layer, text 'none', 2 sampling steps."""
    return train_helpers.micro_config(mode, frames, num_steps=2)


def make_checkpoints(root, frames=STEPS):
    """Joint checkpoint at root, baselines in root/baselines/; random weights."""
    norm = ActionNormalizer('minmax', torch.tensor([-1.0] * 6 + [0.0]),
                            torch.tensor([1.0] * 6 + [0.04]))
    torch.manual_seed(0)
    for mode, sub in (('joint', '.'), ('action_no_bridge', 'baselines/no_bridge')):
        cfg = micro_config(mode, frames)
        save_checkpoint(root / sub, VagModel(cfg), cfg, norm,
                        codec=train_helpers.fitted_codec(cfg), robot=load_robot_description())
    InverseDynamicsModel(InverseDynamicsConfig(height=32, width=32, channels=(8, 16), groups=4),
                         norm).save(root / 'baselines' / 'inverse_dynamics')
    names = tuple(load_robot_description().joint_names)
    offsets = {f: np.linspace(0, 0.1 * (k + 1), frames)[:, None] * np.ones((1, 7))
               for k, f in enumerate(('touch', 'push', 'pick'))}
    SceneBlindBaseline(offsets, names, {f: 1 for f in offsets}).save(
        root / 'baselines' / 'scene_blind')
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    return make_checkpoints(tmp_path_factory.mktemp('ckpt'))


@pytest.fixture(scope='module')
def sim_yaml(tmp_path_factory):
    path = tmp_path_factory.mktemp('sim') / 'sim.yaml'
    path.write_text(yaml.safe_dump(SIM))
    return path


@pytest.fixture(scope='module')
def cli_results(checkpoint, sim_yaml, tmp_path_factory):
    out = tmp_path_factory.mktemp('eval')
    code = main(['eval', '--checkpoint', str(checkpoint), '--episodes', '2', '--json',
                 str(out / 'results.json'), '--sim-config', str(sim_yaml), '--plots', '1',
                 '--quiet'])
    assert code == 0
    return out, json.loads((out / 'results.json').read_text())


def test_eval_cli_writes_json_report_and_plots(cli_results):
    out, results = cli_results
    assert set(results) >= {'methods', 'per_task', 'episodes', 'seeds', 'definitions',
                            'timings'}
    assert results['episodes'] == 2 and results['seeds'] == [100000, 100001]
    assert set(results['per_task']) == {'touch', 'push'}
    assert set(results['methods']) == set(METHODS) - {'teacher'}  # no --teacher given
    for name, values in results['methods'].items():
        assert set(values) >= set(METRICS)
        assert values['action_ed'] >= 0.0
        for key in ('action_sr', 'replay_success', 'wrong_target', 'counterfactual'):
            if name == 'two_stage_true_video' and key == 'counterfactual':
                assert values[key] is None   # no true video of the other block's episode
                continue
            assert 0.0 <= values[key] <= 1.0
            low, high = values[key + '_interval']
            assert 0.0 <= low <= values[key] <= high <= 1.0
            assert values[key + '_count'][1] == 2
        # every method starts from the measured state (anchored), to float precision
        assert values['start_error'] <= 1e-5, name
        assert len(values['first_step_error']) == len(values['last_step_error']) == 7
        if name in ('no_bridge', 'scene_blind', 'two_stage_true_video'):
            assert values['consistency_psnr'] is None and values['video_psnr'] is None
            assert values['video_ssim'] is None and values['arm_psnr'] is None
        else:
            assert 0.0 < values['video_psnr'] <= 100.0
            assert 0.0 < values['consistency_psnr'] <= 100.0
            assert -1.0 <= values['video_ssim'] <= 1.0
            assert 0.0 < values['arm_psnr'] <= 100.0 and -1.0 <= values['arm_ssim'] <= 1.0
            assert 0.0 < values['target_block_psnr'] <= 100.0
            assert values['arm_sharpness'] > 0.0 and values['video_sharpness'] > 0.0
    # two_stage reads the joint checkpoint's own video
    assert results['methods']['two_stage']['video_psnr'] == \
        results['methods']['vag']['video_psnr']
    assert results['timings']['per_episode_s'] > 0
    # every other episode is phrased with a held-out template, reported on its own
    assert [r['templates'] for r in results['per_episode']] == ['train', 'held_out']
    assert set(results['per_template_split']) == {'train', 'held_out'}
    # the held-out-template scene ran again with a training template: the paired figure
    train_record, held_record = results['per_episode']
    assert 'training_template_twin' not in train_record
    twin = held_record['training_template_twin']
    assert twin['instruction'] != held_record['instruction']
    pairs = results['template_pairs']
    assert pairs['episodes'] == 1
    assert pairs['held_out_template']['successes'] == \
        int(held_record['methods']['vag']['replay_success'])
    assert pairs['training_template']['successes'] == int(twin['replay_success'])
    for record in results['per_episode']:
        assert record['counterfactual_target'] != record['target']
        assert record['counterfactual_target'] in record['counterfactual_instruction'] or \
            record['counterfactual_instruction'] != record['instruction']
    report = (out / 'report.md').read_text()
    assert '| VAG (joint) |' in report and 'detached' in report
    assert '| scene-blind (task mean motion) |' in report and 'held-out templates' in report
    assert 'Per-joint error' in report and 'Paired on the same 1 scenes' in report
    assert results['plots'] == ['plots/actions_000_touch_seed100000.png']
    assert (out / results['plots'][0]).stat().st_size > 1000
    assert json.loads((out / 'eval.json').read_text())['seeds'] == results['seeds']
    refs = results['video_references']
    assert set(refs) == {'held_first_frame_psnr', 'held_first_frame_ssim', 'codec_psnr',
                         'held_first_frame_arm_psnr', 'codec_arm_psnr'}
    # the reader's ceiling reads the true frames: no video of its own, no counterfactual
    ceiling = results['per_episode'][0]['methods']['two_stage_true_video']
    assert ceiling['counterfactual'] is None and ceiling['video_psnr'] is None
    assert 'The video where it matters' in report and 'arm PSNR' in report
    assert "the reader's ceiling" in report and 'On the arm: held first frame' in report
    # each scene ran again in a held-out phrasing and with typos: paired, per task
    for record in results['per_episode']:
        said = record['phrasings']
        assert set(said) == {'phrasing', 'typos'}
        assert said['phrasing']['instruction'] != record['instruction']
        assert said['typos']['instruction'] != record['instruction']
    pairs = results['phrasing_pairs']
    assert set(pairs['typos']) == {'all', 'touch', 'push'}
    assert pairs['phrasing']['all']['episodes'] == 2
    assert pairs['phrasing']['all']['phrasing']['successes'] == sum(
        r['phrasings']['phrasing']['replay_success'] for r in results['per_episode'])
    assert pairs['typos']['touch']['templated']['successes'] == int(
        results['per_episode'][0]['methods']['vag']['replay_success'])
    assert 'Instructions as people say them' in report
    assert refs['held_first_frame_psnr'] == pytest.approx(np.mean(
        [r['video_references']['held_first_frame_psnr'] for r in results['per_episode']]))
    assert 'first frame held still' in report


def test_evaluate_is_deterministic(cli_results, checkpoint):
    _, results = cli_results
    again = evaluate(checkpoint, 1, tasks='touch', sim_config=SimConfig(**SIM),
                     progress=False)
    assert again['seeds'] == [100000]
    first = results['per_episode'][0]['methods']
    assert set(first) == set(again['per_episode'][0]['methods']) == set(METHODS) - {'teacher'}
    for name in first:
        for key, value in again['per_episode'][0]['methods'][name].items():
            assert value == first[name][key], (name, key)


def test_the_teacher_row_runs_the_same_scenes_at_its_own_steps(checkpoint):
    """A checkpoint against itself: same steps, same rows; fewer steps for VAG differ."""
    same = evaluate(checkpoint, 1, tasks='push', sim_config=SimConfig(**SIM), progress=False,
                    teacher_dir=checkpoint)
    rows = same['per_episode'][0]['methods']
    assert rows['teacher'] == rows['vag']
    fewer = evaluate(checkpoint, 1, tasks='push', sim_config=SimConfig(**SIM), progress=False,
                     teacher_dir=checkpoint, num_steps=1)
    assert (fewer['config']['vag_steps'], fewer['config']['teacher_steps']) == (1, 2)
    rows_fewer = fewer['per_episode'][0]['methods']
    assert rows_fewer['teacher'] == rows['teacher']
    assert rows_fewer['vag']['action_ed'] != rows['vag']['action_ed']


def test_missing_baselines_and_mismatched_lengths_fail_clearly(checkpoint, tmp_path, capsys):
    code = main(['eval', '--checkpoint', str(checkpoint), '--episodes', '1', '--json',
                 str(tmp_path / 'r.json'), '--no-bridge', str(tmp_path / 'nb'), '--quiet'])
    assert code == 2
    err = capsys.readouterr().err
    assert 'no-bridge baseline not found' in err and '--no-bridge DIR' in err
    lone = tmp_path / 'lone'
    save_checkpoint(lone, VagModel(micro_config('joint')), micro_config('joint'),
                    ActionNormalizer.identity(7), robot=load_robot_description(),
                    codec=train_helpers.fitted_codec(micro_config('joint')))
    with pytest.raises(CheckpointError, match='baselines/inverse_dynamics'):
        evaluate(lone, 1, no_bridge_dir=checkpoint / 'baselines' / 'no_bridge',
                 progress=False)
    with pytest.raises(CheckpointError, match='scene-blind baseline not found'):
        evaluate(lone, 1, no_bridge_dir=checkpoint / 'baselines' / 'no_bridge',
                 inverse_dynamics_dir=checkpoint / 'baselines' / 'inverse_dynamics',
                 progress=False)
    with pytest.raises(ConfigError, match='episode_steps=5'):
        evaluate(checkpoint, 1, sim_config=SimConfig(**dict(SIM, episode_steps=5)),
                 progress=False)


def test_two_stage_can_use_a_separate_video_only_checkpoint(checkpoint, tmp_path):
    cfg = micro_config('video_only')
    torch.manual_seed(1)
    save_checkpoint(tmp_path / 'vo', VagModel(cfg), cfg, ActionNormalizer.identity(7),
                    codec=train_helpers.fitted_codec(cfg, seed=1),
                    robot=load_robot_description())
    results = evaluate(checkpoint, 1, tasks='pick', video_only_dir=tmp_path / 'vo',
                       sim_config=SimConfig(**SIM), progress=False)
    assert results['config']['video_only'] == str(tmp_path / 'vo')
    assert 'video-only checkpoint' in results['config']['two_stage_video']
    methods = results['methods']
    assert methods['two_stage']['video_psnr'] != methods['vag']['video_psnr']
    with pytest.raises(CheckpointError, match="mode 'action_no_bridge'"):
        evaluate(checkpoint, 1, video_only_dir=checkpoint / 'baselines' / 'no_bridge',
                 sim_config=SimConfig(**SIM), progress=False)


def test_wrong_target_and_counterfactual_on_expert_plans():
    """The expert's own plan ends at its target; the plan for another block ends there."""
    import dataclasses

    from vag_ros.sim.world import World
    from vag_ros.eval.evaluate import _Targets
    world = World(SimConfig(**dict(SIM, episode_steps=40)))
    try:
        for family in ('touch', 'push', 'pick'):
            task = world.make_task(family, 7)
            targets = _Targets(world.robot, task)
            assert targets.nearest(world.expert_actions(task)) == task.target
            other = task.colours[1]
            plan = world.expert_actions(dataclasses.replace(task, target=other))
            assert targets.nearest(plan) == other
            assert targets.nearest(np.full((40, 7), np.nan)) is None
    finally:
        world.close()


def test_video_references_on_hand_made_clips():
    """A still clip is its own held first frame (capped PSNR); one that changes is not; a
    codec that rebuilds the frames exactly scores the cap."""
    from vag_ros.model.codecs import build_codec
    from vag_ros.model.config import CodecConfig
    from vag_ros.eval.evaluate import video_references
    still = np.full((4, 16, 16, 3), 90, np.uint8)
    codec = build_codec(CodecConfig(kind='pca', spatial_factor=4), 48)  # 4x4x3: lossless
    codec.fit([torch.rand(2, 3, 4, 16, 16) * 2 - 1])
    refs = video_references(codec, still)
    assert refs['held_first_frame_psnr'] == 100.0 and refs['held_first_frame_ssim'] > 0.99
    assert refs['codec_psnr'] > 45.0
    moving = still.copy()
    moving[2:, 4:12, 4:12] = 250  # a block appears half way
    changed = video_references(codec, moving)
    # half the frames differ by 160 on a quarter of the pixels: mse = 160^2 / 8
    assert changed['held_first_frame_psnr'] == pytest.approx(
        10 * np.log10(255 ** 2 / (160 ** 2 / 8)), abs=1e-6)


def test_template_pairs_count_each_way():
    from vag_ros.eval.evaluate import template_pairs

    def record(held, trained=None):
        r = {'methods': {'vag': {'replay_success': held}}}
        if trained is not None:
            r['training_template_twin'] = {'instruction': 'x', 'replay_success': trained}
        return r

    assert template_pairs([record(True)]) is None  # no twins: nothing to pair
    pairs = template_pairs([record(True, True), record(False, True), record(False, True),
                            record(True, False), record(False, False), record(True)])
    assert pairs['episodes'] == 5
    assert (pairs['held_out_template']['successes'], pairs['training_template']['successes']) \
        == (2, 3)
    assert pairs['difference'] == pytest.approx(0.2)
    assert pairs['only_training_template_succeeded'] == 2
    assert pairs['only_held_out_template_succeeded'] == 1


def test_a_replay_that_the_world_refuses_scores_as_a_noted_failure():
    """NaN joints: the world raises; the episode's row says failed, with the reason, and the
    eval goes on. The expert's plan still succeeds through the same path."""
    from vag_ros.sim.world import World
    from vag_ros.eval.evaluate import _Method, _replay_success, _score, _Targets
    from vag_ros.eval.regions import expert_regions
    world = World(SimConfig(**SIM))
    try:
        task = world.make_task('touch', 3)
        expert = world.run_expert(task)
        regions = expert_regions(world, task, expert.actions, SIM['height'], SIM['width'])
        bad = np.full_like(expert.actions, np.nan)  # (T, D)
        assert not _replay_success(world, task, bad)
        row, _ = _score(world, task, _Method(bad, None, 0.0), expert.frames, expert.actions,
                        expert.joints[0], _Targets(world.robot, task), None, regions)
        assert row['replay_success'] is False and row['replay_error']
        good, _ = _score(world, task, _Method(expert.actions, expert.frames, 0.0),
                         expert.frames, expert.actions, expert.joints[0],
                         _Targets(world.robot, task), None, regions)
        assert 'replay_error' not in good and good['consistency_psnr'] is not None
        assert good['arm_psnr'] == 100.0 and good['arm_sharpness'] == 1.0
        assert _replay_success(world, task, expert.actions) == good['replay_success']
    finally:
        world.close()
