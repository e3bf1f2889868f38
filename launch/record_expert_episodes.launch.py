"""Record expert episodes of the embedded world as rosbag2 (MCAP) bags.

    ros2 launch vag_ros record_expert_episodes.launch.py episodes:=20 out:=/data/vag_expert
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration
from launch_ros.substitutions import ExecutableInPackage


ARGUMENTS = (
    ('episodes', '10', 'Number of expert episodes to record.'),
    ('out', 'vag_episodes', 'Folder that receives one bag per episode (created if missing).'),
    ('task', 'all', 'Task family (touch, push, pick) or "all" to cycle through them.'),
    ('seed', '0', 'First seed; episode k uses seed + k.'),
)


def generate_launch_description():
    declared = [DeclareLaunchArgument(name, default_value=default, description=description)
                for name, default, description in ARGUMENTS]
    record = ExecuteProcess(
        cmd=[ExecutableInPackage(executable='vag-ros', package='vag_ros'), 'sim-record',
             '--episodes', LaunchConfiguration('episodes'), '--out', LaunchConfiguration('out'),
             '--task', LaunchConfiguration('task'), '--seed', LaunchConfiguration('seed')],
        output='screen')
    return LaunchDescription(declared + [record])
