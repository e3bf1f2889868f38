"""The in-process demo: the generate-and-replay graph on the embedded world, K tasks.

One process, one shared World: the mock arm moves it and the sim camera renders it, so the
camera shows the replay. Per task: reset the world, publish the instruction, wait for the
predicted video and trajectory, let preview publish, arm and execute through the replay
node's services, wait for the motion to end, judge success with the world's task check,
let the recorder write the bag, and draw a preview PNG. Every wait has a timeout.
"""

import dataclasses
import json
from pathlib import Path
import threading
import time
import typing

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from vag_ros.episodes import topics as tp
from vag_ros.errors import VagError
from vag_ros.resources import share_path
from vag_ros.robot.safety_config import describe_joint_limits
from vag_ros.ros import graph
from vag_ros.ros.configs import EPISODE_ANNOTATION_TOPIC, FRAME_TOPIC, REPLAY_STATE_TOPIC, \
    REPLAY_TERMINAL_STATES
from vag_ros.image_decoding import image_to_numpy
from vag_ros.ros.conversions import joint_state_to_dict, time_to_ns, trajectory_to_arrays
from vag_ros.ros.protocol import REQUEST_RESULT_TOPIC, RequestResult
from vag_ros.ros.recorder_node import episode_name

DEMO_SAFETY_YAML = 'config/safety_demo.yaml'  # safety.yaml with on_violation: slow_down
DEFAULT_TASK_SEED = 200000  # held out: sim-record and training use seeds below this


class DemoError(VagError, RuntimeError):
    """The demo could not go on (graph failed to start, a wait timed out...)."""


@dataclasses.dataclass(frozen=True)
class DemoTimeouts:
    """Seconds each wait may take before the demo gives up with a message."""

    startup: float = 60.0       # graph up: generator active, first camera frame
    reset: float = 10.0         # world reset seen by the camera
    generation: float = 600.0   # instruction -> predicted trajectory
    validation: float = 15.0    # trajectory -> replay's verdict
    preview: float = 1.0        # time given to preview before executing
    service: float = 10.0       # arm / execute calls
    motion_margin: float = 30.0  # on top of the trajectory's duration
    record: float = 60.0        # motion end -> bag written


@dataclasses.dataclass
class DemoEpisode:
    """One row of the summary."""

    index: int
    task: str
    task_seed: int
    instruction: str
    generation_s: typing.Optional[float] = None
    generation_stages_s: typing.Dict[str, float] = dataclasses.field(default_factory=dict)
    overhead_s: typing.Optional[float] = None   # first frame out - instruction - generation
    trajectory: str = 'none'                    # accepted | rejected | none
    reason: str = ''
    executed: bool = False
    execution: str = ''                         # the replay's terminal state
    success: typing.Optional[bool] = None       # None: not executed, not judged
    bag: str = ''
    png: str = ''
    stream_rate_hz: typing.Optional[float] = None
    stream_jitter_ms: typing.Optional[float] = None
    motion_s: typing.Optional[float] = None     # executed duration, after any slow-down


