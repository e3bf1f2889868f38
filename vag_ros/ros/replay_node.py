"""Replay: validate a predicted trajectory with the core, then, armed, send it to the arm.

Dry-run is the default. Nothing is commanded unless the trajectory passed
``validate_trajectory`` (again, against the joint state at execute time) and ``~/arm`` was
called; arming is consumed by one execute. Cancel, disarm and stale /joint_states stop.
"""

import time
import typing

import numpy as np
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from vag_ros.errors import ConfigError, TrajectoryError, VagError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.interpolation import TrajectoryInterpolator
from vag_ros.robot.trajectory_validation import validate_trajectory, ValidatedTrajectory
from vag_ros.ros.configs import ReplayNodeConfig
from vag_ros.ros.conversions import arrays_to_trajectory, joint_state_to_dict, \
    trajectory_to_arrays
from vag_ros.ros.parameters import declare_config
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_replay'


def check_interpolated_velocity(interpolator: TrajectoryInterpolator, limits: np.ndarray,
                                names: typing.Sequence[str]) -> None:
    """TrajectoryError if the streamed curve's peak |velocity| (D,) exceeds ``limits``."""
    peak = interpolator.max_abs_velocity()  # (D,)
    over = np.flatnonzero(peak > limits * (1 + 1e-9))
    if over.size:
        i = over[0]
        raise TrajectoryError(
            f'trajectory rejected [interpolated velocity]: joint {names[i]!r} peaks at '
            f'{peak[i]:.4g} between waypoints > limit {limits[i]:.4g}; slow it down')


