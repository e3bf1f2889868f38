"""Episode bags: round trip through two readers, atomic writes, and refusal of bad bags."""

import errno
import json
import os
import shutil
import types

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from vag_ros.episodes import bag_writer as bw
from vag_ros.episodes import topics as tp
from vag_ros.episodes.bag_reader import (
    is_partial, list_episode_bags, read_episode, read_episode_mcap)
from vag_ros.episodes.bag_writer import EpisodeBagWriter, write_episode
from vag_ros.episodes.episode import Episode, EpisodeMetadata
from vag_ros.errors import EpisodeError


T, H, W, D = 5, 16, 16, 7
START_NS = 1_700_000_000_123_456_789


def make_episode(seed: int = 0) -> Episode:
    rng = np.random.default_rng(seed)
    meta = EpisodeMetadata(
        task='pick_cube', seed=seed, success=True, robot='panda',
        joint_names=tuple(f'panda_joint{i + 1}' for i in range(D)), frame_rate=10.0,
        source='expert', instruction='pick up the red cube',
        extra={'scene': 'tabletop', 'gains': [1.5, 2.0]})
    return Episode(
        frames=rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8),  # (T, H, W, 3)
        joints=rng.normal(size=(T, D)),                              # (T, D)
        actions=rng.normal(size=(T, D)),                             # (T, D)
        metadata=meta)


def assert_same(a: Episode, b: Episode) -> None:
    assert a.frames.dtype == b.frames.dtype == np.uint8
    assert a.joints.dtype == b.joints.dtype == np.float64
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.joints, b.joints)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert a.metadata == b.metadata


def leftovers(directory) -> list:
    return sorted(os.listdir(directory))


@pytest.fixture
def episode():
    return make_episode()


# -- round trip ----------------------------------------------------------------------------


def test_round_trip_rosbags_and_mcap_readers(tmp_path, episode):
    path = write_episode(episode, tmp_path, name='ep0', start_time_ns=START_NS)
    assert path == tmp_path / 'ep0'
    assert sorted(os.listdir(path)) == ['ep0.mcap', 'metadata.yaml']
    assert leftovers(tmp_path) == ['ep0']
    assert_same(read_episode(path), episode)
    assert_same(read_episode_mcap(path), episode)


