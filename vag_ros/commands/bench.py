"""vag-ros bench KIND: every benchmark behind one command, the kind first.

    vag-ros bench generation --checkpoint checkpoints/tiny_demo   # backends side by side
    vag-ros bench replay                                          # streaming to a controller
    vag-ros bench load --motions 30                               # false stops under load
    vag-ros bench storage | ingest | train-cache --data DIR
"""

import argparse

from vag_ros.commands.arguments import add_subcommands

HELP = ('benchmarks: generation, replay, load, storage, ingest, train-cache '
        '(vag-ros bench KIND -h)')
KINDS = {  # kind -> module in vag_ros.commands (HELP, add_arguments, run)
    'generation': 'bench_generation',
    'replay': 'bench_replay',
    'load': 'bench_load',
    'storage': 'bench_storage',
    'ingest': 'bench_ingest',
    'train-cache': 'bench_train_cache',
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest='kind', required=True, metavar='KIND')
    add_subcommands(kinds, KINDS, 'run_kind')


def run(args: argparse.Namespace) -> int:
    return args.run_kind(args)
