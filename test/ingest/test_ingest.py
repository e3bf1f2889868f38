"""vag-ros ingest on bags written by a foreign writer (rosbags directly): a lab's recording."""

import json
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from vag_ros.cli import main
from vag_ros.episodes.bag_reader import list_episode_bags, read_episode
from vag_ros.errors import ConfigError
from vag_ros.ingest.contract import contract_from_dict, load_contract
from vag_ros.robot.description import load_robot_description

ROOT = Path(__file__).resolve().parents[2]
STORE = get_typestore(Stores.ROS2_HUMBLE)
ARM_NAMES = ('shoulder_pan', 'shoulder_lift', 'elbow', 'wrist_1', 'wrist_2', 'wrist_3')
ROBOT_NAMES = ('joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6')


def arm(t: np.ndarray, idle=None) -> np.ndarray:
    """(N, 6) joint positions at ``t`` [s]; frozen inside ``idle`` (start, end) [s]."""
    if idle is not None:
        a, b = idle
        t = np.where(t < a, t, np.where(t < b, a, t - (b - a)))
    return 0.2 * np.sin(0.8 * t[:, None] + np.arange(6)[None]) + np.array(
        [0.0, -0.3, 2.0, 0.0, 1.4, 0.0])


def finger(t: np.ndarray) -> np.ndarray:
    """(N,) robot gripper position [m]."""
    return 0.02 + 0.01 * np.sin(t)


