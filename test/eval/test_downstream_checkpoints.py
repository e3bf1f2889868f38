"""The committed downstream policies (docs/downstream_study.md) load, verified against their
SHA256SUMS, as receding-horizon policies of the embedded arm, and run closed loop. No success
rate is asserted here: `vag-ros eval-policy` measures that."""

from pathlib import Path

import pytest

from vag_ros.cli import main

ROOT = Path(__file__).resolve().parents[2] / 'checkpoints' / 'downstream'


@pytest.mark.parametrize('name', ['k50_expert', 'k50_expert_vag'])
def test_a_committed_policy_runs_closed_loop(name, tmp_path):
    from vag_ros.model.pipeline import VagPipeline
    pipe = VagPipeline.from_checkpoint(ROOT / name)
    assert pipe.config.mode == 'action_no_bridge' and pipe.config.action.execute_steps == 8
    result = tmp_path / 'eval.json'
    assert main(['eval-policy', '--checkpoint', str(ROOT / name), '--episodes', '1',
                 '--seed-start', '500000', '--closed-loop', '--json', str(result),
                 '--quiet']) == 0
    assert result.is_file()


def test_a_changed_byte_is_refused(tmp_path):
    import shutil
    from vag_ros.errors import CheckpointError
    from vag_ros.model.pipeline import VagPipeline
    copy = shutil.copytree(ROOT / 'k50_expert', tmp_path / 'copy')
    config = copy / 'config.yaml'
    config.write_text(config.read_text().replace('execute_steps: 8', 'execute_steps: 9'))
    with pytest.raises(CheckpointError):
        VagPipeline.from_checkpoint(copy)
