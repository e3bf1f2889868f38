"""vag-ros bench KIND: every benchmark behind one command, the kind first.

    vag-ros bench generation --checkpoint checkpoints/tiny_demo   # backends side by side
    vag-ros bench replay                                          # streaming to a controller
    vag-ros bench storage | ingest | train-cache --data DIR
"""

import argparse
import importlib

HELP = 'benchmarks: generation, replay, storage, ingest, train-cache (vag-ros bench KIND -h)'
KINDS = {  # kind -> module in vag_ros.commands (HELP, add_arguments, run)
    'generation': 'bench_generation',
    'replay': 'bench_replay',
    'storage': 'bench_storage',
    'ingest': 'bench_ingest',
    'train-cache': 'bench_train_cache',
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest='kind', required=True, metavar='KIND')
    for kind, module_name in KINDS.items():
        module = importlib.import_module(f'vag_ros.commands.{module_name}')
        sub = kinds.add_parser(kind, help=module.HELP, description=module.__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run_kind=module.run)


def run(args: argparse.Namespace) -> int:
    return args.run_kind(args)