def _header(t):
    ns = int(round(t * 1e9))
    return STORE.types['std_msgs/msg/Header'](
        stamp=STORE.types['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
        frame_id='camera')


def write_teleop_bag(path, plugin=StoragePlugin.MCAP, compressed=False, size=(640, 480),
                     duration=4.0, gap=(2.0, 2.3), idle=None, instruction='metadata',
                     arm_names=ARM_NAMES, camera_topic='/camera/image_raw', commands=False,
                     split_at=(), camera_clock=0.0, state_clock=lambda t: t,
                     description=True):
    """A teleoperation recording: 30 Hz bgr8 (or JPEG) camera with jittered stamps and a
    gap, /joint_states at 200 Hz with 9 joints in another order, the gripper on its own
    topic (in units twice the robot's), the instruction in metadata, on /task, on a /task
    without messages ('empty topic'), or absent.
    ``camera_clock``: the camera's header stamps offset by this [s] (its own clock);
    ``state_clock``: /joint_states' header stamp of time t (a clock that jumps)."""
    rng = np.random.default_rng(0)
    messages = []   # (receive ns, topic, msgtype, message)
    t_cam = np.arange(0.0, duration, 1 / 30)
    t_cam = t_cam[(t_cam <= gap[0]) | (t_cam >= gap[1])] if gap else t_cam
    stamps = t_cam + rng.normal(0, 0.002, len(t_cam))                    # jitter
    delays = 0.005 + np.abs(rng.normal(0, 0.02, len(t_cam)))  # transport: order can swap
    width, height = size
    for k, t in enumerate(stamps):
        bgr = np.empty((height, width, 3), np.uint8)
        bgr[..., 0], bgr[..., 1], bgr[..., 2] = 200, k % 256, 50           # B, G, R
        if compressed:
            import io
            from PIL import Image as PilImage
            buffer = io.BytesIO()
            PilImage.fromarray(bgr[..., ::-1]).save(buffer, format='JPEG', quality=95)
            msg = STORE.types['sensor_msgs/msg/CompressedImage'](
                header=_header(t), format='rgb8; jpeg compressed bgr8',
                data=np.frombuffer(buffer.getvalue(), np.uint8))
            messages.append((t + delays[k], camera_topic + '/compressed',
                             'sensor_msgs/msg/CompressedImage', msg))
        else:
            msg = STORE.types['sensor_msgs/msg/Image'](
                header=_header(t + camera_clock), height=height, width=width, encoding='bgr8',
                is_bigendian=0, step=3 * width, data=bgr.reshape(-1))
            messages.append((t + delays[k], camera_topic, 'sensor_msgs/msg/Image', msg))
    t_js = np.arange(0.0, duration, 1 / 200)
    q = arm(t_js, idle)
    order = [8, 2, 0, 7, 1, 5, 4, 3, 6]  # 9 joints, another order, 3 the model does not use
    names = list(arm_names) + ['pan', 'tilt', 'conveyor']
    for t, row in zip(t_js, q):
        values = list(row) + [9.0, 9.0, 9.0]
        msg = STORE.types['sensor_msgs/msg/JointState'](
            header=_header(state_clock(t)), name=[names[i] for i in order],
            position=np.array([values[i] for i in order]), velocity=np.zeros(0),
            effort=np.zeros(0))
        messages.append((t + 0.001, '/joint_states', 'sensor_msgs/msg/JointState', msg))
    for t in t_js[::4]:  # 50 Hz gripper, twice the robot's units
        msg = STORE.types['sensor_msgs/msg/JointState'](
            header=_header(t), name=['finger'], position=np.array([2 * finger(np.array([t]))[0]]),
            velocity=np.zeros(0), effort=np.zeros(0))
        messages.append((t + 0.001, '/gripper/joint_states', 'sensor_msgs/msg/JointState', msg))
    if commands:  # a forward position controller's commands: the state 0.05 s ahead
        for t in t_js[::4]:
            ahead = np.array([t + 0.05])
            data = np.concatenate([arm(ahead, idle)[0], finger(ahead)])
            messages.append((t + 0.001, '/arm_controller/commands',
                             'std_msgs/msg/Float64MultiArray',
                             STORE.types['std_msgs/msg/Float64MultiArray'](
                                 layout=STORE.types['std_msgs/msg/MultiArrayLayout'](
                                     dim=[], data_offset=0), data=data)))
    for t in split_at:  # e.g. a teleop pedal's "new episode" message
        messages.append((t, '/episode_start', 'std_msgs/msg/String',
                         STORE.types['std_msgs/msg/String'](data='start')))
    if description:  # robot_state_publisher's URDF, as `ros2 bag record -a` keeps it
        messages.append((0.0, '/robot_description', 'std_msgs/msg/String',
                         STORE.types['std_msgs/msg/String'](
                             data=load_robot_description().urdf)))
    if instruction == 'topic':
        messages.append((0.05, '/task', 'std_msgs/msg/String',
                         STORE.types['std_msgs/msg/String'](data='lift the green block')))
    messages.sort(key=lambda m: m[0])
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        if instruction == 'metadata':
            writer.set_custom_data('instruction', 'touch the red block')
        connections = {}
        if instruction == 'empty topic':
            connections['/task'] = writer.add_connection('/task', 'std_msgs/msg/String',
                                                         typestore=STORE)
        for receive, topic, msgtype, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=STORE)
            writer.write(connections[topic], int(round(receive * 1e9)),
                         STORE.serialize_cdr(msg, msgtype))
    return {'camera': len(stamps), 'camera_stamps': stamps}


def contract_file(tmp_path, name='gripper_topic.yaml', **changes):
    """A shipped example contract, with ``changes`` to its sections."""
    import yaml
    data = yaml.safe_load((ROOT / 'config' / 'contracts' / name).read_text())
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / f'contract_{name}'
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope='module')
def robot():
    return load_robot_description()


