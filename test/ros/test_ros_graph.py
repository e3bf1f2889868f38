"""The whole graph in one process: sim camera -> capture -> generator -> replay (dry run)."""

import pytest
from rclpy.executors import SingleThreadedExecutor

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from sensor_msgs.msg import Image
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from ros_helpers import spin_until  # noqa: I100
from vag_ros.ros import graph
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


def test_specs_name_console_scripts_and_classes():
    specs = graph.generate_and_replay('/ckpt', camera_topic='/cam/rgb', record_dir='/tmp/x')
    assert [s.name for s in specs] == ['vag_capture', 'vag_generator', 'vag_replay',
                                       'vag_preview', 'vag_recorder', 'vag_mock_arm',
                                       'vag_sim_camera']
    scripts = dict(graph.CONSOLE_SCRIPTS)
    for spec in specs:
        assert spec.executable in scripts
        assert scripts[spec.executable].split(':')[0] == spec.module
        assert callable(graph.node_class(spec))
    assert specs[0].remappings == (('/camera/image_raw', '/cam/rgb'),)
    # only what was given: the rest is the params file's, else the node's default
    assert specs[1].parameter_dict() == {'checkpoint': '/ckpt'} and specs[1].lifecycle
    assert 'dry_run' not in specs[2].parameter_dict()  # the node's default: a dry run


def test_camera_topic_and_transport_reach_capture_and_recorder(ros_context, tmp_path):
    from vag_ros.errors import ConfigError
    specs = graph.generate_and_replay(camera_topic='/cam/rgb', camera_transport='compressed',
                                      sim=False, preview=False, record_dir=str(tmp_path))
    capture, recorder = specs[0], specs[-1]
    assert capture.name == 'vag_capture'
    assert capture.parameter_dict() == {'input_transport': 'compressed'}
    assert capture.remappings == (('/camera/image_raw', '/cam/rgb'),)
    # the recorder records the executed camera from the same camera, in the same transport
    assert recorder.name == 'vag_recorder'
    nodes = graph.create_nodes([capture, recorder], context=ros_context)
    try:
        assert [n.input_topic if n.get_name() == 'vag_capture' else n.camera_topic
                for n in nodes] == ['/cam/rgb/compressed'] * 2
    finally:
        for node in nodes:
            node.destroy_node()
    assert graph.generate_and_replay()[0].parameter_dict() == {}  # capture's default: raw
    with pytest.raises(ConfigError, match='camera_transport'):
        graph.generate_and_replay(camera_transport='theora', sim=False)
    with pytest.raises(ConfigError, match='sim camera publishes raw'):
        graph.generate_and_replay(camera_transport='compressed', sim=True)


def test_in_process_graph_generates_and_replay_judges(ros_context, micro_checkpoint,
                                                      tmp_path):
    import rclpy
    specs = graph.generate_and_replay(  # a rejected episode is written 0.5 s after it
        str(micro_checkpoint), record_dir=str(tmp_path),
        parameters={'vag_recorder': {'rejected_wait_s': 0.5}})
    nodes = graph.create_nodes(specs, context=ros_context)
    peer = rclpy.create_node('graph_test_peer', context=ros_context)
    frames, trajectories, replay_states = [], [], []
    peer.create_subscription(Image, '/vag/predicted_video', frames.append, 100)
    peer.create_subscription(JointTrajectory, '/vag/predicted_trajectory',
                             trajectories.append, 10)

    def on_status(msg):
        replay_states.extend(status_values(s)['state'] for s in msg.status
                             if s.name.endswith('vag_replay'))

    peer.create_subscription(DiagnosticArray, '/vag/status', on_status, 100)
    instruction = peer.create_publisher(String, '/vag/instruction', 10)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in nodes + [peer]:
        executor.add_node(node)
    try:
        generator = nodes[1]
        assert spin_until(executor, lambda: generator._frame is not None
                          and instruction.get_subscription_count() > 0, 20.0)
        instruction.publish(String(data='touch the red block'))
        assert spin_until(executor, lambda: trajectories and len(frames) >= 5, 60.0)
        # random weights: replay validates and either accepts or rejects with a reason
        assert spin_until(executor, lambda: {'validated', 'rejected'} & set(replay_states),
                          5.0)
        recorder = [n for n in nodes if n.get_name() == 'vag_recorder'][0]
        assert spin_until(executor, lambda: recorder.written, 10.0)
    finally:
        executor.shutdown()
        for node in reversed(nodes + [peer]):
            node.destroy_node()


