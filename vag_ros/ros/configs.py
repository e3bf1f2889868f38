"""Config dataclasses of the ROS nodes (no rclpy here): one per node, validated on build.

``vag_ros.ros.parameters`` maps each field onto a ROS parameter of the same name; nested
dataclasses become dotted names (``safety.velocity_scale``), as in a YAML parameter file.
"""

import dataclasses
import math
from pathlib import Path
import re
import typing

from vag_ros.config import described as _d, field_descriptions, require
from vag_ros.engines.backends import BACKENDS
from vag_ros.episodes import topics as tp
from vag_ros.episodes.camera_storage import STORAGE_MODES
from vag_ros.resources import share_path
from vag_ros.robot.safety_config import DEFAULT_SAFETY_YAML
from vag_ros.frame_geometry import CROP_MODES
from vag_ros.sim.config import SimConfig


INPUT_TRANSPORTS = ('raw', 'compressed')  # capture input, as image_transport names them
CONTROLLER_MODES = ('joint_trajectory', 'forward_position', 'follow_joint_trajectory')
# a controller's name, optionally under namespaces (ROS 2 name tokens joined by '/')
CONTROLLER_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')
FRAME_TOPIC = '/vag/frame'  # capture -> generator: the newest camera frame, rgb8
# replay -> recorder, demo: std_msgs/String, JSON {"state", "episode_stamp_ns", "message"}
REPLAY_STATE_TOPIC = '/vag/replay/state'
# anyone -> recorder: std_msgs/String, JSON {"episode_stamp_ns"?, "task", "seed", "success"...}
EPISODE_ANNOTATION_TOPIC = '/vag/episode_annotation'
# replay states after which no more motion follows for that episode
REPLAY_TERMINAL_STATES = ('done', 'stopped', 'cancelled', 'disarmed', 'rejected', 'dry_run',
                          'failed', 'shutdown')


def _topic(value, field):
    require(isinstance(value, str) and value.startswith('/') and len(value) > 1, field,
            value, 'expected an absolute topic name')


# the urdf parameter as launch and demo set it (vag_ros.ros.graph: one robot for all nodes)
GRAPH_URDF = "; launch and the demo set the robot.urdf the checkpoint carries"


@dataclasses.dataclass(frozen=True)
class CaptureNodeConfig:
    """Camera Image or CompressedImage -> fresh rgb8 frames for the generator, throttled."""

    output_topic: str = _d(FRAME_TOPIC, 'fresh rgb8 frames for the generator')
    max_rate_hz: float = _d(5.0, 'republish at most this often; 0 = every frame', 'Hz')
    input_transport: str = _d('raw', 'raw: sensor_msgs/Image; compressed: CompressedImage')
    input_topic: str = _d('', "the camera topic; '' = /camera/image_raw (remappable), + "
                          "/compressed for compressed (image_transport's naming)")
    max_age_s: float = _d(1.0, 'reject frames whose header stamp is older than this on the '
                          'node clock, or this far in the future, or unstamped; 0 = accept '
                          'every stamp', 's')
    output_width: int = _d(0, "frame width out; 0 = the camera's", 'px')
    output_height: int = _d(0, "frame height out; 0 = the camera's", 'px')
    crop: str = _d('center', 'center: crop the largest centred region of the output aspect, '
                   'then resize; none: resize the whole frame (the aspect may change)')

    def __post_init__(self):
        _topic(self.output_topic, 'output_topic')
        require(self.max_rate_hz >= 0, 'max_rate_hz', self.max_rate_hz, 'must be >= 0')
        require(self.input_transport in INPUT_TRANSPORTS, 'input_transport',
                self.input_transport, f'expected one of {INPUT_TRANSPORTS}')
        if self.input_topic != '':
            _topic(self.input_topic, 'input_topic')
        require(math.isfinite(self.max_age_s) and self.max_age_s >= 0, 'max_age_s',
                self.max_age_s, 'must be finite and >= 0 (0 = no age check)')
        for name in ('output_width', 'output_height'):
            require(0 <= getattr(self, name) <= 16384, name, getattr(self, name),
                    'must be in [0, 16384] (0 = the camera size)')
        require(self.crop in CROP_MODES, 'crop', self.crop, f'expected one of {CROP_MODES}')

    @property
    def resizes(self) -> bool:
        """Whether an output size is set (frames may be cropped and resized)."""
        return bool(self.output_width or self.output_height)

    def subscribed_topic(self, camera_topic: str) -> str:
        """The topic to subscribe, given the (resolved) camera topic."""
        if self.input_topic:
            return self.input_topic
        if self.input_transport == 'compressed':
            return camera_topic.rstrip('/') + '/compressed'
        return camera_topic