def test_mcap_reader_sees_every_stream(tmp_path, episode):
    """The independent mcap_ros2 decoder sees the raw messages as ROS would."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    path = write_episode(episode, tmp_path, name='ep0', start_time_ns=START_NS)
    by_topic = {}
    with open(path / 'ep0.mcap', 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, message, ros_msg in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append(
                types.SimpleNamespace(schema=schema, log_time_ns=message.log_time,
                                      ros_msg=ros_msg))
    assert {t: by_topic[t][0].schema.name for t in by_topic} == tp.EpisodeTopics().types()

    images = by_topic[tp.CAMERA_TOPIC]
    assert len(images) == T
    for k, m in enumerate(images):
        img = m.ros_msg
        assert (img.encoding, img.height, img.width, img.step) == ('rgb8', H, W, 3 * W)
        stamp = img.header.stamp.sec * 10**9 + img.header.stamp.nanosec
        assert stamp == m.log_time_ns == START_NS + k * 100_000_000
        frame = np.frombuffer(bytes(img.data), np.uint8).reshape(H, W, 3)
        np.testing.assert_array_equal(frame, episode.frames[k])

    states = by_topic[tp.JOINT_STATES_TOPIC]
    assert [list(m.ros_msg.name) for m in states] == [list(episode.metadata.joint_names)] * T
    np.testing.assert_array_equal([m.ros_msg.position for m in states], episode.joints)

    (traj,) = [m.ros_msg for m in by_topic[tp.ACTIONS_TOPIC]]
    assert list(traj.joint_names) == list(episode.metadata.joint_names)
    np.testing.assert_array_equal([p.positions for p in traj.points], episode.actions)
    assert [p.time_from_start.sec * 10**9 + p.time_from_start.nanosec
            for p in traj.points] == [k * 100_000_000 for k in range(T)]

    (instr,) = by_topic[tp.INSTRUCTION_TOPIC]
    assert instr.ros_msg.data == 'pick up the red cube'
    (meta,) = by_topic[tp.EPISODE_METADATA_TOPIC]
    record = json.loads(meta.ros_msg.data)
    assert record['episode_id'] == episode.metadata.episode_id
    assert record['joint_names'] == list(episode.metadata.joint_names)
    assert record['extra'] == {'scene': 'tabletop', 'gains': [1.5, 2.0]}


def test_metadata_survives_in_custom_data(tmp_path, episode):
    import yaml

    path = write_episode(episode, tmp_path, name='ep0')
    info = yaml.safe_load((path / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    record = json.loads(info['custom_data'][tp.CUSTOM_DATA_METADATA_KEY])
    assert record['task'] == 'pick_cube' and record['seed'] == 0 and record['success'] is True
    # The MCAP file carries it too (rosbag2 metadata record), so a bare copy keeps it.
    assert episode.metadata.episode_id.encode() in (path / 'ep0.mcap').read_bytes()


def test_custom_topics_and_extra_streams(tmp_path, episode):
    topics = tp.EpisodeTopics(frames='/wrist/image_raw', actions='/vag/predicted_trajectory')
    with EpisodeBagWriter(tmp_path, 'rec', episode.metadata, topics=topics,
                          start_time_ns=START_NS) as bag:
        bag.add_trajectory(episode.actions, START_NS)
        for k in range(T):
            stamp = bw.frame_stamp_ns(START_NS, k, 10.0)
            bag.add_frame(episode.frames[k], stamp)
            bag.add_frame(episode.frames[k][::-1], stamp, topic=tp.PREDICTED_VIDEO_TOPIC)
            bag.add_joint_state(episode.joints[k], stamp)
    assert_same(read_episode(bag.path), episode)  # topics found from custom_data
    assert_same(read_episode_mcap(bag.path), episode)
    with pytest.raises(EpisodeError, match='missing topics'):
        read_episode(bag.path, topics=tp.EpisodeTopics())


def test_default_name_and_listing(tmp_path):
    paths = [write_episode(make_episode(seed), tmp_path) for seed in (2, 1)]
    assert paths[0].name.startswith('pick_cube_s0002_')
    assert list_episode_bags(tmp_path) == sorted(paths)


# -- atomic writes -------------------------------------------------------------------------


def test_refuses_to_overwrite(tmp_path, episode):
    path = write_episode(episode, tmp_path, name='ep0')
    before = (path / 'ep0.mcap').read_bytes()
    with pytest.raises(EpisodeError, match='exists already'):
        write_episode(make_episode(1), tmp_path, name='ep0')
    assert (path / 'ep0.mcap').read_bytes() == before
    assert leftovers(tmp_path) == ['ep0']


def test_enospc_mid_write_leaves_nothing(tmp_path, episode, monkeypatch):
    real_write = Writer.write
    calls = []

    def failing_write(self, connection, timestamp, data):
        calls.append(connection.topic)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(self, connection, timestamp, data)

    monkeypatch.setattr(Writer, 'write', failing_write)
    with pytest.raises(EpisodeError, match='no space left on device') as info:
        write_episode(episode, tmp_path, name='ep0')
    assert 'ep0' in str(info.value)
    assert leftovers(tmp_path) == []


def test_enospc_on_close_leaves_nothing(tmp_path, episode, monkeypatch):
    def failing_close(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Writer, 'close', failing_close)
    with pytest.raises(EpisodeError, match='no space left on device'):
        write_episode(episode, tmp_path, name='ep0')
    assert leftovers(tmp_path) == []


def test_failure_after_bag_closed_leaves_nothing(tmp_path, episode, monkeypatch):
    """Even a finished bag (metadata.yaml written) is dropped if flushing it fails."""
    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', failing_fsync)
    with pytest.raises(EpisodeError, match='no space left'):
        write_episode(episode, tmp_path, name='ep0')
    assert leftovers(tmp_path) == []


def test_crash_before_rename_leaves_no_complete_bag(tmp_path, episode, monkeypatch):
    """A hard crash (no cleanup) leaves only a hidden partial dir that readers refuse."""
    def crash(*args):
        raise OSError(errno.EIO, 'simulated crash')

    monkeypatch.setattr(os, 'rename', crash)
    monkeypatch.setattr(EpisodeBagWriter, 'abort', lambda self: None)
    with pytest.raises(EpisodeError):
        write_episode(episode, tmp_path, name='ep0')
    (partial,) = leftovers(tmp_path)
    assert partial.startswith('.ep0.partial-') and is_partial(tmp_path / partial)
    assert (tmp_path / partial / 'ep0' / 'metadata.yaml').exists()  # complete inside...
    assert list_episode_bags(tmp_path) == []                          # ...yet never listed
    for path in (tmp_path / partial, tmp_path / partial / 'ep0'):
        with pytest.raises(EpisodeError, match='partial'):
            read_episode(path)


def test_not_enough_free_space(tmp_path, episode, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, 'disk_usage', lambda p: usage._replace(free=10_000))
    with pytest.raises(EpisodeError, match='not enough free space'):
        write_episode(episode, tmp_path, name='ep0')
    assert leftovers(tmp_path) == []
    assert bw.estimate_episode_bytes(episode) > episode.frames.nbytes


def test_estimate_covers_real_size(tmp_path, episode):
    path = write_episode(episode, tmp_path, name='ep0')
    size = sum(f.stat().st_size for f in path.iterdir())
    assert size <= bw.estimate_episode_bytes(episode)


@pytest.mark.parametrize('where', ['file', 'under_file'])
def test_unwritable_output_dir(tmp_path, episode, where):
    blocker = tmp_path / 'blocker'
    blocker.write_text('not a directory')
    out_dir = blocker if where == 'file' else blocker / 'bags'
    with pytest.raises(EpisodeError, match='output directory') as info:
        write_episode(episode, out_dir, name='ep0')
    assert str(out_dir) in str(info.value)
    assert leftovers(tmp_path) == ['blocker']


def test_creates_missing_output_dir(tmp_path, episode):
    path = write_episode(episode, tmp_path / 'a' / 'b', name='ep0')
    assert_same(read_episode(path), episode)


@pytest.mark.parametrize('name', ['', '.hidden', 'a/b', '..', 'x.partial-1'])
def test_bad_names_refused(tmp_path, episode, name):
    with pytest.raises(EpisodeError, match='bag name'):
        write_episode(episode, tmp_path, name=name)
    assert leftovers(tmp_path) == []


# -- invalid episodes are refused before anything is written ------------------------------


@pytest.mark.parametrize('breakage', ['nan_joints', 'frame_dtype', 'length', 'extra', 'empty'])
def test_invalid_episode_refused(tmp_path, episode, breakage):
    if breakage == 'nan_joints':
        episode.joints[2, 3] = np.nan
    elif breakage == 'frame_dtype':
        episode.frames = episode.frames.astype(np.float32)
    elif breakage == 'length':
        episode.actions = episode.actions[:-1]
    elif breakage == 'extra':
        episode.metadata.extra = {'bad': object()}
    else:
        episode.frames, episode.joints, episode.actions = (
            episode.frames[:0], episode.joints[:0], episode.actions[:0])
    with pytest.raises(EpisodeError):
        write_episode(episode, tmp_path / 'out', name='ep0')
    assert leftovers(tmp_path) == []


# -- bad bags are refused by the reader ------------------------------------------------------


def write_foreign_bag(path):
    store = get_typestore(Stores.ROS2_JAZZY)
    string = store.types['std_msgs/msg/String']
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection('/chatter', 'std_msgs/msg/String', typestore=store)
        writer.write(conn, 1, store.serialize_cdr(string(data='hello'), 'std_msgs/msg/String'))


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_foreign_bag_refused(tmp_path, reader):
    write_foreign_bag(tmp_path / 'foreign')
    with pytest.raises(EpisodeError, match='missing topics') as info:
        reader(tmp_path / 'foreign')
    for topic in tp.EpisodeTopics().types():
        assert topic in str(info.value)


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_not_a_bag_refused(tmp_path, reader):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'file.mcap').write_bytes(b'\x89MCAP0\r\n')
    (tmp_path / 'junk').mkdir()
    (tmp_path / 'junk' / 'metadata.yaml').write_text('just: [text')
    cases = {'missing': 'no such', 'empty': 'no metadata.yaml', 'file.mcap': 'not a rosbag2',
             'junk': 'not a rosbag2'}
    for name, message in cases.items():
        with pytest.raises(EpisodeError, match=message) as info:
            reader(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
@pytest.mark.parametrize('keep', [0.5, 0.9, 0.0])
def test_truncated_mcap_refused(tmp_path, episode, reader, keep):
    path = write_episode(episode, tmp_path, name='ep0')
    mcap = path / 'ep0.mcap'
    data = mcap.read_bytes()
    mcap.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(EpisodeError, match='ep0'):
        reader(path)


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_missing_storage_file_refused(tmp_path, episode, reader):
    path = write_episode(episode, tmp_path, name='ep0')
    (path / 'ep0.mcap').unlink()
    with pytest.raises(EpisodeError, match='storage files missing'):
        reader(path)


def write_custom(tmp_path, episode, frames=None, joints=None, image_msg=None):
    """Write a bag with the episode's topics but hand-made content."""
    frames = episode.frames if frames is None else frames
    joints = episode.joints if joints is None else joints
    with EpisodeBagWriter(tmp_path, 'bad', episode.metadata, start_time_ns=START_NS) as bag:
        bag.add_trajectory(episode.actions, START_NS)
        for k, frame in enumerate(frames):
            bag.add_frame(frame, START_NS + k)
        for k, joint in enumerate(joints):
            bag.add_joint_state(joint, START_NS + k)
        if image_msg is not None:
            bag.add_message(tp.CAMERA_TOPIC, tp.IMAGE_TYPE, image_msg, START_NS + 99)
    return bag.path


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_wrong_image_encoding_refused(tmp_path, episode, reader):
    store = bw.typestore()
    msg = store.types[tp.IMAGE_TYPE](
        header=store.types['std_msgs/msg/Header'](
            stamp=store.types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id=''),
        height=H, width=W, encoding='bgr8', is_bigendian=0, step=3 * W,
        data=np.zeros(H * W * 3, np.uint8))
    path = write_custom(tmp_path, episode, frames=episode.frames[:-1], image_msg=msg)
    with pytest.raises(EpisodeError, match="encoding 'bgr8'"):
        reader(path)


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_inconsistent_image_sizes_refused(tmp_path, episode, reader):
    frames = list(episode.frames[:-1]) + [np.zeros((H, W + 2, 3), np.uint8)]
    path = write_custom(tmp_path, episode, frames=frames)
    with pytest.raises(EpisodeError, match='inconsistent image sizes'):
        reader(path)


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_length_mismatch_refused(tmp_path, episode, reader):
    path = write_custom(tmp_path, episode, joints=episode.joints[:-1])
    with pytest.raises(EpisodeError, match='disagree in length: 5/4/5'):
        reader(path)


