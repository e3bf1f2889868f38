"""How a recorded camera stream is stored: raw, downscaled, or JPEG/PNG compressed.

A 30 Hz 640x480 camera is 27.6 MB/s raw; ``write_camera_frame`` keeps a frame as an rgb8
Image (optionally downscaled, aspect kept) or as a CompressedImage on ``<topic>/compressed``.
``storage_bench`` writes the same frames each way and measures size and write time.
"""

import statistics
import tempfile
import time
import typing

import numpy as np

from vag_ros.episodes import topics as tp
from vag_ros.frame_geometry import fit_frame

STORAGE_MODES = ('raw',) + tp.COMPRESSED_FORMATS


def downscale(frame: np.ndarray, max_width: int) -> np.ndarray:
    """(H, W, 3) -> at most ``max_width`` wide, aspect kept (0: unchanged)."""
    height, width = frame.shape[:2]
    if not max_width or width <= max_width:
        return frame
    out_height = max(1, int(round(height * max_width / width)))
    return fit_frame(frame, max_width, out_height, crop='none')


def write_camera_frame(writer, frame: np.ndarray, stamp_ns: int, frame_id: str,
                       storage: str = 'raw', max_width: int = 0, quality: int = 90,
                       topic: typing.Optional[str] = None) -> int:
    """Write one (H, W, 3) uint8 camera frame with ``writer``; returns the payload bytes."""
    frame = downscale(frame, max_width)
    if storage == 'raw':
        writer.add_frame(frame, stamp_ns, topic=topic, frame_id=frame_id)
        return frame.nbytes
    return writer.add_compressed_frame(frame, stamp_ns, topic=topic, fmt=storage,
                                       quality=quality, frame_id=frame_id)


def _bag_bytes(path) -> int:
    return sum(p.stat().st_size for p in path.rglob('*') if p.is_file())


def storage_bench(frames: np.ndarray, settings: typing.Sequence[dict], repeats: int = 3,
                  rate_hz: float = 30.0) -> typing.List[dict]:
    """Write ``frames`` (T, H, W, 3) into a bag once per setting and repeat; one row each:
    the setting, bag MB, median write seconds, and the ratios to the first setting."""
    from vag_ros.episodes.bag_writer import EpisodeBagWriter
    from vag_ros.episodes.episode import EpisodeMetadata
    metadata = EpisodeMetadata(task='bench', seed=0, success=False, robot='bench',
                               joint_names=('j',), frame_rate=rate_hz, source='generated',
                               instruction='storage bench')
    rows = []
    with tempfile.TemporaryDirectory(prefix='vag-storage-bench-') as root:
        for k, setting in enumerate(settings):
            seconds, size = [], 0
            for r in range(repeats):
                name = f'bag{k}_{r}'
                start = time.perf_counter()
                with EpisodeBagWriter(root, name, metadata) as writer:
                    for t, frame in enumerate(frames):
                        write_camera_frame(writer, frame, int(t * 1e9 / rate_hz), 'camera',
                                           **setting)
                seconds.append(time.perf_counter() - start)
                size = _bag_bytes(writer.path)
            rows.append(dict(setting, megabytes=size / 1e6,
                             write_s=statistics.median(seconds)))
    for row in rows:
        row['size_ratio'] = row['megabytes'] / rows[0]['megabytes']
        row['time_ratio'] = row['write_s'] / rows[0]['write_s']
    return rows
