"""Data sets that cannot disagree with their own tables (issue "Bad input refused on the data
paths", class 5): a re-run never drops what exists, one episode is never in a data set twice,
a resume removes every partial a killed run left. Real synthesize runs, real bags."""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from lab_bags import lab_bags  # noqa: I100
from vag_ros.cli import main
from vag_ros.datasets.lerobot_reader import read_dataset

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / 'checkpoints' / 'tiny_demo'
KEEP = 'tracking_error_max<=10'  # keeps every replayed episode


def synthesize(out: Path, scenes: int) -> subprocess.CompletedProcess:
    """vag-ros synthesize in its own process (one thread); exit 0 asserted."""
    command = [str(Path(sys.executable).parent / 'vag-ros'), 'synthesize', '--checkpoint',
               str(CHECKPOINT), '--out', str(out), '--quiet', '--scenes', str(scenes),
               '--keep', KEEP]
    result = subprocess.run(command, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS='1', SVT_LOG='1'))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def scenes_of(out: Path):
    """(scene numbers in scores.json, in scores.csv, in the LeRobot data set)."""
    table = [r['scene'] for r in json.loads((out / 'scores.json').read_text())['episodes']]
    csv = [int(line.split(',')[0]) for line in (out / 'scores.csv').read_text().splitlines()[1:]]
    data = read_dataset(out / 'lerobot', decode_videos=False)
    return table, csv, [e.metadata['scene'] for e in data.episodes]


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp('synth') / 'two'
    synthesize(out, 2)
    return out


def test_a_rerun_with_fewer_scenes_keeps_every_finished_scene(finished, tmp_path):
    """--scenes 1 into an output of 2 scenes (was: the tables and the data set shrank to
    scene 0 while scores.jsonl and the bags kept both): both stay, and the run says so."""
    out = tmp_path / 'rerun'
    shutil.copytree(finished, out)
    assert scenes_of(out) == ([0, 1], [0, 1], [0, 1])
    result = synthesize(out, 1)
    assert '2 scenes (0 new, 2 already done)' in result.stdout, result.stdout
    assert '1 scene(s) an earlier run finished' in result.stdout, result.stdout
    assert scenes_of(out) == ([0, 1], [0, 1], [0, 1])


def test_a_resume_removes_the_partial_bag_of_a_killed_writer(finished, tmp_path):
    """SIGKILL while scene 1's generated bag was being written: its hidden partial folder
    (as the writer names it, left by a writer really killed) is removed by the resume
    (was: kept for ever in generated/) and the scene is redone."""
    out = tmp_path / 'killed'
    shutil.copytree(finished, out)
    lines = (out / 'scores.jsonl').read_text().splitlines()
    (out / 'scores.jsonl').write_text(lines[0] + '\n')          # scene 1 never scored
    name = json.loads(lines[1])['name']
    bag = out / 'generated' / name
    killer = (
        'import os, signal\n'
        'from vag_ros.episodes.bag_reader import read_episode\n'
        'from vag_ros.episodes.bag_writer import EpisodeBagWriter\n'
        f'episode = read_episode({str(finished / "generated" / name)!r})\n'
        f'writer = EpisodeBagWriter({str(bag.parent)!r}, {name!r}, episode.metadata).start()\n'
        'writer.add_frame(episode.frames[0], writer.start_time_ns)\n'
        'os.kill(os.getpid(), signal.SIGKILL)\n')
    shutil.rmtree(bag)
    killed = subprocess.run([sys.executable, '-c', killer], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    (partial,) = [p.name for p in bag.parent.iterdir() if p.name.startswith('.')]
    assert partial.startswith(f'.{name}.partial-')
    result = synthesize(out, 2)
    assert '1 new, 1 already done' in result.stdout, result.stdout
    for folder in ('bags', 'generated'):
        assert sorted(p.name for p in (out / folder).iterdir()) == sorted(
            [name, json.loads(lines[0])['name']])      # no hidden folder left
    assert scenes_of(out) == ([0, 1], [0, 1], [0, 1])


def test_one_bag_exported_twice_under_two_names_is_refused(tmp_path, capsys):
    """A bag copied under a second name (was: two identical episodes in the data set, exit
    0): refused naming both bags, by merge-datasets' duplicate key (task, states, actions
    and seed), before the data set exists."""
    episodes = lab_bags(tmp_path / 'episodes', 2)
    shutil.copytree(episodes / 'session1_ep000', episodes / 'session1_ep000_copy')
    out = tmp_path / 'lerobot'
    assert main(['export-lerobot', '--episodes', str(episodes), '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'session1_ep000_copy' in err and str(episodes / 'session1_ep000') in err, err
    assert 'the same episode' in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith('.')]
    shutil.rmtree(episodes / 'session1_ep000_copy')
    assert main(['export-lerobot', '--episodes', str(episodes), '--out', str(out)]) == 0
    assert len(read_dataset(out, decode_videos=False).episodes) == 2
