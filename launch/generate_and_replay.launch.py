"""The robot-side graph: capture -> generate -> preview -> replay (-> record).

    ros2 launch vag_ros generate_and_replay.launch.py checkpoint:=/path/to/checkpoint \\
        camera_topic:=/camera/color/image_raw controller:=arm_controller

The nodes come from vag_ros.ros.graph, the same description ``vag-ros demo`` starts.
Replay is dry-run unless dry_run:=false, and even then moves only after arm + execute.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from vag_ros.ros.graph import generate_and_replay


ARGUMENTS = (
    ('checkpoint', '', 'VAG checkpoint folder (model.safetensors + config.yaml).'),
    ('camera_topic', '/camera/image_raw', 'sensor_msgs/Image topic of the robot camera.'),
    ('use_sim', 'false', 'true: the embedded MuJoCo world stands in for camera and arm.'),
    ('dry_run', 'true', 'true: validate trajectories but never command the arm.'),
    ('controller', 'arm_controller', 'Name of the ros2_control controller to command.'),
    ('controller_mode', 'joint_trajectory',
     'joint_trajectory (JointTrajectoryController topic) or forward_position (streamed).'),
    ('preview', 'true', 'Publish the ghost robot and end-effector path for RViz.'),
    ('record_dir', '', 'Write one MCAP bag per generated episode here; empty = off.'),
)


def _true(value: str) -> bool:
    return value.strip().lower() in ('1', 'true', 'yes', 'on')


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    specs = generate_and_replay(
        checkpoint=arg['checkpoint'], camera_topic=arg['camera_topic'],
        sim=_true(arg['use_sim']), dry_run=_true(arg['dry_run']),
        controller=arg['controller'], controller_mode=arg['controller_mode'],
        preview=_true(arg['preview']), record_dir=arg['record_dir'])
    actions = []
    for spec in specs:
        kind = LifecycleNode if spec.lifecycle else Node
        actions.append(kind(
            package='vag_ros', executable=spec.executable, name=spec.name, namespace='',
            parameters=[spec.parameter_dict()], remappings=list(spec.remappings),
            output='screen'))
    return actions


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in ARGUMENTS]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes)])
