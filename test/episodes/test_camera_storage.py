"""Executed-camera storage: raw, downscaled and compressed frames, and their benchmark."""

import numpy as np
import pytest

from vag_ros.episodes.camera_storage import downscale, storage_bench


def _frames(count=4, height=48, width=64):
    """Smooth frames (a moving gradient): what a camera sees, minus its noise."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([np.stack([(x * 4 + k * 9) % 256, (y * 5) % 256, np.full_like(x, 99)],
                              -1).astype(np.uint8) for k in range(count)])


def test_downscale_keeps_the_aspect_and_leaves_small_frames_alone():
    frame = _frames(1)[0]
    assert downscale(frame, 32).shape == (24, 32, 3)
    assert downscale(frame, 0) is frame and downscale(frame, 64) is frame


def test_storage_bench_measures_every_setting_against_raw():
    settings = [{'storage': 'raw'}, {'storage': 'raw', 'max_width': 32},
                {'storage': 'jpeg', 'quality': 90}, {'storage': 'png'}]
    rows = storage_bench(_frames(), settings, repeats=1)
    assert [r['storage'] for r in rows] == ['raw', 'raw', 'jpeg', 'png']
    assert rows[0]['size_ratio'] == 1.0 and rows[0]['time_ratio'] == 1.0
    assert all(r['megabytes'] > 0 and r['write_s'] > 0 for r in rows)
    payload = {r['storage'] + str(r.get('max_width', '')): r['megabytes'] for r in rows}
    assert payload['raw32'] < payload['raw'] and payload['jpeg'] < payload['raw']


def test_unknown_compressed_format_is_refused(tmp_path):
    from vag_ros.episodes.bag_writer import EpisodeBagWriter
    from vag_ros.episodes.episode import EpisodeMetadata
    from vag_ros.errors import EpisodeError
    meta = EpisodeMetadata(task='t', seed=0, success=False, robot='r', joint_names=('j',),
                           frame_rate=10.0, source='generated', instruction='x')
    with pytest.raises(EpisodeError, match="format 'bmp'"):
        with EpisodeBagWriter(tmp_path, 'b', meta) as writer:
            writer.add_compressed_frame(_frames(1)[0], 0, fmt='bmp')
    assert list(tmp_path.iterdir()) == []  # nothing half-written
