"""Capture node: bgr8 camera frames become rgb8 on /vag/frame; bad frames are reported."""

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from sensor_msgs.msg import Image

from ros_helpers import spin_until  # noqa: I100
from vag_ros.ros.capture_node import CaptureNode
from vag_ros.ros.conversions import image_to_numpy, numpy_to_image
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


def test_capture_converts_and_rejects(ros_context):
    import rclpy
    node = CaptureNode(context=ros_context,
                       parameter_overrides=[Parameter('max_rate_hz', value=0.0)])
    peer = rclpy.create_node('capture_test_peer', context=ros_context)
    out, errors = [], []
    peer.create_subscription(Image, '/vag/frame', out.append, 10)
    peer.create_subscription(DiagnosticArray, '/vag/status', lambda m: errors.extend(
        status_values(s)['last_error'] for s in m.status if s.name.endswith('vag_capture')),
        10)
    camera = peer.create_publisher(Image, '/camera/image_raw', 10)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(peer)
    try:
        assert spin_until(executor, lambda: camera.get_subscription_count() > 0, 5.0)
        frame = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
        msg = numpy_to_image(frame[:, :, ::-1].copy(), 'bgr8', stamp_ns=42, frame_id='cam')
        camera.publish(msg)
        assert spin_until(executor, lambda: out, 5.0)
        assert out[0].encoding == 'rgb8' and out[0].header.frame_id == 'cam'
        assert out[0].header.stamp.nanosec == 42
        assert np.array_equal(image_to_numpy(out[0]), frame)
        msg.encoding = 'yuv422'
        camera.publish(msg)
        assert spin_until(executor, lambda: any('yuv422' in e for e in errors), 5.0)
        assert len(out) == 1
    finally:
        executor.shutdown()
        node.destroy_node()
        peer.destroy_node()
