"""vag-ros withhold-actions: episodes whose video trains VAG but whose actions do not.

Writes every bag of --episodes into --out: the ones --keep names as they are (hard-linked),
the others with metadata.extra.actions = withheld, which training reads as video only (no
action loss, left out of the action statistics). For the action-free regime: many videos,
a few labelled episodes. Your bags are never changed; an existing non-empty --out is
refused; --out/withheld.json lists which is which.
"""

import argparse

HELP = 'mark episodes as video only (actions withheld from training), keeping some labelled'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--episodes', required=True, help='folder of episode bags')
    parser.add_argument('--out', required=True, help='new folder for the marked episodes')
    parser.add_argument('--keep', default=None,
                        help='episodes that keep their actions: a folder of bags (their '
                             'names) or a text file with one bag name a line; default none')


def keep_names(path) -> list:
    """Bag names from a folder of bags or a text file of names."""
    from pathlib import Path

    from vag_ros.episodes.bag_reader import list_episode_bags
    from vag_ros.errors import EpisodeError
    path = Path(path)
    if path.is_dir():
        names = [bag.name for bag in list_episode_bags(path)]
        if not names:
            raise EpisodeError(f'--keep {path}: a folder with no episode bag (a folder with '
                               'metadata.yaml) in it; give the folder of the labelled bags, '
                               'or leave --keep out to withhold every action')
        return names
    try:
        names = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()
                 if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise EpisodeError(f'--keep {path}: neither a folder of bags nor a readable list of '
                           f'names ({exc})') from None
    if not names:
        raise EpisodeError(f'--keep {path}: the file names no bag; write one bag name a line, '
                           'or leave --keep out to withhold every action')
    return names


def run(args: argparse.Namespace) -> int:
    from vag_ros.episodes.withhold import withhold_actions
    record = withhold_actions(args.episodes, args.out,
                              keep_names(args.keep) if args.keep else ())
    print(f'{args.out}: {len(record["labelled"])} episodes keep their actions, '
          f'{len(record["withheld"])} are video only; {args.out}/withheld.json')
    return 0
