"""The world: determinism, replay, success checks and bad input, with real MuJoCo."""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vag_ros.errors import SimError  # noqa: E402
from vag_ros.robot import load_robot_description  # noqa: E402
from vag_ros.sim import make_task, SimConfig, TASK_FAMILIES, World  # noqa: E402


@pytest.fixture(scope='module')
def world():
    world = World(SimConfig(width=32, height=24))
    yield world
    world.close()


def test_model_is_built_from_the_urdf(world):
    robot = load_robot_description()
    assert world.robot.joint_names == robot.joint_names
    assert world.model.nu == 7
    for name in robot.joint_names + ('right_finger_joint',):
        assert world.model.joint(name).name == name
    assert world.model.neq >= 1  # the mimic finger is coupled by an equality constraint


def test_expert_episode_is_deterministic_with_frames(world):
    task = make_task('pick', 11)
    first = world.run_expert(task)
    second = World(SimConfig(width=32, height=24)).run_expert(task)
    first.validate()
    assert first.frames.shape == (40, 24, 32, 3) and first.frames.dtype == np.uint8
    assert first.joints.shape == first.actions.shape == (40, 7)
    assert first.frames.std() > 0
    np.testing.assert_array_equal(first.frames, second.frames)
    np.testing.assert_array_equal(first.joints, second.joints)
    np.testing.assert_array_equal(first.actions, second.actions)
    meta = first.metadata
    assert meta.source == 'expert' and meta.robot == 'vag_arm'
    assert meta.joint_names == world.robot.joint_names
    assert meta.task == 'pick' and meta.seed == 11 and meta.frame_rate == 10.0
    assert meta.instruction == task.instruction and meta.success


def test_different_seeds_differ(world):
    a = world.run_expert(make_task('touch', 1), render=False)
    b = world.run_expert(make_task('touch', 2), render=False)
    assert not np.allclose(a.actions, b.actions)
    assert a.frames.shape == (40, 0, 0, 3)


@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_replay_of_expert_succeeds_and_idle_fails(world, family):
    task = make_task(family, 5)
    episode = world.run_expert(task, render=False)
    assert episode.metadata.success
    result = world.replay(task, episode.actions, render=False)
    assert result.success
    np.testing.assert_array_equal(result.joints, episode.joints)
    idle = np.tile(np.asarray(task.initial_joints), (40, 1))  # (T, D): hold still
    assert not world.replay(task, idle, render=False).success


def test_push_in_the_wrong_direction_fails(world):
    task = make_task('push', 2)
    episode = world.run_expert(task, render=False)
    opposite = {'left': 'right', 'right': 'left', 'forward': 'backward',
                'backward': 'forward'}[task.direction]
    wrong = type(task)(**{**task.__dict__, 'direction': opposite})
    assert not world.replay(wrong, episode.actions, render=False).success


def test_pick_is_a_friction_grasp(world):
    task = make_task('pick', 3)
    actions = world.run_expert(task, render=False).actions.copy()
    actions[:, -1] = 0.035  # never close the fingers: the block must stay on the table
    assert not world.replay(task, actions, render=False).success


def test_replay_from_other_initial_joints(world):
    task = make_task('touch', 0)
    start = np.asarray(task.initial_joints) + 0.02
    result = world.replay(task, np.tile(start, (3, 1)), initial_joints=start, render=False)
    np.testing.assert_allclose(result.joints[0], start)


@pytest.mark.parametrize('actions, message', [
    (np.zeros((40, 6)), r'expected shape \(T, 7\)'),
    (np.zeros(7), r'expected shape \(T, 7\)'),
    (np.zeros((0, 7)), r'expected shape \(T, 7\)'),
    ('abc', 'not a numeric'),
    (np.full((4, 7), np.nan), 'NaN or inf at step'),
])
def test_bad_actions(world, actions, message):
    with pytest.raises(SimError, match=message):
        world.replay(make_task('touch', 0), actions, render=False)


def test_bad_initial_joints_and_task(world):
    task = make_task('touch', 0)
    with pytest.raises(SimError, match='initial_joints'):
        world.replay(task, np.zeros((2, 7)), initial_joints=np.zeros(3))
    with pytest.raises(SimError, match='outside the URDF limits'):
        world.replay(task, np.zeros((2, 7)), initial_joints=np.full(7, 5.0))
    with pytest.raises(SimError, match='expected a Task'):
        world.reset('touch')
    with pytest.raises(SimError, match='unknown task family'):
        world.make_task('fly', 0)
