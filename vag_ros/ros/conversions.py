"""Messages <-> numpy: Image, CompressedImage, JointTrajectory, JointState, Duration, Time."""

import io
import re
import typing

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vag_ros.errors import VagError

try:  # ROS 2 installs ship the real cv_bridge; PyPI's port needs cv2, often absent
    from cv_bridge import CvBridge as _CvBridge
    import cv2 as _cv2  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    _CvBridge = None


COLOUR_ENCODINGS = ('rgb8', 'bgr8')
# CompressedImage.format compressions decoded here (image_transport's compressed transport)
COMPRESSED_FORMATS = ('jpeg', 'png')
_MAGIC = {'jpeg': b'\xff\xd8\xff', 'png': b'\x89PNG\r\n\x1a\n'}


class ConversionError(VagError, ValueError):
    """A message does not hold what its fields claim (encoding, size, step, lengths)."""


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


# --- images -----------------------------------------------------------------------------

# sensor_msgs/image_encodings read here without cv_bridge: channel order, bytes per channel
RAW_LAYOUTS = {
    'rgb8': ('rgb', 1), 'bgr8': ('bgr', 1), 'rgba8': ('rgba', 1), 'bgra8': ('bgra', 1),
    'mono8': ('l', 1), 'rgb16': ('rgb', 2), 'bgr16': ('bgr', 2), 'rgba16': ('rgba', 2),
    'bgra16': ('bgra', 2), 'mono16': ('l', 2)}
# 4:2:2 YUV, two pixels in 4 bytes: 'yuv422' is UYVY in ROS, 'yuv422_yuy2' is YUYV
YUV422_LAYOUTS = {'yuv422': 'uyvy', 'uyvy': 'uyvy', 'yuv422_yuy2': 'yuyv', 'yuyv': 'yuyv'}
# one-channel numeric encodings: depth or range images, not a picture of the scene
DEPTH_ENCODINGS = ('16UC1', '16SC1', '32FC1', '32SC1', '64FC1')


