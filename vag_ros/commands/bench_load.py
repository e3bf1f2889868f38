"""vag-ros bench load: false stops and joint-state gaps of the replay under the graph's load.

A foreign-style cell (an ideal controller's /joint_states at 100 Hz and a 640x480 camera at
30 Hz, each its own process) and every node of the generate-and-replay graph in its own
process (capture, generator, replay, preview, recorder); this process asks for episodes and
executes each. Figures: motions, false stops ('joint states stale' although the cell
publishes throughout), the joint-state gaps at the replay node during motions (p50 / p99 /
max) and at the publisher, and where the time went (publish -> callback latency).
"""

import argparse

from vag_ros.commands.arguments import non_negative_float, positive

HELP = 'false stops and joint-state gaps of vag_replay under the whole graph\'s load'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', default='checkpoints/tiny_demo',
                        help='the generator\'s checkpoint (default checkpoints/tiny_demo)')
    parser.add_argument('--motions', type=positive, default=30,
                        help='executed motions to count (default 30)')
    parser.add_argument('--stall-s', type=non_negative_float, default=0.0,
                        help='fault injection: block the replay\'s executor this long every '
                        '2 s of motion (default 0: none)')
    parser.add_argument('--out', default='',
                        help='logs and bags go here (default: a temporary folder, removed)')
    parser.add_argument('--json', default=None, help='write the figures here')


def _ms(stats: dict) -> str:
    if not stats['count']:
        return 'none'
    return f"p50 {stats['p50_ms']:.1f} / p99 {stats['p99_ms']:.1f} / max {stats['max_ms']:.1f} ms"


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path
    import tempfile

    from vag_ros.errors import ConfigError
    from vag_ros.ros.bench_load import run_load
    if not Path(args.checkpoint).is_dir():
        raise ConfigError(f'--checkpoint {args.checkpoint}: no such folder')
    if args.stall_s > 10.0:
        raise ConfigError(f'--stall-s {args.stall_s}: expected at most 10 s')
    with tempfile.TemporaryDirectory(prefix='vag-bench-load-') as tmp:
        row = run_load(args.checkpoint, args.motions, Path(args.out or tmp), args.stall_s)
    print(f"motions {row['motions']} (of {row['requests']} requests): succeeded "
          f"{row['succeeded']}, false stops {row['false_stops']}, other stops "
          f"{row['other_stops']}")
    print(f"joint-state gaps at vag_replay: {_ms(row['replay_gaps'])}")
    print(f"joint-state gaps at the publisher: {_ms(row['publisher_gaps'])}")
    print(f"joint-state arrival gaps in the replay process: {_ms(row['arrival_gaps'])}")
    print(f"publish -> callback latency: {_ms(row['latency'])}")
    print(f"joints' age at the tick: {_ms(row['tick_age'])}; newest arrived at the tick: "
          f"{_ms(row['tick_arrived_age'])}")
    for tick in row['stale_ticks'][:10]:
        print(f"  a tick judged joints {tick['age_ms']:.0f} ms old while the newest had "
              f"arrived {tick['newest_arrived_ms']:.1f} ms before")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=2) + '\n')
        print(f'json: {path}')
    return 0
