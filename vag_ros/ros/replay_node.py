"""Replay: validate a predicted trajectory with the core, then, armed, send it to the arm.

Dry-run is the default. Nothing is commanded unless the trajectory passed
``validate_trajectory`` (again, against the joint state at execute time) and ``~/arm`` was
called; arming is consumed by one execute. The limits come from the YAML file the
``safety_file`` parameter names (default: the package's config/safety.yaml); at start the
node logs and puts on /vag/status that file, the limits in force per joint and the
controller (``settings``). Every motion starts at the measured state: the validated curve
(lead-in included) is what all three controller modes execute. A rejected trajectory is
kept: ``~/validate`` and ``~/execute`` check it again against the current state (after the
operator moved the arm to its start). Cancel, disarm, stale /joint_states, a silent
controller (the measured joints stop following the commands) and the node's exit (signal or
exception) stop the motion: the stop reaches the controller before the node goes (``stop``).

Execution state goes to /vag/status and, for the recorder and the demo, as JSON
``{"state", "episode_stamp_ns", "message"}`` on ``state_topic`` (std_msgs/String): the
episode is the predicted trajectory's header stamp, the generator's episode identity.
Controller modes, one class each in ``vag_ros.ros.controller_interfaces``:
``forward_position`` (streamed Float64MultiArray: the k-th command is the curve at k /
stream_rate_hz, so a late tick delays the motion and never enlarges a step),
``joint_trajectory`` (one JointTrajectory: the curve's waypoints with velocities, the
measured state first at t=0) and ``follow_joint_trajectory`` (the same trajectory as a
control_msgs action goal, where control_msgs is installed).
"""

import json
import math
import threading
import time
import typing

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from vag_ros.errors import VagError
from vag_ros.robot.braking import braking, Braking
from vag_ros.robot.controller_watch import ControllerWatch
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.safety_config import describe_joint_limits, limits_in_force, \
    load_safety_config
from vag_ros.robot.trajectory_validation import validate_trajectory, ValidatedTrajectory
from vag_ros.ros.configs import ReplayNodeConfig
from vag_ros.ros.controller_interfaces import make_controller_interface
from vag_ros.ros.conversions import joint_state_to_dict, time_to_ns, trajectory_to_arrays
from vag_ros.ros.parameters import declare_config
from vag_ros.ros.protocol import REQUEST_RESULT_TOPIC, RequestResult
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_replay'


