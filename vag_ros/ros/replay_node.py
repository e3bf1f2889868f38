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

The decisions are ``ReplayStateMachine``'s (``vag_ros.robot.replay_state``, no ROS there):
this node feeds it the messages, service calls and the time, publishes and commands what it
decides, and runs the motion's tick (a timer) and the forward_position command stream (a
thread of its own).

Stale joint states are judged on what had arrived, not on when the executor got to it: a
joint state counts from its arrival in the middleware (the message info's receive time), and
the tick first takes the joint states waiting on the subscription. rclpy's executor runs a
ready timer before the ready subscriptions, so after the process was starved of CPU the tick
would otherwise judge the last message it had processed while fresh ones waited.
"""

import json
import threading
import time
import typing

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from vag_ros.errors import VagError
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.replay_events import ERROR, Outcome, Report, SendStop, StartMotion, \
    Status, WARN
from vag_ros.robot.replay_state import ReplayStateMachine
from vag_ros.robot.safety_config import describe_joint_limits, limits_in_force, \
    load_safety_config
from vag_ros.ros.arrivals import subscribe_with_arrival, take_waiting
from vag_ros.ros.configs import ReplayNodeConfig
from vag_ros.ros.controller_interfaces import make_controller_interface
from vag_ros.ros.conversions import joint_state_to_dict, time_to_ns, trajectory_to_arrays
from vag_ros.ros.parameters import check_overrides, declare_config
from vag_ros.ros.protocol import REQUEST_RESULT_TOPIC, RequestResult
from vag_ros.ros.qos import LATCHED
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
            check_overrides(self, refuse=True)   # a typo must not arm with defaults
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
        self.state_machine = ReplayStateMachine(cfg, self.robot, self.safety, self.limits,
                                                self.controller)
        self._timer = None   # the motion's watchdog tick (and end) in the executor
        # forward_position: a thread of its own streams the commands at absolute deadlines
        # (time.perf_counter), away from the executor's callbacks; the lock orders it
        # against the state machine's steps (starts and stops)
        self._lock = threading.RLock()
        self._stream_error: typing.Optional[BaseException] = None
        self.state_pub = self.create_publisher(String, cfg.state_topic, LATCHED)
        self.result_pub = self.create_publisher(String, REQUEST_RESULT_TOPIC, 50)
        self._requests: typing.Dict[int, str] = {}  # episode stamp -> request id
        self.create_subscription(String, REQUEST_RESULT_TOPIC, self._on_request_result, 50)
        self.create_subscription(JointTrajectory, cfg.trajectory_topic, self._on_trajectory, 10)
        self._joint_sub = subscribe_with_arrival(self, JointState, cfg.joint_states_topic,
                                                 self._on_joint_state)
        self.create_service(SetBool, '~/arm', self._on_arm)
        self.create_service(Trigger, '~/validate', self._on_validate)
        self.create_service(Trigger, '~/execute', self._on_execute)
        self.create_service(Trigger, '~/cancel', self._on_cancel)
        self.uncommanded = self.state_machine.uncommanded
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

    # --- the state machine's state, under the names the node always had ---------------

    @property
    def pending(self):
        """The received trajectory, validated (ValidatedTrajectory), or None."""
        return self.state_machine.pending

    @pending.setter
    def pending(self, value) -> None:
        self.state_machine.pending = value

    @property
    def armed(self) -> bool:
        """Armed for one execute."""
        return self.state_machine.armed

    @property
    def episode_stamp(self) -> int:
        """Episode of the running or last motion."""
        return self.state_machine.episode_stamp

    @property
    def _motion(self):
        """(curve, start monotonic s) while moving, else None."""
        return self.state_machine.motion

    @property
    def _ticks(self) -> int:
        """forward_position: commands sent in this motion."""
        return self.state_machine.ticks

    @property
    def _joints_at(self) -> typing.Optional[float]:
        """Receive time of the stalest robot joint (None until every one was heard)."""
        return self.state_machine.joints_at()

    @property
    def _velocities(self) -> typing.Dict[str, float]:
        """Measured velocity of each joint heard."""
        return self.state_machine.measured.velocities

    # --- carrying out the state machine's decisions -----------------------------------

    def _decide(self, step, *args):
        """``step(now, *args)`` of the state machine under the stream's lock; the motion's
        tick goes once no motion runs; then what it decided is carried out, in order."""
        try:
            with self._lock:
                decided = step(time.monotonic(), *args)
        finally:
            if self.state_machine.motion is None and self._timer is not None:
                self.destroy_timer(self._timer)
                self._timer = None
        self._carry_out(decided.events if isinstance(decided, Outcome) else decided)
        return decided

    def _carry_out(self, events) -> None:
        for event in events:
            if isinstance(event, Status):
                self._publish_status(event)
            elif isinstance(event, Report):
                self._state(event)
            elif isinstance(event, StartMotion):
                self._start(event)
            elif isinstance(event, SendStop):
                self.controller.send_stop(event.braking)
                self.controller.wait_for_ack()

    def _publish_status(self, status: Status) -> None:
        if status.level == ERROR:
            self.status.error(status.state, status.text, **status.values)
        elif status.level == WARN:
            self.status.warn(status.state, status.text, **status.values)
        else:
            self.status.publish(status.state, status.text, progress=status.progress,
                                **status.values)

    def _state(self, report: Report) -> None:
        """The execution state on ``state_topic`` (JSON, for the recorder) and as the
        request's result on /vag/request_result (for clients)."""
        stamp, details = int(report.stamp), dict(report.details)
        self.state_pub.publish(String(data=json.dumps(
            dict(details, state=report.state, episode_stamp_ns=stamp,
                 message=report.message))))
        self.result_pub.publish(String(data=RequestResult(
            self._requests.get(stamp, ''), report.state, self.get_name(), report.message,
            episode_stamp_ns=stamp, details=details).to_json()))

    @staticmethod
    def _answer(response, outcome: Outcome):
        response.success, response.message = outcome.success, outcome.message
        return response

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

    def _on_joint_state(self, msg: JointState, arrived: float) -> None:
        """A joint state, counted from its arrival (``vag_ros.ros.arrivals``)."""
        try:
            positions = joint_state_to_dict(msg)
        except VagError as exc:
            self.status.warn('joint state rejected', str(exc))
            return
        self.state_machine.joint_state(arrived, positions, time_to_ns(msg.header.stamp),
                                       msg.name, msg.velocity)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            trajectory = trajectory_to_arrays(msg)  # names, times (T,), positions (T, D)
        except VagError as exc:
            trajectory = exc
        self._decide(self.state_machine.receive, time_to_ns(msg.header.stamp), trajectory)

    # --- services ---------------------------------------------------------------------

    def _on_arm(self, request, response):
        return self._answer(response, self._decide(self.state_machine.arm, request.data))

    def _on_validate(self, request, response):
        """Check the newest trajectory again, against the joint state now."""
        return self._answer(response, self._decide(self.state_machine.validate))

    def _on_execute(self, request, response):
        outcome = self._decide(self.state_machine.execute, self.controller.unready())
        if outcome.started:
            self._tick()
        return self._answer(response, outcome)

    def _on_cancel(self, request, response):
        return self._answer(response, self._decide(self.state_machine.cancel))

    # --- motion -----------------------------------------------------------------------

    def _start(self, start: StartMotion) -> None:
        """The controller gets the curve; the tick (and, streaming, the stream) starts."""
        self._stream_error = None
        # a trajectory controller gets the same curve: the waypoints with their PCHIP
        # velocities (cubic Hermite segments), the measured state first at t=0
        self.controller.start(start.curve, start.duration_s, start.stamp)
        self._timer = self.create_timer(1.0 / self.config.stream_rate_hz, self._tick)
        if self.controller.streams:
            threading.Thread(target=self._stream, args=(self.state_machine.motion,),
                             daemon=True, name='vag_replay_stream').start()

    def _stream(self, motion) -> None:
        """forward_position: the k-th command is the curve at k / rate, sent at its deadline;
        a late one delays the motion (the deadlines restart), never enlarges a step."""
        period = 1.0 / self.config.stream_rate_hz
        machine = self.state_machine
        deadline = time.perf_counter()
        try:
            while True:
                with self._lock:
                    if machine.motion is not motion:
                        return  # stopped or ended
                    position, last = machine.next_command()  # (D,)
                    self.controller.command(position)
                    machine.count_command(last)
                    if last:
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
        if self.state_machine.motion is None:
            return
        if self._stream_error is not None:
            raise RuntimeError('the command stream failed') from self._stream_error
        take_waiting(self._joint_sub, self._on_joint_state)  # judge what arrived, not what
        #                                                      the executor got to
        self._decide(self.state_machine.tick)

    # --- follow_joint_trajectory ------------------------------------------------------

    def _is_current(self, stamp: int) -> bool:
        return self.state_machine.is_current(stamp)

    def _on_controller_result(self, stamp: int, error: typing.Optional[str]) -> None:
        self._decide(self.state_machine.controller_result, stamp, error)

    def _on_controller_feedback(self, max_error: float) -> None:
        self._carry_out(self.state_machine.controller_feedback(max_error))

    # --- stop -------------------------------------------------------------------------

    def stop(self, state: str, error: str = '', send: bool = True,
             from_measured: bool = False) -> None:
        """Stop the motion (``ReplayStateMachine.stop``): decelerate from the commanded
        motion to rest within the acceleration limits (``vag_ros.robot.braking``);
        ``send=False`` when the controller already ended it (an aborted or rejected goal).

        forward_position: the braking samples are streamed at stream_rate_hz (this call
        returns when the arm is commanded to rest); joint_trajectory: the braking as a
        two-point trajectory with velocities (it replaces the running one; an empty
        trajectory is rejected by ros2_controllers' joint_trajectory_controller);
        follow_joint_trajectory: the braking as a new goal, the running goal cancelled.
        Then waits (briefly) until a reliable subscriber acknowledged it.
        """
        self._decide(self.state_machine.stop, state, error, send, from_measured)

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
