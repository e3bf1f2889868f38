"""A synthetic teleoperation recording for the ingest benchmark, written with rosbags.

A JPEG camera (sensor_msgs/CompressedImage) at 30 Hz and /joint_states at 200 Hz of the
robot's joints moving smoothly, ``minutes`` long, into an MCAP bag: what a lab's
`ros2 bag record` of a teleoperation session looks like, minus the lab.
"""

import io
from pathlib import Path
import typing

import numpy as np


def write_synthetic_bag(path: typing.Union[str, Path], joint_names: typing.Sequence[str],
                        minutes: float = 10.0, width: int = 640, height: int = 480,
                        camera_hz: float = 30.0, joints_hz: float = 200.0,
                        instruction: str = 'tidy up the table', robot_urdf: str = '',
                        limits: typing.Optional[typing.Tuple[np.ndarray, np.ndarray]] = None
                        ) -> dict:
    """Write the bag (with ``robot_urdf`` on /robot_description, as robot_state_publisher
    publishes it, when given); {'camera': frames written, 'joint_states': messages}. The
    joints swing about the middle of their ``limits`` (lower, upper), inside them."""
    from PIL import Image as PilImage
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types

    def header(ns):
        return types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](
            sec=ns // 10**9, nanosec=ns % 10**9), frame_id='camera')

    duration_ns = int(minutes * 60e9)
    cam_step, js_step = int(1e9 / camera_hz), int(1e9 / joints_hz)
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    counts = {'camera': 0, 'joint_states': 0}
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        writer.set_custom_data('instruction', instruction)
        if robot_urdf:
            described = writer.add_connection('/robot_description', 'std_msgs/msg/String',
                                              typestore=store)
            writer.write(described, 0, store.serialize_cdr(
                types['std_msgs/msg/String'](data=robot_urdf), 'std_msgs/msg/String'))
        camera = writer.add_connection('/camera/image_raw/compressed',
                                       'sensor_msgs/msg/CompressedImage', typestore=store)
        joints = writer.add_connection('/joint_states', 'sensor_msgs/msg/JointState',
                                       typestore=store)
        next_cam = 0
        dof = len(joint_names)
        middle, swing = np.zeros(dof), np.full(dof, 0.3)   # (D,)
        if limits is not None:
            lower, upper = (np.asarray(v, float) for v in limits)
            limited = upper > lower
            middle = np.where(limited, (lower + upper) / 2, 0.0)
            swing = np.where(limited, np.minimum(0.3, 0.4 * (upper - lower)), 0.3)
        for ns in range(0, duration_ns, js_step):
            t = ns * 1e-9
            q = middle + swing * np.sin(0.5 * t + np.arange(dof))
            msg = types['sensor_msgs/msg/JointState'](
                header=header(ns), name=list(joint_names), position=q,
                velocity=np.zeros(0), effort=np.zeros(0))
            writer.write(joints, ns, store.serialize_cdr(msg, 'sensor_msgs/msg/JointState'))
            counts['joint_states'] += 1
            if ns >= next_cam:
                frame = np.stack([(x + int(40 * t)) % 256, (y * 2) % 256,
                                  np.full_like(x, int(128 + 100 * np.sin(t)))], -1)
                frame = np.clip(frame + rng.normal(0, 2, frame.shape), 0, 255)
                buffer = io.BytesIO()
                PilImage.fromarray(frame.astype(np.uint8)).save(buffer, format='JPEG',
                                                                quality=90)
                image = types['sensor_msgs/msg/CompressedImage'](
                    header=header(ns), format='rgb8; jpeg compressed bgr8',
                    data=np.frombuffer(buffer.getvalue(), np.uint8))
                writer.write(camera, ns + 3_000_000,
                             store.serialize_cdr(image, 'sensor_msgs/msg/CompressedImage'))
                counts['camera'] += 1
                next_cam += cam_step
    return counts
