"""Camera frames for the model (no rclpy here): age check, centre crop and resize.

``check_frame_age`` judges a frame's header stamp against the receiver's clock;
``fit_frame`` crops and resizes an (H, W, 3) uint8 frame to the configured output size (the
nodes); ``resize_frames`` is the one resize every path uses (training, generation, the
nodes, evaluation, synthesis) and ``frames_to_video`` puts frames in the model's range.
"""

import typing

import numpy as np

from vag_ros.errors import EpisodeError, VagError

if typing.TYPE_CHECKING:
    import torch

CROP_MODES = ('center', 'none')  # center: largest centred region of the output aspect


class FrameRejected(VagError, ValueError):
    """A camera frame that must not reach the model; ``kind`` says why, for reporting."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind  # 'no_stamp' | 'stale' | 'future' | 'geometry'


def check_frame_age(stamp_ns: int, now_ns: int, max_age_s: float) -> float:
    """The age [s] of a frame stamped ``stamp_ns`` at ``now_ns``; FrameRejected if too old.

    Rejects frames older than ``max_age_s``, stamped more than ``max_age_s`` in the future
    (clocks out of sync) or not stamped at all (stamp 0). ``max_age_s`` 0 accepts every
    frame (the age is still returned; negative for a future stamp).
    """
    age = (int(now_ns) - int(stamp_ns)) * 1e-9
    if max_age_s <= 0:
        return age
    if int(stamp_ns) == 0:
        raise FrameRejected('camera frame has no stamp (header.stamp is 0): stamp frames '
                            'with the camera clock, or set max_age_s: 0 to accept them',
                            'no_stamp')
    if age > max_age_s:
        raise FrameRejected(f'camera frame is {age:.3f} s old > max_age_s {max_age_s:g} s '
                            f'(stale; stamp {stamp_ns * 1e-9:.3f} s, node clock '
                            f'{now_ns * 1e-9:.3f} s)', 'stale')
    if -age > max_age_s:
        raise FrameRejected(f'camera frame is stamped {-age:.3f} s in the future > '
                            f'max_age_s {max_age_s:g} s (stamp {stamp_ns * 1e-9:.3f} s, node '
                            f'clock {now_ns * 1e-9:.3f} s): are the camera and node clocks '
                            '(use_sim_time) in sync?', 'future')
    return age


def output_size(width: int, height: int, output_width: int = 0,
                output_height: int = 0) -> typing.Tuple[int, int]:
    """(width, height) of the output for a ``width`` x ``height`` camera; 0 keeps that side."""
    return (int(output_width) or int(width), int(output_height) or int(height))


def crop_box(width: int, height: int, output_width: int = 0, output_height: int = 0,
             crop: str = 'center') -> typing.Tuple[int, int, int, int]:
    """(left, top, right, bottom) of the camera region that becomes the output.

    ``center``: the largest centred region with the output's aspect ratio (the whole frame
    when the aspects match); ``none``: the whole frame (the aspect may change on resize).
    """
    if crop not in CROP_MODES:
        raise FrameRejected(f'crop {crop!r} not in {CROP_MODES}', 'geometry')
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise FrameRejected(f'empty camera frame {width}x{height}', 'geometry')
    out_w, out_h = output_size(width, height, output_width, output_height)
    if out_w < 1 or out_h < 1:
        raise FrameRejected(f'output size {out_w}x{out_h}: expected >= 1', 'geometry')
    if crop == 'none':
        return 0, 0, width, height
    # integer-exact: keep the full side along which the camera is narrower than the output
    if width * out_h >= height * out_w:  # camera wider (or equal): full height
        crop_w = min(width, max(1, (2 * height * out_w + out_h) // (2 * out_h)))
        crop_h = height
    else:  # camera taller: full width
        crop_w = width
        crop_h = min(height, max(1, (2 * width * out_h + out_w) // (2 * out_w)))
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def fit_frame(frame: np.ndarray, output_width: int = 0, output_height: int = 0,
              crop: str = 'center') -> np.ndarray:
    """(H, W, 3) uint8 -> (output_height, output_width, 3) uint8: crop, then resize with
    ``resize_frames`` (the one resize of training, generation and the nodes). A 0 output side
    keeps the camera's. Returns ``frame`` itself when nothing changes.
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3:
        raise FrameRejected('expected an (H, W, 3) uint8 frame, got '
                            f'{getattr(frame, "shape", None)} '
                            f'{getattr(frame, "dtype", type(frame).__name__)}', 'geometry')
    height, width = frame.shape[:2]
    out_w, out_h = output_size(width, height, output_width, output_height)
    left, top, right, bottom = crop_box(width, height, out_w, out_h, crop)
    if (left, top, right, bottom, out_w, out_h) == (0, 0, width, height, width, height):
        return frame
    region = frame[top:bottom, left:right]  # (h, w, 3)
    if region.shape[:2] == (out_h, out_w):
        return np.ascontiguousarray(region)
    return resize_frames(region[None], out_h, out_w)[0].copy()  # (out_h, out_w, 3), writable


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, height, width, 3) uint8: area when shrinking, else
    antialiased bilinear, rounded to uint8. The one resize: training windows, the first frame
    generation reads, the capture node's output, evaluation and synthesis renders."""
    import torch
    import torch.nn.functional as F
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise EpisodeError(
            f'frames: expected (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}')
    if frames.shape[1:3] == (height, width):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (T,3,H,W)
    if frames.shape[1] >= height and frames.shape[2] >= width:
        x = F.interpolate(x, size=(height, width), mode='area')
    else:
        x = F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False,
                          antialias=True)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def frames_to_video(frames: np.ndarray) -> 'torch.Tensor':
    """(T, H, W, 3) uint8 -> (3, T, H, W) float in [-1, 1]."""
    import torch
    x = torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return x.permute(3, 0, 1, 2)
