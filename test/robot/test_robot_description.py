"""The URDF is the one description of the arm: names, limits, tree."""

import numpy as np
import pytest

from vag_ros.errors import ConfigError
from vag_ros.robot import load_robot_description, parse_robot_description


ARM = ('joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6')


def test_default_urdf_has_seven_actuated_joints():
    robot = load_robot_description()
    assert robot.name == 'vag_arm'
    assert robot.joint_names == ARM + ('left_finger_joint',)
    assert robot.dof == 7
    assert robot.arm_joint_names == ARM
    assert robot.gripper_joint_name == 'left_finger_joint'
    assert robot.root_link == 'base_link'
    assert {'tool0', 'tcp', 'hand', 'left_finger', 'right_finger'} <= set(robot.links)


def test_limits_are_sensible():
    robot = load_robot_description()
    for array in (robot.lower, robot.upper, robot.velocity):
        assert array.shape == (7,) and np.all(np.isfinite(array))
    assert np.all(robot.lower < robot.upper)
    assert np.all(robot.velocity > 0)
    assert robot.lower[-1] == 0.0 and 0.03 <= robot.upper[-1] <= 0.05  # finger opening, m
    assert all(robot.joint(n).type == 'revolute' and robot.joint(n).effort > 0 for n in ARM)


def test_mimic_finger_and_tree():
    robot = load_robot_description()
    right = robot.joint('right_finger_joint')
    assert right.type == 'prismatic' and right.mimic == 'left_finger_joint'
    j2 = robot.joint('joint2')
    assert (j2.parent, j2.child) == ('link1', 'link2')
    np.testing.assert_allclose(j2.axis, [0, 1, 0])
    assert j2.origin_xyz.shape == (3,) and j2.origin_rpy.shape == (3,)
    with pytest.raises(ConfigError, match='no joint named'):
        robot.joint('elbow')


def test_every_link_has_inertial_and_primitive_geometry():
    import xml.etree.ElementTree as ET
    root = ET.fromstring(load_robot_description().urdf)
    for link in root.findall('link'):
        if link.get('name') in ('tool0', 'tcp'):
            continue
        assert link.find('inertial/mass') is not None, link.get('name')
        for geometry in link.findall('collision/geometry'):
            assert geometry[0].tag in ('box', 'cylinder', 'sphere')


@pytest.mark.parametrize('text, message', [
    ('<robot', 'not valid XML'),
    ('<robot name="r"><link name="a"/></robot>', 'no actuated joints'),
    ('<robot name="r"><link name="a"/><link name="b"/><joint name="j" type="revolute">'
     '<parent link="a"/><child link="b"/></joint></robot>', 'needs <limit>'),
    ('<robot name="r"><link name="a"/><link name="b"/><joint name="j" type="revolute">'
     '<parent link="a"/><child link="b"/><limit lower="1" upper="0" velocity="1" effort="1"/>'
     '</joint></robot>', 'lower=1.0 > upper=0.0'),
])
def test_bad_urdf_raises_config_error(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_robot_description(text)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match='URDF not found'):
        load_robot_description(tmp_path / 'nope.urdf')


def _chain_urdf(joints) -> str:
    """A serial chain root -> l1 -> ... from (name, type, limit attributes or None)."""
    links = ['<link name="world"/>'] + [f'<link name="l{i}"/>' for i in range(1, len(joints) + 1)]
    body = []
    for i, (name, kind, limit) in enumerate(joints, start=1):
        parent = 'world' if i == 1 else f'l{i - 1}'
        limit_xml = f'<limit {limit}/>' if limit else ''
        body.append(f'<joint name="{name}" type="{kind}"><parent link="{parent}"/>'
                    f'<child link="l{i}"/><axis xyz="0 0 1"/>{limit_xml}</joint>')
    return f'<robot name="ur_like">{"".join(links)}{"".join(body)}</robot>'


REVOLUTE = 'lower="-6.28" upper="6.28" velocity="3.14" effort="50"'


def test_an_arm_without_a_gripper_keeps_every_joint_as_arm():
    """A UR-like arm, no gripper: the last joint is its wrist, not a gripper; its
    continuous wrist has no position limits (none declared), only a velocity limit."""
    names = ('shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint',
             'wrist_2_joint', 'wrist_3_joint')
    joints = [(n, 'revolute', REVOLUTE) for n in names[:-1]] + \
        [(names[-1], 'continuous', 'velocity="3.14" effort="28"')]
    robot = parse_robot_description(_chain_urdf(joints))
    assert robot.root_link == 'world'
    assert not robot.has_gripper
    assert robot.arm_joint_names == names
    with pytest.raises(ConfigError, match='no gripper joint'):
        robot.gripper_joint_name
    assert robot.lower[-1] == -np.inf and robot.upper[-1] == np.inf
    assert robot.velocity[-1] == pytest.approx(3.14)
    from vag_ros.robot.kinematics import KinematicChain
    assert KinematicChain(robot).tip_link() == 'l6'  # the wrist's link, not wrist_2's


@pytest.mark.parametrize('last', [
    ('finger_joint', 'revolute', 'lower="0" upper="0.8" velocity="2" effort="10"'),
    ('slider', 'prismatic', 'lower="0" upper="0.04" velocity="0.1" effort="10"'),
])
def test_a_gripper_is_told_by_its_joint(last):
    joints = [(f'j{i}', 'revolute', REVOLUTE) for i in range(1, 7)] + [last]
    robot = parse_robot_description(_chain_urdf(joints))
    assert robot.has_gripper and robot.gripper_joint_name == last[0]
    assert robot.arm_joint_names == tuple(f'j{i}' for i in range(1, 7))


def test_a_continuous_joint_is_validated_without_position_limits():
    """A continuous wrist turned from 3.0 to 3.5 rad (past pi) is within limits; its URDF
    velocity limit still binds."""
    from vag_ros.errors import TrajectoryError
    from vag_ros.robot.safety_config import SafetyConfig
    from vag_ros.robot.trajectory_validation import validate_trajectory
    robot = parse_robot_description(_chain_urdf([('j1', 'revolute', REVOLUTE),
                                                 ('j2', 'continuous', 'velocity="1" effort="1"')]))
    config = SafetyConfig(start_tolerance=0.05)
    limits = config.resolve(robot)
    assert limits.lower[1] == -np.inf and limits.upper[1] == np.inf
    times = np.linspace(0.0, 4.0, 41)                       # (T,)
    shape = 0.5 * (1 - np.cos(np.pi * times / times[-1]))   # (T,) 0 -> 1, rest to rest
    positions = np.stack([np.zeros_like(times), 3.0 + 0.5 * shape], axis=1)  # (T, 2)
    ok = validate_trajectory(['j1', 'j2'], positions, times, robot, config, positions[0])
    assert ok.positions[-1, 1] == pytest.approx(3.5)
    with pytest.raises(TrajectoryError, match='velocity'):  # 0.5 rad in 0.4 s > 0.5 rad/s
        validate_trajectory(['j1', 'j2'], positions, times / 10, robot, config, positions[0])
