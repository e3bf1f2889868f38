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
    assert specs[1].parameter_dict() == {'checkpoint': '/ckpt', 'backend': 'torch',
                                         'engine_dir': ''} and specs[1].lifecycle
    assert dict(specs[2].parameters)['dry_run'] is True


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
    assert graph.generate_and_replay()[0].parameter_dict() == {'input_transport': 'raw'}
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
