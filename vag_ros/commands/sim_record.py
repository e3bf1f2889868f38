"""vag-ros sim-record: scripted-expert episodes of the embedded world, one bag each."""

import argparse

from vag_ros.commands.arguments import episode_count, non_negative

HELP = 'record scripted-expert episodes of the embedded world as bags'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--episodes', type=episode_count, required=True, help='number of episodes')
    parser.add_argument('--out', required=True, help='output folder, one bag per episode')
    parser.add_argument('--task', default='all',
                        help='task family (touch, push, pick) or "all" to cycle (default)')
    parser.add_argument('--seed', type=non_negative, default=0,
                        help='first seed (episode k: seed+k)')
    parser.add_argument('--templates', default='train', choices=('train', 'held_out'),
                        help="instruction template split (default train; held_out for tests "
                             "of language generalization)")
    parser.add_argument('--config', default=None, help='SimConfig YAML (default config/sim.yaml)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from vag_ros.sim.record import record_expert_dataset

    summary = record_expert_dataset(
        out_dir=args.out, episodes=args.episodes, task=args.task, seed=args.seed,
        config_path=args.config, progress=not args.quiet,
        templates=args.templates)
    print(summary.describe())
    return 0 if summary.all_written else 1
