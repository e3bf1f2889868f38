"""Capture: camera Image or CompressedImage -> fresh rgb8 frames on /vag/frame, throttled.

The camera topic is /camera/image_raw; remap it (``-r /camera/image_raw:=/my/cam``). With
``input_transport: compressed`` the node takes sensor_msgs/CompressedImage (JPEG or PNG) from
``<camera topic>/compressed``, as image_transport names it, or from ``input_topic``. Both use
sensor-data QoS. Frames that cannot be read (encoding, size, step, format, corrupt or empty
data) or whose header stamp is older than ``max_age_s`` on the node clock (or that far in the
future, or 0) are reported on /vag/status (WARN, at most once a second per reason) and
skipped. With ``output_width``/``output_height`` set, frames are centre-cropped to the
output aspect (``crop: center``) and resized; the output keeps the camera's stamp and
frame_id. The node keeps the newest frame it forwarded (``latest()``) and reports its age on
/vag/status once a second.
"""

import re
import time
import typing

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from vag_ros.episodes.topics import CAMERA_TOPIC
from vag_ros.errors import VagError
from vag_ros.ros.configs import CaptureNodeConfig
from vag_ros.image_decoding import compressed_to_numpy, image_to_numpy
from vag_ros.ros.conversions import numpy_to_image, time_to_ns
from vag_ros.frame_geometry import check_frame_age, fit_frame
from vag_ros.ros.parameters import check_overrides, declare_config
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher, WARN

NODE_NAME = 'vag_capture'
REPORT_PERIOD_S = 1.0  # status with the frame age; least gap between reports of one reason


class CaptureNode(Node):
    """Check and normalise camera frames; parameters: ``CaptureNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = declare_config(self, CaptureNodeConfig)
        check_overrides(self)
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
        self.rejected = 0
        self._rejected_reported = 0  # self.rejected at the last periodic report
        # newest forwarded frame: (array (H, W, 3) rgb8, receive time monotonic s, stamp ns)
        self._latest: typing.Optional[typing.Tuple[np.ndarray, float, int]] = None
        self._stamp_age = float('nan')  # node clock - stamp of the newest frame, at receipt [s]
        self._reported: typing.Dict[str, float] = {}  # rejection reason -> last report
        size = (f'{self.config.output_width or "camera"}x{self.config.output_height or "camera"}'
                f' ({self.config.crop} crop)' if self.config.resizes else 'camera size')
        self.status.publish('idle', f'{self.input_topic} ({self.config.input_transport}) -> '
                                    f'{self.config.output_topic}, {size}')
        self.create_timer(REPORT_PERIOD_S, self._report)

    def _on_image(self, msg: Image) -> None:
        self._forward(msg, image_to_numpy)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._forward(msg, compressed_to_numpy)

    def latest(self) -> typing.Tuple[typing.Optional[np.ndarray], float]:
        """(newest forwarded frame (H, W, 3) rgb8, seconds since it arrived); (None, inf)."""
        latest = self._latest
        if latest is None:
            return None, float('inf')
        return latest[0], time.monotonic() - latest[1]

    def _forward(self, msg, decode: typing.Callable) -> None:
        """Throttle, check the stamp, decode to rgb8, fit to the output size, republish.

        A rejected frame is reported and skipped; the output keeps the camera header.
        """
        now = time.monotonic()
        rate = self.config.max_rate_hz
        if rate > 0 and now - self._last < 1.0 / rate:
            return  # before decoding: JPEG costs CPU the throttle would throw away
        cfg = self.config
        try:  # the stamp first: a stale frame is not worth decoding
            stamp_age = check_frame_age(time_to_ns(msg.header.stamp),
                                        self.get_clock().now().nanoseconds, cfg.max_age_s)
            frame = decode(msg, 'rgb8')  # (H, W, 3)
            frame = fit_frame(frame, cfg.output_width, cfg.output_height, cfg.crop)  # (h, w, 3)
        except VagError as exc:
            self._reject(exc)
            return
        self._last = now
        self._latest = (frame, now, time_to_ns(msg.header.stamp))
        self._stamp_age = stamp_age
        out = numpy_to_image(frame, 'rgb8', frame_id=msg.header.frame_id)
        out.header.stamp = msg.header.stamp
        self.frame_pub.publish(out)
        self.forwarded += 1

    def _reject(self, exc: VagError) -> None:
        """Count a rejected frame; report it unless its reason was reported < 1 s ago."""
        self.rejected += 1
        # the reason: the age check's kind, else the message without its numbers (sizes...)
        reason = getattr(exc, 'kind', '') or re.sub(r'\d+', '#', str(exc))
        now = time.monotonic()
        if now - self._reported.get(reason, -float('inf')) < REPORT_PERIOD_S:
            return  # a camera at 30 Hz with a bad clock would log 30 warnings a second
        self._reported = {k: t for k, t in self._reported.items()
                          if now - t < REPORT_PERIOD_S}  # bounded: recent reasons only
        self._reported[reason] = now
        self.status.warn('frame rejected', f'camera frame rejected: {exc}',
                         **self._values())

    def _values(self) -> typing.Dict[str, str]:
        """Status values: newest frame's age since receipt and its stamp's age then, counts."""
        _, age = self.latest()
        return {'frame_age_s': f'{age:.3f}' if self._latest else 'none',
                'frame_stamp_age_s': f'{self._stamp_age:.3f}' if self._latest else 'none',
                'forwarded': str(self.forwarded), 'rejected': str(self.rejected)}

    def _report(self) -> None:
        """Once a second: the newest frame's age and the counts; WARN while only rejecting."""
        _, age = self.latest()
        rejecting = self.rejected > self._rejected_reported and age > REPORT_PERIOD_S
        self._rejected_reported = self.rejected
        if rejecting:
            self.status.publish('rejecting', 'frames rejected, none forwarded for over '
                                f'{REPORT_PERIOD_S:g} s: {self.status.last_error}',
                                level=WARN, **self._values())
        elif age == float('inf'):
            self.status.publish('idle', 'no frame yet', **self._values())
        else:
            self.status.publish('streaming', f'newest frame {age:.2f} s old', **self._values())


def main(args=None) -> None:
    """Run the capture node."""
    run_node(CaptureNode, args)


if __name__ == '__main__':
    main()