class _Observer:
    """The demo's own node: publishes instructions, calls services, watches topics."""

    def __init__(self, context, controller: str):
        self.node = rclpy.create_node('vag_demo', context=context)
        self.lock = threading.Lock()
        self.capturing = False
        self.reset()
        node = self.node
        base = '/' + controller.strip('/')
        self.instruction_pub = node.create_publisher(String, tp.INSTRUCTION_TOPIC, 10)
        self.annotation_pub = node.create_publisher(String, EPISODE_ANNOTATION_TOPIC, 10)
        self.hold_pub = node.create_publisher(Float64MultiArray, base + '/commands', 10)
        self.arm = node.create_client(SetBool, '/vag_replay/arm')
        self.execute = node.create_client(Trigger, '/vag_replay/execute')
        sub = node.create_subscription
        sub(Image, FRAME_TOPIC, self._on_frame, 2)
        sub(Image, tp.PREDICTED_VIDEO_TOPIC, self._on_predicted, 200)
        sub(JointTrajectory, tp.PREDICTED_TRAJECTORY_TOPIC, self._on_trajectory, 10)
        sub(String, REPLAY_STATE_TOPIC, self._on_replay, 50)
        sub(String, REQUEST_RESULT_TOPIC, self._on_result, 50)
        sub(MarkerArray, '/vag/preview/markers', self._on_markers, 10)
        sub(JointState, tp.JOINT_STATES_TOPIC, self._on_joints, 100)
        sub(Image, tp.CAMERA_TOPIC, self._on_camera, 10)
        sub(Float64MultiArray, base + '/commands', self._on_command, 100)

    def reset(self) -> None:
        """Forget the previous episode's observations."""
        with self.lock:
            self.frame = None                 # (stamp ns, Image) newest /vag/frame
            self.predicted = []               # [(receive monotonic, Image)]
            self.trajectories = []            # [JointTrajectory]
            self.replay = []                  # [dict]
            self.results = []                 # [RequestResult]
            self.markers = 0
            self.joints = []                  # [(receive monotonic, {name: position})]
            self.camera = []                  # [Image]
            self.commands = []                # [receive monotonic]

    def _on_frame(self, msg):
        self.frame = (time_to_ns(msg.header.stamp), msg)

    def _on_predicted(self, msg):
        self.predicted.append((time.monotonic(), msg))

    def _on_trajectory(self, msg):
        self.trajectories.append(msg)

    def _on_replay(self, msg):
        try:
            self.replay.append(json.loads(msg.data))
        except ValueError:
            pass

    def _on_result(self, msg):
        try:
            self.results.append(RequestResult.from_json(msg.data))
        except VagError:
            pass

    def result(self, request_id: str, states) -> typing.Optional[RequestResult]:
        """The first result of ``request_id`` in one of ``states``, or None."""
        return next((r for r in list(self.results)
                     if r.request_id == request_id and r.state in states), None)

    def _on_markers(self, msg):
        self.markers += 1

    def _on_joints(self, msg):
        if self.capturing:
            self.joints.append((time.monotonic(), joint_state_to_dict(msg)))

    def _on_camera(self, msg):
        if self.capturing and len(self.camera) < 2000:
            self.camera.append(msg)

    def _on_command(self, msg):
        if self.capturing:
            self.commands.append(time.monotonic())


