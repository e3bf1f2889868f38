"""The replay's state machine: receive, validate, arm, execute, watch, stop. No ROS here.

A received trajectory is validated (``validate_trajectory``) against the measured joints and
kept, valid or not: ``validate`` and ``execute`` check it again against the state then.
Nothing moves unless it is valid at execute time, ``arm(True)`` came first (one execute per
arming; a new trajectory disarms) and ``dry_run`` is off. While moving, ``tick`` watches the
joints (stale or not finite), the controller (``ControllerWatch``) and the motion's end; a
stop brakes within the acceleration limits (``braking``) from where the controller is
commanded, or from where the arm is measured when it left its setpoint. Cancel, disarm and
a stop all need a new arming.

Every step takes the time (monotonic seconds) and returns what to do
(``vag_ros.robot.replay_events``): the node (``vag_ros.ros.replay_node``) publishes and
commands. The forward_position stream asks ``next_command`` and reports ``count_command``.
"""

import typing

import numpy as np

from vag_ros.errors import VagError
from vag_ros.robot.braking import braking, Braking
from vag_ros.robot.controller_watch import ControllerWatch
from vag_ros.robot.interpolation import TrajectoryInterpolator
from vag_ros.robot.measured_joints import MeasuredJoints
from vag_ros.robot.replay_events import ERROR, Event, Outcome, Report, SendStop, \
    StartMotion, Status, WARN
from vag_ros.robot.trajectory_validation import validate_trajectory, ValidatedTrajectory


class Motion(typing.NamedTuple):
    """A running motion: the validated curve (lead-in included) and when it began [s]."""

    curve: TrajectoryInterpolator  # from the measured state at t=0
    started_at: float  # monotonic s


