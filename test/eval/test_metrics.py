"""Metrics on cases with known answers."""

import math

import numpy as np
import pytest

from vag_ros.eval import metrics


def _video(seed=0, shape=(3, 24, 20, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_action_ed_and_success_on_known_cases():
    gt = np.random.default_rng(0).normal(size=(6, 7))
    assert metrics.action_ed(gt, gt) == 0.0 and metrics.action_success(gt, gt)
    shifted = gt + 0.1  # every dim off by 0.1: ||.|| = 0.1 sqrt(7) at each step
    assert metrics.action_ed(shifted, gt) == pytest.approx(0.1 * math.sqrt(7))
    assert metrics.action_success(shifted, gt)
    assert not metrics.action_success(gt + 0.25, gt)
    one = gt.copy()
    one[3, 2] += 0.21  # a single dim at a single step beyond the tolerance fails it
    assert not metrics.action_success(one, gt)
    assert metrics.action_success(one, gt, tol=0.3)
    steps = np.zeros((2, 2))
    assert metrics.action_ed(np.array([[3.0, 4.0], [0.0, 0.0]]), steps) == pytest.approx(2.5)
    nan = gt.copy()
    nan[0, 0] = np.nan
    assert not metrics.action_success(nan, gt)


def test_action_metrics_refuse_mismatched_shapes():
    with pytest.raises(metrics.MetricError, match='one shape'):
        metrics.action_ed(np.zeros((5, 7)), np.zeros((6, 7)))
    with pytest.raises(metrics.MetricError, match='one shape'):
        metrics.action_success(np.zeros(7), np.zeros(7))


def test_psnr_identical_is_capped_and_constant_shift_is_exact():
    a = _video()
    assert metrics.psnr(a, a) == metrics.PSNR_CAP
    assert metrics.psnr(a, a, cap=None) == math.inf
    base = np.full((2, 8, 8, 3), 100, np.uint8)
    shifted = base + np.uint8(5)  # MSE = 25
    assert metrics.psnr(base, shifted) == pytest.approx(10 * math.log10(255 ** 2 / 25))
    assert metrics.psnr(a, _video(1)) < 10.0
    with pytest.raises(metrics.MetricError, match='uint8'):
        metrics.psnr(a.astype(np.float32), a)
    with pytest.raises(metrics.MetricError, match='one shape'):
        metrics.psnr(a, a[:2])


def test_ssim_identical_shifted_and_unrelated():
    a = _video(shape=(2, 32, 32, 3))
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    # a constant brightness shift keeps structure: high but below 1
    shifted = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    assert 0.9 < metrics.ssim(a, shifted) < 1.0
    assert abs(metrics.ssim(a, _video(1, (2, 32, 32, 3)))) < 0.1
    small = _video(shape=(1, 6, 5, 3))  # window shrinks to fit
    assert metrics.ssim(small, small) == pytest.approx(1.0)
    assert set(metrics.DEFINITIONS) >= {'action_ed', 'action_sr', 'replay_success',
                                        'consistency_psnr', 'video_psnr', 'video_ssim'}


def test_wilson_interval_known_values():
    # Wilson 95% score intervals (z = 1.96), checked against the closed form by hand
    low, high = metrics.wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = metrics.wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = metrics.wilson_interval(99, 99)
    assert low == pytest.approx(0.9627, abs=1e-4) and high == 1.0
    assert metrics.wilson_interval(0, 0) == (None, None)
    with pytest.raises(metrics.MetricError):
        metrics.wilson_interval(11, 10)


def test_nearest_object_step_and_start_errors():
    objects = {'red': (0.4, 0.1), 'blue': (0.4, -0.1), 'green': (0.5, 0.0)}
    assert metrics.nearest_object((0.41, 0.08, 0.3), objects) == 'red'
    assert metrics.nearest_object((0.39, -0.12, 0.0), objects) == 'blue'
    assert metrics.nearest_object((0.52, 0.01), objects) == 'green'
    with pytest.raises(metrics.MetricError):
        metrics.nearest_object((0, 0), {})
    pred = np.zeros((3, 2))
    gt = np.array([[0.1, -0.2], [0.0, 0.0], [0.3, 0.5]])
    first, last = metrics.step_errors(pred, gt)
    assert first == pytest.approx([0.1, 0.2]) and last == pytest.approx([0.3, 0.5])
    assert metrics.start_error(gt, [0.1, -0.25]) == pytest.approx(0.05)
    with pytest.raises(metrics.MetricError):
        metrics.start_error(gt, [0.0, 0.0, 0.0])


def test_region_psnr_and_ssim_read_only_the_region():
    a = _video(shape=(2, 32, 32, 3))
    b = a.copy()
    b[:, :, :16] = 0                      # the left half ruined
    left = np.zeros((2, 32, 32))
    left[:, :, :16] = 1.0
    right = 1.0 - left
    assert metrics.region_psnr(a, b, right) == metrics.PSNR_CAP
    assert metrics.region_psnr(a, b, left) < metrics.psnr(a, b)  # the error is all there
    # weights are shares: doubling them changes nothing; an empty region is undefined
    assert metrics.region_psnr(a, b, 2 * left) == pytest.approx(metrics.region_psnr(a, b, left))
    assert metrics.region_psnr(a, b, np.zeros((2, 32, 32))) is None
    assert metrics.region_ssim(a, b, right[:, :, :]) < 1.0  # windows near the edge see it
    far = np.zeros((2, 32, 32))
    far[:, :, 22:] = 1.0                  # centres 6+ px from the damage (the 11-px window)
    assert metrics.region_ssim(a, b, far) == pytest.approx(1.0)
    edge = np.zeros((2, 32, 32))
    edge[:, :, 28:] = 1.0                 # no window is centred this close to the border
    assert metrics.region_ssim(a, b, edge) is None
    assert metrics.region_ssim(a, b, left) < 0.2
    # one pixel's weight: the SSIM of the 11x11 window centred on it, across the chunks of
    # 16 frames that the maps are computed in
    clip_a, clip_b = _video(2, (20, 32, 32, 3)), _video(3, (20, 32, 32, 3))
    for t, y, x in ((0, 5, 5), (15, 20, 9), (16, 26, 26), (19, 11, 17)):
        one = np.zeros((20, 32, 32))
        one[t, y, x] = 1.0
        patch = (slice(t, t + 1), slice(y - 5, y + 6), slice(x - 5, x + 6))
        assert metrics.region_ssim(clip_a, clip_b, one) == pytest.approx(
            metrics.ssim(clip_a[patch], clip_b[patch]), abs=1e-5)
    with pytest.raises(metrics.MetricError, match='weights of shape'):
        metrics.region_psnr(a, b, left[0])
    with pytest.raises(metrics.MetricError, match='finite'):
        metrics.region_psnr(a, b, -left)


def test_sharpness_falls_when_a_video_is_blurred():
    a = _video(shape=(2, 32, 32, 3))
    assert metrics.sharpness(a, a) == pytest.approx(1.0)
    blurred = ((a[:, :-1, :-1].astype(int) + a[:, 1:, 1:] + a[:, 1:, :-1] + a[:, :-1, 1:])
               // 4).astype(np.uint8)
    blurred = np.pad(blurred, ((0, 0), (0, 1), (0, 1), (0, 0)), mode='edge')
    assert metrics.sharpness(blurred, a) < 0.6
    flat = np.full_like(a, 40)
    assert metrics.sharpness(a, flat) is None and metrics.sharpness(flat, a) == 0.0
    half = np.zeros((2, 32, 32))
    half[:, :, :8] = 1.0
    assert metrics.sharpness(a, a, half) == pytest.approx(1.0)
    assert metrics.gradient_energy(a, np.zeros((2, 32, 32))) is None