def test_mcap_bag_640x480_bgr8_with_a_gap_becomes_two_aligned_episodes(tmp_path, robot):
    bag = tmp_path / 'bags' / 'session1'
    bag.parent.mkdir()
    written = write_teleop_bag(bag)
    contract = contract_file(tmp_path, camera={'topic': '/camera/image_raw', 'type': 'image'},
                             instruction={'source': 'metadata'})
    out = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(contract), '--bags', str(bag.parent), '--out',
                 str(out), '--quiet']) == 0
    report = json.loads((out / 'ingest_report.json').read_text())['bags'][0]
    camera = report['topics']['/camera/image_raw']
    assert camera['messages'] == written['camera']
    assert camera['gaps_over_100ms'] == 1 and 0.27 < camera['max_gap_s'] < 0.34
    assert 27 < camera['rate_hz'] < 29  # the mean, the gap included
    assert 29 < camera['median_rate_hz'] < 31 and camera['out_of_order'] >= 1  # the jitter
    assert 199 < report['topics']['/joint_states']['rate_hz'] < 201
    assert 2 <= report['samples']['without_camera'] <= 3  # the gap, beyond 0.1 s
    assert report['samples']['without_state'] == 0
    bags = list_episode_bags(out)
    assert [b.name for b in bags] == ['session1_ep000', 'session1_ep001']  # split at the gap
    first = read_episode(bags[0])
    assert first.metadata.instruction == 'touch the red block'
    assert first.metadata.source == 'teleop' and first.metadata.frame_rate == 10.0
    assert first.frames.shape[1:] == (480, 640, 3)
    assert np.all(first.frames[..., 0] == 50) and np.all(first.frames[..., 2] == 200)  # RGB
    t = first.metadata.extra['start_s'] + np.arange(first.num_steps) / 10.0
    expected = np.concatenate([arm(t), finger(t)[:, None]], axis=1)    # (T, 7)
    np.testing.assert_allclose(first.joints, expected, atol=2e-3)      # as-of, 200 Hz
    np.testing.assert_allclose(first.actions[:-1], first.joints[1:])   # the next state
    assert first.num_steps == 20 or first.num_steps == 21


def test_sqlite3_bag_with_compressed_camera_and_instruction_topic(tmp_path, robot):
    bag = tmp_path / 'session2'
    write_teleop_bag(bag, plugin=StoragePlugin.SQLITE3, compressed=True, size=(96, 72),
                     gap=None, instruction='topic', camera_topic='/wrist_camera/image_raw')
    out = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(ROOT / 'config/contracts/gripper_topic.yaml'),
                 '--bags', str(bag), '--out', str(out), '--quiet']) == 0
    episode = read_episode(out / 'session2_ep000')
    assert episode.metadata.instruction == 'lift the green block'
    assert episode.frames.shape[1:] == (72, 96, 3) and episode.num_steps >= 38
    assert abs(int(np.median(episode.frames[..., 2])) - 200) <= 3      # JPEG, still RGB


def test_video_only_episodes_train_the_video_branch_and_no_action(tmp_path, robot):
    """ingest --video-only: the episodes are marked as withheld-actions episodes, which
    training reads with their actions masked (NaN), as withhold-actions marks them."""
    from vag_ros.model.config import load_model_config
    from vag_ros.train.dataset import actions_withheld, read_training_episode
    bag = tmp_path / 'failed_run'
    write_teleop_bag(bag, plugin=StoragePlugin.SQLITE3, compressed=True, size=(96, 72),
                     gap=None, instruction='topic', camera_topic='/wrist_camera/image_raw')
    out = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(ROOT / 'config/contracts/gripper_topic.yaml'),
                 '--bags', str(bag), '--out', str(out), '--quiet', '--video-only']) == 0
    episode = read_episode(out / 'failed_run_ep000')
    assert actions_withheld(episode.metadata) and episode.frames.shape[1:] == (72, 96, 3)
    assert np.isfinite(episode.actions).all()       # the bag's commands are kept as they were
    prepared = read_training_episode(load_model_config('tiny'), out / 'failed_run_ep000')
    assert np.isnan(prepared.actions).all()         # ...and train no action
    labelled = tmp_path / 'labelled'
    assert main(['ingest', '--contract', str(ROOT / 'config/contracts/gripper_topic.yaml'),
                 '--bags', str(bag), '--out', str(labelled), '--quiet']) == 0
    assert not actions_withheld(read_episode(labelled / 'failed_run_ep000').metadata)


