"""Preview (ghost joints + path markers) and recorder (one bag per episode)."""

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from sensor_msgs.msg import Image, JointState  # noqa: I100
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from ros_helpers import spin_until  # noqa: I100
from vag_ros.robot.description import load_robot_description
from vag_ros.ros.conversions import arrays_to_trajectory, numpy_to_image
from vag_ros.ros.preview_node import PreviewNode
from vag_ros.ros.recorder_node import RecorderNode

pytestmark = pytest.mark.ros


def test_preview_and_recorder(ros_context, tmp_path):
    import rclpy
    from rosbags.rosbag2 import Reader
    robot = load_robot_description()
    preview = PreviewNode(context=ros_context)
    recorder = RecorderNode(context=ros_context, parameter_overrides=[
        Parameter('out_dir', value=str(tmp_path))])
    peer = rclpy.create_node('preview_test_peer', context=ros_context)
    ghosts, markers = [], []
    peer.create_subscription(JointState, '/vag/preview/joint_states', ghosts.append, 10)
    peer.create_subscription(MarkerArray, '/vag/preview/markers', markers.append, 10)
    video = peer.create_publisher(Image, '/vag/predicted_video', 100)
    trajectory = peer.create_publisher(JointTrajectory, '/vag/predicted_trajectory', 10)
    executor = SingleThreadedExecutor(context=ros_context)
    for node in (preview, recorder, peer):
        executor.add_node(node)
    try:
        assert spin_until(executor, lambda: trajectory.get_subscription_count() >= 2
                          and video.get_subscription_count() >= 1, 5.0)
        start = 5_000_000_000
        home = np.array([0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02])
        positions = home + np.linspace(0, 0.2, 4)[:, None] * (np.arange(7) < 6)  # (4, 7)
        rng = np.random.default_rng(0)
        for k in range(4):
            frame = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            video.publish(numpy_to_image(frame, stamp_ns=start + k * 100_000_000,
                                         frame_id='camera'))
        assert spin_until(executor, lambda: len(recorder._frames) == 4, 5.0)
        trajectory.publish(arrays_to_trajectory(robot.joint_names, np.arange(4) / 10,
                                                positions, stamp_ns=start))
        assert spin_until(executor, lambda: markers and ghosts and recorder.written, 10.0)
        line = markers[0].markers[0]
        assert len(line.points) == 4 and line.header.frame_id == robot.root_link
        assert list(ghosts[0].name) == list(robot.joint_names)
        with Reader(recorder.written[0]) as reader:
            counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts['/vag/predicted_video'] == 4
        assert counts['/vag/predicted_trajectory'] == 1
    finally:
        executor.shutdown()
        for node in (preview, recorder, peer):
            node.destroy_node()
