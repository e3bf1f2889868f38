"""Recorder: each generated episode (predicted video + trajectory) as one MCAP bag.

The generator stamps predicted frame 0 and the trajectory alike; when a trajectory
arrives, the buffered frames from its stamp on form the episode, written atomically with
``EpisodeBagWriter`` (a failed write leaves no bag and is reported on /vag/status).
"""

import collections

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from vag_ros.episodes import topics as tp
from vag_ros.episodes.bag_writer import EpisodeBagWriter
from vag_ros.episodes.episode import EpisodeMetadata
from vag_ros.errors import VagError
from vag_ros.robot.description import load_robot_description
from vag_ros.ros.configs import RecorderNodeConfig
from vag_ros.ros.conversions import image_to_numpy, time_to_ns, trajectory_to_arrays
from vag_ros.ros.parameters import declare_config
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_recorder'


class RecorderNode(Node):
    """Buffer predicted frames, write a bag per trajectory; ``RecorderNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = declare_config(self, RecorderNodeConfig)
        self.robot = load_robot_description(self.config.urdf or None)
        self._frames = collections.deque(maxlen=self.config.max_buffered_frames)
        self._instruction = ''
        self.written = []
        self.create_subscription(Image, tp.PREDICTED_VIDEO_TOPIC, self._on_frame, 200)
        self.create_subscription(String, tp.INSTRUCTION_TOPIC, self._on_instruction, 10)
        self.create_subscription(JointTrajectory, tp.PREDICTED_TRAJECTORY_TOPIC,
                                 self._on_trajectory, 10)

    def _on_frame(self, msg: Image) -> None:
        self._frames.append(msg)

    def _on_instruction(self, msg: String) -> None:
        self._instruction = msg.data

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        start_ns = time_to_ns(msg.header.stamp)
        try:
            names, times, positions = trajectory_to_arrays(msg)  # (T,), (T, D)
            if len(times) < 2:
                raise VagError('trajectory needs >= 2 points to give a frame rate')
            rate = 1.0 / float(times[1] - times[0])
            end_ns = start_ns + int(round(len(times) * 1e9 / rate))
            frames = [f for f in self._frames
                      if start_ns <= time_to_ns(f.header.stamp) < end_ns]
            if not frames:
                raise VagError(f'no predicted frames stamped from {start_ns} ns')
            episode_id = f'generated-{start_ns}'
            metadata = EpisodeMetadata(
                task='generated', seed=0, success=False, robot=self.robot.name,
                joint_names=tuple(names), frame_rate=rate, source='generated',
                instruction=self._instruction or '(unknown)', episode_id=episode_id)
            writer = EpisodeBagWriter(self.config.out_dir, episode_id, metadata,
                                      start_time_ns=start_ns,
                                      estimated_bytes=sum(len(f.data) for f in frames) * 2)
            with writer:
                for frame in frames:
                    writer.add_frame(image_to_numpy(frame), time_to_ns(frame.header.stamp),
                                     topic=tp.PREDICTED_VIDEO_TOPIC,
                                     frame_id=frame.header.frame_id)
                writer.add_trajectory(np.asarray(positions), start_ns,
                                      topic=tp.PREDICTED_TRAJECTORY_TOPIC, frame_rate=rate)
        except VagError as exc:
            self.status.error('write failed', f'recorder: episode at {start_ns} ns not '
                              f'recorded: {exc}')
            return
        self.written.append(writer.path)
        self.status.publish('recorded', f'{writer.path} ({len(frames)} frames)',
                            episode_id=episode_id)


def main(args=None) -> None:
    """Run the recorder."""
    rclpy.init(args=args)
    node = RecorderNode()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