def test_two_episodes_in_one_bag_split_at_an_idle_stretch_instruction_by_flag(tmp_path,
                                                                              robot):
    bag = tmp_path / 'session3'
    write_teleop_bag(bag, size=(64, 48), duration=9.0, gap=None, idle=(3.0, 6.0),
                     instruction=None, arm_names=ROBOT_NAMES)
    contract = contract_file(
        tmp_path, 'default.yaml', state=[{'topic': '/joint_states', 'joints': list(ROBOT_NAMES)},
                                         {'topic': '/gripper/joint_states',
                                          'joints': {'left_finger_joint': 'finger'},
                                          'scale': 0.5}],
        episodes={'split': 'idle', 'idle_s': 2.0, 'idle_tolerance': 0.002})
    out = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(contract), '--bags', str(bag), '--out', str(out),
                 '--instruction', 'wave', '--quiet']) == 0
    episodes = [read_episode(b) for b in list_episode_bags(out)]
    assert len(episodes) == 2
    assert all(e.metadata.instruction == 'wave' for e in episodes)
    assert all(2.5 <= e.num_steps / 10 <= 3.5 for e in episodes), [e.num_steps for e in episodes]


def test_instruction_topic_first_the_given_text_only_for_bags_without_one(tmp_path,
                                                                          capsys):
    """--instruction is a per-bag fallback, not an override of --instruction-topic: a bag
    with a /task message keeps it; one whose /task has no message, or that has no /task at
    all, gets the text; the report and the summary say which came from where."""
    bags = tmp_path / 'bags'
    bags.mkdir()
    for name, instruction in (('a_topic', 'topic'), ('b_empty', 'empty topic'),
                              ('c_absent', None), ('d_metadata', 'metadata')):
        write_teleop_bag(bags / name, size=(32, 24), duration=1.5, gap=None,
                         instruction=instruction, arm_names=ROBOT_NAMES)
    contract = contract_file(
        tmp_path, 'default.yaml', state=[{'topic': '/joint_states', 'joints': list(ROBOT_NAMES)},
                                         {'topic': '/gripper/joint_states',
                                          'joints': {'left_finger_joint': 'finger'},
                                          'scale': 0.5}])
    base = ['ingest', '--contract', str(contract), '--quiet']
    out = tmp_path / 'episodes'
    assert main(base + ['--bags', str(bags), '--out', str(out), '--instruction-topic', '/task',
                        '--instruction', 'touch anything']) == 0
    printed = capsys.readouterr().out
    got = {b.name: read_episode(b).metadata for b in list_episode_bags(out)}
    assert {n: (m.instruction, m.extra['instruction_source']) for n, m in got.items()} == {
        'a_topic_ep000': ('lift the green block', 'topic'),
        'b_empty_ep000': ('touch anything', 'fallback'),
        'c_absent_ep000': ('touch anything', 'fallback'),
        'd_metadata_ep000': ('touch anything', 'fallback')}   # the topic's, not metadata
    report = json.loads((out / 'ingest_report.json').read_text())
    episodes = [e for b in report['bags'] for e in b['episodes']]
    assert [(e['instruction'], e['instruction_source']) for e in episodes] == [
        ('lift the green block', 'topic')] + [('touch anything', 'fallback')] * 3
    assert "a_topic_ep000: 15 frames, instruction 'lift the green block' (topic)" in printed
    assert "c_absent_ep000: 15 frames, instruction 'touch anything' (fallback)" in printed
    # the metadata the same way: the bag's own first
    out = tmp_path / 'from_metadata'
    assert main(base + ['--bags', str(bags / 'a_topic'), str(bags / 'd_metadata'), '--out',
                        str(out), '--instruction', 'touch anything']) == 0
    assert [(read_episode(b).metadata.instruction, read_episode(b).metadata.extra[
        'instruction_source']) for b in list_episode_bags(out)] == [
        ('touch anything', 'fallback'), ('touch the red block', 'metadata')]
    # no fallback: a bag without a message is refused, naming the bag and the fix
    assert main(base + ['--bags', str(bags / 'b_empty'), '--out', str(tmp_path / 'none'),
                        '--instruction-topic', '/task']) == 2
    err = capsys.readouterr().err
    assert 'b_empty: no message on /task' in err and '--instruction TEXT' in err, err
    # a contract's text is the fallback of its topic, the command line's replaces it
    given = {'source': 'topic', 'topic': '/task', 'text': 'from the contract'}
    assert contract_from_dict({'instruction': given}, robot_names()).instruction_fallback() \
        == 'from the contract'
    assert contract_from_dict({'instruction': given}, robot_names(), instruction='typed'
                              ).instruction_fallback() == 'typed'
    fixed = contract_from_dict({'instruction': {'source': 'given', 'text': 'fixed'}},
                               robot_names(), instruction_topic='/task')
    assert (fixed.instruction_source, fixed.instruction_fallback()) == ('topic', 'fixed')