class ReplayStateMachine:
    """Validated, armed, cancellable replay, decided without ROS.

    ``config``: the ReplayNodeConfig fields (dry_run, stream_rate_hz, joint_state_timeout_s,
    the controller watch's, goal_time_tolerance_s, controller, trajectory_topic);
    ``robot``, ``safety``, ``limits``: the RobotDescription, SafetyConfig and the limits it
    resolves to; ``controller``: what the controller interface says of itself (joint_names,
    columns, streams, ends_by_result, commanded_until), never commanded from here.
    """

    def __init__(self, config, robot, safety, limits, controller):
        self.config, self.robot, self.safety, self.limits = config, robot, safety, limits
        self.controller = controller
        self.names = list(robot.joint_names)  # the robot's order: every (D,) vector's
        self.measured = MeasuredJoints()
        # the newest trajectory as received, valid or not: (names, times (T,), positions
        # (T, D), episode stamp ns); validate and execute check it again
        self.received: typing.Optional[tuple] = None
        self.pending: typing.Optional[ValidatedTrajectory] = None  # ``received``, if valid
        self.armed = False
        self.episode_stamp = 0  # episode of the running or last motion
        self.motion: typing.Optional[Motion] = None
        self.ticks = 0              # forward_position: commands sent in this motion
        self.streamed_all = False   # forward_position: the curve's end was sent
        self.watch: typing.Optional[ControllerWatch] = None
        self.uncommanded = [n for n in self.names if n not in controller.joint_names]
        # the watch (silent controller, path tolerance) follows the commanded arm joints: a
        # gripper closing on an object stays off its setpoint by design
        arm = set(robot.arm_joint_names)
        self.watched = [c for c in controller.columns
                        if self.names[c] in arm] or list(controller.columns)

    # --- inputs -----------------------------------------------------------------------

    def joint_state(self, now: float, positions: typing.Mapping[str, float],
                    stamp_ns: int = 0, names: typing.Sequence[str] = (),
                    velocities: typing.Sequence[float] = ()) -> None:
        """A measured joint state (``MeasuredJoints.update``)."""
        self.measured.update(now, positions, stamp_ns, names, velocities)

    def joints_at(self) -> typing.Optional[float]:
        """Receive time [s] of the stalest robot joint (None until every one was heard)."""
        return self.measured.received_at(self.names)

    def receive(self, now: float, stamp: int, trajectory) -> typing.List[Event]:
        """A trajectory of episode ``stamp``: (names, times (T,), positions (T, D)), or the
        VagError that made its message unreadable. It replaces the one armed for."""
        if self.motion is not None:
            return [Status('moving', 'trajectory ignored: a motion is running; cancel first',
                           WARN),
                    Report('ignored', 'a motion is running', stamp)]
        self.pending = None
        events = []
        if self.armed:  # arming was for the trajectory this one replaces, not for this one
            self.armed = False
            events.append(Status('disarmed', 'a new trajectory replaced the one armed for; '
                                 'review it and call ~/arm again', WARN, values=dict(armed=False)))
        if isinstance(trajectory, VagError):
            self.received = None
            return events + self._rejected(str(trajectory), stamp)
        names, times, positions = trajectory
        self.received = (names, times, positions, stamp)
        return events + self._check_received(now)[1]

    def _rejected(self, error: str, stamp: int) -> typing.List[Event]:
        return [Status('rejected', error, ERROR, values=dict(episode_stamp_ns=stamp)),
                Report('rejected', error, stamp)]

    def _check_received(self, now: float) -> typing.Tuple[str, typing.List[Event]]:
        """Validate the received trajectory against the joints now; ``pending`` if valid.
        ('' or why it is not valid, events)."""
        names, times, positions, stamp = self.received
        self.pending = None
        current, age = self.measured.current(now, self.names)
        try:
            validated = validate_trajectory(names, positions, times, self.robot, self.safety,
                                            current, age, dict(self.measured.velocities))
        except VagError as exc:
            return str(exc), self._rejected(str(exc), stamp)
        self.pending = validated
        message = (f'{len(validated.times)} points, {validated.duration_s:.2f} s '
                   f'(lead-in {validated.lead_in_s:.2f} s)')
        return '', [
            Status('validated', message, values=dict(
                duration_s=f'{validated.duration_s:.3f}', time_scale=validated.time_scale,
                lead_in_s=f'{validated.lead_in_s:.3f}', warnings='; '.join(validated.warnings),
                episode_stamp_ns=stamp)),
            Report('validated', message, stamp, dict(
                duration_s=validated.duration_s, time_scale=validated.time_scale,
                lead_in_s=validated.lead_in_s))]

    # --- services ---------------------------------------------------------------------

    def arm(self, now: float, data: bool) -> Outcome:
        """SetBool ``~/arm``: true arms for one execute; false disarms and stops."""
        events = []
        if data:
            self.armed = True
            message = 'armed for one execute' + (
                ' (dry run: nothing will move)' if self.config.dry_run else '')
        else:
            self.armed = False
            events += self.stop(now, 'disarmed')
            message = 'disarmed'
        events.append(Status('armed' if self.armed else 'idle', message,
                             values=dict(armed=self.armed)))
        return Outcome(True, message, tuple(events))

    @staticmethod
    def _refuse(reason: str, service: str = 'execute', events=()) -> Outcome:
        return Outcome(False, reason, tuple(events) + (
            Status('refused', f'{service} refused: {reason}', WARN),))

    def validate(self, now: float) -> Outcome:
        """Trigger ``~/validate``: check the newest trajectory again, against the joints now."""
        if self.motion is not None:
            return self._refuse('a motion is running', 'validate')
        if self.received is None:
            return self._refuse('no trajectory received (send one on '
                                f'{self.config.trajectory_topic})', 'validate')
        error, events = self._check_received(now)
        message = error or f'valid: {self.pending.duration_s:.2f} s'
        return Outcome(not error, message, tuple(events))

    def execute(self, now: float, unready: typing.Optional[str] = None) -> Outcome:
        """Trigger ``~/execute``: validate again and, armed and not a dry run, start the
        motion. ``unready``: why the controller cannot take a motion now, or None."""
        if self.motion is not None:
            return self._refuse('a motion is already running')
        if not self.armed:
            return self._refuse('not armed: call ~/arm with data: true first')
        if self.received is None:
            return self._refuse('no validated trajectory (send one on '
                                f'{self.config.trajectory_topic})')
        if unready:
            return self._refuse(unready)
        self.armed = False  # one execute per arming
        # the arm may have moved since the trajectory arrived: check it against now
        error, events = self._check_received(now)
        self.episode_stamp = self.received[3]
        if error:
            return self._refuse(error, events=events)
        validated, self.pending, self.received = self.pending, None, None
        if self.config.dry_run:
            message = (f'dry run: trajectory of {validated.duration_s:.2f} s valid; '
                       'nothing commanded (set dry_run:=false to move)')
            return Outcome(True, message, tuple(events) + (
                Status('dry_run', message), Report('dry_run', message, self.episode_stamp)))
        events += self._start(now, validated)
        return Outcome(True, f'executing {validated.duration_s:.2f} s' + (
            f' ({self.uncommanded} not commanded: not on /{self.config.controller})'
            if self.uncommanded else ''), tuple(events))

    def cancel(self, now: float) -> Outcome:
        """Trigger ``~/cancel``: stop, disarm, forget the trajectory (nothing resumes)."""
        moving = self.motion is not None
        self.armed = False
        self.pending = self.received = None
        events = self.stop(now, 'cancelled')
        return Outcome(True, 'motion cancelled' if moving else 'nothing was moving; disarmed',
                       tuple(events))

    # --- motion -----------------------------------------------------------------------

    def _start(self, now: float, validated: ValidatedTrajectory) -> typing.List[Event]:
        cfg = self.config
        curve = validated.curve()  # from the measured state at t=0, lead-in included
        self.motion = Motion(curve, now)
        self.ticks, self.streamed_all = 0, False
        self.watch = ControllerWatch(cfg.controller_timeout_s, cfg.tracking_tolerance,
                                     cfg.progress_tolerance, cfg.path_tolerance)
        message = f'{validated.duration_s:.2f} s'
        return [StartMotion(curve, validated.duration_s, self.episode_stamp),
                Status('moving', message, progress=0.0,
                       values=dict(episode_stamp_ns=self.episode_stamp)),
                Report('moving', message, self.episode_stamp,
                       dict(duration_s=validated.duration_s))]

    def next_command(self) -> typing.Tuple[np.ndarray, bool]:
        """forward_position: (the curve at ticks / stream_rate_hz (D,), whether it is the
        curve's end). A late command delays the motion, never enlarges a step."""
        curve = self.motion.curve
        t = self.ticks * (1.0 / self.config.stream_rate_hz)
        return curve.sample(min(t, curve.end_time)), t >= curve.end_time

    def count_command(self, last: bool) -> None:
        """forward_position: the command ``next_command`` gave was sent."""
        self.ticks += 1
        if last:
            self.streamed_all = True

    def is_current(self, stamp: int) -> bool:
        """True while the motion of episode ``stamp`` runs."""
        return stamp == self.episode_stamp and self.motion is not None

    def tick(self, now: float) -> typing.List[Event]:
        """The motion's watchdog: stale or non-finite joints, a silent controller or an arm
        off its path stop it; the curve's end (or the action's backstop) ends it."""
        if self.motion is None:
            return []
        cfg = self.config
        current, age = self.measured.current(now, self.names)
        if age is None or age > cfg.joint_state_timeout_s:
            stale = self.measured.stalest(now, self.names)
            return self.stop(now, 'stopped', f'joint states stale ({stale!r}: '
                             f'{age if age is None else round(age, 3)} s > '
                             f'joint_state_timeout_s {cfg.joint_state_timeout_s} s)')
        curve, start = self.motion
        elapsed = now - start
        streaming = self.controller.streams
        if streaming:  # the setpoint is the newest command the stream sent
            elapsed = max(self.ticks - 1, 0) / cfg.stream_rate_hz
        sample = curve.sample(min(elapsed, curve.end_time))  # (D,)
        names = self.names
        measured = np.array([current.get(n, np.nan) for n in names])  # (D,)
        if not np.all(np.isfinite(measured)):  # fresh but unreadable: cannot be watched
            j = int(np.argmin(np.isfinite(measured)))
            return self.stop(now, 'stopped',
                             f'joint state of {names[j]!r} is not finite ({measured[j]})')
        cols = self.watched
        silent = self.watch.update(now, measured[cols], sample[cols], [names[c] for c in cols])
        if silent:
            # the arm is not where it was commanded (blocked, pushed, or its controller
            # deaf): the stop starts where it is measured, not at the setpoint
            return self.stop(now, 'stopped', silent, from_measured=True)
        if self.controller.ends_by_result:
            # the action result ends the motion; this is the backstop if it never comes
            if elapsed > curve.end_time + cfg.goal_time_tolerance_s + 1.0:
                return self.stop(now, 'stopped', 'follow_joint_trajectory: no result '
                                 f'{elapsed - curve.end_time:.2f} s after the trajectory end')
            return []
        if (self.streamed_all if streaming else elapsed >= curve.end_time):
            return self._finished(self.episode_stamp)
        return []

    def _finished(self, stamp: int) -> typing.List[Event]:
        self._end_motion()
        return [Status('done', 'trajectory finished', progress=1.0,
                       values=dict(episode_stamp_ns=stamp)),
                Report('done', 'trajectory finished', self.episode_stamp)]

    # --- follow_joint_trajectory ------------------------------------------------------

    def controller_result(self, now: float, stamp: int, error: typing.Optional[str]
                          ) -> typing.List[Event]:
        """The controller ended the motion of episode ``stamp``: done, or ``error``."""
        if error is not None:  # the controller ended the goal itself (it holds the arm):
            return self.stop(now, 'stopped', error, send=False)  # braking would move it again
        return self._finished(stamp)

    def controller_feedback(self, max_error: float) -> typing.List[Event]:
        """The controller's largest joint error while following."""
        return [Status('moving', 'following', values=dict(
            max_error=f'{max_error:.4f}', episode_stamp_ns=self.episode_stamp))]

    # --- stop -------------------------------------------------------------------------

    def _end_motion(self) -> None:
        self.motion = None  # the stream ends at its next command
        self.watch = None

    def _braking(self, now: float, from_measured: bool = False) -> Braking:
        """The stop from where the controller is commanded now, within the limits (the
        commands stay continuous however far the arm lags); ``from_measured``: from where
        the arm is measured instead, when the watch found it off its setpoint (blocked,
        pushed, or a deaf controller: braking from the setpoint would drive it back first).
        """
        curve, start = self.motion
        t = min(self.controller.commanded_until(self.ticks, now - start), curve.end_time)
        position, velocity = curve.sample(t), curve.velocity_many([t])[0]  # (D,), (D,)
        measured = self.measured.motion(now, self.names, self.config.joint_state_timeout_s,
                                        self.limits.velocity) if from_measured else None
        if measured is not None:
            position, velocity = measured
        return braking(position, velocity, self.limits.acceleration,
                       self.limits.lower, self.limits.upper,
                       min_duration_s=1.0 / self.config.stream_rate_hz)

    def stop(self, now: float, state: str, error: str = '', send: bool = True,
             from_measured: bool = False) -> typing.List[Event]:
        """Stop the motion (nothing when none runs): brake from the commanded motion to
        rest within the acceleration limits; ``send=False`` when the controller already
        ended it (an aborted or rejected goal). The motion ends even if the braking fails."""
        if self.motion is None:
            return []
        try:  # no braking to compute when the controller already ended the goal
            stop = self._braking(now, from_measured) if send else None
        finally:
            self._end_motion()
        events = [] if stop is None else [SendStop(stop)]
        stamp = self.episode_stamp
        events.append(Status(state, error, ERROR, values=dict(episode_stamp_ns=stamp))
                      if error else
                      Status(state, 'motion stopped', values=dict(episode_stamp_ns=stamp)))
        events.append(Report(state, error or 'motion stopped', stamp, dict(
            braking_s=stop.duration_s if stop is not None else 0.0)))
        return events
