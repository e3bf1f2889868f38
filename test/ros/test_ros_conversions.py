"""Conversions and parameter mapping (rclpy messages; one node for parameters)."""

import numpy as np
import pytest
from rclpy.parameter import Parameter

from sensor_msgs.msg import CompressedImage, Image  # noqa: I100

from vag_ros.errors import ConfigError
from vag_ros import frame_geometry as fg
from vag_ros import image_decoding as decode
from vag_ros.ros import conversions as cv
from vag_ros.ros.configs import CaptureNodeConfig, GeneratorNodeConfig, MockArmConfig, \
    ReplayNodeConfig
from vag_ros.ros.parameters import config_to_parameters, declare_config

pytestmark = pytest.mark.ros


def _frame(h=5, w=7):
    return np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_round_trip_rgb_and_bgr():
    frame = _frame()
    msg = cv.numpy_to_image(frame, 'rgb8', stamp_ns=3_000_000_007, frame_id='cam')
    assert (msg.height, msg.width, msg.step, msg.encoding) == (5, 7, 21, 'rgb8')
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (3, 7)
    out = decode.image_to_numpy(msg)
    assert out.dtype == np.uint8 and np.array_equal(out, frame) and out.flags.writeable
    assert np.array_equal(decode.image_to_numpy(msg, 'bgr8'), frame[:, :, ::-1])
    bgr = cv.numpy_to_image(frame[:, :, ::-1].copy(), 'bgr8')
    assert np.array_equal(decode.image_to_numpy(bgr, 'rgb8'), frame)


def test_image_with_padded_rows():
    frame = _frame()
    padded = np.zeros((5, 24), np.uint8)
    padded[:, :21] = frame.reshape(5, 21)
    msg = Image(height=5, width=7, encoding='rgb8', step=24, data=padded.tobytes())
    assert np.array_equal(decode.image_to_numpy(msg), frame)


@pytest.mark.parametrize('change, match', [
    ({'encoding': 'xyz12'}, "encoding 'xyz12'"),
    ({'encoding': '32FC1'}, 'depth or range image'),
    ({'step': 20}, 'step 20 < 3 \\* width = 21'),
    ({'height': 6}, 'expected step \\* height'),
    ({'width': 0}, 'empty size'),
])
def test_image_errors_name_the_problem(change, match):
    msg = cv.numpy_to_image(_frame())
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(cv.ConversionError, match=match):
        decode.image_to_numpy(msg)


def _raw(values: np.ndarray, encoding: str, big_endian: bool = False, pad: int = 0) -> Image:
    """An Image holding ``values`` (H, W[, C]) as ``encoding`` with ``pad`` bytes per row."""
    h, w = values.shape[:2]
    data = values.astype(values.dtype.newbyteorder('>' if big_endian else '<'))
    rows = data.reshape(h, -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((h, pad), np.uint8)], axis=1)
    return Image(height=h, width=w, encoding=encoding, is_bigendian=int(big_endian),
                 step=rows.shape[1], data=rows.tobytes())


