"""Training of the two-stage baseline's inverse-dynamics CNN (vag_ros.model.inverse_dynamics)
on real episode frames and their *measured* joints, resized to the VAG model's resolution."""

import dataclasses
import math
from pathlib import Path
import time
import typing

import numpy as np
import torch
import torch.nn.functional as F

from vag_ros.errors import ConfigError, EpisodeError
from vag_ros.frame_geometry import resize_frames
from vag_ros.model.inverse_dynamics import frames_to_input, InverseDynamicsConfig, \
    InverseDynamicsModel, PathLike
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.train.train_config import InverseDynamicsTrainConfig

DEFAULTS = InverseDynamicsTrainConfig()  # train_inverse_dynamics's, vag-ros's too


# -- data and training ---------------------------------------------------------------------

@dataclasses.dataclass
class FrameDataset:
    """Frames with their measured joints, pooled over episodes."""

    frames: np.ndarray   # (N, H, W, 3) uint8 at the model resolution
    joints: np.ndarray   # (N, D) float32, measured joint positions
    joint_names: typing.Tuple[str, ...]
    episodes: int


def load_frame_dataset(data_dir: PathLike, height: int, width: int) -> FrameDataset:
    """Read every episode bag in ``data_dir``; frames resized to (height, width)."""
    from vag_ros.episodes.bag_reader import list_episode_bags, read_episode
    bags = list_episode_bags(data_dir)
    if not bags:
        raise EpisodeError(f'{data_dir}: no episode bags (record some with vag-ros sim-record)')
    frames, joints, names = [], [], None
    for bag in bags:
        episode = read_episode(bag)
        if names is None:
            names = tuple(episode.metadata.joint_names)
        elif tuple(episode.metadata.joint_names) != names:
            raise EpisodeError(f'{bag}: joint names {episode.metadata.joint_names} differ '
                               f'from the first bag\'s {names}')
        frames.append(resize_frames(episode.frames, height, width))
        joints.append(episode.joints.astype(np.float32))
    return FrameDataset(np.concatenate(frames), np.concatenate(joints), names, len(bags))


@dataclasses.dataclass
class TrainSummary:
    """What ``train_inverse_dynamics`` did."""

    path: Path
    steps: int
    frames: int
    episodes: int
    final_loss: float
    mean_abs_error: float  # joint units, on (up to 1024 of) the training frames
    seconds: float

    def describe(self) -> str:
        return (f'inverse dynamics: {self.steps} steps on {self.frames} frames of '
                f'{self.episodes} episodes in {self.seconds:.1f} s; final loss '
                f'{self.final_loss:.4f}, mean |error| {self.mean_abs_error:.4f} '
                f'(training frames); saved to {self.path}')


def _shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``pad`` px (DrQ-style), (B, 3, H, W)."""
    b, _, h, w = x.shape
    x = F.pad(x, (pad, pad, pad, pad), mode='replicate')
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    return torch.stack([x[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def train_inverse_dynamics(data_dir: PathLike, out_dir: PathLike,
                           steps: int = DEFAULTS.steps, height: int = DEFAULTS.height,
                           width: int = DEFAULTS.width, batch_size: int = DEFAULTS.batch_size,
                           lr: float = DEFAULTS.lr, seed: int = DEFAULTS.seed,
                           augment: bool = True,
                           config: typing.Optional[InverseDynamicsConfig] = None,
                           progress: bool = True, device='cpu') -> TrainSummary:
    """Fit the CNN to (frame, measured joints) pairs of the bags in ``data_dir``; save it."""
    from tqdm import tqdm
    if steps < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError(f'steps={steps}, batch_size={batch_size}, lr={lr}: steps and '
                          f'batch_size must be >= 1, lr > 0')
    start = time.perf_counter()
    data = load_frame_dataset(data_dir, height, width)
    base = config or InverseDynamicsConfig()
    config = dataclasses.replace(base, height=height, width=width, dim=data.joints.shape[1],
                                 joint_names=data.joint_names).validate()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    normalizer = ActionNormalizer.fit(torch.from_numpy(data.joints), config.normalization)
    model = InverseDynamicsModel(config, normalizer, device=device)
    net = model.net.train()
    optim = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, steps, eta_min=lr * 0.05)
    targets = normalizer.normalize(torch.from_numpy(data.joints))  # (N, D)
    n = len(data.frames)
    loss_value = float('nan')
    bar = tqdm(range(steps), desc='inverse dynamics', unit='step', disable=not progress)
    for step in bar:
        idx = torch.randint(0, n, (min(batch_size, n),), generator=generator)
        x = frames_to_input(data.frames[idx.numpy()])  # (B, 3, H, W)
        if augment:
            x = _shift(x, max(1, height // 16), generator)
        x = x.to(model.device)
        loss = F.mse_loss(net(x), targets[idx].to(model.device))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):   # nothing worth saving: the weights are NaN too
            raise ConfigError(f'inverse-dynamics training diverged at step {step + 1} (loss '
                              f'{loss_value}); lower --lr (it was {lr:g})')
        bar.set_postfix(loss=f'{loss_value:.4f}', refresh=False)
    check = np.random.default_rng(seed).permutation(n)[:1024]
    pred = model.predict(data.frames[check])  # (n', D)
    mae = float(np.abs(pred - data.joints[check]).mean())
    path = model.save(out_dir, extra={'steps': steps, 'frames': n, 'episodes': data.episodes,
                                      'data': str(data_dir), 'seed': seed})
    return TrainSummary(path, steps, n, data.episodes, loss_value, mae,
                        time.perf_counter() - start)