def robot_names():
    return load_robot_description().joint_names


def test_missing_topics_are_refused_with_the_topics_the_bag_has(tmp_path, capsys):
    bag = tmp_path / 'session4'
    write_teleop_bag(bag, size=(32, 24), duration=1.5, gap=None)
    assert main(['ingest', '--bags', str(bag), '--out', str(tmp_path / 'o'),
                 '--camera-topic', '/front/image_raw', '--quiet']) == 2
    err = capsys.readouterr().err
    assert "needs topic(s) ['/front/image_raw']" in err and '/camera/image_raw (sensor_msgs' in err
    contract = contract_file(tmp_path, 'default.yaml', camera={'topic': '/camera/image_raw',
                                                               'type': 'compressed'})
    assert main(['ingest', '--bags', str(bag), '--out', str(tmp_path / 'o'), '--contract',
                 str(contract), '--instruction', 'x', '--quiet']) == 2
    assert "camera.type 'compressed' wants CompressedImage" in capsys.readouterr().err


def test_ingest_is_all_or_nothing(tmp_path, capsys):
    """A truncated bag after a good one: nothing lands in --out (no subset of episodes that
    looks like a finished data set, no staging left); the good bag alone then ingests, and
    ingesting it again into the same folder is refused without touching what is there."""
    bags = tmp_path / 'bags'
    bags.mkdir()
    for name in ('a_good', 'b_truncated'):
        write_teleop_bag(bags / name, size=(32, 24), duration=1.5, gap=None)
    mcap = next((bags / 'b_truncated').glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    out = tmp_path / 'episodes'
    contract = contract_file(tmp_path, camera={'topic': '/camera/image_raw', 'type': 'image'},
                             instruction={'source': 'metadata'})
    base = ['ingest', '--contract', str(contract), '--out', str(out), '--quiet']
    assert main(base + ['--bags', str(bags)]) == 2
    assert 'b_truncated' in capsys.readouterr().err
    assert not out.exists()   # refused while reading the bags, before --out is made
    assert main(base + ['--bags', str(bags / 'a_good')]) == 0
    kept = sorted(p.name for p in out.iterdir())
    assert kept == ['a_good_ep000', 'ingest_report.json']
    assert main(base + ['--bags', str(bags / 'a_good')]) == 2
    assert 'exist already' in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == kept


@pytest.mark.parametrize('clocks, message', [
    ({'camera_clock': 1000.0}, 'never overlap in time'),             # the camera's own clock
    ({'state_clock': lambda t: t - 1.0 if t >= 1.5 else t}, 'its stamps jump back'),
])
def test_clocks_that_disagree_or_jump_are_refused(tmp_path, capsys, clocks, message):
    """Stamps from two clocks would give no sample (0 episodes, exit 0); a clock that steps
    back would interleave two stretches of the arm's motion: both are refused, naming why."""
    bag = tmp_path / 'session'
    write_teleop_bag(bag, size=(32, 24), duration=3.0, gap=None, **clocks)
    contract = contract_file(tmp_path, camera={'topic': '/camera/image_raw', 'type': 'image'},
                             instruction={'source': 'metadata'})
    out = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(contract), '--bags', str(bag), '--out', str(out),
                 '--quiet']) == 2
    err = capsys.readouterr().err
    assert message in err and 'session' in err, err
    assert not out.exists()   # a refused ingest leaves no folder it made