def test_four_channel_and_grey_encodings_are_read_without_cv_bridge(monkeypatch):
    monkeypatch.setattr(decode, '_CvBridge', None)
    frame = _frame()
    alpha = np.full((5, 7, 1), 9, np.uint8)
    rgba = _raw(np.concatenate([frame, alpha], 2), 'rgba8', pad=3)
    assert np.array_equal(decode.image_to_numpy(rgba), frame)
    bgra = np.concatenate([frame[:, :, ::-1], alpha], 2)
    assert np.array_equal(decode.image_to_numpy(_raw(bgra, 'bgra8')), frame)
    grey = frame[:, :, 0]
    assert np.array_equal(decode.image_to_numpy(_raw(grey, 'mono8'), 'bgr8'),
                          np.repeat(grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize('big_endian', [False, True])
def test_sixteen_bit_encodings_are_scaled_to_eight_bits(big_endian):
    frame = _frame().astype(np.uint16)
    wide = frame * 257  # 8-bit k is 16-bit 257 k: exactly k again
    got = decode.image_to_numpy(_raw(wide, 'rgb16', big_endian, pad=2))
    assert np.array_equal(got, frame.astype(np.uint8))
    got = decode.image_to_numpy(_raw(wide[:, :, ::-1].copy(), 'bgr16', big_endian))
    assert np.array_equal(got, frame.astype(np.uint8))
    ramp = np.array([[0, 128, 129, 65535]], np.uint16)
    got = decode.image_to_numpy(_raw(ramp, 'mono16', big_endian))[0, :, 0]
    assert got.tolist() == [0, 0, 1, 255]


@pytest.mark.parametrize('encoding, order', [('yuv422', (1, 0, 3, 2)),
                                             ('yuv422_yuy2', (0, 1, 2, 3))])
def test_yuv422_matches_opencv(encoding, order):
    """UYVY ('yuv422' in ROS) and YUYV, against OpenCV's own conversion."""
    cv2 = pytest.importorskip('cv2')
    rng = np.random.default_rng(3)
    quads = rng.integers(16, 240, (4, 3, 4), dtype=np.uint8)  # (H, W/2, 4): Y0 U Y1 V
    quads = quads[:, :, order]  # the encoding's byte order
    msg = _raw(quads.reshape(4, 12), encoding, pad=4)
    msg.width = 6
    code = cv2.COLOR_YUV2RGB_UYVY if encoding == 'yuv422' else cv2.COLOR_YUV2RGB_YUY2
    want = cv2.cvtColor(quads.reshape(4, 6, 2), code)
    got = decode.image_to_numpy(msg)
    assert got.shape == (4, 6, 3)
    assert int(np.abs(got.astype(int) - want.astype(int)).max()) <= 2
    msg.width, msg.step = 5, 10
    with pytest.raises(cv.ConversionError, match='even width'):
        decode.image_to_numpy(msg)


def test_numpy_to_image_rejects_wrong_arrays():
    with pytest.raises(cv.ConversionError, match='uint8'):
        cv.numpy_to_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(cv.ConversionError, match='uint8'):
        cv.numpy_to_image(np.zeros((4, 4), np.uint8))


@pytest.fixture(params=['cv_bridge', 'pillow'])
def decoder(request, monkeypatch):
    """Decode compressed images with cv_bridge (where it and OpenCV import) or Pillow."""
    pytest.importorskip('PIL')
    if request.param == 'cv_bridge' and decode._CvBridge is None:
        pytest.skip('cv_bridge with OpenCV is not installed')
    if request.param == 'pillow':
        monkeypatch.setattr(decode, '_CvBridge', None)
    return request.param


def _smooth(h=24, w=32):
    """A smooth (H, W, 3) frame: JPEG keeps it within a few grey levels."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([8 * x, 10 * y, 120 + 2 * (x + y)], axis=2).astype(np.uint8)


def _compressed(data: bytes, fmt: str = 'jpeg') -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.data = data
    return msg


def test_compressed_round_trip_jpeg_and_png(decoder):
    frame = _smooth()
    png = cv.numpy_to_compressed(frame, 'png', stamp_ns=5, frame_id='cam')
    assert png.format == 'png' and png.header.frame_id == 'cam' and png.header.stamp.nanosec == 5
    assert np.array_equal(decode.compressed_to_numpy(png), frame)
    assert np.array_equal(decode.compressed_to_numpy(png, 'bgr8'), frame[:, :, ::-1])
    bgr_in = cv.numpy_to_compressed(frame[:, :, ::-1].copy(), 'png', encoding='bgr8')
    assert np.array_equal(decode.compressed_to_numpy(bgr_in), frame)
    out = decode.compressed_to_numpy(cv.numpy_to_compressed(frame, 'jpeg'))  # (H, W, 3)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).mean() < 3.0  # lossy


def test_compressed_grey_and_alpha_become_rgb(decoder):
    import io
    from PIL import Image as PilImage
    frame = _smooth()
    for array, expected in ((frame[:, :, 0], np.repeat(frame[:, :, :1], 3, axis=2)),
                            (np.dstack([frame, np.full(frame.shape[:2], 9, np.uint8)]), frame)):
        buffer = io.BytesIO()
        PilImage.fromarray(array).save(buffer, format='PNG')
        out = decode.compressed_to_numpy(_compressed(buffer.getvalue(), 'png'))
        assert np.array_equal(out, expected)


@pytest.mark.parametrize('fmt, expected', [
    ('jpeg', 'jpeg'), ('JPG', 'jpeg'), ('png', 'png'), ('', ''),
    ('rgb8; jpeg compressed bgr8', 'jpeg'), ('bgr8; png compressed bgr8', 'png'),
    ('mono8; jpeg compressed mono8', 'jpeg')])
def test_compressed_format_follows_image_transport(fmt, expected):
    assert decode.compressed_format(fmt) == expected


@pytest.mark.parametrize('fmt, data, match', [
    ('jpeg', b'', 'empty data'),
    ('jpeg', b'GIF89a not a jpeg', 'not JPEG data'),
    ('', b'BM bitmap', 'not JPEG or PNG data'),
    ('jpeg', b'\xff\xd8\xff' + bytes(range(256)) * 2, 'corrupt'),
    ('png', b'\x89PNG\r\n\x1a\n' + bytes(300), 'corrupt'),
    ('16UC1; compressedDepth png', b'\x89PNG\r\n\x1a\n', 'format .* not supported'),
    ('theora', b'\xff\xd8\xff', "format 'theora' not supported"),
])
def test_compressed_errors_name_the_problem(decoder, fmt, data, match):
    with pytest.raises(cv.ConversionError, match=match) as info:
        decode.compressed_to_numpy(_compressed(data, fmt))
    assert f'compressed image (format {fmt!r}, {len(data)} bytes)' in str(info.value)


def test_compressed_truncated_jpeg_is_rejected(decoder):
    data = cv.numpy_to_compressed(_smooth(48, 64), 'jpeg').data.tobytes()
    with pytest.raises(cv.ConversionError, match='corrupt'):
        decode.compressed_to_numpy(_compressed(data[:len(data) // 3]))


def test_capture_config_input_transport_and_topic():
    assert CaptureNodeConfig().subscribed_topic('/cam') == '/cam'
    compressed = CaptureNodeConfig(input_transport='compressed')
    assert compressed.subscribed_topic('/cam/image_raw') == '/cam/image_raw/compressed'
    explicit = CaptureNodeConfig(input_transport='compressed', input_topic='/jpeg')
    assert explicit.subscribed_topic('/cam/image_raw') == '/jpeg'
    with pytest.raises(ConfigError, match='input_transport'):
        CaptureNodeConfig(input_transport='theora')
    with pytest.raises(ConfigError, match='input_topic'):
        CaptureNodeConfig(input_topic='relative')


def test_capture_config_age_and_geometry():
    cfg = CaptureNodeConfig()
    assert (cfg.max_age_s, cfg.output_width, cfg.output_height) == (1.0, 0, 0)
    assert cfg.crop == 'center'
    assert not cfg.resizes and CaptureNodeConfig(output_height=64).resizes
    assert CaptureNodeConfig(max_age_s=0.0, crop='none').max_age_s == 0.0
    for kwargs, match in (({'max_age_s': -1.0}, 'max_age_s=-1.0: must be finite and >= 0'),
                          ({'max_age_s': float('inf')}, 'max_age_s'),
                          ({'max_age_s': float('nan')}, 'max_age_s'),
                          ({'output_width': -1}, 'output_width=-1'),
                          ({'output_height': -64}, 'output_height=-64'),
                          ({'output_width': 100_000}, 'output_width'),
                          ({'crop': 'left'}, "crop='left': expected one of")):
        with pytest.raises(ConfigError, match=match):
            CaptureNodeConfig(**kwargs)
    from vag_ros.config import from_dict
    with pytest.raises(ConfigError, match='output_width: expected an integer'):
        from_dict(CaptureNodeConfig, {'output_width': 64.5})
    assert from_dict(CaptureNodeConfig, {'max_age_s': 2}).max_age_s == 2.0


# --- frame geometry (pure) ----------------------------------------------------------------

def test_frame_age_check():
    s = 1_000_000_000
    now = 100 * s
    assert fg.check_frame_age(now - s // 2, now, 1.0) == pytest.approx(0.5)
    assert fg.check_frame_age(now + s // 2, now, 1.0) == pytest.approx(-0.5)  # clock skew
    for stamp, kind, match in ((now - 3 * s, 'stale', r'3\.000 s old > max_age_s 1 s \(stale'),
                               (now + 2 * s, 'future', r'stamped 2\.000 s in the future'),
                               (0, 'no_stamp', 'camera frame has no stamp')):
        with pytest.raises(fg.FrameRejected, match=match) as info:
            fg.check_frame_age(stamp, now, 1.0)
        assert info.value.kind == kind
    assert fg.check_frame_age(0, now, 0.0) == pytest.approx(100.0)  # 0: no check
    assert fg.check_frame_age(now - 3 * s, now, 0.0) == pytest.approx(3.0)


def test_crop_box_centre_and_none():
    assert fg.crop_box(640, 480, 224, 224) == (80, 0, 560, 480)      # wide: full height
    assert fg.crop_box(480, 640, 224, 224) == (0, 80, 480, 560)      # tall: full width
    assert fg.crop_box(640, 480, 320, 240) == (0, 0, 640, 480)       # same aspect: all of it
    assert fg.crop_box(640, 480, 0, 0) == (0, 0, 640, 480)           # camera size
    assert fg.crop_box(640, 480, 0, 240) == (0, 120, 640, 360)       # 0 keeps a side: 8:3
    assert fg.crop_box(61, 20, 10, 10) == (20, 0, 40, 20)            # odd margin: floor
    assert fg.crop_box(640, 480, 224, 224, 'none') == (0, 0, 640, 480)
    assert fg.output_size(640, 480, 0, 100) == (640, 100)
    with pytest.raises(fg.FrameRejected, match='crop'):
        fg.crop_box(640, 480, 224, 224, 'left')


def test_fit_frame_crops_and_resizes():
    frame = np.zeros((20, 60, 3), dtype=np.uint8)  # green | red | blue | green
    frame[:, :20, 1] = frame[:, 40:, 1] = 255
    frame[:, 20:30, 0] = 255
    frame[:, 30:40, 2] = 255
    assert fg.fit_frame(frame) is frame  # nothing to do
    square = fg.fit_frame(frame, 20, 20)  # crop only: exact
    assert np.array_equal(square, frame[:, 20:40]) and square.flags.c_contiguous
    small = fg.fit_frame(frame, 10, 10).astype(int)  # (10, 10, 3)
    assert small.shape == (10, 10, 3) and small[:, :, 1].max() == 0
    assert (small[:, :4] == [255, 0, 0]).all() and (small[:, 6:] == [0, 0, 255]).all()
    squashed = fg.fit_frame(frame, 12, 8, 'none').astype(int)  # (8, 12, 3): aspect changes
    assert squashed.shape == (8, 12, 3) and (squashed[:, :3] == [0, 255, 0]).all()
    y, x = np.mgrid[0:48, 0:64]
    smooth = np.stack([3 * x, 5 * y, 2 * (x + y)], axis=2).astype(np.uint8)  # (48, 64, 3)
    half = fg.fit_frame(smooth, 32, 24).astype(float)  # 2x down: close to a 2x2 box mean
    box = smooth.reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))
    assert np.abs(half - box)[1:-1, 1:-1].max() < 2.0
    up = fg.fit_frame(np.full((4, 4, 3), 77, dtype=np.uint8), 9, 9)
    assert up.shape == (9, 9, 3) and (up == 77).all() and up.flags.writeable
    with pytest.raises(fg.FrameRejected, match=r'\(H, W, 3\) uint8'):
        fg.fit_frame(np.zeros((4, 4), dtype=np.uint8), 2, 2)


def test_trajectory_round_trip():
    names = ['a', 'b']
    times = np.array([0.0, 0.1, 1.25])
    positions = np.arange(6.0).reshape(3, 2) / 7
    msg = cv.arrays_to_trajectory(names, times, positions, stamp_ns=10)
    assert msg.points[2].time_from_start.sec == 1
    assert msg.points[2].time_from_start.nanosec == 250_000_000
    n, t, p = cv.trajectory_to_arrays(msg)
    assert n == ('a', 'b') and np.allclose(t, times) and np.array_equal(p, positions)
    msg.points[1].positions = [1.0]
    with pytest.raises(cv.ConversionError, match='point 1: 1 positions for 2'):
        cv.trajectory_to_arrays(msg)


def test_joint_state_and_time_helpers():
    msg = cv.make_joint_state(['a', 'b'], [0.5, -1.0], stamp_ns=2_500_000_000)
    assert cv.joint_state_to_dict(msg) == {'a': 0.5, 'b': -1.0}
    assert cv.time_to_ns(msg.header.stamp) == 2_500_000_000
    assert cv.duration_to_seconds(cv.seconds_to_duration(1.5)) == 1.5
    with pytest.raises(cv.ConversionError):
        cv.seconds_to_duration(float('nan'))
    with pytest.raises(cv.ConversionError, match='2 names'):
        cv.make_joint_state(['a', 'b'], [1.0])


def test_parameters_map_onto_config_dataclasses(ros_context):
    import rclpy
    node = rclpy.create_node('param_test', context=ros_context, parameter_overrides=[
        Parameter('sim.frame_rate', value=25),  # int for a float field: accepted
        Parameter('sim.object_x_range', value=[0.3, 0.5]),
        Parameter('task', value='push')])
    try:
        cfg = declare_config(node, MockArmConfig)
        assert cfg.task == 'push' and cfg.controller == 'arm_controller'
        assert cfg.sim.frame_rate == 25.0
        assert tuple(cfg.sim.object_x_range) == (0.3, 0.5)
        assert node.get_parameter('sim.width').value == 128
        params = config_to_parameters(ReplayNodeConfig())
        assert params['safety_file'] == '' and params['dry_run'] is True
    finally:
        node.destroy_node()
    node = rclpy.create_node('param_test_bad', context=ros_context, parameter_overrides=[
        Parameter('queue_size', value='two')])
    try:
        with pytest.raises(ConfigError, match='queue_size'):
            declare_config(node, GeneratorNodeConfig)
    finally:
        node.destroy_node()


def test_declared_parameters_carry_their_description(ros_context):
    import rclpy
    from vag_ros.ros.generator_node import _autostart
    node = rclpy.create_node('param_describe_test', context=ros_context)
    try:
        declare_config(node, MockArmConfig)
        assert node.describe_parameter('sim.width').description == 'px: rendered frame width'
        assert node.describe_parameter('task').description.startswith("the world's layout")
    finally:
        node.destroy_node()

    class Lifecycle:  # what _autostart calls of the generator, on a plain node
        def __init__(self):
            self.node = rclpy.create_node('autostart_describe_test', context=ros_context)
            self.declare_parameter, self.get_parameter = (self.node.declare_parameter,
                                                          self.node.get_parameter)

        def trigger_configure(self):
            return None

    stand_in = Lifecycle()
    try:
        _autostart(stand_in)
        assert 'configure and activate' in \
            stand_in.node.describe_parameter('autostart').description
    finally:
        stand_in.node.destroy_node()


@pytest.mark.parametrize('name, ok', [
    ('arm_controller', True), ('/arm_controller', True), ('left/arm_controller', True),
    ('/left/arm_controller/', True), ('', False), ('arm controller', False),
    ('left//arm', False), ('2arm', False)])
def test_a_controller_may_sit_under_the_controller_managers_namespace(name, ok):
    if ok:
        assert ReplayNodeConfig(controller=name).controller == name
    else:
        with pytest.raises(ConfigError, match='controller'):
            ReplayNodeConfig(controller=name)


def test_the_default_controller_joints_declare_and_read_back(ros_context):
    """An empty list default is declared (no type to infer) and read back as ()."""
    import rclpy
    given = [Parameter('controller_joints', value=['j1', 'j2'])]
    for overrides, expected in (([], ()), (given, ('j1', 'j2'))):
        node = rclpy.create_node('param_test_joints', context=ros_context,
                                 parameter_overrides=overrides)
        try:
            assert declare_config(node, ReplayNodeConfig).controller_joints == expected
        finally:
            node.destroy_node()
