"""Which robot ingest writes into the episodes: --urdf, else the bags' robot_description."""

from lab_bags import CAMERA, LAB_URDF, write_lab_recording
import pytest

from vag_ros.episodes.bag_reader import list_episode_bags
from vag_ros.errors import ConfigError, EpisodeError
from vag_ros.ingest.robot_source import bag_robot_description, ingest_robot


def test_the_bags_robot_description_names_the_robot(tmp_path):
    write_lab_recording(tmp_path / 'a', 0, 'wipe')
    write_lab_recording(tmp_path / 'b', 1, 'wipe')
    assert bag_robot_description(tmp_path / 'a') == LAB_URDF.read_text()
    robot, source = ingest_robot([tmp_path / 'a', tmp_path / 'b'])
    assert robot.name == 'lab_arm' and '/robot_description of' in source
    same, source = ingest_robot([tmp_path / 'a'], LAB_URDF)
    assert same.joint_names == robot.joint_names and source == f'--urdf {LAB_URDF}'


def test_a_urdf_of_another_robot_than_the_bags_is_refused_naming_both(tmp_path):
    write_lab_recording(tmp_path / 'a', 0, 'wipe')
    with pytest.raises(ConfigError, match="robot 'lab_arm'.*robot 'vag_arm'"):
        ingest_robot([tmp_path / 'a'], 'config/robot/vag_arm.urdf')


def test_without_either_ingest_asks_for_the_urdf_and_writes_nothing(tmp_path, capsys):
    """Never the package's arm by default: one line that says what to pass, no --out."""
    from vag_ros.cli import main
    write_lab_recording(tmp_path / 'a', 0, 'wipe', description=False)
    assert bag_robot_description(tmp_path / 'a') is None
    with pytest.raises(EpisodeError, match='carry no /robot_description: pass --urdf'):
        ingest_robot([tmp_path / 'a'])
    out = tmp_path / 'episodes'
    assert main(['ingest', '--bags', str(tmp_path / 'a'), '--out', str(out)]) == 2
    assert 'pass --urdf' in capsys.readouterr().err and not out.exists()
    assert main(['ingest', '--bags', str(tmp_path / 'a'), '--out', str(out), '--urdf',
                 str(LAB_URDF), '--camera-topic', CAMERA, '--instruction', 'wipe',
                 '--quiet']) == 0
    assert len(list_episode_bags(out)) == 1
