"""The scripted experts succeed on at least 95 of 100 seeds per family (no rendering)."""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import pytest  # noqa: E402

from vag_ros.sim import make_task, TASK_FAMILIES, World  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_expert_success_rate(family):
    world = World()
    failures = [seed for seed in range(100)
                if not world.run_expert(make_task(family, seed), render=False).metadata.success]
    assert len(failures) <= 5, f'{family}: expert failed on seeds {failures}'