def _by_name(specs):
    return {s.name: s.parameter_dict() for s in specs}


def test_a_params_file_value_survives_an_argument_not_given(ros_context, tmp_path):
    from vag_ros.errors import ConfigError
    safety = tmp_path / 'cell_safety.yaml'
    safety.write_text('velocity_scale: 0.2\n')
    params = tmp_path / 'lab.yaml'
    params.write_text(f"""
vag_generator: {{ros__parameters: {{backend: onnxruntime, engine_dir: /engines/lab}}}}
vag_replay:
  ros__parameters: {{controller: lab_arm_controller, controller_mode: forward_position,
                    safety_file: {safety}, stream_rate_hz: 100.0}}
""")
    specs = _by_name(graph.generate_and_replay('/ckpt', params_file=str(params)))
    assert specs['vag_generator'] == {'backend': 'onnxruntime', 'engine_dir': '/engines/lab',
                                      'checkpoint': '/ckpt'}
    assert specs['vag_replay'] == {'controller': 'lab_arm_controller',
                                   'controller_mode': 'forward_position',
                                   'safety_file': str(safety), 'stream_rate_hz': 100.0}
    # the mock arm listens where the replay commands
    assert specs['vag_mock_arm'] == {'controller': 'lab_arm_controller'}
    # arguments given win over the file; ``parameters`` over both
    specs = _by_name(graph.generate_and_replay(
        params_file=str(params), controller='other_controller', safety_file='',
        dry_run=False, parameters={'vag_replay': {'controller_mode': 'joint_trajectory'}}))
    assert specs['vag_replay'] == {'controller': 'other_controller', 'safety_file': '',
                                   'controller_mode': 'joint_trajectory', 'dry_run': False,
                                   'stream_rate_hz': 100.0}
    assert specs['vag_mock_arm'] == {'controller': 'other_controller'}
    with pytest.raises(ConfigError, match="vag_mock_arm controller='a' but vag_replay"):
        graph.generate_and_replay(parameters={'vag_mock_arm': {'controller': 'a'}})
    # the nodes run with the file's values
    specs = graph.generate_and_replay(params_file=str(params), preview=False)
    nodes = graph.create_nodes([s for s in specs if s.name in ('vag_replay', 'vag_mock_arm')],
                               context=ros_context)
    try:
        replay, arm = nodes
        assert replay.config.controller == arm.config.controller == 'lab_arm_controller'
        assert replay.config.controller_mode == 'forward_position'
        assert replay.safety_file == safety and replay.safety.velocity_scale == 0.2
    finally:
        for node in nodes:
            node.destroy_node()


