"""Mock arm: the embedded world's arm behind ros2_control-like topics.

Accepts /<controller>/joint_trajectory (JointTrajectory, cubic Hermite through the points'
velocities when given, else PCHIP; an empty one is rejected, as the real
joint_trajectory_controller does) and
/<controller>/commands (Float64MultiArray, position targets), steps the world every
1/sim.frame_rate s and publishes /joint_states.
"""

import time
import typing

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from vag_ros.episodes.topics import JOINT_STATES_TOPIC
from vag_ros.errors import VagError
from vag_ros.robot.interpolation import TrajectoryInterpolator
from vag_ros.ros.configs import MockArmConfig
from vag_ros.ros.controller_interfaces import controller_columns
from vag_ros.ros.conversions import make_joint_state, trajectory_to_arrays
from vag_ros.ros.parameters import check_overrides, declare_config
from vag_ros.ros.sim_shared import get_shared_world, release_shared_world
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_mock_arm'


class MockArmNode(Node):
    """Steps a shared World toward the latest command; parameters: ``MockArmConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.config = declare_config(self, MockArmConfig)
        check_overrides(self)
        cfg = self.config
        self.shared = get_shared_world(cfg.sim, cfg.task, cfg.seed)
        self.names = tuple(self.shared.world.robot.joint_names)
        self.owned = controller_columns(cfg, self.names)  # the controller's joints, its order
        self.owned_names = [self.names[i] for i in self.owned]
        with self.shared.lock:
            self._target = self.shared.world.joints()  # (D,) hold where we start
        self._trajectory: typing.Optional[typing.Tuple[TrajectoryInterpolator, float]] = None
        self.commands_received = 0
        base = '/' + cfg.controller.strip('/')
        self.create_subscription(JointTrajectory, base + '/joint_trajectory',
                                 self._on_trajectory, 10)
        self.create_subscription(Float64MultiArray, base + '/commands', self._on_command, 10)
        self.joint_pub = self.create_publisher(JointState, JOINT_STATES_TOPIC, 10)
        self.publishing = True  # tests switch this off to make /joint_states go stale
        self.create_timer(1.0 / cfg.sim.frame_rate, self._step)
        self.status.publish('idle', f'{self.shared.world.robot.name} in task '
                            f'{cfg.task}/{cfg.seed}')

    def joints(self) -> np.ndarray:
        """(D,) measured joint positions."""
        with self.shared.lock:
            return self.shared.world.joints()

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            if not msg.points:  # as ros2_controllers' joint_trajectory_controller (>= #902)
                raise VagError('Empty trajectory received.')
            names, times, positions = trajectory_to_arrays(msg)  # (T,), (T, K)
            owned = self.owned_names
            foreign = [n for n in names if n not in owned]
            if foreign:  # as joint_trajectory_controller: joints it does not own
                raise VagError(f"Incoming joint(s) {foreign} don't match the controller's "
                               f'joints {owned}')
            missing = [n for n in owned if n not in names]
            if missing:
                raise VagError(f'trajectory lacks joint(s) {missing}')
            order = [names.index(n) for n in owned]
            full = np.repeat(self._target[None], len(times), axis=0)  # (T, D) others hold
            full[:, self.owned] = positions[:, order]
            positions = full
            velocities = None
            if all(len(p.velocities) == len(names) for p in msg.points):  # cubic Hermite
                velocities = np.zeros_like(positions)
                velocities[:, self.owned] = np.array([p.velocities for p in msg.points])[:, order]
            if times[0] > 0:
                times = np.concatenate([[0.0], times])
                start = positions[0].copy()  # (D,) the owned joints from where they are
                start[self.owned] = self.joints()[self.owned]
                positions = np.concatenate([start[None], positions])
                if velocities is not None:
                    velocities = np.concatenate([np.zeros((1, len(self.names))), velocities])
            interpolator = TrajectoryInterpolator(times, positions, velocities)
        except VagError as exc:
            self.status.error('rejected', f'mock arm: trajectory rejected: {exc}')
            return
        self.commands_received += 1
        self._trajectory = (interpolator, time.monotonic())

    def _on_command(self, msg: Float64MultiArray) -> None:
        data = np.asarray(msg.data, dtype=float)
        owned = self.owned_names
        if data.shape != (len(owned),) or not np.all(np.isfinite(data)):
            self.status.error('rejected', f'mock arm: command needs {len(owned)} finite '
                              f'values for {owned}, got {list(msg.data)}')
            return
        self.commands_received += 1
        if self._trajectory is not None:  # hold where the trajectory had got to
            self._target = self._trajectory[0].sample(time.monotonic() - self._trajectory[1])
        self._trajectory = None
        target = np.array(self._target, dtype=float)
        target[self.owned] = data
        self._target = target

    def _step(self) -> None:
        if self._trajectory is not None:
            interpolator, start = self._trajectory
            self._target = interpolator.sample(time.monotonic() - start)
        with self.shared.lock:
            self.shared.world.step(self._target)
            joints = self.shared.world.joints()
        if self.publishing:
            self.joint_pub.publish(make_joint_state(
                self.names, joints, self.get_clock().now().nanoseconds))

    def destroy_node(self):
        """Release the shared world."""
        release_shared_world(self.shared)
        return super().destroy_node()


def main(args=None) -> None:
    """Run the mock arm."""
    run_node(MockArmNode, args)


if __name__ == '__main__':
    main()
