"""Load benchmark: the whole robot graph, one process per node, beside a foreign robot cell.

The cell (``vag_ros.ros.foreign_cell``) runs as two processes: an ideal position controller
publishing /joint_states at 100 Hz and a 640x480 rgb8 camera at 30 Hz. Every node of
``graph.generate_and_replay(sim=False, record_dir=...)`` (capture, generator, replay,
preview, recorder) runs as its own process, as ``ros2 run`` starts it, on a domain id of its
own; the generator is configured and activated through its lifecycle services. This process
asks for episodes (instruction -> generator -> predicted trajectory -> replay), arms and
executes each, and counts how the motions end: a 'joint states stale' stop is a false stop
(the cell publishes at 100 Hz throughout).

The replay process is instrumented from here only (``REPLAY_CHILD`` wraps the node's
joint-state callback and the state machine's tick): every joint state's processing time,
header stamp and middleware receive time; at each tick the joints' age as judged and the age of
the newest joint state that had arrived in the process (a witness subscription that no
executor takes from, read at the tick). ``stall_s`` blocks the replay's
executor that long every 2 s of motion (fault injection: what a starved process sees).
"""

import functools
import json
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import time
import typing

import numpy as np

CAMERA_TOPIC = '/cell/camera/image_raw'
STALE = 'joint states stale'  # the replay's stop reason of a stale joint state
STALE_S = 0.5  # the replay's joint_state_timeout_s (its default, which the bench keeps)

REPLAY_CHILD = '''
import functools, json, os, time
import rclpy
from sensor_msgs.msg import JointState
from vag_ros.robot.replay_state import ReplayStateMachine as Machine
from vag_ros.ros import replay_node
from vag_ros.ros.arrivals import take_waiting
Node = replay_node.ReplayNode
WITNESS_DEPTH = 200
heard, ticks, arrived = [], [], []
stall_s, stalled, witness = float(os.environ['VAG_BENCH_STALL_S']), [0.0], []
on_joint_state, tick, init = Node._on_joint_state, Node._tick, Node.__init__
judge = Machine.tick

def witnessed(self, *args, **kwargs):  # a subscription no executor takes: DDS arrivals
    init(self, *args, **kwargs)
    witness.append(rclpy.create_node('vag_bench_witness').create_subscription(
        JointState, self.config.joint_states_topic, lambda msg: None, WITNESS_DEPTH))

def take_arrivals():
    take_waiting(witness[0], lambda msg, at: arrived.append(int(at * 1e9)), WITNESS_DEPTH)

@functools.wraps(on_joint_state)
def logged(self, msg, arrived):  # arrived: monotonic s of its arrival in the middleware
    mono, wall = time.monotonic_ns(), time.time_ns()
    received = wall - max(mono - int(arrived * 1e9), 0)  # the same instant, system clock
    stamp = msg.header.stamp.sec * 1000000000 + msg.header.stamp.nanosec
    heard.append((mono, wall, stamp, received))
    return on_joint_state(self, msg, arrived)

@functools.wraps(judge)
def judged(self, now):  # the age the state machine judges, and what had arrived by then
    take_arrivals()
    at, clock = self.joints_at(), time.monotonic_ns()
    newest = (clock - arrived[-1]) / 1e9 if arrived else -1.0
    ticks.append((clock, now - at if self.motion is not None and at else -1.0, newest))
    return judge(self, now)

@functools.wraps(tick)
def stalling_tick(self):
    tick(self)
    if stall_s and self._motion is not None and time.monotonic() - stalled[0] > 2.0:
        time.sleep(stall_s)  # the executor blocked: joint states queue meanwhile
        stalled[0] = time.monotonic()

Machine.tick = judged
Node.__init__, Node._on_joint_state, Node._tick = witnessed, logged, stalling_tick
try:
    replay_node.main()
finally:
    with open(os.environ['VAG_BENCH_LOG'], 'w') as f:
        json.dump({'heard': heard, 'ticks': ticks, 'arrived': arrived}, f)
'''


def gap_stats(gaps_ms: typing.Sequence[float]) -> dict:
    """p50 / p99 / max [ms] and the count of a list of gaps."""
    g = np.asarray(gaps_ms, dtype=np.float64)  # (N,)
    if not len(g):
        return {'count': 0, 'p50_ms': None, 'p99_ms': None, 'max_ms': None}
    return {'count': int(len(g)), 'p50_ms': float(np.percentile(g, 50)),
            'p99_ms': float(np.percentile(g, 99)), 'max_ms': float(g.max())}