@dataclasses.dataclass(frozen=True)
class GeneratorNodeConfig:
    """The generator: checkpoint, backend and request admission."""

    checkpoint: str = _d('', 'VAG checkpoint folder (model.safetensors + config.yaml)')
    backend: str = _d('torch', 'torch (runs checkpoint), onnxruntime or tensorrt (run '
                      'engine_dir)')
    engine_dir: str = _d('', 'onnxruntime / tensorrt: engine folder from `vag-ros export`, '
                         'checked against checkpoint when that is set')
    device: str = _d('cpu', 'torch device (cuda for tensorrt)')
    urdf: str = _d('', "robot whose joint names label the trajectory; '' = the robot.urdf "
                   'the checkpoint (or engine) carries; another robot than that is refused')
    frame_topic: str = _d(FRAME_TOPIC, "the conditioning frames (capture's output)")
    frame_id: str = _d('camera', 'header.frame_id of every predicted frame')
    max_frame_age_s: float = _d(2.0, 'refuse requests when the newest frame is older', 's')
    max_instruction_length: int = _d(512, 'refuse longer instructions', 'characters')
    queue_size: int = _d(1, 'requests waiting behind the running one')
    seed: int = _d(0, "first request's sampling seed; each request adds 1")
    num_steps: int = _d(0, "denoising steps; 0 = the checkpoint's sampler")
    guidance_scale: float = _d(-1.0, "classifier-free guidance; < 0 = the checkpoint's")
    joint_states_topic: str = _d(tp.JOINT_STATES_TOPIC, "state-conditioned models: the arm's "
                                 'measured joints at the request, by joint name')
    max_joint_state_age_s: float = _d(0.5, 'refuse requests when the newest joint state is '
                                      'older', 's')

    def __post_init__(self):
        require(self.backend in BACKENDS, 'backend', self.backend, f'expected one of {BACKENDS}')
        _topic(self.frame_topic, 'frame_topic')
        _topic(self.joint_states_topic, 'joint_states_topic')
        require(self.max_joint_state_age_s > 0, 'max_joint_state_age_s',
                self.max_joint_state_age_s, 'must be > 0')
        require(self.max_frame_age_s > 0, 'max_frame_age_s', self.max_frame_age_s, 'must be > 0')
        require(self.max_instruction_length >= 1, 'max_instruction_length',
                self.max_instruction_length, 'must be >= 1')
        require(0 <= self.queue_size <= 100, 'queue_size', self.queue_size,
                'must be in [0, 100]')
        require(self.num_steps >= 0, 'num_steps', self.num_steps, 'must be >= 0')
        require(self.seed >= 0, 'seed', self.seed, 'must be >= 0')
        require(math.isfinite(self.guidance_scale), 'guidance_scale', self.guidance_scale,
                'must be a finite number')


