"""Generator: instruction + newest frame -> predicted video and joint trajectory (lifecycle).

The checkpoint (backend torch) or the engine folder (onnxruntime, tensorrt: ``engine_dir``,
checked against ``checkpoint`` when that is set) loads in ``on_configure`` (FAILURE, logged
and on /vag/status, if it cannot).
Generation runs on one worker thread, one request at a time, behind a bounded queue.
"""

import itertools
import queue
import threading
import time
import typing

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
import numpy as np
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory

from vag_ros.episodes import topics as tp
from vag_ros.errors import ConfigError, VagError
from vag_ros.ros.arrivals import subscribe_with_arrival, take_waiting
from vag_ros.ros.configs import describe, EXTRA_PARAMETERS, GeneratorNodeConfig
from vag_ros.image_decoding import image_to_numpy
from vag_ros.ros.conversions import arrays_to_trajectory, joint_state_to_dict, numpy_to_image
from vag_ros.ros.parameters import check_overrides, declare_parameters, read_config
from vag_ros.ros.protocol import parse_request, REQUEST_RESULT_TOPIC, RequestError, \
    RequestResult
from vag_ros.ros.spin import run_node
from vag_ros.ros.status import StatusPublisher

NODE_NAME = 'vag_generator'


class _Request(typing.NamedTuple):
    request_id: str
    instruction: str
    frame: typing.Any   # (H, W, 3) uint8
    seed: int
    stamp_ns: int       # episode start: stamp of predicted frame 0 and of the trajectory
    episode_id: str
    state: typing.Any = None  # (D,) measured joints for state-conditioned models