def gaps_in(times_ns: typing.Sequence[int], windows: typing.Sequence[typing.Tuple[int, int]]
            ) -> typing.List[float]:
    """Gaps [ms] between consecutive ``times_ns`` (sorted) that end inside a window
    (start ns, end ns): the gaps seen during the motions."""
    t = np.asarray(sorted(times_ns), dtype=np.int64)  # (N,)
    out = []
    for start, end in windows:
        inside = np.flatnonzero((t > start) & (t <= end))  # (K,) indices
        inside = inside[inside > 0]
        out += ((t[inside] - t[inside - 1]) / 1e6).tolist()
    return out


def classify(state: str, message: str) -> str:
    """How a motion ended: succeeded, false_stop (stale joint states), other_stop."""
    if state == 'done':
        return 'succeeded'
    return 'false_stop' if state == 'stopped' and STALE in message else 'other_stop'


def figures(episodes: typing.Sequence[dict], replay_log: dict, joints_sent_ns: typing.Sequence[int]
            ) -> dict:
    """The benchmark's figures from the executed episodes ({outcome, start_ns, end_ns}), the
    replay's log ({heard: [(mono, wall, stamp, received ns)], ticks: [(mono ns, age s)]}) and
    the cell's joint-state publish times (monotonic ns)."""
    windows = [(e['start_ns'], e['end_ns']) for e in episodes]
    heard = np.asarray(replay_log.get('heard') or np.zeros((0, 4)), dtype=np.int64)  # (N, 4)
    inside = np.zeros(len(heard), dtype=bool)
    for start, end in windows:
        inside |= (heard[:, 0] > start) & (heard[:, 0] <= end)
    during = heard[inside]                                      # (M, 4)
    latency = (during[:, 1] - during[:, 2]) / 1e6               # publish -> callback [ms]
    received = during[during[:, 3] > 0]
    ticks = np.asarray(replay_log.get('ticks') or np.zeros((0, 3)))  # (K, 3)
    moving = ticks[(ticks[:, 1] >= 0) & (ticks[:, 2] >= 0)] if len(ticks) else ticks
    counts = {k: sum(e['outcome'] == k for e in episodes)
              for k in ('succeeded', 'false_stop', 'other_stop')}
    return {
        'motions': len(episodes), **{f'{k}s' if k != 'succeeded' else k: v
                                     for k, v in counts.items()},
        'replay_gaps': gap_stats(gaps_in(heard[:, 0].tolist(), windows)),
        'publisher_gaps': gap_stats(gaps_in(list(joints_sent_ns), windows)),
        'stamp_gaps': gap_stats(np.diff(np.sort(during[:, 2])) / 1e6 if len(during) else []),
        'arrival_gaps': gap_stats(gaps_in(replay_log.get('arrived') or [], windows)),
        'latency': gap_stats(latency.tolist()),
        'waiting': gap_stats(((received[:, 1] - received[:, 3]) / 1e6).tolist()),
        'tick_age': gap_stats((moving[:, 1] * 1e3).tolist()),
        'tick_arrived_age': gap_stats((moving[:, 2] * 1e3).tolist()),
        'stale_ticks': [{'age_ms': a * 1e3, 'newest_arrived_ms': n * 1e3}
                        for _, a, n in moving[moving[:, 1] > STALE_S].tolist()],
    }


def ros_arguments(spec) -> typing.List[str]:
    """``--ros-args`` of a NodeSpec as ``ros2 run`` takes them (values as YAML)."""
    args = ['--ros-args']
    for src, dst in spec.remappings:
        args += ['-r', f'{src}:={dst}']
    for name, value in spec.parameters:
        if isinstance(value, (list, tuple)) and not value:
            continue  # an empty array has no type on the command line: the default stays
        args += ['-p', f'{name}:={json.dumps(list(value) if isinstance(value, tuple) else value)}']
    if spec.lifecycle:
        args += ['-p', 'autostart:=false']  # configured and activated through its services
    return args


