"""vag-ros merge-datasets: join LeRobot v3 data sets written by vag-ros into one.

Shards of one `vag-ros synthesize` run under torchrun merge in scene order, into what a
single process would have written; other data sets are appended one after another.
"""

import argparse

HELP = 'join LeRobot data sets (synthesis shards) into one'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('shards', nargs='+', help='data set folders to join')
    parser.add_argument('--out', required=True, help='data set folder to create')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing data set at --out')


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vag_ros.datasets.lerobot_reader import read_dataset
    from vag_ros.datasets.merge import merge_datasets
    from vag_ros.errors import EpisodeError
    from vag_ros.outputs import real_path

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise EpisodeError(f'{out} already exists; pass --overwrite to replace it')
    inside = [s for s in args.shards
              if real_path(s, 'data set').is_relative_to(real_path(out, '--out'))]
    if inside:
        raise EpisodeError(f'--out {out} holds the shard {inside[0]}; write the merge elsewhere')
    root = merge_datasets([Path(s) for s in args.shards], out, args.overwrite)
    dataset = read_dataset(root, decode_videos=False)
    print(f'{root}: {len(dataset.episodes)} episodes from {len(args.shards)} data sets, '
          f'{dataset.info["total_frames"]} frames')
    return 0
