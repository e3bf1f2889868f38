"""Episodes whose actions are withheld from training: their video trains the video branch,
their action labels train nothing (metadata.extra['actions'] = 'withheld').

What a lab has more of than labelled runs (failed or unlabelled recordings), and the
action-free regime of the study: many videos, few labelled episodes. The user's bags are
never changed: the withheld ones are written again into ``out`` with the mark, the kept ones
hard-linked (or copied) as they are, all in a hidden folder renamed into place.
"""

import dataclasses
import json
from pathlib import Path
import typing

from vag_ros.episodes.bag_reader import list_episode_bags, read_episode
from vag_ros.episodes.bag_writer import write_episode
from vag_ros.errors import EpisodeError
from vag_ros.outputs import new_folder

WITHHELD = 'withheld'      # metadata.extra['actions'] of a video-only episode
RECORD = 'withheld.json'


def withhold_actions(episodes, out, keep: typing.Iterable[str] = ()) -> dict:
    """Write every bag of ``episodes`` into ``out``: those named in ``keep`` as they are,
    the others marked as withheld; returns (and writes as ``out``/withheld.json) which."""
    from vag_ros.episodes.split import _link_tree
    episodes, keep = Path(episodes), set(keep)
    bags = list_episode_bags(episodes)
    if not bags:
        raise EpisodeError(f'--episodes {episodes}: no episode bag (a folder with '
                           'metadata.yaml)')
    unknown = sorted(keep - {b.name for b in bags})
    if unknown:
        raise EpisodeError(f'--keep names {len(unknown)} bag(s) not in {episodes}: '
                           f'{unknown[:3]}')
    with new_folder(out) as stage:
        for bag in bags:
            if bag.name in keep:
                _link_tree(bag, stage / bag.name, copy=False)
                continue
            episode = read_episode(bag)
            extra = dict(episode.metadata.extra, actions=WITHHELD)
            metadata = dataclasses.replace(episode.metadata, extra=extra)
            write_episode(dataclasses.replace(episode, metadata=metadata), stage, bag.name)
        record = {'episodes': str(episodes.resolve()),
                  'labelled': sorted(keep),
                  WITHHELD: sorted(b.name for b in bags if b.name not in keep)}
        (stage / RECORD).write_text(json.dumps(record, indent=2) + '\n')
    return record