def test_one_joint_states_topic_for_every_node_that_reads_them(ros_context, tmp_path):
    specs = graph.generate_and_replay(joint_states_topic='/arm/joint_states',
                                      record_dir=str(tmp_path))
    params = _by_name(specs)
    for name in ('vag_generator', 'vag_replay', 'vag_recorder'):
        assert params[name]['joint_states_topic'] == '/arm/joint_states', name
    arm_spec = [s for s in specs if s.name == 'vag_mock_arm'][0]
    assert arm_spec.remappings == (('/joint_states', '/arm/joint_states'),)
    nodes = graph.create_nodes([s for s in specs if s.name in ('vag_replay', 'vag_mock_arm')],
                               context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in nodes:
        executor.add_node(node)
    try:
        replay, arm = nodes
        assert arm.joint_pub.topic_name == '/arm/joint_states'
        assert spin_until(executor, lambda: replay._joints_at is not None, 10.0)
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
    assert all(s.remappings == () for s in graph.generate_and_replay()
               if s.name == 'vag_mock_arm')


def test_a_lab_checkpoint_runs_its_own_arm_through_the_graph(ros_context, tmp_path):
    """No file of the package's arm: a lab arm's checkpoint in the real graph (no sim), the
    lab's own /joint_states and camera; the trajectory carries the lab's joint names, the
    replay judges it against the lab arm (dry run: nothing moves) and the recorder's bag
    carries the lab's URDF."""
    import dataclasses
    from pathlib import Path
    import time

    import numpy as np
    import rclpy
    from sensor_msgs.msg import JointState

    from ros_helpers import micro_config
    from vag_ros.episodes.bag_reader import list_episode_bags, read_metadata
    from vag_ros.model.checkpoint import save_checkpoint
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.vag import VagModel
    from vag_ros.robot.description import load_robot_description
    from vag_ros.ros.conversions import numpy_to_image
    lab = load_robot_description(Path(__file__).resolve().parents[1] / 'data' / 'lab_arm.urdf')
    config = micro_config()
    config = dataclasses.replace(config, action=dataclasses.replace(config.action, dim=6))
    checkpoint = save_checkpoint(tmp_path / 'lab', VagModel(config), config,
                                 ActionNormalizer.identity(6), robot=lab)
    specs = graph.generate_and_replay(
        str(checkpoint), sim=False, record_dir=str(tmp_path / 'rec'),
        parameters={'vag_recorder': {'rejected_wait_s': 0.5}})
    nodes = graph.create_nodes(specs, context=ros_context)
    peer = rclpy.create_node('lab_peer', context=ros_context)
    trajectories, replay = [], []
    peer.create_subscription(JointTrajectory, '/vag/predicted_trajectory',
                             trajectories.append, 10)
    peer.create_subscription(DiagnosticArray, '/vag/status', lambda msg: replay.extend(
        status_values(s) for s in msg.status if s.name.endswith('vag_replay')), 100)
    joints = peer.create_publisher(JointState, '/joint_states', 10)
    camera = peer.create_publisher(Image, '/camera/image_raw', 10)
    instruction = peer.create_publisher(String, '/vag/instruction', 10)
    rest = np.array([0.1, -0.2, 0.3, 0.0, 0.2, 0.01])

    def publish():
        now = time.time_ns()
        stamp = rclpy.time.Time(nanoseconds=now).to_msg()
        state = JointState(name=list(lab.joint_names), position=rest.tolist(),
                           velocity=[0.0] * 6)
        state.header.stamp = stamp
        joints.publish(state)
        camera.publish(numpy_to_image(np.full((48, 64, 3), 90, np.uint8), stamp_ns=now))

    peer.create_timer(0.05, publish)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in nodes + [peer]:
        executor.add_node(node)
    try:
        generator = nodes[1]
        assert generator.joint_names == lab.joint_names
        assert {n.get_name(): n.robot.name for n in nodes if hasattr(n, 'robot')} == {
            'vag_replay': 'lab_arm', 'vag_preview': 'lab_arm', 'vag_recorder': 'lab_arm'}
        assert spin_until(executor, lambda: generator._frame is not None
                          and instruction.get_subscription_count() > 0, 20.0)
        instruction.publish(String(data='open the drawer'))
        assert spin_until(executor, lambda: trajectories, 60.0)
        assert list(trajectories[0].joint_names) == list(lab.joint_names)
        assert spin_until(executor, lambda: {'validated', 'rejected'} & {
            r['state'] for r in replay}, 10.0)
        errors = ' '.join(r.get('last_error', '') for r in replay)
        assert 'unknown joint' not in errors and "'joint1'" not in errors, errors
        recorder = [n for n in nodes if n.get_name() == 'vag_recorder'][0]
        assert spin_until(executor, lambda: recorder.written, 10.0)
        meta = read_metadata(list_episode_bags(tmp_path / 'rec')[0])
        assert meta.joint_names == lab.joint_names and meta.robot_urdf == lab.urdf
    finally:
        executor.shutdown()
        for node in reversed(nodes + [peer]):
            node.destroy_node()
