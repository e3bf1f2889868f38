"""Capture node: raw or compressed camera frames -> rgb8 on /vag/frame; bad ones reported."""

import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from sensor_msgs.msg import CompressedImage, Image

from ros_helpers import spin_until  # noqa: I100
from vag_ros.ros.capture_node import CaptureNode
from vag_ros.ros.conversions import image_to_numpy, numpy_to_compressed, numpy_to_image
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


class Rig:
    """A capture node and a peer: camera publisher, /vag/frame and /vag/status listeners."""

    def __init__(self, context, msg_type=Image, topic='/camera/image_raw', parameters=()):
        import rclpy
        self.node = CaptureNode(context=context, parameter_overrides=[
            Parameter('max_rate_hz', value=0.0)] + [Parameter(k, value=v) for k, v in parameters])
        self.peer = rclpy.create_node('capture_test_peer', context=context)
        self.out, self.errors, self.levels = [], [], []
        self.peer.create_subscription(Image, '/vag/frame', self.out.append, 10)
        self.peer.create_subscription(DiagnosticArray, '/vag/status', self._on_status, 10)
        self.camera = self.peer.create_publisher(msg_type, topic, 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        assert self.spin_until(lambda: self.camera.get_subscription_count() > 0
                               and self.node.count_publishers(topic) > 0)

    def _on_status(self, msg):
        for status in msg.status:
            if status.name.endswith('vag_capture'):
                values = status_values(status)
                self.errors.append(values['last_error'])
                self.levels.append(values['level'])

    def spin_until(self, predicate, timeout=5.0):
        return spin_until(self.executor, predicate, timeout)

    def publish_until(self, msg, predicate, timeout=5.0):
        """Publish ``msg`` every 0.2 s until ``predicate()`` (sensor-data QoS: best effort)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.camera.publish(msg)
            if self.spin_until(predicate, 0.2):
                return True
        return False

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


def _smooth(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([8 * x, 10 * y, 120 + 2 * (x + y)], axis=2).astype(np.uint8)


def test_capture_converts_and_rejects(ros_context):
    rig = Rig(ros_context)
    try:
        assert rig.node.input_topic == '/camera/image_raw'
        frame = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
        msg = numpy_to_image(frame[:, :, ::-1].copy(), 'bgr8', stamp_ns=42, frame_id='cam')
        assert rig.publish_until(msg, lambda: rig.out)
        out = rig.out[0]
        assert out.encoding == 'rgb8' and out.header.frame_id == 'cam'
        assert out.header.stamp.nanosec == 42
        assert np.array_equal(image_to_numpy(out), frame)
        msg.encoding = 'yuv422'
        forwarded = len(rig.out)
        assert rig.publish_until(msg, lambda: any('yuv422' in e for e in rig.errors))
        rig.spin_until(lambda: False, 0.2)
        assert len(rig.out) == forwarded
    finally:
        rig.close()


def test_capture_decodes_compressed_jpeg_and_png(ros_context):
    pytest.importorskip('PIL')
    rig = Rig(ros_context, CompressedImage, '/camera/image_raw/compressed',
              [('input_transport', 'compressed')])
    try:
        assert rig.node.input_topic == '/camera/image_raw/compressed'
        frame = _smooth()  # (24, 32, 3)
        for fmt, stamp in (('png', 7), ('jpeg', 8)):
            msg = numpy_to_compressed(frame, fmt, stamp_ns=stamp, frame_id='cam')
            assert rig.publish_until(msg, lambda: rig.out and
                                     rig.out[-1].header.stamp.nanosec == stamp)
            out = rig.out[-1]
            assert (out.encoding, out.height, out.width) == ('rgb8', 24, 32)
            assert out.header.frame_id == 'cam'
            pixels = image_to_numpy(out)  # (H, W, 3)
            if fmt == 'png':
                assert np.array_equal(pixels, frame)
            else:
                assert np.abs(pixels.astype(int) - frame).mean() < 3.0  # lossy
    finally:
        rig.close()


def test_capture_reports_bad_compressed_frames_and_keeps_running(ros_context):
    pytest.importorskip('PIL')
    rig = Rig(ros_context, CompressedImage, '/camera/image_raw/compressed',
              [('input_transport', 'compressed')])
    try:
        bad = [('jpeg', b'\xff\xd8\xff' + bytes(range(256)) * 2, 'corrupt data'),
               ('png', b'\x89PNG\r\n\x1a\n' + bytes(300), 'corrupt data'),
               ('jpeg', b'', 'empty data'),
               ('16UC1; compressedDepth png', b'\x89PNG\r\n\x1a\n', 'not supported')]
        for fmt, data, match in bad:
            msg = CompressedImage(format=fmt)
            msg.data = data
            assert rig.publish_until(msg, lambda: any(
                match in e and f'format {fmt!r}' in e for e in rig.errors)), (fmt, rig.errors)
            assert rig.levels[-1] == '1'  # WARN: the frame is skipped, the node goes on
        rig.spin_until(lambda: False, 0.2)
        assert rig.out == [] and rig.node.forwarded == 0
        good = numpy_to_compressed(_smooth(), 'png', stamp_ns=9)
        assert rig.publish_until(good, lambda: rig.out)
        assert np.array_equal(image_to_numpy(rig.out[0]), _smooth())
    finally:
        rig.close()


def test_capture_compressed_topic_follows_remap_or_input_topic(ros_context):
    def subscribed(**kwargs):
        node = CaptureNode(context=ros_context, **kwargs)
        try:
            return [(s.topic_name, s.msg_type) for s in node.subscriptions]
        finally:
            node.destroy_node()

    compressed = [Parameter('input_transport', value='compressed')]
    remap = ['--ros-args', '-r', '/camera/image_raw:=/cam/rgb']
    assert subscribed(parameter_overrides=compressed, cli_args=remap) == [
        ('/cam/rgb/compressed', CompressedImage)]
    assert subscribed(cli_args=remap) == [('/cam/rgb', Image)]
    assert subscribed(parameter_overrides=compressed + [
        Parameter('input_topic', value='/front/jpeg')]) == [('/front/jpeg', CompressedImage)]
