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


@pytest.mark.slow
@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_expert_trajectories_pass_replay_validation(family):
    """Expert data must be replayable under the shipped safety config with the demo's
    slow_down: the wrist never winds to joint6's limit (grasp yaw chosen by the block's
    symmetry), the first frame does not jump, and at most a 3.25x slow-down is needed
    (the streamed PCHIP curve's peak acceleration is checked, not only finite
    differences between waypoints)."""
    import dataclasses

    import numpy as np

    from vag_ros.robot.description import load_robot_description
    from vag_ros.robot.safety_config import load_safety_config
    from vag_ros.robot.trajectory_validation import validate_trajectory

    robot, world = load_robot_description(), World()
    safety = dataclasses.replace(load_safety_config(), on_violation='slow_down')
    for seed in range(30):
        task = make_task(family, seed)
        actions = world.expert_actions(task)  # (T, D)
        times = (np.arange(len(actions)) + 1) / world.config.frame_rate
        checked = validate_trajectory(robot.joint_names, actions, times, robot, safety,
                                      current_positions=np.asarray(task.initial_joints))
        assert checked.time_scale <= 3.25, (family, seed, checked.time_scale)
