"""vag-ros synthesize / export-lerobot / merge-datasets with the committed checkpoint, the
real world, real bags and torchrun: the acceptance of data synthesis."""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest

from child_signals import default_signals  # noqa: I100
from vag_ros.checksums import write_checksums
from vag_ros.cli import main
from vag_ros.datasets.lerobot_reader import read_dataset
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.errors import VagError
from vag_ros.synth import keep_rules
from vag_ros.eval.metrics import psnr

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / 'checkpoints' / 'tiny_demo'
BIN = Path(sys.executable).parent
KEEP_REPLAYED = 'tracking_error_max<=10'  # every replayed episode: a filter that keeps all
SCENES = '4'


def synthesize(out: Path, *extra, torchrun: int = 0, check: bool = True):
    """Run vag-ros synthesize in its own process (one thread, as torchrun's ranks)."""
    command = [str(BIN / 'vag-ros'), 'synthesize', '--checkpoint', str(CHECKPOINT),
               '--out', str(out), '--quiet', *extra]
    if torchrun:
        command = [str(BIN / 'torchrun'), '--nproc-per-node', str(torchrun), '--no-python',
                   *command]
    env = dict(os.environ, OMP_NUM_THREADS='1', SVT_LOG='1')
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp('synth') / 'single'
    synthesize(out, '--scenes', SCENES, '--keep', KEEP_REPLAYED)
    return out


def scores(out: Path):
    return json.loads((out / 'scores.json').read_text())['episodes']


def test_synthesize_writes_bags_scores_and_a_data_set(single):
    rows = scores(single)
    assert [r['scene'] for r in rows] == [0, 1, 2, 3]
    assert [r['task'] for r in rows] == ['touch', 'push', 'pick', 'touch']
    for row in rows:
        assert row['kept'] is True
        assert isinstance(row['valid'], bool) and isinstance(row['replay_success'], bool)
        assert row['valid'] == (row['validation_error'] is None)
        assert 5 < row['consistency_psnr'] < 60
        assert 0 <= row['tracking_error_mean'] <= row['tracking_error_max']
        executed = read_episode(single / row['bag'])
        generated = read_episode(single / row['generated_bag'])
        assert executed.metadata.source == 'replayed' and generated.metadata.source == \
            'generated'
        assert executed.metadata.success == row['replay_success']
        # the generated joints are what was replayed
        np.testing.assert_array_equal(executed.actions, generated.actions)
    csv_lines = (single / 'scores.csv').read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith('scene,name,task,seed')

    data = read_dataset(single / 'lerobot')
    assert len(data.episodes) == 4 and data.info['fps'] == 10
    assert sorted(data.video_keys) == ['observation.images.camera',
                                       'observation.images.generated']
    for row, episode in zip(rows, data.episodes):
        executed = read_episode(single / row['bag'])
        generated = read_episode(single / row['generated_bag'])
        assert episode.task == row['instruction'] == executed.metadata.instruction
        np.testing.assert_array_equal(episode.state, executed.joints.astype(np.float32))
        np.testing.assert_array_equal(episode.action, executed.actions.astype(np.float32))
        assert psnr(episode.videos['observation.images.camera'], executed.frames) > 30
        assert psnr(episode.videos['observation.images.generated'], generated.frames) > 28
        meta = episode.metadata
        assert (meta['scene'], meta['seed'], meta['name']) == (row['scene'], row['seed'],
                                                               row['name'])
        for key in ('valid', 'replay_success', 'consistency_psnr', 'tracking_error_max'):
            assert meta[key] == pytest.approx(row[key])


