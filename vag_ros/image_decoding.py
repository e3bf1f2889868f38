"""Camera messages -> numpy (H, W, 3) uint8, without ROS message packages: a sensor_msgs
Image or CompressedImage from rclpy, or the same message deserialized from a bag by rosbags
(ingest), read by its fields (encoding, height, width, step, is_bigendian, data; format)."""

import io
import re

import numpy as np

from vag_ros.errors import ConversionError

try:  # ROS 2 installs ship the real cv_bridge; PyPI's port needs cv2, often absent
    from cv_bridge import CvBridge as _CvBridge
    import cv2 as _cv2  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    _CvBridge = None


COLOUR_ENCODINGS = ('rgb8', 'bgr8')
# CompressedImage.format compressions decoded here (image_transport's compressed transport)
COMPRESSED_FORMATS = ('jpeg', 'png')
_MAGIC = {'jpeg': b'\xff\xd8\xff', 'png': b'\x89PNG\r\n\x1a\n'}


# sensor_msgs/image_encodings read here without cv_bridge: channel order, bytes per channel
RAW_LAYOUTS = {
    'rgb8': ('rgb', 1), 'bgr8': ('bgr', 1), 'rgba8': ('rgba', 1), 'bgra8': ('bgra', 1),
    'mono8': ('l', 1), 'rgb16': ('rgb', 2), 'bgr16': ('bgr', 2), 'rgba16': ('rgba', 2),
    'bgra16': ('bgra', 2), 'mono16': ('l', 2)}
# 4:2:2 YUV, two pixels in 4 bytes: 'yuv422' is UYVY in ROS, 'yuv422_yuy2' is YUYV
YUV422_LAYOUTS = {'yuv422': 'uyvy', 'uyvy': 'uyvy', 'yuv422_yuy2': 'yuyv', 'yuyv': 'yuyv'}
# one-channel numeric encodings: depth or range images, not a picture of the scene
DEPTH_ENCODINGS = ('16UC1', '16SC1', '32FC1', '32SC1', '64FC1')


def image_to_numpy(msg, encoding: str = 'rgb8') -> np.ndarray:
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


def _image_rows(msg, pixel_bytes: int) -> np.ndarray:
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


def _decode_cv_bridge(msg) -> np.ndarray:
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


def compressed_to_numpy(msg, encoding: str = 'rgb8') -> np.ndarray:
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