def test_joint_state_order_is_restored(tmp_path, episode):
    """A recorder may publish joints in another order; names decide, not positions."""
    path = write_episode(episode, tmp_path, name='ep0')
    back = read_episode(path)
    assert_same(back, episode)
    from vag_ros.episodes.bag_reader import _reorder
    names = list(episode.metadata.joint_names)
    np.testing.assert_array_equal(
        _reorder(names[::-1], episode.joints[0][::-1], names, 'x'), episode.joints[0])
    with pytest.raises(EpisodeError, match='missing'):
        _reorder(names[:-1] + ['other'], episode.joints[0], names, 'x')


def test_list_episode_bags_skips_partial_and_junk(tmp_path, episode):
    write_episode(episode, tmp_path, name='b')
    write_episode(make_episode(1), tmp_path, name='a')
    (tmp_path / '.c.partial-1-x' / 'c').mkdir(parents=True)
    (tmp_path / '.c.partial-1-x' / 'c' / 'metadata.yaml').write_text('x')
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'file.txt').write_text('x')
    assert [p.name for p in list_episode_bags(tmp_path)] == ['a', 'b']
    with pytest.raises(EpisodeError, match='not a directory'):
        list_episode_bags(tmp_path / 'file.txt')


@pytest.mark.parametrize('reader', [read_episode, read_episode_mcap])
def test_flipped_bytes_refused(tmp_path, episode, reader):
    """MCAP chunks from rosbags carry no CRC; the sha256 in custom_data catches this."""
    path = write_episode(episode, tmp_path, name='ep0')
    mcap = path / 'ep0.mcap'
    data = bytearray(mcap.read_bytes())
    offset = bytes(data).find(episode.frames[2].tobytes()[:64])
    assert offset > 0
    data[offset + 10] ^= 0xFF
    mcap.write_bytes(bytes(data))
    with pytest.raises(EpisodeError, match='sha256'):
        reader(path)