def test_a_keep_rule_never_lets_in_what_the_safety_file_refuses(tmp_path):
    """--keep adds to valid, it does not replace it: with a safety file that allows at most
    3x slow-down, the trajectories that need more stay out whatever the rule says, unless
    --keep-invalid; the data set says per episode the slow-down the arm would need, and the
    run prints their spread."""
    import yaml
    safety = yaml.safe_load((ROOT / 'config' / 'safety.yaml').read_text())
    safety['max_slowdown'] = 3.0  # the tiny model's trajectories need about 2.4x to 3.5x
    (tmp_path / 'safety.yaml').write_text(yaml.safe_dump(safety))
    out = tmp_path / 'strict'
    args = ['--scenes', '6', '--keep', KEEP_REPLAYED, '--safety-file',
            str(tmp_path / 'safety.yaml')]
    result = synthesize(out, *args)
    rows = scores(out)
    valid = [r for r in rows if r['valid']]
    assert 0 < len(valid) < len(rows), [r['time_scale'] for r in rows]
    assert all('> max_slowdown 3.0' in r['validation_error'] for r in rows if not r['valid'])
    assert [r['kept'] for r in rows] == [r['valid'] for r in rows]
    assert f'kept {len(valid)} by valid, tracking_error_max<=10' in result.stdout, \
        result.stdout
    data = read_dataset(out / 'lerobot', decode_videos=False)
    assert [e.metadata['scene'] for e in data.episodes] == [r['scene'] for r in valid]
    scales = [r['time_scale'] for r in valid]
    assert [e.metadata['time_scale'] for e in data.episodes] == pytest.approx(scales)
    assert all(1.0 <= s <= 3.0 for s in scales)
    assert (f'min {min(scales):.2f}, median {np.median(scales):.2f}, max {max(scales):.2f}'
            in result.stdout), result.stdout
    summary = json.loads((out / 'synthesis_summary.json').read_text())['time_scale']
    assert summary == {'min': pytest.approx(min(scales)), 'median': pytest.approx(
        np.median(scales)), 'max': pytest.approx(max(scales)), 'unknown': 0}
    # asked for by name: every replayed episode, the refused ones without a time scale
    result = synthesize(out, *args, '--keep-invalid')
    assert 'kept 6 by tracking_error_max<=10' in result.stdout and '--keep-invalid' in \
        result.stdout and f'({len(rows) - len(valid)} invalid, none)' in result.stdout, \
        result.stdout
    data = read_dataset(out / 'lerobot', decode_videos=False)
    assert [e.metadata['time_scale'] for e in data.episodes] == [
        pytest.approx(r['time_scale']) if r['valid'] else None for r in rows]


def test_keep_rules_select_and_a_rerun_resumes(single, tmp_path):
    out = tmp_path / 'resume'
    shutil.copytree(single, out)
    before = read_dataset(out / 'lerobot')
    result = synthesize(out, '--scenes', SCENES)  # default rules: valid, replay_success
    assert '0 new, 4 already done' in result.stdout
    rows = scores(out)
    expected = [r['valid'] and r['replay_success'] for r in rows]
    assert [r['kept'] for r in rows] == expected
    after = read_dataset(out / 'lerobot')
    assert [e.metadata['scene'] for e in after.episodes] == \
        [r['scene'] for r in rows if r['kept']]
    kept_before = [e for e in before.episodes if e.metadata['scene'] in
                   {r['scene'] for r in rows if r['kept']}]
    for a, b in zip(kept_before, after.episodes):
        np.testing.assert_array_equal(a.action, b.action)
    # one more scene: only it runs
    result = synthesize(out, '--scenes', '5', '--keep', KEEP_REPLAYED)
    assert '1 new, 4 already done' in result.stdout
    assert len(read_dataset(out / 'lerobot', decode_videos=False).episodes) == 5


def test_format_v21_writes_the_same_episodes_in_openpis_layout(single, tmp_path):
    from vag_ros.datasets import lerobot_v21_reader
    out = tmp_path / 'v21'
    shutil.copytree(single, out)
    result = synthesize(out, '--scenes', SCENES, '--keep', KEEP_REPLAYED, '--format', 'v2.1')
    assert '0 new, 4 already done' in result.stdout   # only the data set is written again
    v21 = lerobot_v21_reader.read_dataset(out / 'lerobot')
    v3 = read_dataset(single / 'lerobot')
    assert v21.info['codebase_version'] == 'v2.1' and v21.video_keys == v3.video_keys
    assert v21.norm_stats is not None
    for a, b in zip(v3.episodes, v21.episodes, strict=True):
        assert (a.task, a.metadata) == (b.task, b.metadata)
        np.testing.assert_array_equal(a.state, b.state)
        np.testing.assert_array_equal(a.action, b.action)
        for key, frames in a.videos.items():
            np.testing.assert_array_equal(frames, b.videos[key])  # the same encoder, frames