def _die_with_parent() -> None:
    """In the child: SIGTERM when the bench dies, even by SIGKILL (Linux; elsewhere no-op)."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Processes:
    """Child processes that all go on any exit: SIGINT, then SIGTERM, then SIGKILL."""

    def __init__(self, env: dict, logs: Path):
        self.env, self.logs, self.children = env, logs, {}

    def start(self, name: str, argv: typing.Sequence[str], **env) -> subprocess.Popen:
        log = open(self.logs / f'{name}.log', 'w')
        self.children[name] = subprocess.Popen(
            list(argv), env=dict(self.env, **env), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        return self.children[name]

    def dead(self) -> typing.List[str]:
        """Children that exited (none should, while the bench runs)."""
        return [n for n, p in self.children.items() if p.poll() is not None]

    def close(self, timeout_s: float = 20.0) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [p for p in self.children.values() if p.poll() is None]
            for p in alive:
                p.send_signal(sig)
            end = time.monotonic() + timeout_s
            for p in alive:
                try:
                    p.wait(max(end - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    pass


class BenchError(RuntimeError):
    """The graph did not come up or a wait timed out."""


def run_load(checkpoint: str, motions: int, out: Path, stall_s: float = 0.0,
             log: typing.Callable = functools.partial(print, flush=True),
             max_requests: int = 0) -> dict:
    """``motions`` executed motions under the full graph's load; the figures and episodes.
    Logs and bags go under ``out``."""
    from vag_ros.resources import share_path
    from vag_ros.ros import graph
    from vag_ros.ros.foreign_cell import TASK
    from vag_ros.sim.world import make_task
    task = make_task(*TASK)  # the task the cell's camera shows; each episode starts there
    out = Path(out)
    (out / 'logs').mkdir(parents=True, exist_ok=True)
    domain = random.randint(100, 200)  # this benchmark's processes only
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    specs = graph.generate_and_replay(
        checkpoint, camera_topic=CAMERA_TOPIC, sim=False, dry_run=False,
        controller_mode='forward_position', record_dir=str(out / 'bags'),
        parameters={'vag_replay': {'safety_file': str(share_path('config/safety_demo.yaml'))},
                    'vag_recorder': {'execution_wait_s': 60.0, 'settle_s': 0.5,
                                     'rejected_wait_s': 1.0}})
    urdf = graph.robot_urdf(specs) or ''
    processes = Processes(env, out / 'logs')
    logs = {'replay': out / 'logs' / 'replay_heard.json',
            'joints': out / 'logs' / 'cell_joints.json',
            'camera': out / 'logs' / 'cell_camera.json'}
    cell = [sys.executable, '-m', 'vag_ros.ros.foreign_cell']
    episodes, requests, skipped = [], 0, []
    try:
        processes.start('cell_joints', cell + ['joints', '--urdf', urdf,
                                               '--log', str(logs['joints'])])
        processes.start('cell_camera', cell + ['camera', '--topic', CAMERA_TOPIC,
                                               '--log', str(logs['camera'])])
        for spec in specs:
            if spec.name == 'vag_replay':
                argv = [sys.executable, '-c', REPLAY_CHILD]
                extra = dict(VAG_BENCH_LOG=str(logs['replay']), VAG_BENCH_STALL_S=str(stall_s))
            else:
                argv = [sys.executable, '-c', f'from {spec.module} import main; main()']
                extra = {}
            processes.start(spec.name, argv + ros_arguments(spec), **extra)
        with _Client(domain) as client:
            skipped = client.skipped
            client.activate_generator(processes)
            log('graph up: ' + ', '.join(f'{name} (pid {p.pid})' for name, p in
                                         processes.children.items()) + f' (domain {domain})')
            limit = max_requests or 3 * motions
            while len(episodes) < motions and requests < limit:
                requests += 1
                client.reset_arm(task.initial_joints)
                episode = client.episode(f'load-{requests}', task.instruction, processes)
                if episode is None:
                    log(f'    {client.skipped[-1]["request_id"]} not executed: '
                        f'{client.skipped[-1]["reason"][:100]}')
                    continue
                episodes.append(episode)
                log(f'[{len(episodes)}/{motions}] {episode["outcome"]}: {episode["state"]} '
                    f'{episode["message"][:90]}')
    finally:
        processes.close()
    replay_log = json.loads(logs['replay'].read_text()) if logs['replay'].exists() else {}
    sent = json.loads(logs['joints'].read_text())['sent_ns'] if logs['joints'].exists() else []
    return {'requests': requests, 'stall_s': stall_s, 'domain_id': domain,
            'loadavg': list(os.getloadavg()), 'cpus': os.cpu_count(),
            **figures(episodes, replay_log, sent), 'episodes': episodes,
            'not_executed': skipped}


class _Client:
    """The bench's own node: instructions out, results and replay states in, services."""

    def __init__(self, domain: int):
        self.domain = domain

    def __enter__(self):
        import rclpy
        from lifecycle_msgs.srv import ChangeState
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import Float64MultiArray, String
        from std_srvs.srv import SetBool, Trigger

        from vag_ros.episodes import topics as tp
        from vag_ros.ros.protocol import REQUEST_RESULT_TOPIC
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=self.domain)
        node = self.node = rclpy.create_node('vag_bench_load', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)
        self.results = []
        self.skipped = []  # [{request_id, reason}]: requests that did not move the arm
        node.create_subscription(String, REQUEST_RESULT_TOPIC, self._on_result, 100)
        self.instructions = node.create_publisher(String, tp.INSTRUCTION_TOPIC, 10)
        self.hold = node.create_publisher(Float64MultiArray, '/arm_controller/commands', 10)
        self.clients = {n: node.create_client(t, f'/vag_replay/{n}')
                        for n, t in (('arm', SetBool), ('execute', Trigger))}
        self.clients['lifecycle'] = node.create_client(ChangeState,
                                                       '/vag_generator/change_state')
        return self

    def __exit__(self, *exc):
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def _on_result(self, msg) -> None:
        from vag_ros.errors import VagError
        from vag_ros.ros.protocol import RequestResult
        try:
            self.results.append(RequestResult.from_json(msg.data))
        except VagError:
            pass

    def _wait(self, predicate, timeout: float, what: str, processes: Processes):
        from vag_ros.ros.spin import spin_until
        found = []

        def done():
            value = predicate()
            if value:
                found.append(value)
            return bool(value) or bool(processes.dead())
        spin_until(self.executor, done, timeout, period=0.05)
        if processes.dead():
            raise BenchError(f'{", ".join(processes.dead())} exited; see its log')
        if not found:
            raise BenchError(f'timed out after {timeout:.0f} s waiting for {what}')
        return found[0]

    def _call(self, name: str, request, processes: Processes, timeout: float = 60.0):
        client = self.clients[name]
        self._wait(client.service_is_ready, timeout, f'service {client.srv_name}', processes)
        future = client.call_async(request)
        self._wait(future.done, timeout, f'{client.srv_name} to answer', processes)
        return future.result()

    def activate_generator(self, processes: Processes) -> None:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        for transition in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            reply = self._call('lifecycle', ChangeState.Request(
                transition=Transition(id=transition)), processes, 180.0)
            if not reply.success:
                raise BenchError(f'vag_generator refused transition {transition}; see its log')

    def _result(self, request_id: str, node: str, states, stamp: int = 0):
        return next((r for r in list(self.results) if r.state in states and
                     (r.request_id == request_id if request_id else r.node == node and
                      r.episode_stamp_ns == stamp)), None)

    def reset_arm(self, joints: typing.Sequence[float]) -> None:
        """Put the cell's arm back at the task's start (its ideal controller jumps there)."""
        from std_msgs.msg import Float64MultiArray

        from vag_ros.ros.spin import spin_for
        for _ in range(3):
            self.hold.publish(Float64MultiArray(data=[float(v) for v in joints]))
            spin_for(self.executor, 0.1)

    def _skip(self, request_id: str, reason: str) -> None:
        self.skipped.append({'request_id': request_id, 'reason': reason})

    def episode(self, request_id: str, instruction: str,
                processes: Processes) -> typing.Optional[dict]:
        """One request to its end; the executed motion's row, or None (not executed)."""
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        from vag_ros.ros.configs import REPLAY_TERMINAL_STATES
        self._wait(lambda: self.instructions.get_subscription_count() > 0, 60.0,
                   'the generator to subscribe', processes)
        self.instructions.publish(String(data=json.dumps(
            {'instruction': instruction, 'request_id': request_id})))
        generated = self._wait(lambda: self._result(request_id, '', (
            'generated', 'rejected', 'failed')), 300.0, f'{request_id} generated', processes)
        if generated.state != 'generated':
            time.sleep(1.0)  # e.g. no camera frame yet
            return self._skip(request_id, f'generator: {generated.state}: {generated.reason}')
        stamp = generated.episode_stamp_ns
        verdict = self._wait(lambda: self._result('', 'vag_replay', ('validated', 'rejected'),
                                                  stamp), 60.0, 'the replay', processes)
        if verdict.state != 'validated':
            return self._skip(request_id, f'replay: {verdict.state}: {verdict.reason}')
        if not self._call('arm', SetBool.Request(data=True), processes).success:
            return self._skip(request_id, 'arm refused')
        start_ns = time.monotonic_ns()
        reply = self._call('execute', Trigger.Request(), processes)
        if not reply.success:
            return self._skip(request_id, f'execute refused: {reply.message}')
        end = self._wait(lambda: self._result('', 'vag_replay', REPLAY_TERMINAL_STATES, stamp),
                         120.0, 'the motion to end', processes)
        end_ns = time.monotonic_ns()
        self._wait(lambda: self._result('', 'vag_recorder', ('recorded', 'record_failed'),
                                        stamp), 90.0, 'the recorder', processes)
        return {'request_id': request_id, 'episode_stamp_ns': stamp, 'state': end.state,
                'message': end.reason, 'outcome': classify(end.state, end.reason),
                'duration_s': verdict.details.get('duration_s'),
                'start_ns': start_ns, 'end_ns': end_ns}
