"""Capture node: raw or compressed camera frames -> fresh rgb8 on /vag/frame; bad ones reported.

Stale, future-stamped and unstamped frames are rejected; frames are centre-cropped and resized
to the configured output size.
"""

import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from sensor_msgs.msg import CompressedImage, Image

from ros_helpers import spin_until  # noqa: I100
from vag_ros.ros.capture_node import CaptureNode
from vag_ros.image_decoding import image_to_numpy
from vag_ros.ros.conversions import ns_to_time, numpy_to_compressed, numpy_to_image, time_to_ns
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


class Rig:
    """A capture node and a peer: camera publisher, /vag/frame and /vag/status listeners."""

    def __init__(self, context, msg_type=Image, topic='/camera/image_raw', parameters=()):
        import rclpy
        self.node = CaptureNode(context=context, parameter_overrides=[
            Parameter('max_rate_hz', value=0.0)] + [Parameter(k, value=v) for k, v in parameters])
        self.peer = rclpy.create_node('capture_test_peer', context=context)
        self.out, self.errors, self.levels, self.values = [], [], [], []
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
                self.values.append(values)
                self.errors.append(values['last_error'])
                self.levels.append(values['level'])

    def now_ns(self, offset_s=0.0):
        """The capture node's clock, plus ``offset_s``, in ns: a fresh camera stamp."""
        return self.node.get_clock().now().nanoseconds + int(offset_s * 1e9)

    def spin_until(self, predicate, timeout=5.0):
        return spin_until(self.executor, predicate, timeout)

    def publish_until(self, msg, predicate, timeout=5.0, restamp=False):
        """Publish ``msg`` every 0.2 s until ``predicate()`` (sensor-data QoS: best effort).

        ``restamp``: stamp each copy with the node clock, so that it stays fresh.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if restamp:
                msg.header.stamp = ns_to_time(self.now_ns())
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
        stamp = rig.now_ns()
        msg = numpy_to_image(frame[:, :, ::-1].copy(), 'bgr8', stamp_ns=stamp, frame_id='cam')
        assert rig.publish_until(msg, lambda: rig.out)
        out = rig.out[0]
        assert out.encoding == 'rgb8' and out.header.frame_id == 'cam'
        assert time_to_ns(out.header.stamp) == stamp
        assert np.array_equal(image_to_numpy(out), frame)
        msg.encoding = '32FC1'  # a depth image: refused by name
        forwarded = len(rig.out)
        assert rig.publish_until(msg, lambda: any('32FC1' in e for e in rig.errors))
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
        for fmt in ('png', 'jpeg'):
            stamp = rig.now_ns()
            msg = numpy_to_compressed(frame, fmt, stamp_ns=stamp, frame_id='cam')
            assert rig.publish_until(msg, lambda: rig.out and
                                     time_to_ns(rig.out[-1].header.stamp) == stamp)
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
                match in e and f'format {fmt!r}' in e for e in rig.errors),
                restamp=True), (fmt, rig.errors)
            assert rig.levels[-1] == '1'  # WARN: the frame is skipped, the node goes on
        rig.spin_until(lambda: False, 0.2)
        assert rig.out == [] and rig.node.forwarded == 0
        good = numpy_to_compressed(_smooth(), 'png', stamp_ns=rig.now_ns())
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


def test_capture_rejects_stale_future_and_unstamped_frames(ros_context):
    rig = Rig(ros_context, parameters=[('max_age_s', 0.5)])
    try:
        frame = _smooth(6, 8)
        cases = [(-3.0, 'camera frame is ', ' s old > max_age_s 0.5 s (stale'),
                 (+3.0, 'camera frame is stamped ', ' s in the future > max_age_s 0.5 s'),
                 (None, 'camera frame has no stamp', 'max_age_s: 0')]
        for offset, start, detail in cases:
            stamp = 0 if offset is None else rig.now_ns(offset)
            msg = numpy_to_image(frame, 'rgb8', stamp_ns=stamp, frame_id='cam')
            assert rig.publish_until(msg, lambda: any(start in e and detail in e
                                                      for e in rig.errors)), rig.errors
            assert rig.levels[-1] == '1'  # WARN: the frame is skipped, the node goes on
            assert rig.errors[-1].startswith('camera frame rejected: ')
        rig.spin_until(lambda: False, 0.2)
        assert rig.out == [] and rig.node.forwarded == 0 and rig.node.rejected >= 3
        # a burst of stale frames: each counted, reported at most once a second
        reports, rejected = len(rig.values), rig.node.rejected
        stale = numpy_to_image(frame, 'rgb8', stamp_ns=rig.now_ns(-3.0))
        for _ in range(10):
            rig.camera.publish(stale)
            rig.spin_until(lambda: False, 0.03)
        rig.spin_until(lambda: rig.node.rejected >= rejected + 3, 1.0)
        assert rig.node.rejected >= rejected + 3
        assert sum(v['state'] == 'frame rejected' for v in rig.values[reports:]) <= 2
        assert rig.node.latest() == (None, float('inf'))
        # the periodic report says every frame is being rejected
        assert rig.spin_until(lambda: any(v['state'] == 'rejecting' for v in rig.values), 3.0)
        # a fresh frame goes through; the node keeps it and reports its age
        good = numpy_to_image(frame, 'rgb8', stamp_ns=rig.now_ns(-0.2), frame_id='cam')
        assert rig.publish_until(good, lambda: rig.out)
        kept, age = rig.node.latest()
        assert np.array_equal(kept, frame) and 0 <= age < 5.0
        assert rig.spin_until(lambda: any(v['state'] == 'streaming' for v in rig.values), 3.0)
        streaming = [v for v in rig.values if v['state'] == 'streaming'][-1]
        assert 0 <= float(streaming['frame_age_s']) < 5.0
        assert 0.15 < float(streaming['frame_stamp_age_s']) < 5.0
        assert int(streaming['forwarded']) >= 1 and int(streaming['rejected']) >= 3
    finally:
        rig.close()


def test_capture_age_check_off_accepts_any_stamp(ros_context):
    rig = Rig(ros_context, parameters=[('max_age_s', 0.0)])
    try:
        msg = numpy_to_image(_smooth(6, 8), 'rgb8', stamp_ns=0, frame_id='cam')
        assert rig.publish_until(msg, lambda: rig.out)
        assert time_to_ns(rig.out[0].header.stamp) == 0
        old = numpy_to_image(_smooth(6, 8), 'rgb8', stamp_ns=42, frame_id='cam')
        assert rig.publish_until(old, lambda: time_to_ns(rig.out[-1].header.stamp) == 42)
        assert not any(rig.errors)
    finally:
        rig.close()


def _bands():
    """(20, 60, 3): green | red | blue | green, the red|blue pair in the centre 20 columns."""
    frame = np.zeros((20, 60, 3), dtype=np.uint8)
    frame[:, :20, 1] = 255
    frame[:, 20:30, 0] = 255
    frame[:, 30:40, 2] = 255
    frame[:, 40:, 1] = 255
    return frame


def test_capture_centre_crops_and_resizes(ros_context):
    rig = Rig(ros_context, parameters=[('output_width', 10), ('output_height', 10)])
    try:
        stamp = rig.now_ns()
        msg = numpy_to_image(_bands(), 'rgb8', stamp_ns=stamp, frame_id='cam')
        assert rig.publish_until(msg, lambda: rig.out)
        out = rig.out[0]
        assert (out.encoding, out.height, out.width) == ('rgb8', 10, 10)
        assert time_to_ns(out.header.stamp) == stamp and out.header.frame_id == 'cam'
        pixels = image_to_numpy(out).astype(int)  # (10, 10, 3)
        assert pixels[:, :, 1].max() == 0  # the green sides are cropped away
        assert (pixels[:, :4, 0] == 255).all() and (pixels[:, :4, 2] == 0).all()  # red left
        assert (pixels[:, 6:, 2] == 255).all() and (pixels[:, 6:, 0] == 0).all()  # blue right
        assert np.array_equal(rig.node.latest()[0], image_to_numpy(out))
    finally:
        rig.close()


def test_capture_resizes_without_crop(ros_context):
    rig = Rig(ros_context, parameters=[('output_width', 12), ('output_height', 8),
                                       ('crop', 'none')])
    try:
        msg = numpy_to_image(_bands(), 'rgb8', stamp_ns=rig.now_ns(), frame_id='cam')
        assert rig.publish_until(msg, lambda: rig.out)
        pixels = image_to_numpy(rig.out[0]).astype(int)  # (8, 12, 3): the whole frame, squashed
        assert pixels.shape == (8, 12, 3)
        assert (pixels[:, :3, 1] == 255).all() and (pixels[:, -3:, 1] == 255).all()
        assert (pixels[:, 5, 0] > 200).all() and (pixels[:, 6, 2] > 200).all()
    finally:
        rig.close()


def test_capture_bad_geometry_parameters_fail_at_start(ros_context):
    from vag_ros.errors import ConfigError
    for name, value, match in (('crop', 'left', 'crop'), ('output_width', -1, 'output_width'),
                               ('max_age_s', -0.5, 'max_age_s')):
        with pytest.raises(ConfigError, match=match):
            CaptureNode(context=ros_context, parameter_overrides=[Parameter(name, value=value)])
