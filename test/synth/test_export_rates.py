"""vag-ros export-lerobot at the episodes' own rate: a lab's 15 Hz recording stays 15 Hz."""

from lab_bags import LAB_JOINTS, lab_bags, lab_episode
import numpy as np

from vag_ros.cli import main
from vag_ros.datasets import video_files
from vag_ros.datasets.lerobot_reader import read_dataset
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.episodes.bag_writer import write_episode


def export(episodes, out, *extra):
    return main(['export-lerobot', '--episodes', str(episodes), '--out', str(out), '--codec',
                 'h264', *extra])


def test_native_rate_exports_at_the_recorded_rate(tmp_path, capsys):
    bags = lab_bags(tmp_path / 'lab', 2, steps=6, size=(16, 16))   # 15 Hz, 5 lab joints
    assert export(bags, tmp_path / 'ds', '--fps', 'native') == 0
    assert '12 frames at 15 fps' in capsys.readouterr().out
    data = read_dataset(tmp_path / 'ds')  # checks timestamps = frame_index / fps
    assert data.info['fps'] == 15
    assert data.info['features']['observation.state']['names'] == list(LAB_JOINTS)
    episode = data.episodes[1]
    np.testing.assert_allclose(episode.timestamps, np.arange(6) / 15, atol=1e-6)
    recorded = read_episode(bags / 'session1_ep000')
    np.testing.assert_array_equal(episode.state, recorded.joints.astype(np.float32))
    _, stamps = video_files.decode_video(episode.video_files['observation.images.camera'])
    np.testing.assert_allclose(stamps, np.arange(6) / 15, atol=1e-3)  # the video at 15 fps
    assert export(bags, tmp_path / 'ds15', '--fps', '15') == 0       # the rate, said aloud


def test_rates_that_do_not_fit_are_refused_naming_the_bags(tmp_path, capsys):
    bags = lab_bags(tmp_path / 'lab', 1, steps=3)
    assert export(bags, tmp_path / 'ds10', '--fps', '10') == 2
    err = capsys.readouterr().err
    assert 'session0_ep000: recorded at 15 Hz, not the --fps 10' in err, err
    write_episode(lab_episode(1, frame_rate=10.0), bags, 'session1_ep000')
    assert export(bags, tmp_path / 'mixed') == 2
    err = capsys.readouterr().err
    assert 'session1_ep000: 10 Hz' in err and 'session0_ep000: 15 Hz' in err, err
    odd = tmp_path / 'odd'
    write_episode(lab_episode(2, frame_rate=12.5), odd, 'session2_ep000')
    assert export(odd, tmp_path / 'ds_odd') == 2
    assert 'recorded at 12.5 Hz; a LeRobot data set needs an integer rate' in \
        capsys.readouterr().err
    for text in ('fifteen', '0', '15.5'):
        try:
            export(bags, tmp_path / 'x', '--fps', text)
        except SystemExit as exc:
            assert exc.code == 2
        assert 'expected native or a positive integer rate' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['lab', 'odd']  # nothing left


def test_episodes_of_two_robots_are_refused_naming_both_robots(tmp_path, capsys):
    """Checked before the camera sizes: the robot is what makes the columns mean joints."""
    import dataclasses
    bags = lab_bags(tmp_path / 'lab', 1, steps=3)
    other = lab_episode(1, size=(16, 20))
    other = dataclasses.replace(other, metadata=dataclasses.replace(
        other.metadata, robot='ur5e', joint_names=tuple(f'ur_{n}' for n in
                                                        other.metadata.joint_names)))
    write_episode(other, bags, 'session1_ep000')
    assert export(bags, tmp_path / 'mixed') == 2
    err = capsys.readouterr().err
    assert "robot 'ur5e'" in err and "robot 'lab_arm'" in err and 'one robot' in err, err
    assert not (tmp_path / 'mixed').exists()
