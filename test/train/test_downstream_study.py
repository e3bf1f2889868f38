"""scripts/downstream_study.py's bookkeeping on a tiny case: its rows, its data folders, its
report, and a rerun that redoes nothing. No figure of the study is asserted here."""

import dataclasses
import json
from pathlib import Path
import subprocess
import sys

import pytest
import yaml

from micro_model import micro_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_study_runs_resumes_and_reports_every_row(tmp_path):
    config = micro_config(frames=5, num_steps=2)
    policy = dataclasses.replace(config, mode='action_no_bridge', action=dataclasses.replace(
        config.action, execute_steps=3))
    (tmp_path / 'policy.yaml').write_text(yaml.safe_dump(policy.to_dict()))
    (tmp_path / 'train.yaml').write_text(yaml.safe_dump(
        {'steps': 2, 'batch_size': 2, 'warmup_steps': 0, 'window_stride': 1}))
    out = tmp_path / 'study'
    command = [sys.executable, str(ROOT / 'scripts' / 'downstream_study.py'), '--out', str(out),
               '--k', '2', '--m', '1', '--scenes', '3', '--episodes', '1', '--video-k', '2',
               '--learner-check', '3', '--baselines-k', '2', '--max-scenes', '4',
               '--keep', 'tracking_error_max<=10',   # every replayed scene: a keep-all
               '--model-config', str(tmp_path / 'policy.yaml'),
               '--train-config', str(tmp_path / 'train.yaml')]
    first = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert first.stdout.count('vag-ros train') == 6 and first.stdout.count('eval-policy') == 6
    assert first.stdout.count('--label-video') == 1 and 'no_bridge' in first.stdout
    assert sorted(p.name for p in (out / 'data' / 'k2_expert').iterdir()) == [
        'push_seed001001', 'touch_seed001000']
    assert len(list((out / 'data' / 'k2_vag_replayed').iterdir())) == 3
    video = sorted((out / 'data' / 'k2_vag_video').iterdir())
    assert any(p.resolve().parent.name == 'generated' for p in video)
    study = json.loads((out / 'study.json').read_text())
    assert [r['name'] for r in study['rows']] == [
        'k2_expert', 'k2_vag_replayed', 'k2_vag_video', 'k2_no_bridge_replayed',
        'k2_two_stage_replayed', 'k3_expert']
    for name in ('k2_no_bridge_replayed', 'k2_two_stage_replayed'):   # the same M each
        assert len(list((out / 'data' / name).iterdir())) == 3
        assert study['rows'][[r['name'] for r in study['rows']].index(name)]['keep'][
            'scenes'] >= 3
    assert len(list((out / 'data' / 'k3_expert').iterdir())) == 3
    assert all(r['replay_success']['n'] == 1 for r in study['rows'])
    for name in ('k2_expert', 'k2_vag_replayed', 'k2_vag_video', 'k2_no_bridge_replayed',
                 'k2_two_stage_replayed', 'k3_expert'):
        result = json.loads((out / 'eval' / f'{name}.json').read_text())
        assert result['loop'].startswith('closed loop, 3 targets')
    assert (out / 'study.md').read_text().count('\n') == 8 and (out / 'success_vs_k.png').is_file()
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'vag-ros train' not in again.stdout and 'eval-policy' not in again.stdout