@dataclasses.dataclass(frozen=True)
class ReplayNodeConfig:
    """Replay: which controller, how to stream, and the safety gate."""

    urdf: str = _d('', "the robot: joint names and limits; '' = the package's vag_arm.urdf"
                   + GRAPH_URDF)
    controller: str = _d('arm_controller', 'the ros2_control controller commanded: '
                         '/<controller>/joint_trajectory, /commands or /follow_joint_trajectory')
    # joint_trajectory: joint_trajectory_controller, what a ros2_control arm most often runs;
    # the one default of the replay, the launch file, the graph and the demo
    controller_mode: str = _d('joint_trajectory', 'joint_trajectory (one JointTrajectory), '
                              'forward_position (Float64MultiArray stream) or '
                              'follow_joint_trajectory (action, needs control_msgs)')
    # joint_trajectory_controller rejects joints it does not own
    controller_joints: typing.Tuple[str, ...] = _d(
        (), "the joints the controller drives, in its order; [] = every actuated joint of "
        'the URDF (a gripper on a controller of its own is validated and recorded, not '
        'commanded)')
    dry_run: bool = _d(True, 'validate and report, never command the arm')
    stream_rate_hz: float = _d(50.0, 'forward_position command rate', 'Hz')
    # 3x the 170 ms gaps a 100 Hz publisher showed on a busy host, and max_state_age_s of
    # the shipped safety file
    joint_state_timeout_s: float = _d(0.5, 'joint states older than this stop a motion', 's')
    controller_timeout_s: float = _d(
        0.5, 'silent controller: stop when the measured joints neither move by '
        'progress_tolerance nor sit within tracking_tolerance of the setpoint this long', 's')
    tracking_tolerance: float = _d(0.05, '|measured - setpoint| counted as following',
                                   'rad or m')
    progress_tolerance: float = _d(0.005, 'joint movement counted as progress', 'rad or m')
    path_tolerance: float = _d(0.2, 'stop when any joint is this far from its commanded '
                               'setpoint, moving or not', 'rad or m')
    goal_time_tolerance_s: float = _d(1.0, 'follow_joint_trajectory: wait for the result this '
                                      'long after the end', 's')
    trajectory_topic: str = _d(tp.PREDICTED_TRAJECTORY_TOPIC, "the generator's trajectories")
    joint_states_topic: str = _d(tp.JOINT_STATES_TOPIC, "the arm's measured joints")
    state_topic: str = _d(REPLAY_STATE_TOPIC, 'execution state, JSON, for the recorder and '
                          'the demo')
    safety_file: str = _d('', "the limits in force: a SafetyConfig YAML; '' = the package's "
                          'config/safety.yaml')

    def __post_init__(self):
        require(self.controller_mode in CONTROLLER_MODES, 'controller_mode',
                self.controller_mode, f'expected one of {CONTROLLER_MODES}')
        require(isinstance(self.controller, str)
                and CONTROLLER_NAME.fullmatch(self.controller.strip('/')) is not None,
                'controller', self.controller, 'expected a controller name, optionally '
                'under the controller manager\'s namespace (arm_controller, '
                'left/arm_controller)')
        require(0 < self.stream_rate_hz <= 1000, 'stream_rate_hz', self.stream_rate_hz,
                'must be in (0, 1000]')
        require(self.joint_state_timeout_s > 0, 'joint_state_timeout_s',
                self.joint_state_timeout_s, 'must be > 0')
        for name in ('controller_timeout_s', 'tracking_tolerance', 'progress_tolerance',
                     'path_tolerance'):
            require(getattr(self, name) > 0, name, getattr(self, name), 'must be > 0')
        require(self.path_tolerance > self.tracking_tolerance, 'path_tolerance',
                self.path_tolerance, f'must be > tracking_tolerance {self.tracking_tolerance}')
        require(self.goal_time_tolerance_s >= 0, 'goal_time_tolerance_s',
                self.goal_time_tolerance_s, 'must be >= 0')
        _topic(self.trajectory_topic, 'trajectory_topic')
        _topic(self.joint_states_topic, 'joint_states_topic')
        _topic(self.state_topic, 'state_topic')
        require(isinstance(self.safety_file, str), 'safety_file', self.safety_file,
                'expected a path to a safety YAML, or empty for the shipped one')

    def safety_path(self) -> Path:
        """The safety YAML in force."""
        return Path(self.safety_file) if self.safety_file else share_path(DEFAULT_SAFETY_YAML)


def _fast_sim() -> SimConfig:
    return SimConfig(frame_rate=50.0)  # 20 ms physics ticks: smooth enough for a controller


