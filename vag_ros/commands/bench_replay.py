"""vag-ros bench replay: how evenly vag_replay streams to a forward controller.

vag_replay runs in its own process (forward_position, as `ros2 run` starts it), a separate
listener process times every command it publishes, and this process plays an ideal
position controller (/joint_states at 200 Hz). Figures per stream rate: received rate,
interval median / std / p99 / max, p99 and max jitter (|interval - period|), and the
largest velocity, acceleration and acceleration step of the received command curve.
"""

import argparse

from vag_ros.commands.arguments import positive

HELP = 'time vag_replay streaming to a forward controller from a separate process'


def _rates(text: str):
    try:
        rates = [float(r) for r in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected rates like 50,100, got {text!r}') from None
    if not rates or any(not 1 <= r <= 1000 for r in rates):
        raise argparse.ArgumentTypeError('rates must be in [1, 1000] Hz')
    return rates


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--rates', type=_rates, default=[50.0, 100.0],
                        help='stream rates in Hz, comma-separated (default 50,100)')
    parser.add_argument('--repeats', type=positive, default=1,
                        help='motions per rate, interleaved (default 1)')
    parser.add_argument('--json', default=None, help='write the figures here')


def run(args: argparse.Namespace) -> int:
    import json

    from vag_ros.outputs import writable_file, write_text_atomically
    from vag_ros.ros.bench_replay import run_once

    if args.json:   # checked before the benchmark, not after it
        writable_file(args.json, '--json', create=False)
    rows = []
    for repeat in range(args.repeats):
        for rate in args.rates:
            row = run_once(rate)
            row['repeat'] = repeat
            rows.append(row)
            print(f'{rate:6.1f} Hz set: received {row["received_hz"]:.1f} Hz, interval median '
                  f'{row["interval_median_ms"]:.2f} ms, std {row["interval_std_ms"]:.2f}, '
                  f'p99 {row["interval_p99_ms"]:.2f}, max {row["interval_max_ms"]:.2f}; '
                  f'jitter p99 {row["jitter_p99_ms"]:.2f} ms; max acceleration step '
                  f'{row["max_acceleration_step"]:.3f} rad/s^2', flush=True)
    if args.json:
        path = write_text_atomically(args.json, json.dumps({'runs': rows}, indent=2) + '\n')
        print(f'json: {path}')
    return 0
