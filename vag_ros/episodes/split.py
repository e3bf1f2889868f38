"""A held-out split of a folder of episode bags: train/ and held_out/, chosen by a seed.

The user's bags are never moved: each file is hard-linked (or copied, across file systems
or when asked) into ``out``/train/ or ``out``/held_out/, and ``out``/split.json lists which
bag went where. The split is built in a hidden folder beside ``out`` and renamed into place,
so an interrupted run leaves no half of it.
"""

import json
import math
import os
from pathlib import Path
import shutil
import typing

import numpy as np

from vag_ros.episodes.bag_reader import list_episode_bags
from vag_ros.errors import EpisodeError
from vag_ros.outputs import new_folder

TRAIN = 'train'
HELD_OUT = 'held_out'
SPLIT_FILE = 'split.json'


def held_out_count(amount: typing.Union[int, float], total: int) -> int:
    """How many of ``total`` bags to hold out: a count, or a fraction in (0, 1) rounded
    half up (at least one); EpisodeError when train or held_out would be empty."""
    count = amount if isinstance(amount, int) else max(1, math.floor(amount * total + 0.5))
    if not 1 <= count < total:
        raise EpisodeError(f'--held-out {amount}: holds out {count} of {total} bag(s); train '
                           'and held_out each need at least one (give a smaller count or '
                           'fraction, or more episodes)')
    return count


def choose(names: typing.Sequence[str], count: int, seed: int) -> typing.List[str]:
    """The ``count`` held-out names: a seeded permutation of the sorted names (the same
    for the same names and seed, whatever order the folder lists them in)."""
    ordered = sorted(names)
    order = np.random.default_rng(seed).permutation(len(ordered))
    return sorted(ordered[k] for k in order[:count])


def _link_tree(source: Path, target: Path, copy: bool) -> str:
    """Hard-link (or copy) every file of ``source`` into ``target``; 'hardlink' or 'copy'
    (a file system without hard links, or another device, falls back to copying)."""
    mode = 'copy' if copy else 'hardlink'
    for folder, _, files in os.walk(source):
        here = target / Path(folder).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            if mode == 'hardlink':
                try:
                    os.link(Path(folder) / name, here / name)
                    continue
                except OSError:
                    mode = 'copy'
            shutil.copy2(Path(folder) / name, here / name)
    return mode


def split_episodes(episodes, out, amount: typing.Union[int, float], seed: int,
                   copy: bool = False) -> dict:
    """Split the bags of ``episodes`` into ``out``/train and ``out``/held_out; the record
    written to ``out``/split.json. ``out`` must not exist or be empty."""
    episodes, out = Path(episodes), Path(out)
    bags = list_episode_bags(episodes)
    if not bags:
        raise EpisodeError(f'--episodes {episodes}: no episode bag (a folder with '
                           'metadata.yaml)')
    count = held_out_count(amount, len(bags))
    held = set(choose([b.name for b in bags], count, seed))
    modes = set()
    with new_folder(out) as stage:
        for bag in bags:
            part = HELD_OUT if bag.name in held else TRAIN
            modes.add(_link_tree(bag, stage / part / bag.name, copy))
        for part in (TRAIN, HELD_OUT):
            (stage / part).mkdir(exist_ok=True)
        record = {'episodes': str(episodes.resolve()), 'seed': int(seed),
                  'held_out_amount': amount, 'files': 'copy' if 'copy' in modes else 'hardlink',
                  TRAIN: [b.name for b in bags if b.name not in held],
                  HELD_OUT: [b.name for b in bags if b.name in held]}
        (stage / SPLIT_FILE).write_text(json.dumps(record, indent=2) + '\n')
    return record
