"""Two-stage baseline, second stage: a small ResNet-style CNN from one frame to the joints.

Like the paper's "VAG-Video + ResNet" (AnyPos-style) baseline: stage one generates a video,
this model reads the joint positions off every frame. It is trained on real episode frames
and their *measured* joints, resized to the VAG model's resolution, with the joints
normalized by the same ``ActionNormalizer`` form as the VAG model.

A checkpoint is a folder with ``inverse_dynamics.safetensors`` (weights + normalizer stats,
never pickle) and ``inverse_dynamics.json`` (the config).
"""

import dataclasses
import json
import os
from pathlib import Path
import typing

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from vag_ros.checksums import verify_file, write_checksums
from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.frame_geometry import resize_frames

WEIGHTS = 'inverse_dynamics.safetensors'
CONFIG = 'inverse_dynamics.json'
FORMAT = 'vag_ros.inverse_dynamics.v1'
NORM_PREFIX = 'joint_norm.'

PathLike = typing.Union[str, Path]


@dataclasses.dataclass(frozen=True)
class InverseDynamicsConfig:
    """Input resolution, output joints and CNN widths."""

    height: int = 64
    width: int = 64
    dim: int = 7
    joint_names: typing.Tuple[str, ...] = ()
    channels: typing.Tuple[int, ...] = (32, 64, 128, 256)  # one strided residual stage each
    groups: int = 8
    normalization: str = 'minmax'

    def validate(self) -> 'InverseDynamicsConfig':
        for name in ('height', 'width', 'dim', 'groups'):
            if getattr(self, name) < 1:
                raise ConfigError(f'inverse_dynamics.{name}={getattr(self, name)}: must be >= 1')
        if not self.channels or any(c % self.groups for c in self.channels):
            raise ConfigError(f'inverse_dynamics.channels={self.channels}: must be non-empty '
                              f'multiples of groups={self.groups}')
        if self.joint_names and len(self.joint_names) != self.dim:
            raise ConfigError(f'inverse_dynamics.joint_names has {len(self.joint_names)} '
                              f'names for dim={self.dim}')
        if self.normalization not in ActionNormalizer.KINDS:
            raise ConfigError(f'inverse_dynamics.normalization={self.normalization!r}: '
                              f'must be one of {ActionNormalizer.KINDS}')
        return self

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data.update(joint_names=list(self.joint_names), channels=list(self.channels))
        return data

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'InverseDynamicsConfig':
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f'inverse_dynamics config: unknown fields {unknown}')
        data = dict(data)
        for key in ('joint_names', 'channels'):
            if key in data:
                data[key] = tuple(data[key])
        try:
            return cls(**data).validate()
        except TypeError as exc:
            raise ConfigError(f'inverse_dynamics config: {exc}') from None


class _Block(nn.Module):
    """Pre-activation residual block; stride 2 halves the resolution."""

    def __init__(self, c_in: int, c_out: int, groups: int, stride: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1, stride) if (stride != 1 or c_in != c_out) \
            else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class InverseDynamicsNet(nn.Module):
    """(B, 3, H, W) in [-1, 1] -> (B, D) normalized joints."""

    def __init__(self, config: InverseDynamicsConfig):
        super().__init__()
        c = config.channels
        self.stem = nn.Conv2d(3, c[0], 3, 1, 1)
        blocks, c_in = [], c[0]
        for c_out in c:
            blocks.append(_Block(c_in, c_out, config.groups, 2))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.GroupNorm(config.groups, c_in)
        self.head = nn.Linear(c_in, config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))              # (B, C, h, w)
        h = F.silu(self.norm(h)).mean(dim=(2, 3))  # (B, C) global average pool
        return self.head(h)                        # (B, D)


def frames_to_input(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


class InverseDynamicsModel:
    """The CNN, its joint normalizer and config; ``predict`` maps frames to joints."""

    def __init__(self, config: InverseDynamicsConfig, normalizer: ActionNormalizer,
                 net: typing.Optional[InverseDynamicsNet] = None, device='cpu'):
        self.config = config.validate()
        if normalizer.dim != config.dim:
            raise ConfigError(f'inverse dynamics: normalizer has {normalizer.dim} dims, '
                              f'config dim={config.dim}')
        self.normalizer = normalizer
        self.device = torch.device(device)
        self.net = (net or InverseDynamicsNet(config)).to(self.device)

    @torch.no_grad()
    def predict(self, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """(T, H, W, 3) uint8 (any size; resized to the model's) -> (T, D) joint units."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ConfigError(f'inverse dynamics: frames must be (T, H, W, 3) uint8, got '
                              f'{frames.shape} {frames.dtype}')
        frames = resize_frames(frames, self.config.height, self.config.width)
        self.net.eval()
        out = []
        for start in range(0, len(frames), batch_size):
            x = frames_to_input(frames[start:start + batch_size]).to(self.device)
            out.append(self.normalizer.denormalize(self.net(x), clip=True).cpu())
        return torch.cat(out).double().numpy()  # (T, D)

    def save(self, directory: PathLike, extra: typing.Optional[dict] = None) -> Path:
        """Write weights + stats (safetensors) and config (JSON) into ``directory``."""
        from safetensors.torch import save_file
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        tensors.update({k: v.contiguous() for k, v in
                        self.normalizer.to_tensors(NORM_PREFIX).items()})
        metadata = {'format': FORMAT, 'extra': json.dumps(extra or {}, sort_keys=True)}
        tmp = directory / (WEIGHTS + '.tmp')
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, directory / WEIGHTS)
        (directory / CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2) + '\n')
        write_checksums(directory, [WEIGHTS, CONFIG])
        return directory

    @classmethod
    def load(cls, directory: PathLike, device='cpu') -> 'InverseDynamicsModel':
        """Inverse of ``save``; CheckpointError when missing, corrupt or mismatched."""
        from vag_ros.model.checkpoint import check_state_dict, read_safetensors
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f'inverse-dynamics checkpoint folder not found: {directory}')
        cfg_path, weights = directory / CONFIG, directory / WEIGHTS
        if not cfg_path.is_file():
            raise CheckpointError(f'inverse-dynamics config missing: {cfg_path}')
        verify_file(cfg_path, 'inverse-dynamics config')
        try:
            config = InverseDynamicsConfig.from_dict(json.loads(cfg_path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f'{cfg_path} is not valid JSON: {exc}') from None
        except ConfigError as exc:
            raise CheckpointError(f'{cfg_path}: {exc}') from None
        tensors, _ = read_safetensors(weights, FORMAT, what='inverse-dynamics weights')
        stats = {k: tensors.pop(k) for k in list(tensors) if k.startswith(NORM_PREFIX)}
        normalizer = ActionNormalizer.from_tensors(stats, NORM_PREFIX)
        if normalizer.dim != config.dim:
            raise CheckpointError(f'{weights}: joint stats have {normalizer.dim} dims, '
                                  f'config dim={config.dim}')
        net = InverseDynamicsNet(config)
        check_state_dict(net, tensors, str(weights))
        net.load_state_dict(tensors, strict=True)
        return cls(config, normalizer, net, device)
