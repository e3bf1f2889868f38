"""The robot travels with the checkpoint: robot.urdf beside the weights, checked at use."""

from pathlib import Path

import pytest

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.checkpoint import checkpoint_robot, ROBOT, save_checkpoint
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.vag import VagModel
from vag_ros.robot.description import load_robot_description

LAB_URDF = Path(__file__).resolve().parents[1] / 'data' / 'lab_arm.urdf'


@pytest.fixture
def lab_checkpoint(tmp_path, config):
    import dataclasses
    lab = load_robot_description(LAB_URDF)
    config = dataclasses.replace(config, action=dataclasses.replace(config.action, dim=6))
    return save_checkpoint(tmp_path / 'lab', VagModel(config), config,
                           ActionNormalizer.identity(6), robot=lab)


def test_the_checkpoint_records_its_robot(lab_checkpoint):
    from vag_ros.checksums import read_checksums
    from vag_ros.model.checkpoint import load_checkpoint
    assert ROBOT in read_checksums(lab_checkpoint)
    robot = checkpoint_robot(lab_checkpoint)
    assert robot.name == 'lab_arm' and robot.joint_names[0] == 'shoulder_pan_joint'
    assert load_checkpoint(lab_checkpoint).extra['robot']['joint_names'] == list(
        robot.joint_names)


def test_the_package_arm_is_refused_for_a_lab_checkpoint(lab_checkpoint):
    with pytest.raises(ConfigError, match="robot 'vag_arm'.*robot 'lab_arm'"):
        checkpoint_robot(lab_checkpoint, 'config/robot/vag_arm.urdf')


def test_the_same_robot_with_other_limits_is_used(lab_checkpoint, tmp_path):
    tighter = tmp_path / 'tight.urdf'
    tighter.write_text(LAB_URDF.read_text().replace('lower="-2.5" upper="2.5"',
                                                    'lower="-1.0" upper="1.0"'))
    robot = checkpoint_robot(lab_checkpoint, tighter)
    assert robot.lower[0] == -1.0 and robot.path == tighter


def test_a_modified_robot_file_is_refused(lab_checkpoint):
    path = lab_checkpoint / ROBOT
    path.write_text(path.read_text().replace('velocity="1.2"', 'velocity="9.9"'))
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        checkpoint_robot(lab_checkpoint)


def test_a_checkpoint_without_robot_needs_the_urdf(tmp_path, model, config):
    save_checkpoint(tmp_path / 'old', model, config, ActionNormalizer.identity(7))
    with pytest.raises(CheckpointError, match='records no robot.*--urdf'):
        checkpoint_robot(tmp_path / 'old')
    assert checkpoint_robot(tmp_path / 'old', 'config/robot/vag_arm.urdf').name == 'vag_arm'
    with pytest.raises(CheckpointError, match='action.dim=7 but robot lab_arm has 6'):
        checkpoint_robot(tmp_path / 'old', LAB_URDF)


def test_a_robot_of_another_joint_count_is_not_saved(tmp_path, model, config):
    with pytest.raises(CheckpointError, match='lab_arm has 6 joints'):
        save_checkpoint(tmp_path / 'x', model, config, ActionNormalizer.identity(7),
                        robot=load_robot_description(LAB_URDF))


def test_a_folder_that_is_not_a_checkpoint_is_told_so(tmp_path):
    (tmp_path / 'empty').mkdir()
    with pytest.raises(CheckpointError, match='is not a checkpoint .no config.yaml.'):
        checkpoint_robot(tmp_path / 'empty', LAB_URDF)    # not sent to look for a URDF
