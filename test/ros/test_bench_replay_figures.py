"""The streaming benchmark's figures, on streams with known timing (no ROS)."""

import numpy as np
import pytest

from vag_ros.ros.bench_replay import continuity, interval_stats


def test_interval_stats_of_a_stream_with_one_late_command():
    stamps = np.arange(101) * 10_000_000  # 100 Hz, ns
    stamps[50:] += 4_000_000              # one interval 14 ms, the rest 10 ms
    figures = interval_stats(stamps.tolist(), 100.0)
    assert figures['commands'] == 101
    assert figures['interval_median_ms'] == pytest.approx(10.0)
    assert figures['interval_max_ms'] == pytest.approx(14.0)
    assert figures['jitter_max_ms'] == pytest.approx(4.0)
    assert figures['received_hz'] == pytest.approx(100 / 1.004)


def test_continuity_tells_a_smooth_curve_from_a_kinked_one():
    t = np.arange(0, 2, 0.01)[:, None]           # 100 Hz
    smooth = np.sin(t)                           # C-infinity
    kinked = np.abs(t - 1.0)                     # a velocity jump at t = 1
    a, b = continuity(smooth, 100.0), continuity(kinked, 100.0)
    assert a['max_velocity'] == pytest.approx(1.0, abs=0.01)
    assert a['max_acceleration'] < 1.0 and a['max_acceleration_step'] < 0.05
    assert b['max_acceleration'] > 100.0  # 2 (m/s) / 0.01 s
