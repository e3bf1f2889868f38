"""scripts/lowest_final_loss.py: the stage-0 run kept is the one whose loss ends lowest."""

import json
from pathlib import Path
import sys

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'scripts'))
import lowest_final_loss  # noqa: E402,I100


def _run(folder: Path, losses) -> Path:
    folder.mkdir()
    (folder / 'loss_log.jsonl').write_text(''.join(
        json.dumps({'step': 10 * (i + 1), 'loss': v}) + '\n' for i, v in enumerate(losses)))
    return folder


def test_the_mean_over_the_last_steps_decides_not_the_last_line(tmp_path, capsys):
    # a ends on a lucky low line, b is lower over its last 30 steps
    a = _run(tmp_path / 'a', [1.0, 0.5, 0.40, 0.40, 0.10])
    b = _run(tmp_path / 'b', [1.0, 0.5, 0.20, 0.20, 0.20])
    assert lowest_final_loss.final_loss(a, 30) == pytest.approx(0.3)
    assert lowest_final_loss.final_loss(b, 30) == pytest.approx(0.2)
    assert lowest_final_loss.main([str(a), str(b), '--last-steps', '30']) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(b)
    # over the last step alone, a wins
    assert lowest_final_loss.main([str(a), str(b), '--last-steps', '1']) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(a)


def test_a_folder_without_a_loss_log_is_refused(tmp_path):
    with pytest.raises(SystemExit, match='no loss_log.jsonl'):
        lowest_final_loss.main([str(tmp_path)])
    (tmp_path / 'loss_log.jsonl').write_text('')
    with pytest.raises(SystemExit, match='empty'):
        lowest_final_loss.main([str(tmp_path)])
    with pytest.raises(SystemExit):
        lowest_final_loss.main([str(tmp_path), '--last-steps', '0'])
