"""Record a dataset of scripted-expert episodes of the embedded world, one bag each."""

import dataclasses
from pathlib import Path
import time
import typing

from tqdm import tqdm

from vag_ros.episodes.bag_writer import write_episode
from vag_ros.errors import EpisodeError, SimError
from vag_ros.outputs import undone_on_failure, writable_folder
from vag_ros.sim.config import load_sim_config
from vag_ros.sim.world import TASK_FAMILIES, World


@dataclasses.dataclass
class RecordSummary:
    """What ``record_expert_dataset`` wrote, and how fast."""

    paths: typing.List[Path]
    successes: typing.Dict[str, typing.List[bool]]
    seconds: float
    requested: int

    @property
    def all_written(self) -> bool:
        return len(self.paths) == self.requested

    @property
    def episodes_per_minute(self) -> float:
        return 60.0 * len(self.paths) / max(self.seconds, 1e-9)

    def describe(self) -> str:
        lines = [f'wrote {len(self.paths)}/{self.requested} episode bags in '
                 f'{self.seconds:.1f} s ({self.episodes_per_minute:.1f} episodes/min)']
        for family, results in sorted(self.successes.items()):
            lines.append(f'  {family}: expert success {sum(results)}/{len(results)}')
        lines += [f'  {path}' for path in self.paths]
        return '\n'.join(lines)


def task_schedule(task: str, episodes: int, seed: int) -> typing.List[typing.Tuple[str, int]]:
    """(family, seed) per episode: one family, or all families in turn."""
    if task == 'all':
        families = list(TASK_FAMILIES)
    elif task in TASK_FAMILIES:
        families = [task]
    else:
        raise SimError(f'unknown task {task!r}; known: {", ".join(TASK_FAMILIES)} or "all"')
    return [(families[k % len(families)], seed + k) for k in range(episodes)]


def record_expert_dataset(out_dir, episodes: int, task: str = 'all', seed: int = 0,
                          config_path=None, progress: bool = True,
                          templates: str = 'train') -> RecordSummary:
    """Run the scripted expert for ``episodes`` seeds and write one MCAP bag per episode."""
    schedule = task_schedule(task, episodes, seed)
    out = writable_folder(out_dir, create=False)   # made when the first bag is written
    names = [f'{family}_seed{episode_seed:06d}' for family, episode_seed in schedule]
    existing = [name for name in names if (out / name).exists()]
    if existing:
        raise EpisodeError(f'{out} already holds {len(existing)} of these bags '
                           f'(first: {existing[0]}); refusing to overwrite: choose another '
                           f'--out or --seed')
    world = World(load_sim_config(config_path))
    paths, successes = [], {}
    start = time.perf_counter()
    with undone_on_failure(out):   # the bags written stay; a folder left empty does not
        writable_folder(out)
        for (family, episode_seed), name in tqdm(list(zip(schedule, names)), desc='sim-record',
                                                 unit='episode', disable=not progress):
            episode = world.run_expert(world.make_task(family, episode_seed, templates))
            paths.append(write_episode(episode, out, name=name))
            successes.setdefault(family, []).append(bool(episode.metadata.success))
    return RecordSummary(paths, successes, time.perf_counter() - start, episodes)
