"""The ``vag-ros`` command: one subcommand per job, each a thin shell over the core."""

import argparse
import sys
import typing

from vag_ros.errors import VagError


def _seed(text: str) -> int:
    """argparse type for seeds: a non-negative integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'seed must be an integer, got {text!r}') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'seed must be >= 0, got {value}')
    return value


def _positive(text: str) -> int:
    """argparse type for counts: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}') from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def _sim_record(args: argparse.Namespace) -> int:
    from vag_ros.sim.record import record_expert_dataset

    summary = record_expert_dataset(
        out_dir=args.out, episodes=args.episodes, task=args.task, seed=args.seed,
        config_path=args.config, progress=not args.quiet)
    print(summary.describe())
    return 0 if summary.all_written else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog='vag-ros', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    record = commands.add_parser(
        'sim-record', help='record scripted-expert episodes of the embedded world as bags')
    record.add_argument('--episodes', type=_positive, required=True, help='number of episodes')
    record.add_argument('--out', required=True, help='output folder, one bag per episode')
    record.add_argument('--task', default='all',
                        help='task family (touch, push, pick) or "all" to cycle (default)')
    record.add_argument('--seed', type=_seed, default=0, help='first seed (episode k: seed+k)')
    record.add_argument('--config', default=None, help='SimConfig YAML (default config/sim.yaml)')
    record.add_argument('--quiet', action='store_true', help='no progress bar')
    record.set_defaults(run=_sim_record)
    return parser


def main(argv: typing.Optional[typing.Sequence[str]] = None) -> int:
    """Entry point of ``vag-ros``; bad input ends with a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except VagError as exc:
        print(f'vag-ros {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'vag-ros {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
