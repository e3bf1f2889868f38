"""Safety limits per joint: numbers fit any robot, lists and joint-name maps fit one."""

from pathlib import Path

import numpy as np
import pytest

from vag_ros.errors import ConfigError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.safety_config import load_safety_config, SafetyConfig

LAB_URDF = Path(__file__).resolve().parents[1] / 'data' / 'lab_arm.urdf'


@pytest.fixture(scope='module')
def lab():
    return load_robot_description(LAB_URDF)


def test_the_shipped_limits_fit_a_robot_the_package_has_never_seen(lab):
    limits = load_safety_config().resolve(lab)
    assert limits.acceleration.shape == (lab.dof,)
    assert limits.units == ('rad',) * 5 + ('m',)
    np.testing.assert_allclose(limits.velocity, 0.5 * lab.velocity)


def test_a_map_names_joints_and_the_rest_take_default(lab):
    safety = SafetyConfig(max_acceleration={'default': 2.0, 'wrist_roll_joint': 3.5},
                          prismatic_max_acceleration=0.3)
    acc = safety.resolve(lab).acceleration
    assert acc.tolist() == [2.0, 2.0, 2.0, 2.0, 3.5, 0.3]


@pytest.mark.parametrize('value, message', [
    ({'default': 2.0, 'joint6': 3.0}, "['joint6'] are not joints of lab_arm"),
    ({'wrist_roll_joint': 3.0}, "joint 'shoulder_pan_joint' has no value"),
])
def test_a_map_is_checked_against_the_robot(lab, value, message):
    with pytest.raises(ConfigError, match=message.replace('[', r'\[').replace(']', r'\]')):
        SafetyConfig(max_acceleration=value).resolve(lab)


@pytest.mark.parametrize('value', [{}, {'default': -1.0}, {'default': 'fast'}, {3: 1.0}])
def test_a_bad_map_is_refused_when_read(value):
    with pytest.raises(ConfigError, match='max_acceleration'):
        SafetyConfig(max_acceleration=value)


def test_a_list_of_another_robot_names_the_joints(lab):
    with pytest.raises(ConfigError, match='expected one number or 6'):
        SafetyConfig(max_acceleration=[2.0] * 7).resolve(lab)
