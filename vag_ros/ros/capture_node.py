"""Capture: camera Image or CompressedImage -> checked rgb8 frames on /vag/frame, throttled.

The camera topic is /camera/image_raw; remap it (``-r /camera/image_raw:=/my/cam``). With
``input_transport: compressed`` the node takes sensor_msgs/CompressedImage (JPEG or PNG) from
``<camera topic>/compressed``, as image_transport names it, or from ``input_topic``. Both use
sensor-data QoS. Frames that cannot be read (encoding, size, step, format, corrupt or empty
data) are reported on /vag/status and skipped.
"""

import time
import typing

from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from vag_ros.episodes.topics import CAMERA_TOPIC
from vag_ros.errors import VagError
from vag_ros.ros.configs import CaptureNodeConfig
from vag_ros.ros.conversions import compressed_to_numpy, image_to_numpy, numpy_to_image
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
        if self.config.input_transport == 'compressed':
            # resolved first so that a remapped camera topic carries its /compressed along
            self.input_topic = self.config.subscribed_topic(self.resolve_topic_name(CAMERA_TOPIC))
            self.create_subscription(CompressedImage, self.input_topic, self._on_compressed,
                                     qos_profile_sensor_data)
        else:
            self.input_topic = self.config.subscribed_topic(CAMERA_TOPIC)
            self.create_subscription(Image, self.input_topic, self._on_image,
                                     qos_profile_sensor_data)
        self._last = -float('inf')
        self.forwarded = 0
        self.status.publish('idle', f'{self.input_topic} ({self.config.input_transport}) -> '
                                    f'{self.config.output_topic}')

    def _on_image(self, msg: Image) -> None:
        self._forward(msg, image_to_numpy)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._forward(msg, compressed_to_numpy)

    def _forward(self, msg, decode: typing.Callable) -> None:
        """Throttle, decode to rgb8 (or report and skip), republish with the camera header."""
        now = time.monotonic()
        rate = self.config.max_rate_hz
        if rate > 0 and now - self._last < 1.0 / rate:
            return  # before decoding: JPEG costs CPU the throttle would throw away
        try:
            frame = decode(msg, 'rgb8')  # (H, W, 3)
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
