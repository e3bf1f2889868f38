"""The robot-side graph: capture -> generate -> preview -> replay (-> record).

    ros2 launch vag_ros generate_and_replay.launch.py checkpoint:=/path/to/checkpoint \\
        camera_topic:=/camera/color/image_raw controller:=arm_controller

camera_transport:=compressed takes JPEG/PNG CompressedImage frames from <camera_topic>/compressed.
The nodes come from vag_ros.ros.graph, the same description ``vag-ros demo`` starts.
Replay is dry-run unless dry_run:=false, and even then moves only after arm + execute.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from vag_ros.robot.description import parse_robot_description
from vag_ros.ros.configs import CaptureNodeConfig, GeneratorNodeConfig, ReplayNodeConfig
from vag_ros.ros.graph import generate_and_replay, robot_urdf

SHARE = Path(get_package_share_directory('vag_ros'))


NOT_GIVEN = ''  # a launch argument left at '' sets nothing: the params file's value stays
_REPLAY, _GENERATOR, _CAPTURE = ReplayNodeConfig(), GeneratorNodeConfig(), CaptureNodeConfig()


def _unset(default) -> str:
    """The effective default of an argument left at NOT_GIVEN."""
    return f' Not given: the params_file value, else {default}.'


ARGUMENTS = (
    ('checkpoint', NOT_GIVEN,
     'VAG checkpoint folder (model.safetensors + config.yaml).'
     + _unset('none (the generator does not configure)')),
    ('backend', NOT_GIVEN,
     'torch (runs the checkpoint), onnxruntime or tensorrt (run engine_dir, exported from '
     'the checkpoint by `vag-ros export`; checked against checkpoint when that is set).'
     + _unset(_GENERATOR.backend)),
    ('engine_dir', NOT_GIVEN, 'Engine folder for backend onnxruntime or tensorrt '
     '(manifest.json).' + _unset('none')),
    ('camera_topic', '/camera/image_raw', 'sensor_msgs/Image topic of the robot camera.'),
    ('camera_transport', NOT_GIVEN,
     'raw: sensor_msgs/Image on camera_topic; compressed: sensor_msgs/CompressedImage (JPEG '
     'or PNG) on camera_topic/compressed, as image_transport publishes it (vag_capture '
     'input_transport, vag_recorder camera_transport).' + _unset(_CAPTURE.input_transport)),
    ('joint_states_topic', NOT_GIVEN,
     'sensor_msgs/JointState topic of the arm, for every node that reads it (generator, '
     'replay, recorder; the mock arm and robot_state_publisher with use_sim).'
     + _unset(_REPLAY.joint_states_topic)),
    ('use_sim', 'false', 'true: the embedded MuJoCo world stands in for camera and arm.'),
    ('dry_run', NOT_GIVEN, 'true: validate trajectories but never command the arm.'
     + _unset(str(_REPLAY.dry_run).lower())),
    ('controller', NOT_GIVEN, 'Name of the ros2_control controller to command (the mock arm '
     'listens on it with use_sim).' + _unset(_REPLAY.controller)),
    ('controller_mode', NOT_GIVEN,
     'joint_trajectory (JointTrajectoryController topic), forward_position (streamed '
     'Float64MultiArray) or follow_joint_trajectory (action; needs control_msgs).'
     + _unset(_REPLAY.controller_mode)),
    ('safety_file', NOT_GIVEN, "vag_replay's limits: a SafetyConfig YAML (velocity, "
     "acceleration, start tolerance...)." + _unset("the package's config/safety.yaml")),
    ('preview', 'true', 'Publish the ghost robot and end-effector path for RViz.'),
    ('rviz', 'false', 'Start RViz with config/vag_preview.rviz.'),
    ('record_dir', '', 'Write one MCAP bag per generated episode here; empty = off.'),
    ('params_file', str(SHARE / 'config' / 'vag_ros.yaml'),
     'Node parameters (node: ros__parameters:); the arguments above that are given override '
     'it, those not given leave its values in force.'),
    ('robot_description', NOT_GIVEN,
     'URDF of the arm (joint names, limits, kinematics) for generator, replay, preview and '
     'recorder; it must be the robot the checkpoint was trained for (another is refused). '
     'Not given: the params_file urdf, else the robot.urdf the checkpoint (or engine_dir) '
     "carries, else the package's config/robot/vag_arm.urdf."),
)


# seconds a node gets between SIGINT/SIGTERM and SIGKILL (launch's default: 5)
SHUTDOWN_TIMEOUT_S = {'vag_recorder': 30, 'vag_replay': 10}


def _true(value: str) -> bool:
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def _given(value: str):
    return None if value == NOT_GIVEN else value


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    specs = generate_and_replay(
        checkpoint=_given(arg['checkpoint']), backend=_given(arg['backend']),
        engine_dir=_given(arg['engine_dir']), camera_topic=arg['camera_topic'],
        camera_transport=_given(arg['camera_transport']),
        joint_states_topic=_given(arg['joint_states_topic']),
        sim=_true(arg['use_sim']),
        dry_run=None if arg['dry_run'] == NOT_GIVEN else _true(arg['dry_run']),
        controller=_given(arg['controller']),
        controller_mode=_given(arg['controller_mode']),
        safety_file=_given(arg['safety_file']),
        preview=_true(arg['preview']), record_dir=arg['record_dir'],
        params_file=arg['params_file'], urdf=_given(arg['robot_description']))
    actions = []
    for spec in specs:
        kind = LifecycleNode if spec.lifecycle else Node
        actions.append(kind(
            package='vag_ros', executable=spec.executable, name=spec.name, namespace='',
            parameters=[spec.parameter_dict()], remappings=list(spec.remappings),
            output='screen',
            # on Ctrl-C the recorder writes every open episode, the replay brakes the arm:
            # more time than launch's default 5 s before SIGKILL
            sigterm_timeout=str(SHUTDOWN_TIMEOUT_S.get(spec.name, 5))))
    urdf = Path(robot_urdf(specs) or SHARE / 'config' / 'robot' / 'vag_arm.urdf').read_text()
    root = parse_robot_description(urdf).root_link  # the ghost and RViz hang under it
    if _true(arg['use_sim']):  # a real robot publishes its own robot_description and TF
        joint_states = _given(arg['joint_states_topic'])
        actions.append(Node(package='robot_state_publisher', executable='robot_state_publisher',
                            parameters=[{'robot_description': urdf}], output='screen',
                            remappings=[('joint_states', joint_states)] if joint_states
                            else []))
    if _true(arg['preview']):  # the ghost: the predicted motion, drawn under ghost/
        actions += [
            Node(package='robot_state_publisher', executable='robot_state_publisher',
                 name='ghost_state_publisher', output='screen',
                 parameters=[{'robot_description': urdf, 'frame_prefix': 'ghost/'}],
                 remappings=[('joint_states', '/vag/preview/joint_states'),
                             ('robot_description', 'ghost_robot_description')]),
            Node(package='tf2_ros', executable='static_transform_publisher',
                 arguments=['--frame-id', root, '--child-frame-id', f'ghost/{root}']),
        ]
    if _true(arg['rviz']):
        actions.append(Node(package='rviz2', executable='rviz2', output='screen',
                            arguments=['-d', str(SHARE / 'config' / 'vag_preview.rviz'),
                                       '--fixed-frame', root]))
    return actions


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