def test_a_torn_run_is_redone_and_other_settings_are_refused(single, tmp_path):
    out = tmp_path / 'torn'
    shutil.copytree(single, out)
    lines = (out / 'scores.jsonl').read_text().splitlines()
    (out / 'scores.jsonl').write_text('\n'.join(lines[:3]) + '\n' + lines[3][:40])
    result = synthesize(out, '--scenes', SCENES, '--keep', KEEP_REPLAYED)
    assert '1 new, 3 already done' in result.stdout and 'torn last line' in result.stdout
    assert 'removing' in result.stdout  # the redone scene's old bags

    result = synthesize(out, '--scenes', SCENES, '--steps', '5', check=False)
    assert result.returncode == 2 and 'another steps' in result.stderr
    other = tmp_path / 'other_checkpoint'
    shutil.copytree(CHECKPOINT, other)
    with open(other / 'config.yaml', 'a') as f:
        f.write('# a retrained model\n')
    write_checksums(other, ['config.yaml'])
    command = ['--checkpoint', str(other)]
    result = subprocess.run([str(BIN / 'vag-ros'), 'synthesize', *command, '--out', str(out),
                             '--scenes', SCENES], capture_output=True, text=True)
    assert result.returncode == 2 and 'another checkpoint_sha256' in result.stderr


def test_torchrun_shards_merge_into_the_single_process_data_set(single, tmp_path):
    out = tmp_path / 'ranks'
    synthesize(out, '--scenes', SCENES, '--keep', KEEP_REPLAYED, torchrun=2)
    shards = [out / 'shard-000-of-002', out / 'shard-001-of-002']
    assert [[r['scene'] for r in scores(s)] for s in shards] == [[0, 2], [1, 3]]
    assert main(['merge-datasets', *(str(s / 'lerobot') for s in shards),
                 '--out', str(out / 'lerobot')]) == 0
    merged = read_dataset(out / 'lerobot')
    reference = read_dataset(single / 'lerobot')
    assert len(merged.episodes) == len(reference.episodes) == 4
    for a, b in zip(reference.episodes, merged.episodes):
        assert a.task == b.task
        assert {k: v for k, v in a.metadata.items() if k != 'episode_id'} == \
            {k: v for k, v in b.metadata.items() if k != 'episode_id'}
        np.testing.assert_array_equal(a.state, b.state)
        np.testing.assert_array_equal(a.action, b.action)
        for key in a.videos:
            np.testing.assert_array_equal(a.videos[key], b.videos[key])


