"""Forward kinematics against MuJoCo's own import of the same URDF."""

import mujoco
import numpy as np
import pytest

from vag_ros.errors import ConfigError, TrajectoryError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.kinematics import end_effector_positions, KinematicChain, link_poses


@pytest.fixture(scope='module')
def description():
    return load_robot_description()


@pytest.fixture(scope='module')
def mj_model(description):
    spec = mujoco.MjSpec.from_file(str(description.path))
    spec.compiler.fusestatic = False  # keep tool0, hand and tcp as bodies
    return spec.compile()


def _random_q(description, rng):
    return rng.uniform(description.lower, description.upper)  # (D,)


def _mujoco_poses(model, description, q):
    """{body: (4, 4)} from mj_kinematics, with mimic joints set like the URDF says."""
    data = mujoco.MjData(model)
    values = KinematicChain(description).joint_values(q)
    for j in range(model.njnt):
        name = model.joint(j).name
        data.qpos[model.jnt_qposadr[j]] = values[name]
    mujoco.mj_kinematics(model, data)
    poses = {}
    for b in range(1, model.nbody):
        pose = np.eye(4)
        pose[:3, :3] = data.xmat[b].reshape(3, 3)
        pose[:3, 3] = data.xpos[b]
        poses[model.body(b).name] = pose
    return poses


def test_matches_mujoco_for_random_joint_positions(description, mj_model):
    rng = np.random.default_rng(0)
    chain = KinematicChain(description)
    for _ in range(20):
        q = _random_q(description, rng)
        ours = chain.link_poses(q)
        theirs = _mujoco_poses(mj_model, description, q)
        assert set(theirs) <= set(ours)
        assert len(theirs) >= len(description.links) - 1  # at most the root is merged
        for link, pose in theirs.items():
            np.testing.assert_allclose(ours[link], pose, atol=1e-6, err_msg=link)


def test_every_link_and_mimic_finger(description):
    q = np.zeros(description.dof)
    q[-1] = 0.03
    poses = link_poses(description, q)
    assert set(poses) == set(description.links)
    hand = poses['hand'][:3, 3]
    # the right finger mirrors the left one (axis 0 -1 0, multiplier 1)
    np.testing.assert_allclose(poses['left_finger'][:3, 3] - hand, [0, 0.03, 0.02], atol=1e-12)
    np.testing.assert_allclose(poses['right_finger'][:3, 3] - hand, [0, -0.03, 0.02],
                               atol=1e-12)


def test_zero_pose_is_the_stacked_origins(description):
    poses = link_poses(description, np.zeros(description.dof))
    # 0.1 + 0.1 + 0.35 + 0.3 + 0.06 + 0.06 + 0.02 along z
    np.testing.assert_allclose(poses['tool0'][:3, 3], [0, 0, 0.99], atol=1e-12)
    np.testing.assert_allclose(poses['tcp'][:3, 3], [0, 0, 1.05], atol=1e-12)


def test_end_effector_positions(description):
    rng = np.random.default_rng(1)
    traj = np.stack([_random_q(description, rng) for _ in range(5)])  # (T, D)
    out = end_effector_positions(description, traj)                   # (T, 3)
    assert out.shape == (5, 3)
    for t in range(5):
        np.testing.assert_allclose(out[t], link_poses(description, traj[t])['tool0'][:3, 3])
    tcp = end_effector_positions(description, traj, link='tcp')
    assert not np.allclose(tcp, out)


def test_bad_inputs(description):
    with pytest.raises(TrajectoryError, match='shape'):
        link_poses(description, np.zeros(3))
    with pytest.raises(TrajectoryError, match='finite'):
        link_poses(description, np.full(description.dof, np.nan))
    with pytest.raises(ConfigError, match='no link named'):
        end_effector_positions(description, np.zeros((2, description.dof)), link='nope')


def test_mimic_multiplier_and_offset_from_urdf(description):
    from vag_ros.robot.description import parse_robot_description
    text = description.urdf.replace(
        '<mimic joint="left_finger_joint" multiplier="1" offset="0"/>',
        '<mimic joint="left_finger_joint" multiplier="-0.5" offset="0.01"/>')
    assert text != description.urdf
    other = parse_robot_description(text)
    q = np.zeros(other.dof)
    q[-1] = 0.02
    poses = link_poses(other, q)
    # right finger axis is -y: value -0.5 * 0.02 + 0.01 = 0 -> at the hand origin + z
    np.testing.assert_allclose(poses['right_finger'][:3, 3] - poses['hand'][:3, 3],
                               [0, 0, 0.02], atol=1e-12)