def test_a_run_without_episodes_fails_and_a_second_run_keeps_the_first_report(tmp_path,
                                                                              capsys):
    bags = tmp_path / 'bags'
    bags.mkdir()
    for name in ('a', 'b'):
        write_teleop_bag(bags / name, size=(32, 24), duration=1.5, gap=None)
    contract = contract_file(tmp_path, camera={'topic': '/camera/image_raw', 'type': 'image'},
                             instruction={'source': 'metadata'})
    out = tmp_path / 'episodes'
    base = ['ingest', '--contract', str(contract), '--out', str(out), '--quiet']
    (tmp_path / 'long').mkdir()
    long_pieces = contract_file(tmp_path / 'long',
                                camera={'topic': '/camera/image_raw', 'type': 'image'},
                                instruction={'source': 'metadata'},
                                episodes={'min_length_s': 60.0})
    assert main(['ingest', '--contract', str(long_pieces), '--out', str(out), '--quiet',
                 '--bags', str(bags / 'a')]) == 2
    assert 'no episode in' in capsys.readouterr().err
    assert main(base + ['--bags', str(bags / 'a')]) == 0
    assert main(base + ['--bags', str(bags / 'b')]) == 0
    reports = {p.name: json.loads(p.read_text()) for p in out.glob('ingest_report*.json')}
    assert sorted(reports) == ['ingest_report-1.json', 'ingest_report.json']
    assert [Path(r['bags'][0]['bag']).name for r in
            (reports['ingest_report.json'], reports['ingest_report-1.json'])] == ['a', 'b']


def test_a_perfect_stream_has_no_gaps():
    """Gaps are counted on the integer stamps: exact 100 ms steps are not gaps over 100 ms."""
    from vag_ros.ingest.streams import Stream
    stamps = np.arange(40, dtype=np.int64) * 100_000_000 + 10**9  # (N,) 10 Hz [ns]
    assert Stream('/j', 'x', stamps).stats()['gaps_over_100ms'] == 0
    stamps[20:] += 50_000_000  # one 150 ms gap
    assert Stream('/j', 'x', stamps).stats()['gaps_over_100ms'] == 1


@pytest.mark.parametrize('change, key', [
    ({'fps': 0}, 'fps'),
    ({'camera': {'type': 'raw'}}, 'camera.type'),
    ({'state': [{'topic': '/joint_states', 'joints': ['joint1']}]}, 'state'),
    ({'state': [{'topic': '/joint_states', 'joints': ['elbow_x']}]}, 'state[0].joints'),
    ({'episodes': {'split': 'idle', 'idle_s': -1}}, 'episodes.idle_s'),
    ({'alignment': {'mode': 'nearest'}}, 'alignment.mode'),
    ({'cameras': {}}, 'unknown section'),
])
def test_contract_errors_name_the_key(robot, change, key):
    with pytest.raises(ConfigError, match=key.replace('[', r'\[').replace(']', r'\]')):
        contract_from_dict(change, robot.joint_names)


def test_every_shipped_contract_loads(robot):
    for path in sorted((ROOT / 'config' / 'contracts').glob('*.yaml')):
        load_contract(path, robot.joint_names)


