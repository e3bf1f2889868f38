"""Sim camera: the embedded world's camera as sensor_msgs/Image (rgb8) at a rate.

In the same process as the mock arm (``vag_ros.ros.graph`` runs them together) both use one
World, so the camera sees the arm move.
"""

from rclpy.node import Node
from sensor_msgs.msg import Image

from vag_ros.errors import VagError
from vag_ros.ros.configs import SimCameraConfig
from vag_ros.ros.conversions import numpy_to_image
from vag_ros.ros.parameters import check_overrides, declare_config
from vag_ros.ros.sim_shared import get_shared_world, release_shared_world
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_sim_camera'


class SimCameraNode(Node):
    """Render the shared World; parameters: ``SimCameraConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = declare_config(self, SimCameraConfig)
        check_overrides(self)
        cfg = self.config
        self.shared = get_shared_world(cfg.sim, cfg.task, cfg.seed)
        self.image_pub = self.create_publisher(Image, cfg.topic, 2)
        self.create_timer(1.0 / cfg.rate_hz, self._publish)
        self._failed = False

    def _publish(self) -> None:
        try:
            with self.shared.lock:
                frame = self.shared.world.render()  # (H, W, 3) uint8
        except VagError as exc:
            if not self._failed:  # say it once, keep trying
                self.status.error('render failed', str(exc))
            self._failed = True
            return
        self._failed = False
        self.image_pub.publish(numpy_to_image(
            frame, 'rgb8', self.get_clock().now().nanoseconds, self.config.frame_id))

    def destroy_node(self):
        """Release the shared world."""
        release_shared_world(self.shared)
        return super().destroy_node()


def main(args=None) -> None:
    """Run the sim camera."""
    run_node(SimCameraNode, args)


if __name__ == '__main__':
    main()
