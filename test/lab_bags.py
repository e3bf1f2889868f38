"""Episode bags of a lab's own arm (joint names that are not the package robot's)."""

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import get_typestore, Stores

from vag_ros.episodes.bag_writer import write_episode
from vag_ros.episodes.episode import Episode, EpisodeMetadata
from vag_ros.robot.description import load_robot_description

LAB_URDF = Path(__file__).resolve().parent / 'data' / 'lab_arm.urdf'   # 6 joints

LAB_JOINTS = ('shoulder_pan', 'shoulder_lift', 'elbow', 'wrist', 'gripper')


def lab_episode(k: int, steps: int = 3, frame_rate: float = 15.0,
                joint_names=LAB_JOINTS, size=(8, 12)) -> Episode:
    """A tiny episode: frames (T, H, W, 3) of ``size`` (H, W) whose pixels say frame and
    episode, joints (T, D) random in [-1, 1]."""
    rng = np.random.default_rng(k)
    joints = rng.uniform(-1, 1, (steps, len(joint_names)))            # (T, D)
    frames = np.zeros((steps, *size, 3), np.uint8)                     # (T, H, W, 3)
    frames[..., 0] = 10 * k
    frames[..., 1] = 20 * np.arange(steps)[:, None, None]
    return Episode(frames, joints, joints.copy(), EpisodeMetadata(
        task='teleop', seed=k, success=True, robot='lab_arm', joint_names=tuple(joint_names),
        frame_rate=frame_rate, source='teleop', instruction=f'task {k}'))


def lab_bags(folder: Path, count: int, **kwargs) -> Path:
    """``count`` bags session<k>_ep000 in ``folder`` and an ingest report (not a bag)."""
    for k in range(count):
        write_episode(lab_episode(k, **kwargs), folder, f'session{k}_ep000')
    (folder / 'ingest_report.json').write_text('{}\n')
    return folder


STORE = get_typestore(Stores.ROS2_HUMBLE)
CAMERA = '/wrist_camera/color/image_raw'


def _header(t):
    ns = int(round(t * 1e9))
    return STORE.types['std_msgs/msg/Header'](
        stamp=STORE.types['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
        frame_id='wrist_camera')


def write_lab_recording(path: Path, seed: int, instruction: str, description: bool = True,
                        duration: float = 2.0, state_clock=lambda t: t) -> None:
    """What the lab's own `ros2 bag record -a` writes: a 15 Hz rgb8 wrist camera, 100 Hz
    /joint_states of lab_arm (joint order of its driver), /robot_description and /task.
    ``state_clock``: /joint_states' header stamp of time t [s] (a driver's own clock)."""
    robot = load_robot_description(LAB_URDF)
    rng = np.random.default_rng(seed)
    messages = []
    if description:
        messages.append((0.0, '/robot_description', 'std_msgs/msg/String',
                         STORE.types['std_msgs/msg/String'](data=robot.urdf)))
    messages.append((0.01, '/task', 'std_msgs/msg/String',
                     STORE.types['std_msgs/msg/String'](data=instruction)))
    for k, t in enumerate(np.arange(0.0, duration, 1 / 15)):
        rgb = np.zeros((48, 64, 3), np.uint8)
        rgb[..., 0] = (40 * seed) % 256
        rgb[:, (k * 3) % 64, 1] = 255   # something that moves
        messages.append((t + 0.004, CAMERA, 'sensor_msgs/msg/Image',
                         STORE.types['sensor_msgs/msg/Image'](
                             header=_header(t), height=48, width=64, encoding='rgb8',
                             is_bigendian=0, step=3 * 64, data=rgb.reshape(-1))))
    phase = rng.uniform(0, 1, robot.dof)
    order = [2, 0, 1, 5, 3, 4]   # the driver's order, not the URDF's
    for t in np.arange(0.0, duration, 1 / 100):
        q = 0.3 * np.sin(t + phase)
        q[-1] = 0.01 + 0.01 * np.sin(t)   # gripper finger [m]
        messages.append((t + 0.001, '/joint_states', 'sensor_msgs/msg/JointState',
                         STORE.types['sensor_msgs/msg/JointState'](
                             header=_header(state_clock(t)),
                             name=[robot.joint_names[i] for i in order],
                             position=q[order], velocity=np.zeros(0), effort=np.zeros(0))))
    messages.sort(key=lambda m: m[0])
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for receive, topic, msgtype, msg in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=STORE)
            writer.write(connections[topic], int(round(receive * 1e9)),
                         STORE.serialize_cdr(msg, msgtype))
