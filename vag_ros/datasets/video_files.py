"""MP4 video files of an episode's frames, encoded and decoded with PyAV (FFmpeg).

The encoder settings are LeRobot's defaults (AV1 by SVT-AV1, yuv420p, a key frame every 2
frames, CRF 30): its readers seek quickly in them. ``codec='h264'`` falls back where an FFmpeg
build lacks SVT-AV1.
"""

import os
from pathlib import Path
import typing

import numpy as np

from vag_ros.errors import EpisodeError

DEFAULT_CODEC = 'libsvtav1'
CODEC_NAMES = {'libsvtav1': 'av1', 'libaom-av1': 'av1', 'libx264': 'h264', 'h264': 'h264'}
PIXEL_FORMAT = 'yuv420p'


def _av():
    try:
        import av
    except ImportError:
        raise EpisodeError("writing videos needs PyAV: pip install -e '.[dataset]'") from None
    return av


def encoder_options(codec: str) -> typing.Dict[str, str]:
    """LeRobot's encoder options for ``codec`` (g=2, crf=30)."""
    if codec not in CODEC_NAMES:
        raise EpisodeError(f'video codec {codec!r}: expected one of {sorted(CODEC_NAMES)}')
    return {'g': '2', 'crf': '30'}


def encode_video(frames: np.ndarray, path: Path, fps: float,
                 codec: str = DEFAULT_CODEC) -> Path:
    """Write ``frames`` (T, H, W, 3) uint8 RGB as an MP4 at ``fps``; even H and W."""
    av = _av()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise EpisodeError(f'video frames: expected (T, H, W, 3) uint8 with T >= 1, got '
                           f'{frames.shape} {frames.dtype}')
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise EpisodeError(f'video frames {width}x{height}: {PIXEL_FORMAT} needs even sizes')
    if round(fps) != fps:
        raise EpisodeError(f'video fps {fps}: LeRobot data sets need an integer rate')
    path.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('SVT_LOG', '1')  # SVT-AV1 prints its banner per file otherwise
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, int(fps), options=encoder_options(codec))
        stream.pix_fmt = PIXEL_FORMAT
        stream.width, stream.height = width, height
        stream.thread_count = 1  # the same bytes on every machine and run
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _decoded(path: Path) -> typing.Iterator:
    """The frames (av.VideoFrame) of the MP4 ``path``, decoded one by one; EpisodeError if it
    is not a readable video."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                yield frame
    except (av.error.FFmpegError, IndexError) as exc:
        raise EpisodeError(f'{path}: not a readable video ({exc})') from None


def decode_video(path: Path) -> typing.Tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W, 3) uint8 RGB, presentation times (T,) s) of an MP4 file."""
    images, times = [], []
    for frame in _decoded(path):
        images.append(frame.to_ndarray(format='rgb24'))
        times.append(float(frame.pts * frame.time_base))
    if not images:
        raise EpisodeError(f'{path}: video has no frames')
    return np.stack(images), np.asarray(times)


def count_frames(path: Path, height: int, width: int) -> int:
    """Decode every frame of the MP4 ``path`` (nothing kept): how many there are; EpisodeError
    if it is not a readable video of height x width."""
    count = 0
    for frame in _decoded(path):
        if (frame.height, frame.width) != (height, width):
            raise EpisodeError(f'{path}: {frame.width}x{frame.height} frames, expected '
                               f'{width}x{height}')
        count += 1
    return count


def video_info(codec: str, height: int, width: int, fps: float) -> dict:
    """The ``info`` block of a video feature in meta/info.json, as LeRobot writes it."""
    return {'video.height': height, 'video.width': width, 'video.codec': CODEC_NAMES[codec],
            'video.pix_fmt': PIXEL_FORMAT, 'video.is_depth_map': False, 'video.fps': int(fps),
            'video.channels': 3, 'has_audio': False}
