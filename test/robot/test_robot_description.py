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