class GeneratorNode(LifecycleNode):
    """Lifecycle node around ``VagPipeline`` or ``EnginePipeline``: ``GeneratorNodeConfig``."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        declare_parameters(self, GeneratorNodeConfig)
        self.status = StatusPublisher(self)
        self.config: typing.Optional[GeneratorNodeConfig] = None
        self.pipeline = None
        self.joint_names: typing.Tuple[str, ...] = ()
        self._active = False
        self._lock = threading.Lock()
        self._pending = 0
        self._queue: typing.Optional[queue.Queue] = None
        self._worker: typing.Optional[threading.Thread] = None
        self._frame = None  # (array (H, W, 3), receive time monotonic s, stamp ns)
        # newest measured position of each model joint: name -> (value, receive time monotonic
        # s); merged over messages, so an arm and a gripper may publish on their own
        self._joints: typing.Dict[str, typing.Tuple[float, float]] = {}
        self._seeds = itertools.count()
        self._request_numbers = itertools.count(1)
        self._subs = []
        self._arrivals = []   # (subscription, callback(msg, arrived s)): taken before a request
        # per-request results, also while inactive (rejections must reach the client)
        self.result_pub = self.create_publisher(String, REQUEST_RESULT_TOPIC, 50)
        self.status.publish('unconfigured')

    # --- lifecycle --------------------------------------------------------------------

    def on_configure(self, state) -> TransitionCallbackReturn:
        """Read parameters, load the robot and checkpoint; FAILURE with a reason if not."""
        try:
            self._load()
        except (VagError, OSError, RuntimeError, ValueError) as exc:
            self.pipeline = None
            self.status.error('unconfigured', f'configure failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        cfg = self.config
        self.video_pub = self.create_lifecycle_publisher(Image, tp.PREDICTED_VIDEO_TOPIC, 100)
        self.trajectory_pub = self.create_lifecycle_publisher(
            JointTrajectory, tp.PREDICTED_TRAJECTORY_TOPIC, 10)
        # frames and joint states count from their arrival; a request first takes those
        # still waiting for the executor (vag_ros.ros.arrivals)
        self._arrivals = [(subscribe_with_arrival(self, Image, cfg.frame_topic,
                                                  self._on_frame, 1), self._on_frame)]
        if self.needs_state:
            self._arrivals.append((subscribe_with_arrival(
                self, JointState, cfg.joint_states_topic, self._on_joint_state),
                self._on_joint_state))
        self._subs = [sub for sub, _ in self._arrivals] + [
            self.create_subscription(String, tp.INSTRUCTION_TOPIC, self._on_instruction, 10)]
        self._queue = queue.Queue(maxsize=cfg.queue_size + 1)
        self._worker = threading.Thread(target=self._work, name='vag_generator', daemon=True)
        self._worker.start()
        source = cfg.checkpoint if cfg.backend == 'torch' else cfg.engine_dir
        self.status.publish('inactive', f'loaded {source} ({cfg.backend}, {cfg.device})')
        return TransitionCallbackReturn.SUCCESS

    def _load(self) -> None:
        cfg = read_config(self, GeneratorNodeConfig)
        from vag_ros.engines.backends import check_backend_sources
        from vag_ros.engines.factory import load_pipeline, pipeline_robot
        check_backend_sources(cfg.backend, cfg.checkpoint, cfg.engine_dir)
        # the robot the model was trained for; a urdf parameter must name the same robot
        robot = pipeline_robot(cfg.checkpoint, cfg.engine_dir, cfg.urdf)
        # an engine must come from the checkpoint, when one is named
        pipeline = load_pipeline(cfg.backend, cfg.checkpoint, cfg.engine_dir, cfg.device)
        action = pipeline.config.action
        if pipeline.config.mode != 'video_only' and action.dim != robot.dof:
            raise ConfigError(f'checkpoint {cfg.checkpoint}: actions have {action.dim} '
                              f'dimensions, robot {robot.name} has {robot.dof} joints '
                              f'{list(robot.joint_names)}')
        # the text encoder loads now, not at the first request (it takes seconds, and the
        # admission check counts an instruction's tokens with it)
        pipeline.instruction_tokens('warm up')
        self.config, self.pipeline, self.joint_names = cfg, pipeline, robot.joint_names

    def on_activate(self, state) -> TransitionCallbackReturn:
        """Accept requests."""
        self._active = True
        self.status.publish('idle', 'ready for instructions')
        return super().on_activate(state)

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        """Stop accepting requests (a running one finishes, unpublished)."""
        self._active = False
        self.status.publish('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        """Stop the worker and drop the model."""
        self._teardown()
        self.status.publish('unconfigured')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        """Stop the worker."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self):
        """Stop the worker thread, then destroy the node."""
        self._teardown()
        return super().destroy_node()

    def _teardown(self) -> None:
        self._active = False
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=60.0)
            self._worker = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs, self._arrivals = [], []
        for name in ('video_pub', 'trajectory_pub'):
            if hasattr(self, name):
                self.destroy_lifecycle_publisher(getattr(self, name))
                delattr(self, name)
        self.pipeline = None

    # --- requests ---------------------------------------------------------------------

    @property
    def needs_state(self) -> bool:
        """Whether the loaded model is conditioned on the arm's measured joints."""
        config = getattr(self.pipeline, 'config', None)
        return bool(config is not None and config.mode != 'video_only'
                    and config.action.state_conditioning)

    def _on_joint_state(self, msg: JointState, arrived: float) -> None:
        try:  # names and positions of unequal length: which value is whose is unknown
            positions = joint_state_to_dict(msg)
        except VagError:
            return
        wanted = set(self.joint_names)
        for name, position in positions.items():
            if name in wanted and np.isfinite(position):  # NaN: left out, so it goes stale
                self._joints[name] = (float(position), arrived)

    def measured_state(self) -> typing.Tuple[typing.Optional[np.ndarray], str]:
        """(D,) newest joints in the model's order, or None and why (missing or stale)."""
        cfg = self.config
        missing = [n for n in self.joint_names if n not in self._joints]
        if missing:
            return None, (f'no joint state received on {cfg.joint_states_topic} for '
                          f'{missing} (the model starts from the measured joints)')
        now = time.monotonic()
        ages = {n: now - self._joints[n][1] for n in self.joint_names}
        stale = {n: a for n, a in ages.items() if a > cfg.max_joint_state_age_s}
        if stale:
            name = max(stale, key=stale.get)
            return None, (f'newest joint state of {name} is {stale[name]:.2f} s old > '
                          f'max_joint_state_age_s {cfg.max_joint_state_age_s} s (stale)')
        return np.array([self._joints[n][0] for n in self.joint_names]), ''

    def _on_frame(self, msg: Image, arrived: float) -> None:
        try:
            frame = image_to_numpy(msg, 'rgb8')  # (H, W, 3)
        except VagError as exc:
            self.status.warn('frame rejected', f'camera frame rejected: {exc}')
            return
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self._frame = (frame, arrived, stamp_ns)

    def _result(self, request_id: str, state: str, reason: str = '', **fields) -> None:
        """One step of a request's life on /vag/request_result."""
        self.result_pub.publish(String(data=RequestResult(
            request_id, state, self.get_name(), reason, **fields).to_json()))

    def _reject(self, reason: str, instruction: str, request_id: str) -> None:
        self.status.warn('rejected', f'request {request_id} rejected: {reason}',
                         instruction=instruction[:80], request_id=request_id)
        self._result(request_id, 'rejected', reason, instruction=instruction[:1000])

    def _on_instruction(self, msg: String) -> None:
        try:
            request = parse_request(msg.data)
        except RequestError as exc:
            self._reject(str(exc), msg.data, self._new_request_id())
            return
        self.submit(request.instruction, request.request_id)

    def _new_request_id(self) -> str:
        return f'{self.get_name()}-req-{next(self._request_numbers)}'

    def submit(self, instruction: str, request_id: str = '') -> typing.Optional[str]:
        """Admit one request; its episode id, or None (the reason goes to the results)."""
        request_id = request_id or self._new_request_id()
        for subscription, callback in self._arrivals:
            take_waiting(subscription, callback)   # judge what arrived, not what was taken
        reason = self._admission_problem(instruction)
        state = None
        if not reason and self.needs_state:
            state, reason = self.measured_state()
        if reason:
            self._reject(reason, str(instruction), request_id)
            return None
        cfg = self.config
        with self._lock:
            if self._pending > cfg.queue_size:
                reason = (f'queue full ({self._pending} requests, queue_size '
                          f'{cfg.queue_size} + 1 running)')
            else:
                self._pending += 1
        if reason:
            self._reject(reason, instruction, request_id)
            return None
        stamp_ns = self.get_clock().now().nanoseconds
        episode_id = f'{self.get_name()}-{stamp_ns}'
        instruction = instruction.strip()
        self._queue.put(_Request(request_id, instruction, self._frame[0],
                                 cfg.seed + next(self._seeds), stamp_ns, episode_id, state))
        self.status.publish('queued', f'queued {episode_id}', episode_id=episode_id,
                            pending=self._pending, request_id=request_id)
        self._result(request_id, 'accepted', episode_id=episode_id,
                     episode_stamp_ns=stamp_ns, instruction=instruction)
        return episode_id

    def _admission_problem(self, instruction) -> str:
        """Why a request cannot be taken now ('' if it can), before the queue."""
        cfg = self.config
        if not self._active or cfg is None:
            return 'generator is not active'
        if not isinstance(instruction, str) or not instruction.strip():
            return 'empty instruction'
        if len(instruction) > cfg.max_instruction_length:
            return (f'instruction has {len(instruction)} characters > '
                    f'max_instruction_length {cfg.max_instruction_length}')
        latest = self._frame
        if latest is None:
            return f'no camera frame received on {cfg.frame_topic}'
        age = time.monotonic() - latest[1]
        if age > cfg.max_frame_age_s:
            return (f'newest frame is {age:.2f} s old > max_frame_age_s '
                    f'{cfg.max_frame_age_s} s (stale)')
        try:  # the model's own limits: the frame's size, the tokens its text encoder reads
            self.pipeline.check_frame(latest[0])
            self.pipeline.check_instruction(instruction.strip())
        except VagError as exc:
            return str(exc)
        return ''

    # --- worker -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            try:
                self._generate(request)
            except Exception as exc:  # the node keeps serving; the reason goes out
                reason = f'{type(exc).__name__}: {exc}'
                self.status.error('failed', f'generation of {request.episode_id} failed: '
                                  f'{reason}', episode_id=request.episode_id)
                self._result(request.request_id, 'failed', reason,
                             episode_id=request.episode_id,
                             episode_stamp_ns=request.stamp_ns)
            finally:
                with self._lock:
                    self._pending -= 1

    def _generate(self, request: _Request) -> None:
        episode = request.episode_id

        def progress(i, n):
            self.status.publish('generating', f'{episode}: step {i}/{n}', progress=i / n,
                                episode_id=episode)

        self.status.publish('generating', f'{episode}: started', progress=0.0,
                            episode_id=episode)
        num_steps = self.config.num_steps or None
        guidance = self.config.guidance_scale if self.config.guidance_scale >= 0 else None
        result = self.pipeline.generate(request.frame, request.instruction, request.seed,
                                        num_steps=num_steps, guidance_scale=guidance,
                                        callback=progress, state=request.state)
        if not self._active:
            self.status.warn('inactive', f'{episode}: finished while inactive; not published')
            self._result(request.request_id, 'failed', 'the generator was deactivated',
                         episode_id=episode, episode_stamp_ns=request.stamp_ns)
            return
        period_ns = 1e9 / result.fps
        for k, frame in enumerate(result.video):  # (H, W, 3) each
            stamp = request.stamp_ns + int(round(k * period_ns))
            self.video_pub.publish(numpy_to_image(frame, 'rgb8', stamp, self.config.frame_id))
        if result.actions is not None:  # (T, D)
            times = [k / result.fps for k in range(len(result.actions))]
            self.trajectory_pub.publish(arrays_to_trajectory(
                self.joint_names, times, result.actions, request.stamp_ns))
        extra = {}
        if result.raw_start_error is not None:  # before the anchor put point 0 on the state
            extra['raw_start_error_max'] = float(np.max(result.raw_start_error))
        self.status.publish('idle', f'{episode}: published {len(result.video)} frames',
                            progress=1.0, timings=result.timings, episode_id=episode,
                            frames=len(result.video), seed=request.seed, **extra)
        self._result(request.request_id, 'generated', episode_id=episode,
                     episode_stamp_ns=request.stamp_ns, instruction=request.instruction,
                     details=dict(extra, seed=request.seed, frames=len(result.video),
                                  fps=float(result.fps),
                                  timings={k: float(v) for k, v in result.timings.items()},
                                  has_trajectory=result.actions is not None))


def main(args=None) -> None:
    """Run the generator; configure and activate it at start when autostart is true."""
    run_node(GeneratorNode, args, start=_autostart)


def _autostart(node: 'GeneratorNode') -> None:
    default, description, unit = EXTRA_PARAMETERS[NODE_NAME]['autostart']
    node.declare_parameter('autostart', default,
                           ParameterDescriptor(description=describe(description, unit)))
    check_overrides(node)   # every parameter is declared by now
    if node.get_parameter('autostart').value and \
            node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
        node.trigger_activate()


if __name__ == '__main__':
    main()
