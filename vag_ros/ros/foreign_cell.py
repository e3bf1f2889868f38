"""A foreign robot cell for the load benchmark: a robot driver's /joint_states and a camera.

Each part runs as its own process, as a foreign cell's drivers would::

    python -m vag_ros.ros.foreign_cell joints --urdf ROBOT.urdf --log joints.json
    python -m vag_ros.ros.foreign_cell camera --topic /cell/camera/image_raw --log camera.json

``joints``: an ideal position controller at 100 Hz: /joint_states at the newest
forward_position command (``/<controller>/commands``, every joint in the robot's order), so
the replay's silent-controller watch stays quiet; it starts at the task's pose.
``camera``: 640x480 rgb8 at 30 Hz, the embedded world's view of the task (``--task``,
``--seed``), rendered once: the generator sees a scene like its training data. Each writes
its publish times (monotonic ns) to ``--log`` when it exits (SIGINT, SIGTERM).
"""

import argparse
import json
import time
import typing

import numpy as np

TASK = ('touch', 200000)  # the scene shown and the arm's start: a held-out task


def task_scene(family: str, seed: int, width: int = 640, height: int = 480):
    """(the task, its first frame (height, width, 3) uint8) in the embedded world."""
    from vag_ros.sim.config import SimConfig
    from vag_ros.sim.world import World
    world = World(SimConfig(width=width, height=height))
    try:
        task = world.make_task(family, seed)
        world.reset(task)
        return task, world.render()
    finally:
        world.close()


class IdealArm:
    """On ``node``: follow ``/<controller>/commands`` at once, publish /joint_states at
    ``rate_hz``; ``sent_ns`` holds every publish time (monotonic ns)."""

    def __init__(self, node, names: typing.Sequence[str], start: typing.Sequence[float],
                 rate_hz: float = 100.0, controller: str = 'arm_controller',
                 topic: str = '/joint_states'):
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray
        self.node, self.names = node, list(names)
        self.target = np.asarray(start, dtype=float)[:len(self.names)]  # (D,)
        self.publishing = True  # tests switch this off for a real silence
        self.sent_ns: typing.List[int] = []
        node.create_subscription(Float64MultiArray, '/' + controller.strip('/') + '/commands',
                                 self._on_command, 100)
        self.publisher = node.create_publisher(JointState, topic, 10)
        node.create_timer(1.0 / rate_hz, self._publish)

    def _on_command(self, msg) -> None:
        data = np.asarray(msg.data, dtype=float)
        if data.shape == self.target.shape and np.all(np.isfinite(data)):
            self.target = data

    def _publish(self) -> None:
        from vag_ros.ros.conversions import make_joint_state
        if not self.publishing:
            return
        self.publisher.publish(make_joint_state(
            self.names, self.target, self.node.get_clock().now().nanoseconds,
            velocities=np.zeros(len(self.names))))
        self.sent_ns.append(time.monotonic_ns())


class Camera:
    """On ``node``: ``frame`` (H, W, 3) uint8 as rgb8 on ``topic`` at ``rate_hz``;
    ``sent_ns`` holds every publish time (monotonic ns)."""

    def __init__(self, node, topic: str, frame: np.ndarray, rate_hz: float = 30.0,
                 frame_id: str = 'camera'):
        from sensor_msgs.msg import Image
        from vag_ros.ros.conversions import numpy_to_image
        self.node = node
        self.msg = numpy_to_image(frame, frame_id=frame_id)
        self.sent_ns: typing.List[int] = []
        self.publisher = node.create_publisher(Image, topic, 2)
        node.create_timer(1.0 / rate_hz, self._publish)

    def _publish(self) -> None:
        msg = self.msg
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(msg)
        self.sent_ns.append(time.monotonic_ns())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m vag_ros.ros.foreign_cell',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('part', choices=('joints', 'camera'))
    parser.add_argument('--log', required=True, help='publish times go here (JSON) at exit')
    parser.add_argument('--urdf', default='', help="joints: the robot ('' = the package's)")
    parser.add_argument('--controller', default='arm_controller')
    parser.add_argument('--rate', type=float, default=0.0, help='Hz (0 = 100 / 30)')
    parser.add_argument('--topic', default='/camera/image_raw', help='camera: image topic')
    parser.add_argument('--task', default=TASK[0], help='the scene: task family')
    parser.add_argument('--seed', type=int, default=TASK[1], help='the scene: task seed')
    return parser


def main(argv: typing.Optional[typing.Sequence[str]] = None) -> None:
    """Run one part of the cell until SIGINT or SIGTERM; then write its publish times."""
    import rclpy

    from vag_ros.robot.description import load_robot_description
    from vag_ros.ros.spin import run_node
    from vag_ros.sim.world import make_task
    args, ros_args = _parser().parse_known_args(argv)
    parts = []

    def build():
        node = rclpy.create_node(f'foreign_cell_{args.part}')
        if args.part == 'joints':
            robot = load_robot_description(args.urdf or None)
            start = make_task(args.task, args.seed).initial_joints
            parts.append(IdealArm(node, robot.joint_names, start, args.rate or 100.0,
                                  args.controller))
        else:
            frame = task_scene(args.task, args.seed)[1]
            parts.append(Camera(node, args.topic, frame, args.rate or 30.0))
        return node

    try:
        run_node(build, ['foreign_cell', *ros_args])
    finally:
        with open(args.log, 'w') as f:
            json.dump({'part': args.part, 'sent_ns': parts[0].sent_ns if parts else []}, f)


if __name__ == '__main__':
    main()
