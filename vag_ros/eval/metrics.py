"""Evaluation metrics: joint-space action error/success and video PSNR/SSIM (numpy + torch).

Definitions (``DEFINITIONS`` holds the same text for reports):

- ``action_ed``: mean over the T steps of the Euclidean norm of the per-step difference,
  ``mean_t ||pred_t - gt_t||_2`` in joint units (rad for the arm, m for the gripper).
- ``action_success``: every dimension within ``tol`` (default 0.2, as in the paper) of the
  ground truth at every step, ``all(|pred - gt| <= tol)``.
- ``psnr``: ``10 log10(255^2 / MSE)`` with the MSE over the whole clip (all frames, pixels
  and channels); identical clips give ``PSNR_CAP`` (100 dB) so that means stay finite.
- ``region_psnr`` / ``region_ssim``: the same, over a region of the frame (the arm, a
  block): each pixel's error (SSIM: each window centre's value) weighted by its share of
  the region.
- ``sharpness``: the mean squared spatial gradient of a video over the truth's, over the
  same pixels (1: as sharp as the truth, below 1 blurred, above 1 noise or artefacts).
- ``ssim``: Wang et al. (2004) SSIM with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
  K2 = 0.03, L = 255, 'valid' filtering (no padding), computed per RGB channel and averaged
  over channels, pixels and frames (float32 torch conv2d). Frames smaller than 11 px use the
  largest odd window that fits.
"""

import typing

import numpy as np

from vag_ros.errors import VagError

PSNR_CAP = 100.0  # dB, reported for identical clips
SUCCESS_TOLERANCE = 0.2  # the paper's per-dimension tolerance

DEFINITIONS = {
    'action_ed': 'mean over steps of the Euclidean norm of (pred - gt) in joint space '
                 '[rad, m for the gripper]',
    'action_sr': f'fraction of episodes whose every action dimension is within '
                 f'{SUCCESS_TOLERANCE} of ground truth at every step',
    'replay_success': "fraction of episodes whose joints, replayed in the world from the "
                      "task's initial state, pass the task's success check",
    'consistency_psnr': "PSNR [dB] of the method's generated video against the frames "
                        'rendered while replaying its own joints (null without a video)',
    'video_psnr': f'PSNR [dB] of the generated video against the ground-truth frames, MSE '
                  f'over the whole clip, capped at {PSNR_CAP}',
    'video_ssim': 'mean over frames of Gaussian-window (11, sigma 1.5) SSIM per RGB channel',
    'predicted_psnr': 'video PSNR [dB] over the predicted frames 1..T-1 only (frame 0 is the '
                      'camera frame the model was given)',
    'arm_psnr / arm_ssim': "PSNR / SSIM on the predicted frames over the arm's pixels in the "
                           'ground truth: its moving links at frame t or at frame 0 (the '
                           "simulator's segmentation, each pixel weighted by its share)",
    'target_block_psnr': "PSNR on the predicted frames over the named block's pixels in the "
                         'ground truth',
    'arm_sharpness / video_sharpness': "mean squared spatial gradient of the predicted frames "
                                       "over the truth's, on the arm's pixels / the whole "
                                       'frame: 1 = as sharp, below 1 blurred, above 1 noise '
                                       'or artefacts',
    'wrong_target': 'fraction of episodes whose final end effector (FK of the last point) is '
                    'nearer, in the table plane, to another block than the named one',
    'counterfactual': 'same scene and wording, the instruction names another block: fraction '
                      'of episodes whose final end effector is nearest that block',
    'start_error': 'largest per-joint distance of the first trajectory point from the '
                   'measured state [rad, m] (max over episodes in the tables)',
    'first_step_error / last_step_error': 'per-joint |pred - expert| at the first and last '
                                          'step, mean over episodes',
    'intervals': 'rates carry Wilson 95% score intervals [low, high]',
}


class MetricError(VagError, ValueError):
    """Arrays given to a metric do not match in shape or dtype."""


def _pair(pred, gt, name: str) -> typing.Tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim != 2 or pred.shape != gt.shape:
        raise MetricError(f'{name}: expected pred and gt of one shape (T, D), got '
                          f'{pred.shape} and {gt.shape}')
    if pred.shape[0] == 0:
        raise MetricError(f'{name}: empty trajectories')
    return pred, gt