def image_to_numpy(msg: Image, encoding: str = 'rgb8') -> np.ndarray:
    """Image -> (H, W, 3) uint8 in ``encoding`` ('rgb8' or 'bgr8'); rows may be padded.

    8- and 16-bit RGB(A)/BGR(A)/mono and 4:2:2 YUV are read here; other encodings (Bayer)
    go through cv_bridge where it is installed. 16-bit values are scaled to 8 bits.
    """
    if encoding not in COLOUR_ENCODINGS:
        raise ConversionError(f'image: output encoding {encoding!r} not in {COLOUR_ENCODINGS}')
    if msg.encoding in DEPTH_ENCODINGS:
        raise ConversionError(f'image: encoding {msg.encoding!r} is a depth or range image; '
                              'the model needs the colour camera topic')
    if msg.encoding not in RAW_LAYOUTS and msg.encoding not in YUV422_LAYOUTS:
        if _CvBridge is not None:
            try:
                return np.ascontiguousarray(
                    _CvBridge().imgmsg_to_cv2(msg, desired_encoding=encoding))
            except Exception as exc:
                raise ConversionError(f'image: cannot convert encoding {msg.encoding!r} '
                                      f'to {encoding!r}: {exc}') from None
        raise ConversionError(f'image: encoding {msg.encoding!r} not supported; expected '
                              f'one of {sorted(RAW_LAYOUTS) + sorted(YUV422_LAYOUTS)}')
    yuv = YUV422_LAYOUTS.get(msg.encoding)
    order, depth = RAW_LAYOUTS.get(msg.encoding, (None, 1))
    pixel_bytes = 2 if yuv else len(order) * depth
    rows = _image_rows(msg, pixel_bytes)  # (H, W * pixel_bytes) uint8
    height, width = rows.shape[0], int(msg.width)
    if yuv:
        rgb = _yuv422_to_rgb(rows.reshape(height, width // 2, 4), yuv)
    else:
        if depth == 2:
            values = rows.view('>u2' if msg.is_bigendian else '<u2').astype(np.uint32)
            rows = ((values * 255 + 32767) // 65535).astype(np.uint8)  # rounded to 8 bits
        rgb = _rgb(rows.reshape(height, width, len(order)), order[:3])  # grey, alpha
    if encoding == 'bgr8':
        rgb = rgb[:, :, ::-1]
    return np.array(rgb, dtype=np.uint8, order='C')  # a writable copy, not the message


def _image_rows(msg: Image, pixel_bytes: int) -> np.ndarray:
    """The checked pixel bytes of an Image, row padding dropped: (H, W * pixel_bytes)."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height < 1 or width < 1:
        raise ConversionError(f'image: empty size {width}x{height}')
    if msg.encoding in YUV422_LAYOUTS and width % 2:
        raise ConversionError(f'image: {msg.encoding} needs an even width, got {width}')
    if step < pixel_bytes * width:
        raise ConversionError(f'image: step {step} < {pixel_bytes} * width = '
                              f'{pixel_bytes * width}')
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8) if not isinstance(
        msg.data, np.ndarray) else np.asarray(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ConversionError(f'image: {data.size} data bytes, expected step * height = '
                              f'{step} * {height} = {step * height}')
    return np.ascontiguousarray(data.reshape(height, step)[:, :pixel_bytes * width])


def _yuv422_to_rgb(quads: np.ndarray, layout: str) -> np.ndarray:
    """(H, W/2, 4) UYVY or YUYV bytes -> (H, W, 3) uint8 RGB (BT.601, video range, as
    OpenCV's COLOR_YUV2RGB_UYVY / _YUY2)."""
    q = quads.astype(np.float32)
    if layout == 'uyvy':
        u, y0, v, y1 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    else:
        y0, u, y1, v = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    y = np.stack([y0, y1], axis=-1).reshape(q.shape[0], -1) - 16.0  # (H, W)
    u = np.repeat(u, 2, axis=1) - 128.0
    v = np.repeat(v, 2, axis=1) - 128.0
    rgb = np.stack([1.164 * y + 1.596 * v,
                    1.164 * y - 0.391 * u - 0.813 * v,
                    1.164 * y + 2.018 * u], axis=-1)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


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


def compressed_format(fmt: str) -> str:
    """The compression a CompressedImage ``format`` names: 'jpeg', 'png' or '' (not given).

    Accepts image_transport's spellings ('jpeg', 'png', 'rgb8; jpeg compressed bgr8', ...).
    """
    words = set(re.split(r'[;\s]+', str(fmt).strip().lower())) - {''}
    if not words:
        return ''
    if 'compresseddepth' not in words:
        for name, aliases in (('jpeg', {'jpeg', 'jpg'}), ('png', {'png'})):
            if words & aliases:
                return name
    raise ConversionError(f'format {fmt!r} not supported; expected one of '
                          f'{COMPRESSED_FORMATS} (image_transport "compressed")')


def _rgb(array: np.ndarray, order: str) -> np.ndarray:
    """Decoded (H, W) or (H, W, 1|2|3|4) 8-bit pixels in ``order`` -> (H, W, 3) rgb8."""
    if array.dtype != np.uint8:
        raise ConversionError(f'{array.dtype} pixels; only 8-bit images are supported')
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or min(array.shape[:2]) < 1:
        raise ConversionError(f'decoded to shape {array.shape}')
    if array.shape[2] <= 2:  # grey (+ alpha)
        array = np.repeat(array[:, :, :1], 3, axis=2)
    else:  # alpha dropped
        array = array[:, :, :3] if order == 'rgb' else array[:, :, 2::-1]
    return np.ascontiguousarray(array)


def _decode_cv_bridge(msg: CompressedImage) -> np.ndarray:
    try:  # passthrough: the boost colour conversion is absent from PyPI's port
        array = _CvBridge().compressed_imgmsg_to_cv2(msg, desired_encoding='passthrough')
    except Exception as exc:
        raise ConversionError(f'cannot decode: {exc}') from None
    if array is None:  # cv2.imdecode's answer to bytes it cannot read
        raise ConversionError('cannot decode: corrupt data')
    return _rgb(np.asarray(array), 'bgr')  # (H, W, 3)


def _decode_pillow(data: bytes) -> np.ndarray:
    try:
        from PIL import Image as PilImage, UnidentifiedImageError
    except ImportError:
        raise ConversionError('decoding needs cv_bridge with OpenCV, or Pillow') from None
    try:
        with PilImage.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode not in ('1', 'L', 'LA', 'P', 'PA', 'RGB', 'RGBA', 'RGBX', 'CMYK',
                                  'YCbCr'):
                raise ConversionError(f'pixel mode {image.mode!r}; only 8-bit images are '
                                      'supported')
            return _rgb(np.asarray(image.convert('RGB')), 'rgb')  # (H, W, 3)
    except ConversionError:
        raise
    except UnidentifiedImageError:
        raise ConversionError('cannot decode: corrupt data') from None
    except Exception as exc:
        raise ConversionError(f'cannot decode: corrupt data ({exc})') from None


def compressed_to_numpy(msg: CompressedImage, encoding: str = 'rgb8') -> np.ndarray:
    """CompressedImage (JPEG or PNG) -> (H, W, 3) uint8 in ``encoding``; grey is expanded.

    Decodes with cv_bridge's ``compressed_imgmsg_to_cv2`` where cv_bridge and OpenCV import,
    else with Pillow. Bad format, empty or corrupt data: ConversionError.
    """
    if encoding not in COLOUR_ENCODINGS:
        raise ConversionError(f'image: output encoding {encoding!r} not in {COLOUR_ENCODINGS}')
    data = bytes(msg.data)
    where = f'compressed image (format {msg.format!r}, {len(data)} bytes)'
    try:
        declared = compressed_format(msg.format)
        if not data:
            raise ConversionError('empty data')
        if not any(data.startswith(magic) for magic in _MAGIC.values()):
            raise ConversionError(f'not {declared.upper() or "JPEG or PNG"} data')
        rgb = _decode_cv_bridge(msg) if _CvBridge is not None else _decode_pillow(data)
    except ConversionError as exc:
        raise ConversionError(f'{where}: {exc}') from None
    return rgb if encoding == 'rgb8' else np.ascontiguousarray(rgb[:, :, ::-1])


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
