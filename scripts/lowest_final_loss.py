"""Which of several training runs ended lowest: each run's mean loss over its last logged steps
(``loss_log.jsonl``), and the lowest one on the last line, for scripts to read.

    python scripts/lowest_final_loss.py ckpt/token0_seed1 ckpt/token0_seed2

The token recipe's stage 0 (the observation encoder alone) is run with two seeds and the one
whose loss ends lower is kept (there the logged loss is the waypoint loss alone): an encoder
that ends its warm-up high does not know where the named block is (docs/variants.md, "The video
reads the observation").
"""

import argparse
import json
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vag_ros.commands.arguments import positive  # noqa: E402


def final_loss(run: Path, last_steps: int) -> float:
    """Mean ``loss`` of the log lines within ``last_steps`` of the run's last logged step."""
    log = run / 'loss_log.jsonl'
    if not log.is_file():
        raise SystemExit(f'{run}: no loss_log.jsonl (not a training run folder)')
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f'{log}: empty')
    last = rows[-1]['step']
    values = [r['loss'] for r in rows if r['step'] > last - last_steps]
    return sum(values) / len(values)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', type=Path)
    parser.add_argument('--last-steps', type=positive, default=200,
                        help='steps at the end of each run to average over (default 200)')
    args = parser.parse_args(argv)
    losses = {run: final_loss(run, args.last_steps) for run in args.runs}
    for run, loss in losses.items():
        print(f'{run}: mean loss {loss:.5f} over its last {args.last_steps} steps')
    print(min(losses, key=losses.get))
    return 0


if __name__ == '__main__':
    sys.exit(main())
