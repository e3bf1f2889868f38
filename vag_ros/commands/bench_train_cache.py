"""vag-ros bench train-cache: training from the on-disk latent cache vs from memory.

Runs `vag-ros train` twice on the same episodes in child processes, side by side: with the
windows in memory, then with ``--cache`` (built in the first cached run), and reports each
run's wall time, data preparation and seconds per step, and its peak resident memory.
"""

import argparse

from vag_ros.commands.arguments import positive

HELP = 'measure training from the latent cache against training from memory'

CHILD = '''
import resource, sys, time
from vag_ros.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
print('BENCH', time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(code)
'''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data', required=True, help='folder of episode bags')
    parser.add_argument('--steps', type=positive, default=20, help='optimizer steps per run')
    parser.add_argument('--config', default='tiny', help='model preset or YAML')
    parser.add_argument('--out', default=None,
                        help='work folder (default: a temporary one, removed after)')


def _train(args, out, cache=None) -> dict:
    import re
    import subprocess
    import sys
    command = [sys.executable, '-c', CHILD, 'train', '--config', args.config, '--data',
               args.data, '--out', str(out), '--steps', str(args.steps), '--quiet']
    if cache is not None:
        command += ['--cache', str(cache)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    bench = result.stdout.split('BENCH')[-1].split()
    per_step = float(re.search(r'([\d.]+) s/step', result.stdout).group(1))
    total = float(bench[0])
    return {'wall_s': round(total, 1), 's_per_step': per_step,
            'data_s': round(total - per_step * args.steps, 1),
            'peak_rss_mb': round(int(bench[1]) / 1024, 1)}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path
    import shutil
    import tempfile
    root = Path(args.out or tempfile.mkdtemp(prefix='vag-bench-cache-'))
    try:
        rows = {'memory': _train(args, root / 'memory'),
                'cache (first: builds it)': _train(args, root / 'cached1', root / 'cache'),
                'cache (reused)': _train(args, root / 'cached2', root / 'cache')}
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f'{"data":<26} {"wall s":>8} {"data s":>8} {"s/step":>8} {"peak MB":>9}')
    for name, row in rows.items():
        print(f'{name:<26} {row["wall_s"]:>8} {row["data_s"]:>8} {row["s_per_step"]:>8} '
              f'{row["peak_rss_mb"]:>9}')
    return 0