class ReplayNode(Node):
    """Validated, armed, cancellable replay; parameters: ``ReplayNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self.status = StatusPublisher(self)
        self.controller = None  # the controller interface (vag_ros.ros.controller_interfaces)
        try:
            self.config = declare_config(self, ReplayNodeConfig)
            self.robot = load_robot_description(self.config.urdf or None)
            self.safety_file = self.config.safety_path()
            self.safety = load_safety_config(self.safety_file)
            self.limits = self.safety.resolve(self.robot)
            self.controller = make_controller_interface(
                self, self.config, self.robot.joint_names, is_current=self._is_current,
                on_result=self._on_controller_result, on_feedback=self._on_controller_feedback)
        except VagError as exc:
            self.status.error('unconfigured', f'configure failed: {exc}')
            raise
        cfg = self.config
        # newest measured position of each joint and its receive time (monotonic s): an arm
        # and a gripper may publish apart, and each must be fresh on its own
        self._joints: typing.Dict[str, typing.Tuple[float, float]] = {}
        # measured velocity of each joint (the message's, else from its last two positions)
        self._velocities: typing.Dict[str, float] = {}
        self._joint_stamps: typing.Dict[str, float] = {}  # [s] of each joint's newest value
        self.pending: typing.Optional[ValidatedTrajectory] = None
        # the newest trajectory as received, valid or not: (names, times (T,), positions
        # (T, D), episode stamp ns); ~/validate and ~/execute check it again
        self._received: typing.Optional[tuple] = None
        self.episode_stamp = 0    # episode of the running or last motion
        self.armed = False
        self._motion = None  # (interpolator, start monotonic s) while moving
        self._ticks = 0
        self._watch: typing.Optional[ControllerWatch] = None
        self._timer = None   # the motion's watchdog tick (and end) in the executor
        # forward_position: a thread of its own streams the commands at absolute deadlines
        # (time.perf_counter), away from the executor's callbacks; the lock orders it
        # against starts and stops
        self._lock = threading.RLock()
        self._stream_token: typing.Optional[object] = None
        self._streamed_all = False
        self._stream_error: typing.Optional[BaseException] = None
        self.state_pub = self.create_publisher(String, cfg.state_topic, 10)
        self.result_pub = self.create_publisher(String, REQUEST_RESULT_TOPIC, 50)
        self._requests: typing.Dict[int, str] = {}  # episode stamp -> request id
        self.create_subscription(String, REQUEST_RESULT_TOPIC, self._on_request_result, 50)
        self.create_subscription(JointTrajectory, cfg.trajectory_topic, self._on_trajectory, 10)
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joint_state, 10)
        self.create_service(SetBool, '~/arm', self._on_arm)
        self.create_service(Trigger, '~/validate', self._on_validate)
        self.create_service(Trigger, '~/execute', self._on_execute)
        self.create_service(Trigger, '~/cancel', self._on_cancel)
        self.uncommanded = [n for n in self.robot.joint_names
                            if n not in self.controller.joint_names]
        # the watch (silent controller, path tolerance) follows the commanded arm joints: a
        # gripper closing on an object stays off its setpoint by design
        arm = set(self.robot.arm_joint_names)
        self._watched = [c for c in self.controller.columns
                         if self.robot.joint_names[c] in arm] or list(self.controller.columns)
        # what is in force, once at start, in the log and on /vag/status: the lab's settings
        # must be visible as the ones used
        settings = self.settings()
        safety = settings['safety']
        self.get_logger().info(
            f"{cfg.controller_mode} -> /{cfg.controller.strip('/')}"
            f"{' (dry run)' if cfg.dry_run else ''}; safety file {self.safety_file} "
            f"(on_violation {safety['on_violation']}, max_state_age_s "
            f"{safety['max_state_age_s']}); limits: " + '; '.join(
                f'{name}: {describe_joint_limits(joint)}'
                for name, joint in settings['joints'].items()))
        self.status.publish('idle', f'{cfg.controller_mode} -> /{cfg.controller}'
                            + (' (dry run)' if cfg.dry_run else '')
                            + (f'; not commanded (validated and recorded only): '
                               f'{self.uncommanded}' if self.uncommanded else ''),
                            dry_run=cfg.dry_run, safety_file=str(self.safety_file),
                            controller=cfg.controller, controller_mode=cfg.controller_mode,
                            **{f'safety.{k}': v for k, v in safety.items()},
                            **{f'limits.{name}': describe_joint_limits(joint)
                               for name, joint in settings['joints'].items()})

    def settings(self) -> dict:
        """What this node runs with: safety file, limits in force (``limits_in_force``),
        controller, controller mode and the joints it commands."""
        cfg = self.config
        return dict(limits_in_force(self.safety, self.limits, self.robot.joint_names),
                    safety_file=str(self.safety_file), controller=cfg.controller,
                    controller_mode=cfg.controller_mode, dry_run=cfg.dry_run,
                    commanded_joints=list(self.controller.joint_names))

    def _state(self, state: str, message: str = '', stamp: typing.Optional[int] = None,
               **details) -> None:
        """The execution state on ``state_topic`` (JSON, for the recorder) and as the
        request's result on /vag/request_result (for clients)."""
        stamp = int(self.episode_stamp if stamp is None else stamp)
        self.state_pub.publish(String(data=json.dumps(
            dict(details, state=state, episode_stamp_ns=stamp, message=message))))
        self.result_pub.publish(String(data=RequestResult(
            self._requests.get(stamp, ''), state, self.get_name(), message,
            episode_stamp_ns=stamp, details=details).to_json()))

    def _on_request_result(self, msg: String) -> None:
        """Learn which request each episode answers, from the generator's results."""
        try:
            result = RequestResult.from_json(msg.data)
        except VagError:
            return
        if result.node != self.get_name() and result.episode_stamp_ns and result.request_id:
            self._requests[int(result.episode_stamp_ns)] = result.request_id
            for stamp in list(self._requests)[:-256]:
                del self._requests[stamp]

    # --- inputs -----------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            positions = joint_state_to_dict(msg)
        except VagError as exc:
            self.status.warn('joint state rejected', str(exc))
            return
        now = time.monotonic()
        stamp = time_to_ns(msg.header.stamp) * 1e-9 or now  # [s]
        # joint_state_broadcaster gives NaN for a joint without a velocity interface (a
        # position-only gripper): such a velocity is estimated from the positions instead
        given = {n: v for n, v in zip(msg.name, msg.velocity) if math.isfinite(v)} \
            if len(msg.velocity) == len(msg.name) else {}
        for name, value in positions.items():
            if name in given:
                self._velocities[name] = float(given[name])
            elif name in self._joint_stamps and stamp > self._joint_stamps[name]:
                self._velocities[name] = (value - self._joints[name][0]) / (
                    stamp - self._joint_stamps[name])
            self._joint_stamps[name] = stamp
        self._joints.update({name: (value, now) for name, value in positions.items()})

    @property
    def _joints_at(self) -> typing.Optional[float]:
        """Receive time of the stalest robot joint (None until every one was heard)."""
        names = self.robot.joint_names
        if not all(n in self._joints for n in names):
            return None
        return min(self._joints[n][1] for n in names)

    def _current(self):
        """({name: position} or None, age s of the stalest robot joint, or None)."""
        if not self._joints:
            return None, None
        current = {name: value for name, (value, _) in self._joints.items()}
        at = self._joints_at
        return current, None if at is None else time.monotonic() - at

    def _validate(self, names, positions, times) -> ValidatedTrajectory:
        current, age = self._current()
        return validate_trajectory(names, positions, times, self.robot, self.safety, current,
                                   age, dict(self._velocities))

    def _check_received(self) -> bool:
        """Validate the received trajectory against the current state; ``pending`` if valid."""
        names, times, positions, stamp = self._received
        self.pending = None
        try:
            validated = self._validate(names, positions, times)
        except VagError as exc:
            self.status.error('rejected', str(exc), episode_stamp_ns=stamp)
            self._state('rejected', str(exc), stamp)
            return False
        self.pending = validated
        message = (f'{len(validated.times)} points, {validated.duration_s:.2f} s '
                   f'(lead-in {validated.lead_in_s:.2f} s)')
        self.status.publish(
            'validated', message, duration_s=f'{validated.duration_s:.3f}',
            time_scale=validated.time_scale, lead_in_s=f'{validated.lead_in_s:.3f}',
            warnings='; '.join(validated.warnings), episode_stamp_ns=stamp)
        self._state('validated', message, stamp, duration_s=validated.duration_s,
                    time_scale=validated.time_scale, lead_in_s=validated.lead_in_s)
        return True

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        stamp = time_to_ns(msg.header.stamp)
        if self._motion is not None:
            self.status.warn('moving', 'trajectory ignored: a motion is running; cancel first')
            self._state('ignored', 'a motion is running', stamp)
            return
        self.pending = None
        if self.armed:  # arming was for the trajectory this one replaces, not for this one
            self.armed = False
            self.status.warn('disarmed', 'a new trajectory replaced the one armed for; '
                             'review it and call ~/arm again', armed=False)
        try:
            names, times, positions = trajectory_to_arrays(msg)  # (T,), (T, D)
        except VagError as exc:
            self._received = None
            self.status.error('rejected', str(exc), episode_stamp_ns=stamp)
            self._state('rejected', str(exc), stamp)
            return
        self._received = (names, times, positions, stamp)
        self._check_received()

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

    def _refuse(self, response, reason: str, service: str = 'execute'):
        response.success, response.message = False, reason
        self.status.warn('refused', f'{service} refused: {reason}')
        return response

    def _on_validate(self, request, response):
        """Check the newest trajectory again, against the joint state now."""
        if self._motion is not None:
            return self._refuse(response, 'a motion is running', 'validate')
        if self._received is None:
            return self._refuse(response, 'no trajectory received (send one on '
                                f'{self.config.trajectory_topic})', 'validate')
        response.success = self._check_received()
        response.message = (self.status.last_error if not response.success else
                            f'valid: {self.pending.duration_s:.2f} s')
        return response

    def _on_execute(self, request, response):
        if self._motion is not None:
            return self._refuse(response, 'a motion is already running')
        if not self.armed:
            return self._refuse(response, 'not armed: call ~/arm with data: true first')
        if self._received is None:
            return self._refuse(response, 'no validated trajectory (send one on '
                                f'{self.config.trajectory_topic})')
        unready = self.controller.unready()
        if unready:
            return self._refuse(response, unready)
        self.armed = False  # one execute per arming
        # the arm may have moved since the trajectory arrived: check it against now
        valid = self._check_received()
        self.episode_stamp = self._received[3]
        if not valid:
            return self._refuse(response, self.status.last_error)
        validated, self.pending, self._received = self.pending, None, None
        if self.config.dry_run:
            response.success = True
            response.message = (f'dry run: trajectory of {validated.duration_s:.2f} s valid; '
                                'nothing commanded (set dry_run:=false to move)')
            self.status.publish('dry_run', response.message)
            self._state('dry_run', response.message)
            return response
        self._start(validated)
        response.success = True
        response.message = f'executing {validated.duration_s:.2f} s' + (
            f' ({self.uncommanded} not commanded: not on /{self.config.controller})'
            if self.uncommanded else '')
        return response

    def _on_cancel(self, request, response):
        moving = self._motion is not None
        self.armed = False
        self.pending = self._received = None  # nothing resumes after a cancel
        self.stop('cancelled')
        response.success = True
        response.message = 'motion cancelled' if moving else 'nothing was moving; disarmed'
        return response

    # --- motion -----------------------------------------------------------------------

    def _start(self, validated: ValidatedTrajectory) -> None:
        cfg = self.config
        curve = validated.curve()  # from the measured state at t=0, lead-in included
        token = object()
        with self._lock:
            self._motion = (curve, time.monotonic())
            self._ticks = 0  # forward_position: commands sent in this motion
            self._streamed_all, self._stream_error = False, None
            self._stream_token = token
        self._watch = ControllerWatch(cfg.controller_timeout_s, cfg.tracking_tolerance,
                                      cfg.progress_tolerance, cfg.path_tolerance)
        # a trajectory controller gets the same curve: the waypoints with their PCHIP
        # velocities (cubic Hermite segments), the measured state first at t=0
        self.controller.start(curve, validated.duration_s, self.episode_stamp)
        self._timer = self.create_timer(1.0 / cfg.stream_rate_hz, self._tick)
        if self.controller.streams:
            threading.Thread(target=self._stream, args=(token, curve), daemon=True,
                             name='vag_replay_stream').start()
        message = f'{validated.duration_s:.2f} s'
        self.status.publish('moving', message, progress=0.0,
                            episode_stamp_ns=self.episode_stamp)
        self._state('moving', message, duration_s=validated.duration_s)
        self._tick()

    def _stream(self, token: object, curve) -> None:
        """forward_position: the k-th command is the curve at k / rate, sent at its deadline;
        a late one delays the motion (the deadlines restart), never enlarges a step."""
        period = 1.0 / self.config.stream_rate_hz
        deadline = time.perf_counter()
        try:
            while True:
                with self._lock:
                    if self._stream_token is not token:
                        return  # stopped or ended
                    t = self._ticks * period
                    self.controller.command(curve.sample(min(t, curve.end_time)))
                    self._ticks += 1
                    if t >= curve.end_time:
                        self._streamed_all = True
                        return
                deadline += period
                delay = deadline - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    deadline = time.perf_counter()
        except Exception as exc:  # noqa: B902 - the executor's tick raises it and stops
            self._stream_error = exc

    def _tick(self) -> None:
        if self._motion is None:
            return
        if self._stream_error is not None:
            raise RuntimeError('the command stream failed') from self._stream_error
        current, age = self._current()
        if age is None or age > self.config.joint_state_timeout_s:
            stale = max(self.robot.joint_names,
                        key=lambda n: time.monotonic() - self._joints.get(n, (0, -1e9))[1])
            self.stop('stopped', f'joint states stale ({stale!r}: '
                      f'{age if age is None else round(age, 3)} s > joint_state_timeout_s '
                      f'{self.config.joint_state_timeout_s} s)')
            return
        interpolator, start = self._motion
        now = time.monotonic()
        elapsed = now - start
        streaming = self.controller.streams
        if streaming:  # the setpoint is the newest command the stream thread sent
            elapsed = max(self._ticks - 1, 0) / self.config.stream_rate_hz
        sample = interpolator.sample(min(elapsed, interpolator.end_time))  # (D,)
        names = self.robot.joint_names
        measured = np.array([current.get(n, np.nan) for n in names])  # (D,)
        if not np.all(np.isfinite(measured)):  # fresh but unreadable: cannot be watched
            j = int(np.argmin(np.isfinite(measured)))
            self.stop('stopped', f'joint state of {names[j]!r} is not finite ({measured[j]})')
            return
        cols = self._watched
        silent = self._watch.update(now, measured[cols], sample[cols], [names[c] for c in cols])
        if silent:
            # the arm is not where it was commanded (blocked, pushed, or its controller
            # deaf): the stop starts where it is measured, not at the setpoint
            self.stop('stopped', silent, from_measured=True)
            return
        if self.controller.ends_by_result:
            # the action result ends the motion; this is the backstop if it never comes
            if elapsed > interpolator.end_time + self.config.goal_time_tolerance_s + 1.0:
                self.stop('stopped', 'follow_joint_trajectory: no result '
                          f'{elapsed - interpolator.end_time:.2f} s after the trajectory end')
            return
        if (self._streamed_all if streaming else elapsed >= interpolator.end_time):
            self._end_motion()
            self.status.publish('done', 'trajectory finished', progress=1.0,
                                episode_stamp_ns=self.episode_stamp)
            self._state('done', 'trajectory finished')

    # --- follow_joint_trajectory ------------------------------------------------------

    def _is_current(self, stamp: int) -> bool:
        return stamp == self.episode_stamp and self._motion is not None

    def _on_controller_result(self, stamp: int, error: typing.Optional[str]) -> None:
        if error is not None:  # the controller ended the goal itself (it holds the arm):
            self.stop('stopped', error, send=False)  # a braking goal now would move it again
            return
        self._end_motion()
        self.status.publish('done', 'trajectory finished', progress=1.0,
                            episode_stamp_ns=stamp)
        self._state('done', 'trajectory finished')

    def _on_controller_feedback(self, max_error: float) -> None:
        self.status.publish('moving', 'following', max_error=f'{max_error:.4f}',
                            episode_stamp_ns=self.episode_stamp)

    # --- stop -------------------------------------------------------------------------

    def _end_motion(self) -> None:
        with self._lock:
            self._motion = None
            self._stream_token = None  # the stream thread ends at its next command
        self._watch = None
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def _braking(self, from_measured: bool = False) -> Braking:
        """The stop from where the controller is commanded now, within the limits (the
        commands stay continuous however far the arm lags); ``from_measured``: from where
        the arm is measured instead, when the watch found it off its setpoint (blocked,
        pushed, or a deaf controller: braking from the setpoint would drive it back first).
        """
        curve, start = self._motion
        t = min(self.controller.commanded_until(self._ticks, time.monotonic() - start),
                curve.end_time)
        position, velocity = curve.sample(t), curve.velocity_many([t])[0]  # (D,), (D,)
        measured = self._measured_motion() if from_measured else None
        if measured is not None:
            position, velocity = measured
        return braking(position, velocity, self.limits.acceleration,
                       self.limits.lower, self.limits.upper,
                       min_duration_s=1.0 / self.config.stream_rate_hz)

    def _measured_motion(self) -> typing.Optional[typing.Tuple[np.ndarray, np.ndarray]]:
        """(positions (D,), velocities (D,)) measured, robot order; None unless every joint
        is fresh and finite. An unknown velocity counts as 0; velocities are clipped to the
        limits (an estimate from two jittery samples may exceed them)."""
        current, age = self._current()
        if age is None or age > self.config.joint_state_timeout_s:
            return None
        names = self.robot.joint_names
        positions = np.array([current[n] for n in names])  # (D,)
        velocities = np.array([self._velocities.get(n, 0.0) for n in names])  # (D,)
        if not np.all(np.isfinite(positions)):
            return None
        velocities = np.where(np.isfinite(velocities), velocities, 0.0)
        return positions, np.clip(velocities, -self.limits.velocity, self.limits.velocity)

    def stop(self, state: str, error: str = '', send: bool = True,
             from_measured: bool = False) -> None:
        """Stop the motion: decelerate from the commanded motion to rest within the
        acceleration limits (``vag_ros.robot.braking``); ``send=False`` when the controller
        already ended it (an aborted or rejected goal).

        forward_position: the braking samples are streamed at stream_rate_hz (this call
        returns when the arm is commanded to rest); joint_trajectory: the braking as a
        two-point trajectory with velocities (it replaces the running one; an empty
        trajectory is rejected by ros2_controllers' joint_trajectory_controller);
        follow_joint_trajectory: the braking as a new goal, the running goal cancelled.
        Then waits (briefly) until a reliable subscriber acknowledged it.
        """
        with self._lock:  # the stream thread sends nothing after this point
            if self._motion is None:
                return
            try:  # no braking to compute when the controller already ended the goal
                stop = self._braking(from_measured) if send else None
            finally:
                self._end_motion()
        if stop is not None:
            self.controller.send_stop(stop)
            self.controller.wait_for_ack()
        if error:
            self.status.error(state, error, episode_stamp_ns=self.episode_stamp)
        else:
            self.status.publish(state, 'motion stopped', episode_stamp_ns=self.episode_stamp)
        self._state(state, error or 'motion stopped',
                    braking_s=stop.duration_s if stop is not None else 0.0)

    def stopping(self) -> bool:
        """True while a stop's goal or cancel request (follow_joint_trajectory) is in
        flight: the node must keep spinning for it (``run_node`` does, on exit)."""
        return self.controller is not None and self.controller.in_flight()

    def destroy_node(self):
        """Release the controller interface, then destroy the node."""
        if self.controller is not None:
            self.controller.close()
            self.controller = None
        return super().destroy_node()


def main(args=None) -> None:
    """Run the replay node."""
    run_node(ReplayNode, args, stop=lambda node: node.stop('shutdown'))


if __name__ == '__main__':
    main()
