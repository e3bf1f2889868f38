"""The embedded MuJoCo world: tabletop scene, tasks with instructions, experts, replay."""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')  # headless rendering unless the caller chose

from vag_ros.sim.config import load_sim_config, SimConfig  # noqa: E402
from vag_ros.sim.tasks import Task, TASK_FAMILIES  # noqa: E402
from vag_ros.sim.world import make_task, ReplayResult, World  # noqa: E402

__all__ = ['ReplayResult', 'SimConfig', 'TASK_FAMILIES', 'Task', 'World', 'load_sim_config',
           'make_task']