@dataclasses.dataclass(frozen=True)
class MockArmConfig:
    """The embedded world's arm behind ros2_control-like topics."""

    controller: str = _d('arm_controller', 'listens on /<controller>/joint_trajectory and '
                         '/<controller>/commands; the graph gives it the replay\'s')
    # as joint_trajectory_controller, it refuses a trajectory with other joints
    controller_joints: typing.Tuple[str, ...] = _d(
        (), 'the joints this controller owns ([] = all); the others hold where they are')
    task: str = _d('touch', "the world's layout: task family (touch, push, pick)")
    seed: int = _d(0, "the world's layout: task seed")
    sim: SimConfig = dataclasses.field(default_factory=_fast_sim)  # sim.frame_rate = tick

    def __post_init__(self):
        require(bool(self.controller), 'controller', self.controller, 'must not be empty')


@dataclasses.dataclass(frozen=True)
class SimCameraConfig:
    """The embedded world's camera as a sensor_msgs/Image stream."""

    topic: str = _d(tp.CAMERA_TOPIC, 'sensor_msgs/Image out')
    frame_id: str = _d(tp.CAMERA_FRAME_ID, 'header.frame_id of every frame')
    rate_hz: float = _d(10.0, 'frames published per second', 'Hz')
    task: str = _d('touch', "the world's layout: task family; must equal the mock arm's")
    seed: int = _d(0, "the world's layout: task seed; must equal the mock arm's")
    sim: SimConfig = dataclasses.field(default_factory=_fast_sim)

    def __post_init__(self):
        _topic(self.topic, 'topic')
        require(0 < self.rate_hz <= 100, 'rate_hz', self.rate_hz, 'must be in (0, 100]')


@dataclasses.dataclass(frozen=True)
class PreviewNodeConfig:
    """Preview: ghost joint states and the end-effector path of a predicted trajectory."""

    urdf: str = _d('', "the robot drawn; '' = the package's vag_arm.urdf" + GRAPH_URDF)
    tip_link: str = _d('', "link whose path is drawn; '' = tool0 (or the last arm link)")
    frame_id: str = _d('', "marker frame; '' = the URDF root link")
    ghost_topic: str = _d('/vag/preview/joint_states', 'ghost joint states (for a second '
                          'robot_state_publisher)')
    markers_topic: str = _d('/vag/preview/markers', 'end-effector path, MarkerArray')
    video_topic: str = _d('/vag/preview/video', 'predicted video replayed at its frame rate')
    rate_hz: float = _d(20.0, 'ghost playback publish rate', 'Hz')
    loop: bool = _d(True, 'replay the ghost from the start when done')
    max_buffered_frames: int = _d(500, 'predicted frames kept for the video playback',
                                  'frames')

    def __post_init__(self):
        _topic(self.ghost_topic, 'ghost_topic')
        _topic(self.markers_topic, 'markers_topic')
        _topic(self.video_topic, 'video_topic')
        require(self.max_buffered_frames >= 1, 'max_buffered_frames',
                self.max_buffered_frames, 'must be >= 1')
        require(0 < self.rate_hz <= 200, 'rate_hz', self.rate_hz, 'must be in (0, 200]')


