"""DDP: two CPU processes under torchrun (gloo) train 2 steps and write one checkpoint."""

import json
import os
import subprocess
import sys

import pytest
from train_helpers import micro_config
import yaml

from vag_ros.model.checkpoint import load_checkpoint


@pytest.mark.parametrize('cache', [False, True])
def test_torchrun_two_cpu_processes(tmp_path, bag_dir, cache):
    """With --cache, rank 0 builds the latent cache and both ranks read it."""
    model_yaml = tmp_path / 'micro.yaml'
    model_yaml.write_text(yaml.safe_dump(micro_config().to_dict()))
    train_yaml = tmp_path / 'train.yaml'
    train_yaml.write_text(yaml.safe_dump({'steps': 2, 'batch_size': 2, 'warmup_steps': 0,
                                          'log_every': 1, 'save_every': 1}))
    out = tmp_path / 'out'
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc_per_node', '2', '-m', 'vag_ros.cli', 'train', '--config', str(model_yaml),
           '--data', str(bag_dir), '--out', str(out), '--train-config', str(train_yaml),
           '--device', 'cpu', '--quiet'] + (['--cache', str(tmp_path / 'cache')] if cache else [])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('trained to step 2') == 1  # only rank 0 reports
    ckpt = load_checkpoint(out)
    assert ckpt.extra['step'] == 2
    log = [json.loads(x) for x in (out / 'loss_log.jsonl').read_text().splitlines()]
    assert [r['step'] for r in log] == [1, 2]  # one writer
    state = json.loads((out / 'training_state' / 'state.json').read_text())
    assert state['world_size'] == 2
    assert (tmp_path / 'cache' / 'manifest.json').is_file() == cache