def test_train_on_ingested_episodes_of_mixed_lengths_then_generate(tmp_path, robot):
    import micro_model
    for k, duration in enumerate((2.0, 3.5)):
        write_teleop_bag(tmp_path / 'bags' / f's{k}', size=(64, 48), duration=duration,
                         gap=None, arm_names=ROBOT_NAMES)
    contract = contract_file(
        tmp_path, 'default.yaml', state=[{'topic': '/joint_states', 'joints': list(ROBOT_NAMES)},
                                         {'topic': '/gripper/joint_states',
                                          'joints': {'left_finger_joint': 'finger'},
                                          'scale': 0.5}])
    data = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(contract), '--bags', str(tmp_path / 'bags'),
                 '--out', str(data), '--quiet']) == 0
    import yaml
    config = micro_model.micro_config('joint', 4, 2, codec_kind='pca', observation_dim=16)
    (tmp_path / 'model.yaml').write_text(yaml.safe_dump(config.to_dict()))
    (tmp_path / 'train.yaml').write_text(yaml.safe_dump(
        {'steps': 2, 'batch_size': 2, 'warmup_steps': 0, 'log_every': 1, 'save_every': 2}))
    for run in ('run', 'run_again'):  # the second run reuses the cache the first built
        assert main(['train', '--config', str(tmp_path / 'model.yaml'), '--train-config',
                     str(tmp_path / 'train.yaml'), '--data', str(data), '--out',
                     str(tmp_path / run), '--window-stride', '2', '--cache',
                     str(tmp_path / 'cache'), '--quiet']) == 0
    manifest = json.loads((tmp_path / 'cache' / 'manifest.json').read_text())
    assert manifest['window_stride'] == 2 and len(manifest['windows']) >= 2 * 2
    first = read_episode(data / 's1_ep000')
    from PIL import Image as PilImage
    PilImage.fromarray(first.frames[0]).save(tmp_path / 'first.png')
    state = ','.join(f'{v:.6f}' for v in first.joints[0])
    assert main(['generate', '--checkpoint', str(tmp_path / 'run'), '--image',
                 str(tmp_path / 'first.png'), '--state', state, '--instruction',
                 first.metadata.instruction, '--out', str(tmp_path / 'gen')]) == 0
    generated = read_episode(tmp_path / 'gen' / 'generated_seed000000')
    np.testing.assert_allclose(generated.actions[0], first.joints[0], atol=1e-4)


def test_bench_ingest_runs_and_reports(tmp_path, capsys):
    figures = tmp_path / 'bench.json'
    assert main(['bench', 'ingest', '--minutes', '0.05', '--width', '64', '--height', '48',
                 '--json', str(figures)]) == 0
    data = json.loads(figures.read_text())
    assert data['camera_messages'] == 90 and data['joint_state_messages'] == 600
    assert data['episode_frames'] >= 25 and data['peak_rss_mb'] > 0


def test_actions_from_a_command_topic(tmp_path, robot):
    bag = tmp_path / 'session5'
    write_teleop_bag(bag, size=(32, 24), duration=9.0, gap=None, idle=(3.0, 6.0),
                     instruction=None, arm_names=ROBOT_NAMES, commands=True)
    contract = contract_file(
        tmp_path, 'commands_idle_split.yaml',
        state=[{'topic': '/joint_states', 'joints': list(ROBOT_NAMES)},
               {'topic': '/gripper/joint_states', 'joints': {'left_finger_joint': 'finger'},
                'scale': 0.5}])
    out = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(contract), '--bags', str(bag), '--out', str(out),
                 '--quiet']) == 0
    episodes = [read_episode(b) for b in list_episode_bags(out)]
    assert len(episodes) == 2 and episodes[0].metadata.instruction == 'tidy up the table'
    first = episodes[0]
    t = first.metadata.extra['start_s'] + np.arange(first.num_steps) / 10.0
    # the newest command at each tick (50 Hz, each 0.05 s ahead of its own time)
    np.testing.assert_allclose(first.actions[:, :6], arm(t + 0.05, (3.0, 6.0)), atol=0.01)


def test_episodes_split_at_a_topic(tmp_path, robot):
    bag = tmp_path / 'bags' / 'session6'
    write_teleop_bag(bag, size=(64, 48), duration=7.0, gap=None, instruction='metadata',
                     arm_names=ROBOT_NAMES, split_at=(3.0,))
    contract = contract_file(
        tmp_path, 'default.yaml', state=[{'topic': '/joint_states', 'joints': list(ROBOT_NAMES)},
                                         {'topic': '/gripper/joint_states',
                                          'joints': {'left_finger_joint': 'finger'},
                                          'scale': 0.5}],
        episodes={'split': 'topic', 'topic': '/episode_start'})
    data = tmp_path / 'episodes'
    assert main(['ingest', '--contract', str(contract), '--bags', str(bag), '--out', str(data),
                 '--quiet']) == 0
    lengths = [read_episode(b).num_steps for b in list_episode_bags(data)]
    assert len(lengths) == 2 and abs(lengths[0] - 30) <= 1 and abs(lengths[1] - 40) <= 1