class ReplayNode(Node):
    """Validated, armed, cancellable replay; parameters: ``ReplayNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        try:
            self.config = declare_config(self, ReplayNodeConfig)
            self.robot = load_robot_description(self.config.urdf or None)
            self.limits = self.config.safety.resolve(self.robot)
            self._make_command_interface()
        except VagError as exc:
            self.status.error('unconfigured', f'configure failed: {exc}')
            raise
        cfg = self.config
        self._joints: typing.Dict[str, float] = {}
        self._joints_at: typing.Optional[float] = None  # monotonic receive time [s]
        self.pending: typing.Optional[ValidatedTrajectory] = None
        self.armed = False
        self._motion = None  # (interpolator, start monotonic s) while moving
        self._timer = None
        self.create_subscription(JointTrajectory, cfg.trajectory_topic, self._on_trajectory, 10)
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joint_state, 10)
        self.create_service(SetBool, '~/arm', self._on_arm)
        self.create_service(Trigger, '~/execute', self._on_execute)
        self.create_service(Trigger, '~/cancel', self._on_cancel)
        self.status.publish('idle', f'{cfg.controller_mode} -> /{cfg.controller}'
                            + (' (dry run)' if cfg.dry_run else ''), dry_run=cfg.dry_run)

    def _make_command_interface(self) -> None:
        cfg = self.config
        base = '/' + cfg.controller.strip('/')
        if cfg.controller_mode == 'joint_trajectory':
            self.command_pub = self.create_publisher(
                JointTrajectory, base + '/joint_trajectory', 10)
        elif cfg.controller_mode == 'forward_position':
            self.command_pub = self.create_publisher(Float64MultiArray, base + '/commands', 10)
        else:
            try:
                from control_msgs.action import FollowJointTrajectory  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "controller_mode='follow_joint_trajectory' needs control_msgs, which is "
                    "not installed here; use 'joint_trajectory' or 'forward_position'") from None
            raise ConfigError("controller_mode='follow_joint_trajectory' is not implemented "
                              "yet; use 'joint_trajectory' or 'forward_position'")

    # --- inputs -----------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self._joints.update(joint_state_to_dict(msg))
        except VagError as exc:
            self.status.warn('joint state rejected', str(exc))
            return
        self._joints_at = time.monotonic()

    def _current(self):
        """({name: position} or None, age s or None)."""
        if self._joints_at is None:
            return None, None
        return dict(self._joints), time.monotonic() - self._joints_at

    def _validate(self, names, positions, times) -> ValidatedTrajectory:
        current, age = self._current()
        validated = validate_trajectory(names, positions, times, self.robot,
                                        self.config.safety, current, age)
        if self.config.controller_mode == 'forward_position':
            check_interpolated_velocity(TrajectoryInterpolator(*validated.with_start()),
                                        self.limits.velocity, self.robot.joint_names)
        return validated

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        if self._motion is not None:
            self.status.warn('moving', 'trajectory ignored: a motion is running; cancel first')
            return
        self.pending = None
        try:
            names, times, positions = trajectory_to_arrays(msg)  # (T,), (T, D)
            validated = self._validate(names, positions, times)
        except VagError as exc:
            self.status.error('rejected', str(exc))
            return
        self.pending = validated
        self.status.publish(
            'validated', f'{len(validated.times)} points, {validated.duration_s:.2f} s',
            duration_s=f'{validated.duration_s:.3f}', time_scale=validated.time_scale,
            warnings='; '.join(validated.warnings))

    # --- services ---------------------------------------------------------------------

    def _on_arm(self, request, response):
        if request.data:
            self.armed = True
            response.message = 'armed for one execute' + (
                ' (dry run: nothing will move)' if self.config.dry_run else '')
        else:
            self.armed = False
            self.stop('disarmed')
            response.message = 'disarmed'
        response.success = True
        self.status.publish('armed' if self.armed else 'idle', response.message,
                            armed=self.armed)
        return response

    def _refuse(self, response, reason: str):
        response.success, response.message = False, reason
        self.status.warn('refused', f'execute refused: {reason}')
        return response

    def _on_execute(self, request, response):
        if self._motion is not None:
            return self._refuse(response, 'a motion is already running')
        if not self.armed:
            return self._refuse(response, 'not armed: call ~/arm with data: true first')
        if self.pending is None:
            return self._refuse(response, 'no validated trajectory (send one on '
                                f'{self.config.trajectory_topic})')
        self.armed = False  # one execute per arming
        pending, self.pending = self.pending, None
        try:  # the arm may have moved since the trajectory arrived
            validated = self._validate(self.robot.joint_names, pending.positions,
                                       pending.times)
        except VagError as exc:
            self.status.error('rejected', str(exc))
            return self._refuse(response, str(exc))
        if self.config.dry_run:
            response.success = True
            response.message = (f'dry run: trajectory of {validated.duration_s:.2f} s valid; '
                                'nothing commanded (set dry_run:=false to move)')
            self.status.publish('dry_run', response.message)
            return response
        self._start(validated)
        response.success = True
        response.message = f'executing {validated.duration_s:.2f} s'
        return response

    def _on_cancel(self, request, response):
        moving = self._motion is not None
        self.armed = False
        self.stop('cancelled')
        response.success = True
        response.message = 'motion cancelled' if moving else 'nothing was moving; disarmed'
        return response

    # --- motion -----------------------------------------------------------------------

    def _start(self, validated: ValidatedTrajectory) -> None:
        times, positions = validated.with_start()  # (T',), (T', D)
        self._motion = (TrajectoryInterpolator(times, positions), time.monotonic())
        if self.config.controller_mode == 'joint_trajectory':
            # stamp 0: the controller starts it on receipt
            self.command_pub.publish(
                arrays_to_trajectory(self.robot.joint_names, validated.times,
                                     validated.positions))
        self._timer = self.create_timer(1.0 / self.config.stream_rate_hz, self._tick)
        self.status.publish('moving', f'{validated.duration_s:.2f} s', progress=0.0)
        self._tick()

    def _tick(self) -> None:
        if self._motion is None:
            return
        _, age = self._current()
        if age is None or age > self.config.joint_state_timeout_s:
            self.stop('stopped', f'joint states stale ({age if age is None else round(age, 3)}'
                      f' s > joint_state_timeout_s {self.config.joint_state_timeout_s} s)')
            return
        interpolator, start = self._motion
        elapsed = time.monotonic() - start
        if self.config.controller_mode == 'forward_position':
            sample = interpolator.sample(min(elapsed, interpolator.end_time))  # (D,)
            self.command_pub.publish(Float64MultiArray(data=[float(v) for v in sample]))
        if elapsed >= interpolator.end_time:
            self._end_motion()
            self.status.publish('done', 'trajectory finished', progress=1.0)

    def _end_motion(self) -> None:
        self._motion = None
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def stop(self, state: str, error: str = '') -> None:
        """Stop streaming; a trajectory controller gets an empty trajectory (hold)."""
        if self._motion is None:
            return
        self._end_motion()
        if self.config.controller_mode == 'joint_trajectory':
            self.command_pub.publish(JointTrajectory(joint_names=list(self.robot.joint_names)))
        if error:
            self.status.error(state, error)
        else:
            self.status.publish(state, 'motion stopped')


def main(args=None) -> None:
    """Run the replay node."""
    rclpy.init(args=args)
    try:
        node = ReplayNode()
    except VagError as exc:
        print(f'vag_replay: {exc}')
        rclpy.try_shutdown()
        raise SystemExit(2)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.stop('shutdown')
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