def test_first_frames_of_a_lab(tmp_path):
    from PIL import Image
    from vag_ros.sim.world import World
    world = World()
    entries = []
    try:
        for k, (family, seed) in enumerate([('touch', 300001), ('pick', 300002)]):
            task = world.make_task(family, seed)
            world.reset(task)
            Image.fromarray(world.render()).save(tmp_path / f'frame{k}.png')
            entries.append({'image': f'frame{k}.png', 'instruction': task.instruction,
                            'state': [float(v) for v in world.joints()], 'seed': seed})
    finally:
        world.close()
    too_long = dict(entries[0], instruction=' '.join(['touch the red block'] * 60), seed=9)
    (tmp_path / 'long.json').write_text(json.dumps(entries + [too_long]))
    # an entry the model cannot take is refused by entry before anything runs or is written
    result = synthesize(tmp_path / 'long', '--first-frames', str(tmp_path / 'long.json'),
                        check=False)
    assert result.returncode == 2 and 'entry 2' in result.stderr and 'tokens' in result.stderr
    assert not (tmp_path / 'long').exists()
    (tmp_path / 'scenes.json').write_text(json.dumps(entries))
    out = tmp_path / 'lab'
    synthesize(out, '--first-frames', str(tmp_path),  # the folder: its scenes.json
               '--keep', 'raw_start_error_max<=10')
    rows = scores(out)
    assert [r['seed'] for r in rows] == [300001, 300002]
    assert all(r['replay_success'] is None and r['generated_bag'] is None for r in rows)
    data = read_dataset(out / 'lerobot')
    assert data.video_keys == ['observation.images.camera']
    assert [e.task for e in data.episodes] == [e['instruction'] for e in entries]
    np.testing.assert_allclose(data.episodes[0].state[0], entries[0]['state'], atol=1e-6)
    (tmp_path / 'bad.yaml').write_text(json.dumps([{'image': 'frame0.png', 'state': [0, 1],
                                                    'instruction': 'x'}]))  # a list file
    result = synthesize(tmp_path / 'bad', '--first-frames', str(tmp_path / 'bad.yaml'),
                        check=False)
    assert result.returncode == 2 and 'state has 2 values, expected 7 joint positions' in \
        result.stderr, result.stderr
    # checked before any scene runs: an instruction left empty (YAML null), an image that
    # is not one, a seed beyond the sampler's range
    (tmp_path / 'notes.png').write_text('not a picture')
    for k, (change, message) in enumerate([
            ({'instruction': None}, 'instruction must be non-empty text'),
            ({'image': 'notes.png'}, 'is not an image'),
            ({'seed': 2 ** 64}, 'seed must be an integer in')]):
        listing = tmp_path / f'bad{k}.yaml'
        listing.write_text(json.dumps([entries[0], dict(entries[1], **change)]))
        result = synthesize(tmp_path / f'bad{k}', '--first-frames', str(listing), check=False)
        assert result.returncode == 2 and 'entry 1: ' in result.stderr, result.stderr
        assert message in result.stderr, result.stderr
        assert not list((tmp_path / f'bad{k}').rglob('*.mcap')), 'a scene ran before the check'