def action_ed(pred, gt) -> float:
    """Mean over steps of ||pred_t - gt_t||_2; pred, gt (T, D) in joint units."""
    pred, gt = _pair(pred, gt, 'action_ed')
    return float(np.linalg.norm(pred - gt, axis=1).mean())


def action_success(pred, gt, tol: float = SUCCESS_TOLERANCE) -> bool:
    """True iff |pred - gt| <= tol for every dimension at every step; (T, D) each."""
    pred, gt = _pair(pred, gt, 'action_success')
    if not np.all(np.isfinite(pred)):
        return False
    return bool(np.all(np.abs(pred - gt) <= tol))


def _videos(a, b, name: str) -> typing.Tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise MetricError(f'{name}: expected uint8 videos, got {a.dtype} and {b.dtype}')
    if a.shape != b.shape or a.ndim != 4 or a.shape[-1] != 3 or a.size == 0:
        raise MetricError(f'{name}: expected two (T, H, W, 3) videos of one shape, got '
                          f'{a.shape} and {b.shape}')
    return a, b


def psnr(a, b, cap: typing.Optional[float] = PSNR_CAP) -> float:
    """PSNR [dB] of uint8 videos (T, H, W, 3) over the whole clip; ``cap`` for identical."""
    a, b = _videos(a, b, 'psnr')
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    value = float('inf') if mse == 0.0 else 10.0 * np.log10(255.0 ** 2 / mse)
    return float(value if cap is None else min(value, cap))


def _gaussian(size: int, sigma: float):
    import torch
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()  # (size,)


def _ssim_maps(a, b, window: int = 11, sigma: float = 1.5):
    """SSIM maps of uint8 videos (T, H, W, 3): yields ((t, 3, H-k+1, W-k+1) float32 map,
    frame offset, k) in chunks of 16 frames (bounded memory on long clips)."""
    import torch
    import torch.nn.functional as F
    size = min(window, a.shape[1], a.shape[2])
    size -= (size + 1) % 2  # odd
    g = _gaussian(size, sigma)
    kh = g.view(1, 1, size, 1).repeat(3, 1, 1, 1)  # (3, 1, k, 1) depthwise
    kw = g.view(1, 1, 1, size).repeat(3, 1, 1, 1)  # (3, 1, 1, k)

    def blur(x):  # (T, 3, H, W) -> (T, 3, H-k+1, W-k+1)
        return F.conv2d(F.conv2d(x, kh, groups=3), kw, groups=3)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    for start in range(0, len(a), 16):
        x = torch.from_numpy(a[start:start + 16]).permute(0, 3, 1, 2).float()
        y = torch.from_numpy(b[start:start + 16]).permute(0, 3, 1, 2).float()
        mx, my = blur(x), blur(y)
        sxx = blur(x * x) - mx * mx
        syy = blur(y * y) - my * my
        sxy = blur(x * y) - mx * my
        yield (((2 * mx * my + c1) * (2 * sxy + c2))
               / ((mx * mx + my * my + c1) * (sxx + syy + c2))), start, size


