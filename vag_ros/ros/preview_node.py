"""Preview: a predicted trajectory as ghost joint states and an end-effector path in RViz.

Ghost joints go to /vag/preview/joint_states (feed a second robot_state_publisher with a
frame prefix, e.g. ``ghost/``); the path is a LINE_STRIP marker in the URDF root frame. The
predicted video (published by the generator all at once) is replayed on
/vag/preview/video at its frame rate, in step with the ghost, for an RViz Image display.
"""

import collections
import time
import typing

import numpy as np
from geometry_msgs.msg import Point
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from vag_ros.episodes.topics import PREDICTED_TRAJECTORY_TOPIC, PREDICTED_VIDEO_TOPIC
from vag_ros.errors import TrajectoryError, VagError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.interpolation import TrajectoryInterpolator
from vag_ros.robot.kinematics import KinematicChain
from vag_ros.ros.configs import PreviewNodeConfig
from vag_ros.ros.conversions import make_header, make_joint_state, time_to_ns, \
    trajectory_to_arrays
from vag_ros.ros.parameters import check_overrides, declare_config
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_preview'


def path_markers(path: np.ndarray, frame_id: str, stamp_ns: int = 0) -> MarkerArray:
    """End-effector path (T, 3) m -> LINE_STRIP + end SPHERE markers."""
    header = make_header(stamp_ns, frame_id)
    line = Marker(header=header, ns='vag_path', id=0, type=Marker.LINE_STRIP,
                  action=Marker.ADD)
    line.scale.x = 0.005
    line.color.g, line.color.a = 0.8, 1.0
    line.pose.orientation.w = 1.0
    line.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in path]
    end = Marker(header=header, ns='vag_path', id=1, type=Marker.SPHERE, action=Marker.ADD)
    end.scale.x = end.scale.y = end.scale.z = 0.02
    end.color.r, end.color.g, end.color.a = 1.0, 0.5, 1.0
    end.pose.orientation.w = 1.0
    end.pose.position = Point(x=float(path[-1][0]), y=float(path[-1][1]),
                              z=float(path[-1][2]))
    return MarkerArray(markers=[line, end])


class PreviewNode(Node):
    """Ghost playback and path markers; parameters: ``PreviewNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = declare_config(self, PreviewNodeConfig)
        check_overrides(self)
        cfg = self.config
        self.robot = load_robot_description(cfg.urdf or None)
        self.chain = KinematicChain(self.robot)
        self.tip = self.chain.tip_link(cfg.tip_link or None)
        self.frame_id = cfg.frame_id or self.robot.root_link
        self.ghost_pub = self.create_publisher(JointState, cfg.ghost_topic, 10)
        self.marker_pub = self.create_publisher(MarkerArray, cfg.markers_topic, 1)
        self.video_pub = self.create_publisher(Image, cfg.video_topic, 2)
        self.create_subscription(JointTrajectory, PREDICTED_TRAJECTORY_TOPIC,
                                 self._on_trajectory, 10)
        self._frames_in = collections.deque(maxlen=cfg.max_buffered_frames)
        self.create_subscription(Image, PREDICTED_VIDEO_TOPIC, self._on_frame, 200)
        self._ghost: typing.Optional[typing.Tuple[TrajectoryInterpolator, float]] = None
        self._episode_ns = 0       # stamp of predicted frame 0 = the trajectory's stamp
        self._shown = None         # the predicted frame last published
        self.create_timer(1.0 / cfg.rate_hz, self._tick)

    def _on_frame(self, msg: Image) -> None:
        self._frames_in.append(msg)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            names, times, positions = trajectory_to_arrays(msg)  # (T,), (T, D)
            missing = [n for n in self.robot.joint_names if n not in names]
            if missing or not len(times):
                raise TrajectoryError(f'preview: trajectory lacks joint(s) {missing} '
                                      f'or has no points')
            positions = positions[:, [names.index(n) for n in self.robot.joint_names]]
            path = self.chain.positions(positions, self.tip)  # (T, 3) m
            interpolator = TrajectoryInterpolator(times, positions)
        except VagError as exc:
            self.status.warn('rejected', f'preview: {exc}')
            return
        self.marker_pub.publish(path_markers(path, self.frame_id,
                                             self.get_clock().now().nanoseconds))
        self._ghost = (interpolator, time.monotonic())
        self._episode_ns = time_to_ns(msg.header.stamp)
        self._shown = None
        self.status.publish('previewing', f'{len(times)} points, path of {self.tip}')

    def _tick(self) -> None:
        if self._ghost is None:
            return
        interpolator, start = self._ghost
        t = time.monotonic() - start + interpolator.start_time
        if t > interpolator.end_time and self.config.loop:
            self._ghost = (interpolator, time.monotonic())
            t = interpolator.start_time
        now_ns = self.get_clock().now().nanoseconds
        self.ghost_pub.publish(make_joint_state(self.robot.joint_names, interpolator.sample(t),
                                                now_ns))
        self._show_frame(self._episode_ns + int((t - interpolator.start_time) * 1e9), now_ns)

    def _show_frame(self, at_ns: int, now_ns: int) -> None:
        """Publish the episode's predicted frame for playback time ``at_ns``, once each."""
        frame = None
        for candidate in self._frames_in:  # in stamp order: the generator publishes so
            stamp = time_to_ns(candidate.header.stamp)
            if self._episode_ns <= stamp <= at_ns:
                frame = candidate
        if frame is None or frame is self._shown:
            return
        self._shown = frame
        # stamped now: RViz shows it now, not at the predicted time
        self.video_pub.publish(Image(
            header=make_header(now_ns, frame.header.frame_id), height=frame.height,
            width=frame.width, encoding=frame.encoding, is_bigendian=frame.is_bigendian,
            step=frame.step, data=frame.data))


def main(args=None) -> None:
    """Run the preview node."""
    run_node(PreviewNode, args)


if __name__ == '__main__':
    main()
