"""Optimization settings of the training runs: VAG's (``config/train_tiny.yaml``), the
decoder stage's and the inverse-dynamics baseline's. No torch here: ``vag-ros`` builds its
options' defaults from these dataclasses at start.
"""

import dataclasses
import math
from pathlib import Path
import typing

from vag_ros.config import from_dict, load_yaml, require
from vag_ros.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """AdamW + warmup/cosine schedule + EMA; ``batch_size`` is global (split over ranks)."""

    steps: int = 1000
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1    # cosine decay ends at lr * min_lr_ratio
    grad_clip: float = 1.0       # max global grad norm; 0 = off
    ema_decay: float = 0.995
    seed: int = 0
    log_every: int = 10
    save_every: int = 200
    # Train the action branch only (with --init from a joint run): the bridge is detached, so
    # this continues the joint objective's action part; the DiT runs forward only.
    freeze_video: bool = False
    # The action branch's observation encoder first learns alone, from the waypoint loss (the
    # encoder regressing a few action waypoints), for this many steps; its parameters train
    # at lr * observation_lr_scale throughout. Through the flow loss alone the encoder's
    # instruction queries did not find the named block (measured; docs/variants.md).
    observation_warmup_steps: int = 0
    observation_lr_scale: float = 1.0
    # episodes longer than the model's clip give a window every window_stride frames
    # (0: the clip length, windows do not overlap)
    window_stride: int = 0
    # Probability that a training item's instruction is swapped, per step, for one of
    # instruction_variants versions of it wrapped in a task-neutral clause ("please ...",
    # "... using the arm"; vag_ros/train/instruction_context.py). 0 = off.
    instruction_context: float = 0.0
    instruction_variants: int = 4
    # Share of those variants that also carry typos (vag_ros/typos.py: two character slips
    # in words of 4+ letters). Needs instruction_context > 0. 0 = off.
    instruction_typos: float = 0.0
    # Few-step distillation (vag_ros/train/distillation.py): > 0 trains a student of --init
    # (the teacher) that samples in this many steps, the checkpoint's sampler.num_steps.
    # The teacher runs teacher_steps (a multiple) teacher_draws times on every window.
    distill_steps: int = 0
    distill_method: str = 'trajectory'   # or 'reflow'
    teacher_steps: int = 40
    teacher_draws: int = 1

    def validate(self) -> 'TrainConfig':
        for name in ('steps', 'batch_size', 'log_every', 'save_every'):
            value = getattr(self, name)
            require(value >= 1, name, value, 'must be >= 1')
        require(self.lr > 0, 'lr', self.lr, 'must be > 0')
        require(self.window_stride >= 0, 'window_stride', self.window_stride,
                'must be >= 0 (0 = the clip length)')
        require(self.weight_decay >= 0, 'weight_decay', self.weight_decay, 'must be >= 0')
        require(self.warmup_steps >= 0, 'warmup_steps', self.warmup_steps, 'must be >= 0')
        require(0 <= self.min_lr_ratio <= 1, 'min_lr_ratio', self.min_lr_ratio,
                'must be in [0, 1]')
        require(self.grad_clip >= 0, 'grad_clip', self.grad_clip, 'must be >= 0')
        require(0 <= self.ema_decay < 1, 'ema_decay', self.ema_decay, 'must be in [0, 1)')
        require(self.seed >= 0, 'seed', self.seed, 'must be >= 0')
        require(self.observation_warmup_steps >= 0, 'observation_warmup_steps',
                self.observation_warmup_steps, 'must be >= 0')
        require(0 <= self.instruction_context <= 1, 'instruction_context',
                self.instruction_context, 'must be in [0, 1]')
        require(self.instruction_variants >= 1, 'instruction_variants',
                self.instruction_variants, 'must be >= 1')
        require(0 <= self.instruction_typos <= 1, 'instruction_typos',
                self.instruction_typos, 'must be in [0, 1]')
        require(self.instruction_typos == 0 or self.instruction_context > 0,
                'instruction_typos', self.instruction_typos,
                'applies to the instruction variants: set instruction_context > 0 too')
        require(self.observation_lr_scale > 0, 'observation_lr_scale',
                self.observation_lr_scale, 'must be > 0')
        require(self.distill_steps >= 0, 'distill_steps', self.distill_steps, 'must be >= 0')
        require(self.distill_method in ('trajectory', 'reflow'), 'distill_method',
                self.distill_method, "must be 'trajectory' or 'reflow'")
        require(self.teacher_draws >= 1, 'teacher_draws', self.teacher_draws, 'must be >= 1')
        require(not self.distill_steps or (self.teacher_steps >= self.distill_steps
                                           and self.teacher_steps % self.distill_steps == 0),
                'teacher_steps', self.teacher_steps,
                f'must be a multiple of distill_steps={self.distill_steps}')
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class DecoderTrainConfig:
    """What ``train_decoder`` does; the defaults are the tiny demo's stage."""

    episodes: int = 300          # training episodes whose first clip is generated
    steps: int = 2500            # optimizer steps
    batch_size: int = 8          # frames per step, each from another clip
    lr: float = 2e-3             # AdamW, cosine to 10%
    width: int = 48              # refiner channels
    noise: float = 0.5           # max std of the noise on true latents (residual units)
    generated_fraction: float = 0.5  # share of each batch decoded from generated latents
    sample_steps: int = 10       # Euler steps when sampling the generator's latents
    seed: int = 0

    def validate(self) -> 'DecoderTrainConfig':
        for name in ('episodes', 'steps', 'batch_size', 'width', 'sample_steps'):
            if getattr(self, name) < 1:
                raise ConfigError(f'decoder training: {name}={getattr(self, name)}, must be >= 1')
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f'decoder training: lr={self.lr}, must be > 0')
        if not (0 <= self.noise < 10):
            raise ConfigError(f'decoder training: noise={self.noise}, must be in [0, 10)')
        if not 0 <= self.generated_fraction <= 1:
            raise ConfigError(f'decoder training: generated_fraction='
                              f'{self.generated_fraction}, must be in [0, 1]')
        return self


@dataclasses.dataclass(frozen=True)
class InverseDynamicsTrainConfig:
    """The defaults of ``train_inverse_dynamics`` (the two-stage baseline's CNN)."""

    steps: int = 2000            # optimizer steps
    height: int = 64             # frame size, the VAG model's
    width: int = 64
    batch_size: int = 64
    lr: float = 1e-3             # AdamW, cosine to 5%
    seed: int = 0


def train_config_from_dict(data: typing.Mapping, where: str = '') -> TrainConfig:
    """Build and validate a TrainConfig; errors name the field."""
    return from_dict(TrainConfig, data, where).validate()


def default_train_config_path() -> Path:
    """``config/train_tiny.yaml`` of the source tree or the installed share folder."""
    local = Path(__file__).resolve().parents[2] / 'config' / 'train_tiny.yaml'
    if local.is_file():
        return local
    from vag_ros.resources import share_path
    return share_path('config') / 'train_tiny.yaml'


def load_train_config(path: typing.Union[str, Path, None] = None) -> TrainConfig:
    """Read a TrainConfig YAML (default ``config/train_tiny.yaml``)."""
    path = Path(path) if path else default_train_config_path()
    return train_config_from_dict(load_yaml(path), str(path))
