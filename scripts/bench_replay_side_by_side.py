"""The streaming table of docs/streaming.md: executor-timer loop vs stream thread, side by side.

The timer loop is vag_replay as of commit 1ee3d8e; it runs from a git worktree put first on
PYTHONPATH, everything else from this checkout. Interleaved, 3 motions per loop and rate.

    python scripts/bench_replay_side_by_side.py runs/bench/replay_side_by_side.json
"""

import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile

ROOT = Path(__file__).resolve().parents[1]
TIMER_COMMIT = '1ee3d8e'
MEASURE = '''
import json, sys
from vag_ros.ros.bench_replay import run_once
print(json.dumps(run_once(float(sys.argv[1]))))
'''


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        timer = Path(tmp) / 'timer'
        subprocess.run(['git', '-C', str(ROOT), 'worktree', 'add', '-q', '--detach',
                        str(timer), 'HEAD'], check=True)
        try:
            subprocess.run(['git', '-C', str(timer), 'checkout', '-q', TIMER_COMMIT, '--',
                            'vag_ros/ros/replay_node.py'], check=True)
            rows = []
            for repeat in range(3):
                for loop, path in (('timer', timer), ('thread', ROOT)):
                    for rate in (50, 100):
                        env = dict(os.environ, PYTHONPATH=str(path))
                        done = subprocess.run([sys.executable, '-c', MEASURE, str(rate)],
                                              env=env, capture_output=True, text=True,
                                              check=True)
                        row = json.loads(done.stdout.strip().splitlines()[-1])
                        row.update(loop=loop, repeat=repeat)
                        rows.append(row)
                        print(loop, rate, {k: round(row[k], 2) for k in (
                            'received_hz', 'interval_std_ms', 'interval_p99_ms',
                            'jitter_p99_ms')}, flush=True)
        finally:
            subprocess.run(['git', '-C', str(ROOT), 'worktree', 'remove', '--force',
                            str(timer)], check=False)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({'runs': rows}, indent=2) + '\n')


if __name__ == '__main__':
    main(sys.argv[1])
