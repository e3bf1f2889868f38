"""Capture: camera Image (rgb8 or bgr8) -> checked rgb8 frames on /vag/frame, throttled.

The camera topic is /camera/image_raw; remap it (``-r /camera/image_raw:=/my/cam``).
Frames with a wrong encoding, size or step are reported on /vag/status and skipped.
"""

import time

from rclpy.node import Node
from sensor_msgs.msg import Image

from vag_ros.episodes.topics import CAMERA_TOPIC
from vag_ros.errors import VagError
from vag_ros.ros.configs import CaptureNodeConfig
from vag_ros.ros.conversions import image_to_numpy, numpy_to_image
from vag_ros.ros.parameters import declare_config
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_capture'


class CaptureNode(Node):
    """Check and normalise camera frames; parameters: ``CaptureNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = declare_config(self, CaptureNodeConfig)
        self.frame_pub = self.create_publisher(Image, self.config.output_topic, 1)
        self.create_subscription(Image, CAMERA_TOPIC, self._on_image, 2)
        self._last = -float('inf')
        self.forwarded = 0
        self.status.publish('idle', f'{CAMERA_TOPIC} -> {self.config.output_topic}')

    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        rate = self.config.max_rate_hz
        if rate > 0 and now - self._last < 1.0 / rate:
            return
        try:
            frame = image_to_numpy(msg, 'rgb8')  # (H, W, 3)
        except VagError as exc:
            self.status.warn('frame rejected', f'camera frame rejected: {exc}')
            return
        self._last = now
        out = numpy_to_image(frame, 'rgb8', frame_id=msg.header.frame_id)
        out.header.stamp = msg.header.stamp
        self.frame_pub.publish(out)
        self.forwarded += 1


def main(args=None) -> None:
    """Run the capture node."""
    run_node(CaptureNode, args)


if __name__ == '__main__':
    main()
