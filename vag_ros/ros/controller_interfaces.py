"""One class per ros2_control controller interface the replay node can command.

Each gets the validated curve at the start, gives the time of what it has commanded (where
a stop brakes from), and sends the braking stop its own way:

- ``ForwardPosition``: forward_command_controller's ``/<controller>/commands``
  (Float64MultiArray), streamed: the k-th command is the curve at k / rate, so a late tick
  delays the motion and never enlarges a step; the braking is streamed too.
- ``JointTrajectoryTopic``: joint_trajectory_controller's ``/<controller>/joint_trajectory``:
  the curve's waypoints with velocities (cubic Hermite, the same curve), the measured state
  first; the braking as a two-point trajectory that replaces it (an empty one is rejected).
- ``FollowJointTrajectoryAction``: the same trajectory as a control_msgs action goal; the
  result ends the motion; the braking is a new goal, the running one cancelled.
"""

import time
import typing

import numpy as np
from rclpy.duration import Duration
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from vag_ros.errors import ConfigError
from vag_ros.ros.conversions import arrays_to_trajectory, seconds_to_duration

# how long a stop waits for the controller's subscriber to acknowledge it [s]
STOP_ACK_TIMEOUT_S = 0.5


class ControllerInterface:
    """What the replay node needs from a controller interface."""

    mode = ''
    streams = False          # the node sends one command per tick (``command``)
    ends_by_result = False   # the controller, not the node's clock, says when it is done

    def __init__(self, node, base: str, joint_names: typing.Sequence[str], rate_hz: float,
                 columns: typing.Optional[typing.Sequence[int]] = None):
        """``joint_names``: the controller's joints; ``columns``: where each sits in the
        node's (D,) vectors (None: all of them, in order)."""
        self.node, self.base, self.joint_names, self.rate_hz = node, base, joint_names, rate_hz
        self.columns = list(range(len(joint_names)) if columns is None else columns)
        self.publisher = None

    def start(self, curve, duration_s: float, stamp: int) -> None:
        """Hand over the validated curve (TrajectoryInterpolator) of episode ``stamp``."""

    def unready(self) -> typing.Optional[str]:
        """Why a motion cannot start now (no action server), or None."""
        return None

    def command(self, position: np.ndarray) -> None:
        """Stream one command (D,) (streaming interfaces only)."""
        raise NotImplementedError(f'{self.mode} does not stream')

    def commanded_until(self, ticks: int, elapsed_s: float) -> float:
        """Curve time of the newest command [s]: where a stop brakes from."""
        return elapsed_s

    def send_stop(self, stop) -> None:
        """Send the braking (vag_ros.robot.braking.Braking) to rest."""
        raise NotImplementedError

    def wait_for_ack(self) -> None:
        """Wait briefly until a reliable subscriber has the last message (the stop)."""
        if self.publisher is not None:
            self.publisher.wait_for_all_acked(Duration(seconds=STOP_ACK_TIMEOUT_S))

    def in_flight(self) -> bool:
        """True while a goal or cancel request is unanswered (the node keeps spinning)."""
        return False

    def close(self) -> None:
        """Release what the interface created."""

    def _trajectory(self, times, positions, velocities) -> JointTrajectory:
        """times (T,), positions and velocities (T, D) -> the controller's joints only."""
        return arrays_to_trajectory(self.joint_names, times,
                                    np.asarray(positions)[:, self.columns],
                                    velocities=np.asarray(velocities)[:, self.columns])


class ForwardPosition(ControllerInterface):
    """forward_command_controller: position commands streamed at ``rate_hz``."""

    mode = 'forward_position'
    streams = True

    def __init__(self, node, base, joint_names, rate_hz, columns=None):
        super().__init__(node, base, joint_names, rate_hz, columns)
        self.publisher = node.create_publisher(Float64MultiArray, base + '/commands', 10)

    def command(self, position: np.ndarray) -> None:
        self.publisher.publish(Float64MultiArray(
            data=[float(v) for v in np.asarray(position)[self.columns]]))

    def commanded_until(self, ticks: int, elapsed_s: float) -> float:
        return max(ticks - 1, 0) / self.rate_hz  # the last command sent

    def send_stop(self, stop) -> None:
        """Streams the braking; returns when the arm is commanded to rest."""
        period = 1.0 / self.rate_hz
        for k in range(1, int(np.ceil(stop.duration_s / period)) + 1):
            time.sleep(period)
            self.command(stop.sample(k * period))


class JointTrajectoryTopic(ControllerInterface):
    """joint_trajectory_controller's topic: one trajectory per motion, stamp 0."""

    mode = 'joint_trajectory'

    def __init__(self, node, base, joint_names, rate_hz, columns=None):
        super().__init__(node, base, joint_names, rate_hz, columns)
        self.publisher = node.create_publisher(JointTrajectory, base + '/joint_trajectory', 10)

    def start(self, curve, duration_s: float, stamp: int) -> None:
        self.publisher.publish(self._trajectory(curve.times, curve.positions,
                                                curve.velocities))  # start on receipt

    def send_stop(self, stop) -> None:
        self.publisher.publish(self._trajectory(*stop.points()))