@dataclasses.dataclass(frozen=True)
class RecorderNodeConfig:
    """Recorder: one rosbag2 (MCAP) bag per generated episode, with its execution."""

    out_dir: str = _d('vag_episodes', 'folder that receives one bag per episode')
    urdf: str = _d('', "the robot whose joints (names, order) the episode records; '' = the "
                   "package's vag_arm.urdf" + GRAPH_URDF)
    max_buffered_frames: int = _d(2000, 'predicted / camera frames kept', 'frames')
    camera_topic: str = _d(tp.CAMERA_TOPIC, 'measured frames while the replay executes')
    camera_transport: str = _d('raw', 'raw: sensor_msgs/Image on camera_topic; compressed: '
                               "CompressedImage on <camera_topic>/compressed (as capture's "
                               'input_transport)')
    joint_states_topic: str = _d(tp.JOINT_STATES_TOPIC, "the arm's measured joints")
    frame_topic: str = _d(FRAME_TOPIC, 'the conditioning frame (newest at instruction)')
    replay_state_topic: str = _d(REPLAY_STATE_TOPIC, "the replay's execution state")
    annotation_topic: str = _d(EPISODE_ANNOTATION_TOPIC, 'episode annotations (task, seed, '
                               'success...), JSON')
    settle_s: float = _d(1.0, 'keep recording after the motion ends', 's')
    execution_wait_s: float = _d(120.0, 'write without execution if none starts', 's')
    rejected_wait_s: float = _d(30.0, 'a rejected trajectory waits this long for a new '
                                '~/validate + ~/execute (the operator moving the arm to its '
                                'start) before its episode is written unexecuted', 's')
    max_execution_s: float = _d(120.0, 'write anyway if the motion never ends', 's')
    # `vag-ros bench storage` measures size and write time of each
    camera_storage: str = _d('raw', 'the executed camera in the bag: raw (sensor_msgs/Image '
                             'on camera_topic) or jpeg / png (CompressedImage on '
                             '<camera_topic>/compressed)')
    camera_max_width: int = _d(0, 'downscale wider frames to this width; 0 = as received',
                               'px')
    camera_jpeg_quality: int = _d(90, 'jpeg quality, 1-100')

    def __post_init__(self):
        require(bool(self.out_dir), 'out_dir', self.out_dir, 'must not be empty')
        require(self.max_buffered_frames >= 1, 'max_buffered_frames',
                self.max_buffered_frames, 'must be >= 1')
        for name in ('camera_topic', 'joint_states_topic', 'frame_topic',
                     'replay_state_topic', 'annotation_topic'):
            _topic(getattr(self, name), name)
        require(self.settle_s >= 0, 'settle_s', self.settle_s, 'must be >= 0')
        for name in ('execution_wait_s', 'max_execution_s', 'rejected_wait_s'):
            require(getattr(self, name) > 0, name, getattr(self, name), 'must be > 0')
        require(self.camera_transport in INPUT_TRANSPORTS, 'camera_transport',
                self.camera_transport, f'expected one of {INPUT_TRANSPORTS}')
        require(self.camera_storage in STORAGE_MODES, 'camera_storage', self.camera_storage,
                f'expected one of {STORAGE_MODES}')
        require(0 <= self.camera_max_width <= 16384, 'camera_max_width',
                self.camera_max_width, 'must be in [0, 16384] (0 = as received)')
        require(1 <= self.camera_jpeg_quality <= 100, 'camera_jpeg_quality',
                self.camera_jpeg_quality, 'must be in [1, 100]')


# node name (as the graph and config/vag_ros.yaml name it) -> its parameters
NODE_CONFIGS = {
    'vag_capture': CaptureNodeConfig,
    'vag_generator': GeneratorNodeConfig,
    'vag_replay': ReplayNodeConfig,
    'vag_preview': PreviewNodeConfig,
    'vag_recorder': RecorderNodeConfig,
    'vag_mock_arm': MockArmConfig,
    'vag_sim_camera': SimCameraConfig,
}
# parameters a node declares beside its config dataclass: {node: {name: (default,
# description, unit)}}
EXTRA_PARAMETERS = {
    'vag_generator': {'autostart': (True, 'configure and activate the lifecycle node at start '
                                          '(ros2 run, launch); false: wait for transitions', '')},
}


def parameter_descriptions(node: str) -> typing.Dict[str, typing.Tuple[str, str]]:
    """{parameter: (description, unit)} of every parameter of ``node`` (NODE_CONFIGS)."""
    descriptions = field_descriptions(NODE_CONFIGS[node])
    descriptions.update({name: (description, unit) for name, (_, description, unit)
                         in EXTRA_PARAMETERS.get(node, {}).items()})
    return descriptions


def describe(description: str, unit: str) -> str:
    """One parameter's description for people: 'unit: description', or the description."""
    return f'{unit}: {description}' if unit else description