def ssim(a, b, window: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM of uint8 videos (T, H, W, 3): per frame and channel, then averaged."""
    import torch
    a, b = _videos(a, b, 'ssim')
    values = [m.mean(dim=(1, 2, 3)) for m, _, _ in _ssim_maps(a, b, window, sigma)]  # (t,)
    return float(torch.cat(values).mean())


def _weights(a: np.ndarray, weights, name: str) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != a.shape[:3]:
        raise MetricError(f'{name}: expected weights of shape {a.shape[:3]} (T, H, W), got '
                          f'{weights.shape}')
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise MetricError(f'{name}: weights must be finite and >= 0')
    return weights


def region_psnr(a, b, weights, cap: typing.Optional[float] = PSNR_CAP
                ) -> typing.Optional[float]:
    """PSNR [dB] of uint8 videos (T, H, W, 3) over a region: the squared error weighted by
    ``weights`` (T, H, W) >= 0 (a pixel's share of the region, e.g. the area fraction of
    the arm in it); None when the region is empty."""
    a, b = _videos(a, b, 'region_psnr')
    weights = _weights(a, weights, 'region_psnr')
    total = float(weights.sum())
    if total <= 0.0:
        return None
    squared = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean(axis=-1)  # (T, H, W)
    mse = float((squared * weights).sum() / total)
    value = float('inf') if mse == 0.0 else 10.0 * np.log10(255.0 ** 2 / mse)
    return float(value if cap is None else min(value, cap))


def region_ssim(a, b, weights, window: int = 11, sigma: float = 1.5
                ) -> typing.Optional[float]:
    """SSIM of uint8 videos (T, H, W, 3) averaged over a region: the SSIM map (as ``ssim``,
    'valid' filtering) weighted by ``weights`` (T, H, W) at each window's centre; None
    when the region has no window centre."""
    a, b = _videos(a, b, 'region_ssim')
    weights = _weights(a, weights, 'region_ssim')
    total = weighted = 0.0
    for ssim_map, start, size in _ssim_maps(a, b, window, sigma):
        t, _, h, w = ssim_map.shape
        half = size // 2
        wt = weights[start:start + t, half:half + h, half:half + w]   # (t, h', w') centres
        weighted += float((ssim_map.mean(dim=1).double().numpy() * wt).sum())
        total += float(wt.sum())
    return weighted / total if total > 0.0 else None


def gradient_energy(video, weights=None) -> typing.Optional[float]:
    """Mean squared spatial gradient of a uint8 video (T, H, W, 3): forward differences
    along x and y, channels averaged, weighted by ``weights`` (T, H, W) when given (None:
    all pixels); None when the weights are all zero. A blurred video has less of it."""
    video = np.asarray(video)
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise MetricError(f'gradient_energy: expected a (T, H, W, 3) uint8 video, got '
                          f'{video.shape} {video.dtype}')
    x = video.astype(np.float64)
    energy = np.zeros(video.shape[:3])
    energy[:, :, :-1] += ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean(axis=-1)
    energy[:, :-1, :] += ((x[:, 1:] - x[:, :-1]) ** 2).mean(axis=-1)   # (T, H, W)
    if weights is None:
        return float(energy.mean())
    weights = _weights(video, weights, 'gradient_energy')
    total = float(weights.sum())
    return float((energy * weights).sum() / total) if total > 0.0 else None


def sharpness(video, truth, weights=None) -> typing.Optional[float]:
    """``video``'s gradient energy over ``truth``'s (1: as sharp as the truth, below 1:
    blurred), over the same ``weights``; None when either is undefined or the truth is
    flat."""
    _videos(video, truth, 'sharpness')
    made, true = gradient_energy(video, weights), gradient_energy(truth, weights)
    if made is None or true is None or true <= 0.0:
        return None
    return made / true


def wilson_interval(successes: int, n: int, z: float = 1.96
                    ) -> typing.Tuple[typing.Optional[float], typing.Optional[float]]:
    """Wilson score interval (95% for z = 1.96) of a rate of ``successes`` in ``n``."""
    if n <= 0:
        return None, None
    if not 0 <= successes <= n:
        raise MetricError(f'wilson_interval: {successes} successes of {n}')
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def rate(flags: typing.Sequence[bool]) -> dict:
    """{'rate', 'interval' (Wilson 95%), 'successes', 'n'} of yes/no outcomes; rate None
    when there are none."""
    k, n = int(sum(bool(f) for f in flags)), len(flags)
    return {'rate': k / n if n else None, 'interval': list(wilson_interval(k, n)),
            'successes': k, 'n': n}


def nearest_object(point, objects: typing.Mapping[str, typing.Sequence[float]]) -> str:
    """Name of the object whose (x, y) is nearest ``point``'s (x, y) in the table plane."""
    if not objects:
        raise MetricError('nearest_object: no objects')
    xy = np.asarray(point, dtype=np.float64)[:2]
    return min(objects, key=lambda k: float(np.linalg.norm(
        np.asarray(objects[k], dtype=np.float64)[:2] - xy)))


def step_errors(pred, gt) -> typing.Tuple[typing.List[float], typing.List[float]]:
    """Per-joint |pred - gt| at the first and at the last step: two lists of D values."""
    pred, gt = _pair(pred, gt, 'step_errors')
    error = np.abs(pred - gt)
    return error[0].tolist(), error[-1].tolist()


def start_error(pred, state) -> float:
    """Largest per-joint distance of the first point of ``pred`` (T, D) from ``state``."""
    pred = np.asarray(pred, dtype=np.float64)
    state = np.asarray(state, dtype=np.float64).reshape(-1)
    if pred.ndim != 2 or pred.shape[1] != state.shape[0]:
        raise MetricError(f'start_error: pred {pred.shape} and state {state.shape} differ')
    return float(np.abs(pred[0] - state).max())
