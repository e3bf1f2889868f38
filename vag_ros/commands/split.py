"""vag-ros split: a folder of episode bags -> train/ and held_out/, chosen by a seed.

Works on any folder of episode bags (ingest's, sim-record's, synthesize's bags/). The
user's bags stay where they are: each file is hard-linked (copied across file systems or
with --copy) into --out/train/ or --out/held_out/, and --out/split.json lists which bag
went where. The same bags and seed give the same split; an existing non-empty --out is
refused.
"""

import argparse
import typing

from vag_ros.commands.arguments import seed

HELP = 'split episode bags into train/ and held_out/ (seeded, originals untouched)'


def held_out_amount(text: str) -> typing.Union[int, float]:
    """A count of bags (an integer >= 1) or a fraction of them (a number in (0, 1))."""
    try:
        value = int(text) if text.strip().isdigit() else float(text)
    except ValueError:
        value = None
    if value is None or isinstance(value, int) and value < 1 or \
            isinstance(value, float) and not 0 < value < 1:
        raise argparse.ArgumentTypeError(f'expected a count >= 1 or a fraction in (0, 1), '
                                         f'got {text!r}')
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--episodes', required=True, help='folder of episode bags')
    parser.add_argument('--held-out', required=True, type=held_out_amount, metavar='N_OR_FRACTION',
                        help='how many bags to hold out: a count (3) or a fraction (0.1, '
                             'rounded, at least one)')
    parser.add_argument('--seed', type=seed, default=0,
                        help='seed of the choice (default 0); the same seed, the same split')
    parser.add_argument('--out', required=True,
                        help='new folder for train/, held_out/ and split.json')
    parser.add_argument('--copy', action='store_true',
                        help='copy the files instead of hard-linking them')


def run(args: argparse.Namespace) -> int:
    from vag_ros.episodes.split import split_episodes
    record = split_episodes(args.episodes, args.out, args.held_out, args.seed, args.copy)
    print(f'{len(record["train"]) + len(record["held_out"])} episodes of {args.episodes} '
          f'(seed {args.seed}): {len(record["train"])} in {args.out}/train, '
          f'{len(record["held_out"])} in {args.out}/held_out ({record["files"]}); '
          f'{args.out}/split.json')
    return 0