class FollowJointTrajectoryAction(ControllerInterface):
    """control_msgs' FollowJointTrajectory action (where control_msgs is installed).

    ``on_result(stamp, error or None)`` reports the action's end for the motion of episode
    ``stamp``; ``is_current(stamp)`` says whether that motion is still running.
    """

    mode = 'follow_joint_trajectory'
    ends_by_result = True

    def __init__(self, node, base, joint_names, rate_hz, goal_time_tolerance_s: float,
                 is_current: typing.Callable[[int], bool],
                 on_result: typing.Callable[[int, typing.Optional[str]], None],
                 on_feedback: typing.Callable[[float], None], columns=None):
        super().__init__(node, base, joint_names, rate_hz, columns)
        try:
            from control_msgs.action import FollowJointTrajectory
        except ImportError:
            raise ConfigError(
                "controller_mode='follow_joint_trajectory' needs control_msgs, which is "
                "not installed here (apt install ros-$ROS_DISTRO-control-msgs); use "
                "'joint_trajectory' or 'forward_position'") from None
        from rclpy.action import ActionClient
        self.action = FollowJointTrajectory
        self.client = ActionClient(node, FollowJointTrajectory,
                                   base + '/follow_joint_trajectory')
        self.goal_time_tolerance_s = goal_time_tolerance_s
        self.is_current, self.on_result, self.on_feedback = is_current, on_result, on_feedback
        self.goal_handle = None
        self.futures: typing.List = []  # goals and cancels in flight

    def start(self, curve, duration_s: float, stamp: int) -> None:
        goal = self.action.Goal()
        goal.trajectory = self._trajectory(curve.times, curve.positions, curve.velocities)
        goal.goal_time_tolerance = seconds_to_duration(self.goal_time_tolerance_s)
        future = self.client.send_goal_async(goal, feedback_callback=self._feedback)
        future.add_done_callback(lambda f: self._goal_response(f, stamp))
        self.futures.append(future)  # a stop before the answer waits for it

    def unready(self) -> typing.Optional[str]:
        if not self.client.server_is_ready():
            return f'no FollowJointTrajectory action server on {self.base}/follow_joint_trajectory'
        return None

    def _goal_response(self, future, stamp: int) -> None:
        handle = future.result()
        if not self.is_current(stamp):
            if handle is not None and handle.accepted:  # stopped while the goal was in flight
                self.futures.append(handle.cancel_goal_async())
            return
        if handle is None or not handle.accepted:
            self.on_result(stamp, f'follow_joint_trajectory: goal rejected by {self.base}')
            return
        self.goal_handle = handle
        handle.get_result_async().add_done_callback(lambda f: self._result(f, stamp))

    def _feedback(self, feedback_msg) -> None:
        error = feedback_msg.feedback.error.positions
        if len(error):
            self.on_feedback(max(map(abs, error)))

    def _result(self, future, stamp: int) -> None:
        if not self.is_current(stamp):
            return
        self.goal_handle = None
        response = future.result()
        result = response.result
        if result.error_code == self.action.Result.SUCCESSFUL:
            self.on_result(stamp, None)
        else:
            self.on_result(stamp, f'follow_joint_trajectory failed: error_code '
                           f'{result.error_code} {result.error_string!r} (status '
                           f'{response.status})')

    def send_stop(self, stop) -> None:
        if self.goal_handle is not None:
            self.futures.append(self.goal_handle.cancel_goal_async())
            self.goal_handle = None
        goal = self.action.Goal(trajectory=self._trajectory(*stop.points()))
        self.futures.append(self.client.send_goal_async(goal))

    def in_flight(self) -> bool:
        self.futures = [f for f in self.futures if not f.done()]
        return bool(self.futures)

    def close(self) -> None:
        self.client.destroy()


def controller_columns(config, joint_names: typing.Sequence[str]) -> typing.List[int]:
    """Where each of ``config.controller_joints`` sits in ``joint_names`` (the robot's
    order); all of them when it is empty. ConfigError for a joint the robot lacks."""
    wanted = list(config.controller_joints) or list(joint_names)
    unknown = [n for n in wanted if n not in joint_names]
    if unknown or len(set(wanted)) != len(wanted):
        raise ConfigError(f'controller_joints={list(config.controller_joints)}: '
                          + (f'{unknown} not among the robot\'s joints {list(joint_names)}'
                             if unknown else 'a joint is named twice'))
    return [list(joint_names).index(n) for n in wanted]


def make_controller_interface(node, config, joint_names: typing.Sequence[str], **callbacks
                              ) -> ControllerInterface:
    """The interface of ``config.controller_mode`` (a ReplayNodeConfig) for ``node``;
    ``joint_names`` is the robot's order, the controller gets ``controller_joints``."""
    base = '/' + config.controller.strip('/')
    columns = controller_columns(config, joint_names)
    names = [joint_names[c] for c in columns]
    if config.controller_mode == 'forward_position':
        return ForwardPosition(node, base, names, config.stream_rate_hz, columns)
    if config.controller_mode == 'joint_trajectory':
        return JointTrajectoryTopic(node, base, names, config.stream_rate_hz, columns)
    return FollowJointTrajectoryAction(node, base, names, config.stream_rate_hz,
                                       config.goal_time_tolerance_s, columns=columns,
                                       **callbacks)
