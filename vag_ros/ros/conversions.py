"""Messages <-> numpy: Image, CompressedImage, JointTrajectory, JointState, Duration, Time."""

import io
import typing

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vag_ros.errors import ConversionError
from vag_ros.image_decoding import COLOUR_ENCODINGS, COMPRESSED_FORMATS


# --- time -------------------------------------------------------------------------------

def duration_to_seconds(duration: Duration) -> float:
    """builtin_interfaces/Duration -> seconds."""
    return duration.sec + duration.nanosec * 1e-9


def seconds_to_duration(seconds: float) -> Duration:
    """Seconds (finite, >= 0) -> builtin_interfaces/Duration, rounded to the nanosecond."""
    if not np.isfinite(seconds) or seconds < 0:
        raise ConversionError(f'duration: expected finite seconds >= 0, got {seconds!r}')
    ns = int(round(float(seconds) * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def time_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def ns_to_time(ns: int) -> Time:
    """Integer nanoseconds (>= 0) -> builtin_interfaces/Time."""
    ns = int(ns)
    if ns < 0:
        raise ConversionError(f'time: expected ns >= 0, got {ns}')
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def make_header(stamp_ns: int, frame_id: str = '') -> Header:
    """std_msgs/Header at ``stamp_ns``."""
    return Header(stamp=ns_to_time(stamp_ns), frame_id=frame_id)


# --- images (decoding: vag_ros.image_decoding) -------------------------------------------

def numpy_to_image(array: np.ndarray, encoding: str = 'rgb8', stamp_ns: int = 0,
                   frame_id: str = '') -> Image:
    """(H, W, 3) uint8 in ``encoding`` -> Image with a tight step."""
    if encoding not in COLOUR_ENCODINGS:
        raise ConversionError(f'image: encoding {encoding!r} not in {COLOUR_ENCODINGS}')
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3 \
            or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ConversionError(
            'image: expected a non-empty (H, W, 3) uint8 array, got '
            f'{getattr(array, "shape", None)} {getattr(array, "dtype", type(array).__name__)}')
    height, width = array.shape[:2]
    msg = Image(header=make_header(stamp_ns, frame_id), height=height, width=width,
                encoding=encoding, is_bigendian=0, step=3 * width)
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def numpy_to_compressed(array: np.ndarray, fmt: str = 'jpeg', encoding: str = 'rgb8',
                        stamp_ns: int = 0, frame_id: str = '',
                        quality: int = 95) -> CompressedImage:
    """(H, W, 3) uint8 in ``encoding`` -> CompressedImage ('jpeg' or 'png'), with Pillow."""
    from PIL import Image as PilImage
    if fmt not in COMPRESSED_FORMATS:
        raise ConversionError(f'compressed image: format {fmt!r} not in {COMPRESSED_FORMATS}')
    numpy_to_image(array, encoding)  # checks: a non-empty (H, W, 3) uint8 array
    rgb = np.ascontiguousarray(array if encoding == 'rgb8' else array[:, :, ::-1])
    buffer = io.BytesIO()
    PilImage.fromarray(rgb).save(buffer, format=fmt.upper(), quality=quality)
    msg = CompressedImage(header=make_header(stamp_ns, frame_id), format=fmt)
    msg.data = buffer.getvalue()
    return msg


# --- joints -----------------------------------------------------------------------------

def trajectory_to_arrays(msg: JointTrajectory
                         ) -> typing.Tuple[typing.Tuple[str, ...], np.ndarray, np.ndarray]:
    """JointTrajectory -> (names, times (T,) s, positions (T, D)); ragged points raise."""
    names = tuple(msg.joint_names)
    times = np.array([duration_to_seconds(p.time_from_start) for p in msg.points])  # (T,)
    positions = np.zeros((len(msg.points), len(names)))  # (T, D)
    for k, point in enumerate(msg.points):
        if len(point.positions) != len(names):
            raise ConversionError(f'trajectory point {k}: {len(point.positions)} positions '
                                  f'for {len(names)} joint names')
        positions[k] = point.positions
    return names, times, positions


def arrays_to_trajectory(names: typing.Sequence[str], times, positions, stamp_ns: int = 0,
                         frame_id: str = '', velocities=None) -> JointTrajectory:
    """(names, times (T,) s, positions (T, D)[, velocities (T, D)]) -> JointTrajectory.

    With velocities, a joint_trajectory_controller interpolates cubic Hermite segments,
    the same curve as ``TrajectoryInterpolator`` through these points.
    """
    times = np.asarray(times, dtype=float)
    positions = np.asarray(positions, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != len(names) \
            or times.shape != (positions.shape[0],):
        raise ConversionError(f'trajectory: positions {positions.shape} and times '
                              f'{times.shape} do not fit {len(names)} joint names')
    if velocities is not None and np.shape(velocities) != positions.shape:
        raise ConversionError(f'trajectory: velocities {np.shape(velocities)} do not match '
                              f'positions {positions.shape}')
    msg = JointTrajectory(header=make_header(stamp_ns, frame_id), joint_names=list(names))
    msg.points = [JointTrajectoryPoint(positions=[float(v) for v in row],
                                       time_from_start=seconds_to_duration(t))
                  for t, row in zip(times, positions)]
    if velocities is not None:
        for point, row in zip(msg.points, np.asarray(velocities, dtype=float)):
            point.velocities = [float(v) for v in row]
    return msg


def make_joint_state(names: typing.Sequence[str], positions, stamp_ns: int = 0,
                     velocities=None) -> JointState:
    """(names, positions (D,)) -> JointState."""
    positions = [float(v) for v in np.asarray(positions, dtype=float).reshape(-1)]
    if len(positions) != len(names):
        raise ConversionError(f'joint state: {len(positions)} positions for {len(names)} names')
    msg = JointState(header=make_header(stamp_ns), name=list(names), position=positions)
    if velocities is not None:
        msg.velocity = [float(v) for v in np.asarray(velocities, dtype=float).reshape(-1)]
    return msg


def joint_state_to_dict(msg: JointState) -> typing.Dict[str, float]:
    """JointState -> {name: position}; lengths must match."""
    if len(msg.position) != len(msg.name):
        raise ConversionError(f'joint state: {len(msg.position)} positions for '
                              f'{len(msg.name)} names')
    return {name: float(p) for name, p in zip(msg.name, msg.position)}
