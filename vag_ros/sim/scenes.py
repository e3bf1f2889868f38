"""The embedded world's seeded scenes: a first frame, the arm's measured joints at that frame
and an instruction, with the task they came from (so a trajectory can be replayed and judged).

A lab's first frames are scenes too (vag_ros.synth.scenes reads them into these types).
"""

import dataclasses
from pathlib import Path
import typing

import numpy as np


@dataclasses.dataclass
class SceneSpec:
    """What identifies one scene before anything is rendered."""

    index: int                  # position in the run's scene list (also the merge order)
    name: str                   # its bag name
    seed: int                   # task seed (world) and generation seed
    family: str = 'generated'   # task family, or 'generated' for a lab's frame
    image: typing.Optional[Path] = None         # first-frame file (first-frames lists)
    state: typing.Optional[typing.List[float]] = None
    instruction: typing.Optional[str] = None


@dataclasses.dataclass
class Scene:
    """A scene ready to generate from."""

    spec: SceneSpec
    first_frame: np.ndarray     # (H, W, 3) uint8 RGB
    state: np.ndarray           # (D,) measured joints
    instruction: str
    task: typing.Any = None     # vag_ros.sim.tasks.Task for world scenes


def world_specs(count: int, seed: int, task: str = 'all') -> typing.List[SceneSpec]:
    """``count`` seeded world scenes, task families in turn (as sim-record and eval)."""
    from vag_ros.sim.record import task_schedule
    return [SceneSpec(k, f'{family}_seed{s:06d}', s, family)
            for k, (family, s) in enumerate(task_schedule(task, count, seed))]


class WorldScenes:
    """Renders world scenes: the seeded task, its first frame and initial joints."""

    def __init__(self, world, templates: str = 'train'):
        self.world, self.templates = world, templates

    def load(self, spec: SceneSpec) -> Scene:
        task = self.world.make_task(spec.family, spec.seed, self.templates)
        self.world.reset(task)
        return Scene(spec, self.world.render(), self.world.joints(), task.instruction, task)