def _wait(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something true; DemoError after ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise DemoError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(0.02)


def _call(client, request, timeout: float, what: str):
    if not client.wait_for_service(timeout_sec=timeout):
        raise DemoError(f'service {client.srv_name} not available after {timeout:.0f} s')
    future = client.call_async(request)
    _wait(future.done, timeout, f'the {what} service to answer')
    return future.result()


def demo_defaults() -> typing.Dict[str, dict]:
    """The demo's own parameters, each in force only where the user gave none.

    config/safety_demo.yaml: the real-arm limits of config/safety.yaml, but a trajectory
    faster than them is slowed down (at most max_slowdown), not rejected.
    """
    return {'vag_recorder': {'execution_wait_s': 60.0, 'settle_s': 0.5, 'rejected_wait_s': 1.0},
            'vag_replay': {'safety_file': str(share_path(DEMO_SAFETY_YAML))}}


def demo_graph(checkpoint: str, out: Path, controller_mode: typing.Optional[str] = None,
               params_file: str = '', parameters: typing.Optional[dict] = None,
               safety_file: typing.Optional[str] = None,
               controller: typing.Optional[str] = None) -> typing.List[graph.NodeSpec]:
    """The demo's graph: generate_and_replay on the embedded world, armed, recording.

    ``controller_mode``, ``controller``, ``safety_file``: None = not given. Lowest first: the
    node defaults, ``demo_defaults`` (only where the user gave none), ``params_file``, the
    arguments given, ``parameters``.
    """
    user = graph.load_parameters(params_file) if params_file else {}  # what the user gave
    for name, values in (parameters or {}).items():
        user.setdefault(name, {}).update(values)
    if safety_file is not None:
        user.setdefault('vag_replay', {})['safety_file'] = safety_file
    overrides = {name: {k: v for k, v in values.items() if k not in user.get(name, {})}
                 for name, values in demo_defaults().items()}
    for name, values in (parameters or {}).items():
        overrides.setdefault(name, {}).update(values)
    return graph.generate_and_replay(
        str(checkpoint), sim=True, dry_run=False, controller_mode=controller_mode,
        controller=controller, safety_file=safety_file, record_dir=str(Path(out) / 'bags'),
        params_file=params_file, parameters=overrides)


class Demo:
    """The graph, its nodes and the observer; ``run_task`` runs one episode."""

    def __init__(self, checkpoint: str, out: Path,
                 controller_mode: typing.Optional[str] = None,
                 timeouts: DemoTimeouts = DemoTimeouts(), context=None,
                 params_file: str = '', parameters: typing.Optional[dict] = None,
                 log=print, safety_file: typing.Optional[str] = None,
                 controller: typing.Optional[str] = None):
        """The arguments as ``demo_graph``'s."""
        self.out, self.timeouts, self.log = Path(out), timeouts, log
        self.specs = demo_graph(checkpoint, self.out, controller_mode, params_file, parameters,
                                safety_file, controller)
        self.context = context
        self._own_context = context is None
        if self._own_context:
            self.context = rclpy.context.Context()
            rclpy.init(context=self.context)
        self.nodes, self.executor, self._thread = [], None, None
        self._stop = threading.Event()
        try:
            self.nodes = graph.create_nodes(self.specs, context=self.context)
            by_name = {n.get_name(): n for n in self.nodes}
            self.generator, self.replay = by_name['vag_generator'], by_name['vag_replay']
            self.arm, self.recorder = by_name['vag_mock_arm'], by_name['vag_recorder']
            self.shared = self.arm.shared
            if self.generator.pipeline is None or not self.generator._active:
                raise DemoError(f'the generator did not start: '
                                f'{self.generator.status.last_error or "unknown reason"}')
            self.settings = self.replay.settings()  # what the replay runs with
            self.observer = _Observer(self.context, self.replay.config.controller)
            self.executor = SingleThreadedExecutor(context=self.context)
            for node in self.nodes + [self.observer.node]:
                self.executor.add_node(node)
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
            _wait(lambda: self.observer.frame is not None, timeouts.startup,
                  f'the first camera frame on {FRAME_TOPIC}')
        except BaseException:
            self.close()
            raise

    def _spin(self) -> None:
        """Spin, then destroy the nodes: the renderer's GL context lives in this thread."""
        try:
            while not self._stop.is_set():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception as exc:  # noqa: B902 - reported, then the nodes still go
            self.log(f'vag-ros demo: executor stopped: {type(exc).__name__}: {exc}')
        finally:
            self._destroy()

    def _destroy(self) -> None:
        if getattr(self, 'observer', None) is not None:
            self.observer.node.destroy_node()
            self.observer = None
        for node in reversed(self.nodes):
            node.destroy_node()
        self.nodes = []

    def close(self) -> None:
        """Stop spinning and destroy every node (the recorder writes what is open)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=60.0)
            self._thread = None
        else:
            self._destroy()
        if self.executor is not None:
            self.executor.shutdown(timeout_sec=5.0)
            self.executor = None
        if self._own_context:
            rclpy.try_shutdown(context=self.context)

    # --- one episode ------------------------------------------------------------------

    def _reset_world(self, task) -> int:
        """Hold the arm at the task's start, reset the world; the reset time [ns]."""
        obs, arm = self.observer, self.arm
        before = arm.commands_received
        hold = Float64MultiArray(data=[float(v) for v in task.initial_joints])
        _wait(lambda: obs.hold_pub.get_subscription_count() > 0, self.timeouts.reset,
              f'the mock arm to subscribe to {obs.hold_pub.topic_name}')

        def taken():
            if arm.commands_received > before:
                return True
            obs.hold_pub.publish(hold)
            time.sleep(0.1)
            return False

        _wait(taken, self.timeouts.reset, 'the mock arm to take the hold command')
        with self.shared.lock:
            self.shared.world.reset(task)
        reset_ns = self.observer.node.get_clock().now().nanoseconds
        _wait(lambda: obs.frame is not None and obs.frame[0] > reset_ns + 2e8,
              self.timeouts.reset, 'a camera frame of the reset world')
        return reset_ns

    def run_task(self, index: int, family: str, task_seed: int) -> DemoEpisode:
        """Generate, preview, execute, judge and record one task; never hangs."""
        t = self.timeouts
        obs = self.observer
        task = self.shared.world.make_task(family, task_seed)
        row = DemoEpisode(index, family, task_seed, task.instruction)
        obs.reset()
        reset_ns = self._reset_world(task)
        obs.annotation_pub.publish(String(data=json.dumps(
            {'task': family, 'seed': task_seed, 'demo_index': index})))
        sent = time.monotonic()
        request_id = f'demo-{index}-{task_seed}'
        obs.instruction_pub.publish(String(data=json.dumps(
            {'instruction': task.instruction, 'request_id': request_id})))
        outcome = _wait(lambda: obs.result(request_id, ('generated', 'rejected', 'failed')),
                        t.generation, 'the generated trajectory')
        if outcome.state != 'generated':
            row.reason = f'generation: {outcome.state}: {outcome.reason}'
            return row
        stamp = outcome.episode_stamp_ns
        if stamp < reset_ns:
            raise DemoError(f'a trajectory from before the reset arrived (stamp {stamp})')
        result = _wait(lambda: next((m for m in obs.trajectories
                                     if time_to_ns(m.header.stamp) == stamp), None),
                       t.validation, 'the generated trajectory')
        timings = outcome.details['timings']   # text, encode, denoise, decode, total [s]
        row.generation_s = float(timings['total'])
        row.generation_stages_s = {k: float(v) for k, v in timings.items() if k != 'total'}
        mine = [(rx, f) for rx, f in obs.predicted if time_to_ns(f.header.stamp) >= stamp]
        if mine:
            row.overhead_s = mine[0][0] - sent - row.generation_s
        frame = obs.frame
        conditioning = image_to_numpy(frame[1]) if frame else None
        verdict = _wait(lambda: next((r for r in obs.replay if r['episode_stamp_ns'] == stamp
                                      and r['state'] in ('validated', 'rejected')), None),
                        t.validation, "the replay node's verdict on the trajectory")
        _wait(lambda: obs.markers, t.validation, 'the preview markers')
        time.sleep(t.preview)  # the ghost and the video play in RViz meanwhile
        if verdict['state'] == 'rejected':
            row.trajectory, row.reason = 'rejected', verdict['message']
        else:
            row.trajectory = 'accepted'
            self._execute(row, stamp)
        if row.executed:
            with self.shared.lock:
                row.success = bool(self.shared.world.success())
        obs.annotation_pub.publish(String(data=json.dumps(
            {'episode_stamp_ns': stamp, 'success': bool(row.success),
             'executed': row.executed})))
        record = _wait(lambda: next((r for r in list(obs.results)
                                     if r.node == 'vag_recorder' and r.episode_stamp_ns == stamp
                                     and r.state in ('recorded', 'record_failed')), None),
                       t.record + 30.0, f'the recorder to write {episode_name(stamp)}')
        row.bag = record.details.get('path') or f'not written: {record.reason}'
        names, times, positions = trajectory_to_arrays(result)  # (T,), (T, D)
        # all of the predicted video by now (it was still arriving when the trajectory came)
        predicted = [image_to_numpy(f) for rx, f in obs.predicted
                     if time_to_ns(f.header.stamp) >= stamp]
        executed = [image_to_numpy(f) for f in obs.camera]
        measured = self._measured(obs, names)
        row.png = str(write_preview_png(
            self.out / f'episode_{index:02d}_{family}_{task_seed}.png', predicted, executed,
            names, times, positions, measured, f'{index}: "{task.instruction}" '
            f'({row.trajectory}{", success" if row.success else ""})', conditioning,
            time_scale=row.motion_s / times[-1] if row.motion_s and times[-1] > 0 else 1.0))
        return row

    def _execute(self, row: DemoEpisode, stamp: int) -> None:
        t, obs = self.timeouts, self.observer
        reply = _call(obs.arm, SetBool.Request(data=True), t.service, 'arm')
        if not reply.success:
            row.reason = f'arm refused: {reply.message}'
            return
        obs.capturing = True
        started = time.monotonic()
        reply = _call(obs.execute, Trigger.Request(), t.service, 'execute')
        if not reply.success:
            obs.capturing = False
            row.trajectory, row.reason = 'rejected', f'execute refused: {reply.message}'
            return
        moving = _wait(lambda: next((r for r in obs.replay if r['episode_stamp_ns'] == stamp
                                     and r['state'] in ('moving',) + REPLAY_TERMINAL_STATES),
                                    None), t.service, 'the motion to start')
        duration = float(moving.get('duration_s', 0.0))
        row.motion_s = duration or None
        end = _wait(lambda: next((r for r in obs.replay if r['episode_stamp_ns'] == stamp
                                  and r['state'] in REPLAY_TERMINAL_STATES), None),
                    duration + t.motion_margin, 'the motion to end')
        time.sleep(0.3)  # the arm settles; the camera sees the end
        obs.capturing = False
        row.executed, row.execution = True, end['state']
        if end['state'] != 'done':
            row.reason = f'replay {end["state"]}: {end["message"]}'
        stamps = np.array([c for c in obs.commands if c >= started])
        if len(stamps) > 2:
            period = np.diff(stamps)  # (N-1,) s, as received
            row.stream_rate_hz = float(1.0 / period.mean())
            row.stream_jitter_ms = float(period.std() * 1e3)

    @staticmethod
    def _measured(obs: _Observer, names) -> typing.Optional[typing.Tuple[np.ndarray, ...]]:
        """(times (N,) s from the first sample, positions (N, D)) during the motion."""
        rows = [(rx, [j.get(n, np.nan) for n in names]) for rx, j in obs.joints]
        if not rows:
            return None
        times = np.array([r[0] for r in rows])
        return times - times[0], np.array([r[1] for r in rows])


def write_preview_png(path, predicted, executed, names, times, positions, measured,
                      title: str = '', conditioning=None, time_scale: float = 1.0) -> Path:
    """Predicted frames above executed frames, then predicted vs measured joint curves.

    ``time_scale``: the replay's slow-down; the predicted curve is drawn on the executed
    time axis so the two line up.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    n = max(4, min(8, max(len(predicted), 1)))
    fig = Figure(figsize=(1.6 * n, 8.0), dpi=90)
    FigureCanvasAgg(fig)
    top = fig.add_gridspec(2, n, top=0.92, bottom=0.56, wspace=0.05, hspace=0.15)
    for row, (label, frames) in enumerate((('predicted', predicted), ('executed', executed))):
        picks = np.linspace(0, len(frames) - 1, min(n, len(frames))).round().astype(int) \
            if frames else []
        for col in range(n):
            ax = fig.add_subplot(top[row, col])
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(picks):
                ax.imshow(frames[picks[col]])
            elif col == 0:
                ax.text(0.5, 0.5, 'not executed' if row else 'no frames', ha='center',
                        va='center', fontsize=8, transform=ax.transAxes)
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
    bottom = fig.add_gridspec(2, 4, top=0.48, bottom=0.06, wspace=0.35, hspace=0.45)
    for j, name in enumerate(list(names)[:8]):
        ax = fig.add_subplot(bottom[j // 4, j % 4])
        label = 'predicted' if time_scale <= 1.001 else f'predicted, x{time_scale:.1f} time'
        ax.plot(np.asarray(times) * time_scale, positions[:, j], label=label, color='tab:blue')
        if measured is not None:
            ax.plot(measured[0], measured[1][:, j], label='measured', color='tab:orange')
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format='png')
    return path


def generation_line(rows: typing.Sequence[DemoEpisode]) -> str:
    """The generation time's median over the episodes and its stages' medians."""
    timed = [r for r in rows if r.generation_s is not None]
    if not timed:
        return 'generation: no episode was generated'
    stages = [k for k in ('text', 'encode', 'denoise', 'decode')
              if all(k in r.generation_stages_s for r in timed)]
    split = ', '.join(f'{k} {np.median([r.generation_stages_s[k] for r in timed]):.3f}'
                      for k in stages)
    return (f'generation: median {np.median([r.generation_s for r in timed]):.3f} s over '
            f'{len(timed)} episode(s)' + (f' (stage medians, s: {split})' if split else ''))


def summary_table(rows: typing.Sequence[DemoEpisode]) -> str:
    """The per-episode summary as a fixed-width text table."""
    head = ('#', 'instruction', 'gen s', 'overhead s', 'trajectory', 'replay',
            'stream Hz (jitter ms)', 'bag')
    lines = []
    for r in rows:
        replay = ('success' if r.success else 'failure') if r.executed else 'not executed'
        if r.executed and r.execution != 'done':
            replay += f' ({r.execution})'
        trajectory = r.trajectory + (f': {r.reason}' if r.reason else '')
        lines.append((str(r.index), r.instruction[:40],
                      '-' if r.generation_s is None else f'{r.generation_s:.2f}',
                      '-' if r.overhead_s is None else f'{r.overhead_s:.3f}',
                      trajectory[:90], replay,
                      '-' if r.stream_rate_hz is None else
                      f'{r.stream_rate_hz:.1f} ({r.stream_jitter_ms:.1f})', r.bag))
    widths = [max(len(x[i]) for x in [head] + lines) for i in range(len(head))]
    fmt = '  '.join(f'{{:<{w}}}' for w in widths)
    return '\n'.join([fmt.format(*head), fmt.format(*('-' * w for w in widths))]
                     + [fmt.format(*x) for x in lines])


@dataclasses.dataclass
class DemoSummary:
    """What summary.json holds: the replay's settings in force and one row per episode."""

    settings: dict                 # ReplayNode.settings(): safety file, limits, controller
    episodes: typing.List[DemoEpisode]


def settings_text(settings: typing.Mapping) -> str:
    """The replay's settings in force (``ReplayNode.settings()``) as text."""
    safety = settings['safety']
    lines = [f"controller: {settings['controller_mode']} -> "
             f"/{settings['controller'].strip('/')}",
             f"safety file: {settings['safety_file']}",
             '  ' + ', '.join(f'{k} {safety[k]}' for k in (
                 'on_violation', 'max_slowdown', 'velocity_scale', 'max_state_age_s',
                 'min_lead_in_s', 'max_duration_s', 'rest_at_ends')),
             'limits in force:']
    width = max(len(name) for name in settings['joints'])
    lines += [f'  {name:<{width}}  {describe_joint_limits(joint)}'
              for name, joint in settings['joints'].items()]
    return '\n'.join(lines)


def run_demo(checkpoint: str, out, instructions: int = 3, seed: int = DEFAULT_TASK_SEED,
             controller_mode: typing.Optional[str] = None,
             timeouts: DemoTimeouts = DemoTimeouts(), context=None, params_file: str = '',
             parameters: typing.Optional[dict] = None, log=print,
             safety_file: typing.Optional[str] = None,
             controller: typing.Optional[str] = None) -> DemoSummary:
    """Run ``instructions`` held-out tasks; writes bags, PNGs and summary.json into ``out``."""
    from vag_ros.sim.world import TASK_FAMILIES
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    demo = Demo(checkpoint, out, controller_mode, timeouts, context, params_file, parameters,
                log, safety_file, controller)
    summary = DemoSummary(demo.settings, [])
    log(settings_text(summary.settings))
    rows = summary.episodes
    try:
        for k in range(instructions):
            family = TASK_FAMILIES[k % len(TASK_FAMILIES)]
            log(f'[{k + 1}/{instructions}] {family} seed {seed + k}')
            rows.append(demo.run_task(k, family, seed + k))
            row = rows[-1]
            log(f'    {row.instruction!r}: {row.trajectory} {row.reason[:100]}')
    finally:
        demo.close()
        (out / 'summary.json').write_text(json.dumps(dataclasses.asdict(summary), indent=2))
    return summary