def test_metadata_disagreement_refused(tmp_path, episode):
    path = write_episode(episode, tmp_path, name='ep0')
    meta_file = path / 'metadata.yaml'
    meta_file.write_text(meta_file.read_text().replace('"task": "pick_cube"', '"task": "other"'))
    with pytest.raises(EpisodeError, match='differ'):
        read_episode(path)


# -- the robot's URDF travels in the bag ---------------------------------------------------

LAB_URDF = (__import__('pathlib').Path(__file__).resolve().parents[1] / 'data' /
            'lab_arm.urdf').read_text()


def _lab_episode():
    import dataclasses
    from vag_ros.robot.description import parse_robot_description
    lab = parse_robot_description(LAB_URDF)
    ep = make_episode()
    meta = dataclasses.replace(ep.metadata, robot=lab.name, joint_names=lab.joint_names,
                               robot_urdf=LAB_URDF)
    d = lab.dof
    return Episode(ep.frames, ep.joints[:, :d], ep.actions[:, :d], meta)


def test_the_urdf_is_read_back_by_both_readers_and_from_metadata_alone(tmp_path):
    from vag_ros.episodes.bag_reader import read_metadata
    path = write_episode(_lab_episode(), tmp_path, name='lab')
    for reader in (read_episode, read_episode_mcap, read_metadata):
        got = reader(path)
        meta = got if reader is read_metadata else got.metadata
        assert meta.robot_urdf == LAB_URDF
        assert meta.robot_description().joint_names[-1] == 'gripper_finger_joint'
    info = (path / 'metadata.yaml').read_text()
    assert tp.CUSTOM_DATA_URDF_KEY in info
    # the metadata topic stays small: the URDF is not repeated inside its JSON
    assert 'robot_urdf' not in bw.metadata_to_json(_lab_episode().metadata)


def test_a_urdf_of_another_robot_than_the_episode_says_is_refused(tmp_path):
    import dataclasses
    ep = _lab_episode()
    wrong = dataclasses.replace(ep.metadata, robot='panda')
    with pytest.raises(EpisodeError, match="robot_urdf is robot 'lab_arm'.*robot 'panda'"):
        write_episode(Episode(ep.frames, ep.joints, ep.actions, wrong), tmp_path, name='x')
    assert leftovers(tmp_path) == []
