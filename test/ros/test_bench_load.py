"""vag-ros bench load: its figures on known timings, its bookkeeping on a tiny run, its
refusals, and no child left behind after Ctrl-C. Not its figures on this host."""

import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time

import pytest

from child_signals import default_signals  # noqa: I100
from vag_ros.ros.bench_load import classify, figures, gap_stats, gaps_in

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / 'checkpoints' / 'tiny_demo'
MS = 1_000_000  # ns


def _bench(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.Popen([sys.executable, '-m', 'vag_ros.cli', 'bench', 'load', *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=default_signals(), **kwargs)


def test_gaps_count_only_inside_the_motions():
    times = [0, 10 * MS, 20 * MS, 600 * MS, 610 * MS, 2000 * MS, 2010 * MS]
    assert gaps_in(times, [(5 * MS, 700 * MS)]) == [10.0, 10.0, 580.0, 10.0]
    assert gaps_in(times, [(0, 5 * MS), (1900 * MS, 2100 * MS)]) == [1390.0, 10.0]
    stats = gap_stats([10.0] * 99 + [580.0])
    assert (stats['count'], stats['p50_ms'], stats['max_ms']) == (100, 10.0, 580.0)
    assert gap_stats([])['p99_ms'] is None


def test_stops_are_told_apart():
    assert classify('done', 'trajectory finished') == 'succeeded'
    assert classify('stopped', "joint states stale ('joint1': 0.51 s > ...)") == 'false_stop'
    assert classify('stopped', 'controller silent: ...') == 'other_stop'


def test_figures_add_up_and_name_a_stale_tick():
    episodes = [{'outcome': 'succeeded', 'start_ns': 0, 'end_ns': 1000 * MS},
                {'outcome': 'false_stop', 'start_ns': 2000 * MS, 'end_ns': 3000 * MS}]
    heard = [(t * MS, t * MS + 5 * MS, t * MS, 0) for t in range(0, 3000, 10)
             if not 2200 <= t < 2800]                         # (mono, wall, stamp, received)
    ticks = [(2800 * MS, 0.6, 0.004), (100 * MS, 0.01, 0.002), (1500 * MS, -1.0, 0.01)]
    row = figures(episodes, {'heard': heard, 'ticks': ticks,
                             'arrived': [t * MS for t in range(0, 3000, 10)]},
                  [t * MS for t in range(0, 3000, 10)])
    assert (row['motions'], row['succeeded'], row['false_stops'], row['other_stops']) == \
        (2, 1, 1, 0)
    assert row['replay_gaps']['max_ms'] == pytest.approx(610.0)
    assert row['publisher_gaps']['max_ms'] == pytest.approx(10.0)
    assert row['arrival_gaps']['max_ms'] == pytest.approx(10.0)
    assert row['latency']['p50_ms'] == pytest.approx(5.0)
    assert row['tick_age']['count'] == 2
    assert row['stale_ticks'] == [{'age_ms': 600.0, 'newest_arrived_ms': 4.0}]


@pytest.mark.parametrize('args, words', [
    (['--motions', '0'], 'positive integer'),
    (['--stall-s', '-1'], '>= 0'),
    (['--stall-s', '11'], 'at most 10 s'),
    (['--checkpoint', '/nonexistent'], 'no such folder'),
])
def test_bad_arguments_are_refused_in_one_line(args, words):
    process = _bench(*args)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = [line for line in out.splitlines() if 'error' in line]
    assert len(lines) == 1 and words in lines[0], out


@pytest.mark.ros
@pytest.mark.slow
def test_a_tiny_run_keeps_its_books(tmp_path):
    """Two motions through the whole graph: the JSON's fields and counts add up."""
    process = _bench('--checkpoint', str(CHECKPOINT), '--motions', '2',
                     '--json', str(tmp_path / 'load.json'), '--out', str(tmp_path / 'run'))
    out, _ = process.communicate(timeout=600)
    assert process.returncode == 0, out[-3000:]
    row = json.loads((tmp_path / 'load.json').read_text())
    assert row['motions'] == len(row['episodes']) == 2
    assert row['succeeded'] + row['false_stops'] + row['other_stops'] == 2
    assert row['requests'] == row['motions'] + len(row['not_executed'])
    for episode in row['episodes']:
        assert episode['outcome'] in ('succeeded', 'false_stop', 'other_stop')
        assert episode['start_ns'] < episode['end_ns']
    for key in ('replay_gaps', 'publisher_gaps', 'arrival_gaps', 'latency', 'tick_age'):
        assert row[key]['count'] > 0 and \
            row[key]['p50_ms'] <= row[key]['p99_ms'] <= row[key]['max_ms'], key
    assert row['stall_s'] == 0.0 and row['cpus'] >= 1
    assert len(list((tmp_path / 'run' / 'bags').iterdir())) >= 2  # the recorder recorded
    assert 'false stops' in out


@pytest.mark.ros
def test_ctrl_c_leaves_no_child_behind(tmp_path):
    process = _bench('--checkpoint', str(CHECKPOINT), '--motions', '1',
                     '--out', str(tmp_path / 'run'))
    lines = []
    end = time.monotonic() + 300
    while time.monotonic() < end:
        line = process.stdout.readline()
        lines.append(line)
        if line.startswith('graph up') or not line:
            break
    pids = [int(p) for p in re.findall(r'\(pid (\d+)\)', lines[-1])]
    assert len(pids) == 7, ''.join(lines)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130, out
    for pid in pids:
        assert not Path(f'/proc/{pid}').exists() or \
            'zombie' in Path(f'/proc/{pid}/status').read_text(), pid