def test_export_lerobot_of_expert_bags(tmp_path):
    assert main(['sim-record', '--episodes', '2', '--out', str(tmp_path / 'bags'),
                 '--seed', '700']) == 0
    assert main(['export-lerobot', '--episodes', str(tmp_path / 'bags'),
                 '--out', str(tmp_path / 'ds')]) == 0
    data = read_dataset(tmp_path / 'ds')
    for episode, bag in zip(data.episodes, sorted((tmp_path / 'bags').iterdir())):
        recorded = read_episode(bag)
        assert episode.task == recorded.metadata.instruction
        assert episode.metadata['source'] == 'expert'
        np.testing.assert_array_equal(episode.state, recorded.joints.astype(np.float32))
        assert psnr(episode.videos['observation.images.camera'], recorded.frames) > 30
    assert main(['export-lerobot', '--episodes', str(tmp_path / 'bags'),
                 '--out', str(tmp_path / 'ds')]) == 2  # exists: refused
    # an episode recorded at another rate is not relabelled to the first one's: refused, and
    # nothing is left behind
    import dataclasses
    from vag_ros.episodes.bag_writer import write_episode_frames
    first = read_episode(sorted((tmp_path / 'bags').iterdir())[0])
    write_episode_frames(iter(first.frames), first.joints, first.actions,
                         dataclasses.replace(first.metadata, frame_rate=15.0,
                                             episode_id='at_15_hz'),
                         tmp_path / 'bags', 'zz_at_15_hz')
    assert main(['export-lerobot', '--episodes', str(tmp_path / 'bags'),
                 '--out', str(tmp_path / 'ds15')]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bags', 'ds']


@pytest.mark.parametrize('text, holds', [
    ('valid', True), ('replay_success', False), ('consistency_psnr>=19', True),
    ('consistency_psnr>20', False), ('tracking_error_max<=0.01', True),
    ('time_scale<2', False)])
def test_keep_rules(text, holds):
    row = {'valid': True, 'replay_success': False, 'consistency_psnr': 19.5,
           'tracking_error_max': 0.004, 'time_scale': None}
    assert keep_rules.parse_rule(text).holds(row) is holds


@pytest.mark.parametrize('text', ['psnr>=3', 'consistency_psnr', 'valid>=1', 'x==2'])
def test_keep_rules_refuse(text):
    with pytest.raises(VagError):
        keep_rules.parse_rule(text)


def test_valid_is_required_whatever_the_rules_unless_keep_invalid():
    def rules(*args, **kwargs):
        return [str(r) for r in keep_rules.parse_rules(*args, **kwargs)]
    assert rules(['replay_success,consistency_psnr>=18'], keep_rules.WORLD_DEFAULT) == \
        ['valid', 'replay_success', 'consistency_psnr>=18']
    assert rules(['replay_success', 'valid'], keep_rules.WORLD_DEFAULT) == \
        ['replay_success', 'valid']
    assert rules(None, keep_rules.FRAMES_DEFAULT) == ['valid']
    assert rules(['time_scale<=2'], keep_rules.WORLD_DEFAULT, keep_invalid=True) == \
        ['time_scale<=2']
    assert rules(None, keep_rules.WORLD_DEFAULT, keep_invalid=True) == ['replay_success']
    assert rules(None, keep_rules.FRAMES_DEFAULT, keep_invalid=True) == []  # keeps all
    with pytest.raises(VagError, match='contradict'):
        keep_rules.parse_rules(['valid'], keep_rules.WORLD_DEFAULT, keep_invalid=True)


def test_an_empty_keep_is_refused_not_keep_all():
    with pytest.raises(VagError, match='no rule'):
        keep_rules.parse_rules([' , '], keep_rules.WORLD_DEFAULT)
    assert [str(r) for r in keep_rules.parse_rules(None, keep_rules.WORLD_DEFAULT)] == \
        ['valid', 'replay_success']


def test_sigterm_mid_run_then_the_same_command_finishes(tmp_path):
    import signal
    import time
    out = tmp_path / 'killed'
    command = [str(BIN / 'vag-ros'), 'synthesize', '--checkpoint', str(CHECKPOINT),
               '--out', str(out), '--quiet', '--scenes', '3', '--keep', KEEP_REPLAYED]
    env = dict(os.environ, OMP_NUM_THREADS='1', SVT_LOG='1')
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_signals())
    scores_file = out / 'scores.jsonl'
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None and not (
            scores_file.is_file() and scores_file.read_text().count('\n') >= 1):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode in (0, 143), stderr[-2000:]  # 0: it had already finished
    done = scores_file.read_text().count('\n')
    assert done == 3 or process.returncode == 143  # stopped mid-run, as on Ctrl-C
    for folder in ('bags', 'generated'):  # no partial bag left behind
        assert all(not p.name.startswith('.') for p in (out / folder).iterdir())
    result = synthesize(out, '--scenes', '3', '--keep', KEEP_REPLAYED)
    assert f'{3 - done} new, {done} already done' in result.stdout
    assert [r['scene'] for r in scores(out)] == [0, 1, 2]
    assert len(read_dataset(out / 'lerobot', decode_videos=False).episodes) == 3


def test_eval_policy_replays_a_checkpoint_on_held_out_seeds(tmp_path):
    out = tmp_path / 'eval.json'
    assert main(['eval-policy', '--checkpoint', str(CHECKPOINT / 'baselines' / 'no_bridge'),
                 '--episodes', '3', '--json', str(out), '--quiet']) == 0
    results = json.loads(out.read_text())
    assert [r['seed'] for r in results['per_episode']] == [100000, 100001, 100002]
    assert [r['task'] for r in results['per_episode']] == ['touch', 'push', 'pick']
    overall = results['replay_success']
    assert overall['n'] == 3 and overall['successes'] == sum(
        r['success'] for r in results['per_episode'])
    assert set(results['per_task']) == {'touch', 'push', 'pick'}
    low, high = overall['interval']
    assert 0 <= low <= overall['rate'] <= high <= 1
    assert main(['eval-policy', '--checkpoint', str(CHECKPOINT), '--episodes', '1',
                 '--task', 'wave', '--json', str(out)]) == 2  # refused before loading
