"""Per-dimension action normalization, stored beside the weights."""

import typing

import torch

from vag_ros.errors import CheckpointError, ConfigError


class ActionNormalizer:
    """Maps joint-unit actions (..., D) to the model's range and back.

    ``minmax`` maps [min, max] to [-1, 1]; ``meanstd`` standardizes. Constant dimensions
    get a unit range so they do not blow up.
    """

    KINDS = ('minmax', 'meanstd')
    EPS = 1e-6

    def __init__(self, kind: str, a: torch.Tensor, b: torch.Tensor):
        """``a``/``b`` are (min, max) or (mean, std), each (D,)."""
        if kind not in self.KINDS:
            raise ConfigError(f'action normalization {kind!r}: must be one of {self.KINDS}')
        a = torch.as_tensor(a, dtype=torch.float32).flatten()
        b = torch.as_tensor(b, dtype=torch.float32).flatten()
        if a.shape != b.shape:
            raise ConfigError(
                f'action normalization stats differ in shape: {a.shape} vs {b.shape}')
        self.kind = kind
        self.a, self.b = a, b

    @property
    def dim(self) -> int:
        return self.a.shape[0]

    @classmethod
    def identity(cls, dim: int) -> 'ActionNormalizer':
        """No-op normalizer (mean 0, std 1)."""
        return cls('meanstd', torch.zeros(dim), torch.ones(dim))

    @classmethod
    def fit(cls, actions: torch.Tensor, kind: str = 'minmax') -> 'ActionNormalizer':
        """Stats from actions (N, D) or (B, T, D) in joint units."""
        flat = torch.as_tensor(actions, dtype=torch.float32).reshape(-1, actions.shape[-1])
        if kind == 'minmax':
            return cls(kind, flat.min(0).values, flat.max(0).values)
        return cls(kind, flat.mean(0), flat.std(0, unbiased=False))

    def _offset_scale(self, ref: torch.Tensor):
        a = self.a.to(ref.device, ref.dtype)
        b = self.b.to(ref.device, ref.dtype)
        if self.kind == 'minmax':
            span = b - a
            span = torch.where(span.abs() < self.EPS, torch.full_like(span, 2.0), span)
            return (a + b) / 2, span / 2
        return a, torch.where(b.abs() < self.EPS, torch.ones_like(b), b)

    def _check(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.dim:
            raise ConfigError(f'actions have {x.shape[-1]} dims, normalization has {self.dim}')

    def normalize(self, actions: torch.Tensor) -> torch.Tensor:
        """(..., D) joint units -> (..., D) normalized."""
        self._check(actions)
        offset, scale = self._offset_scale(actions)
        return (actions - offset) / scale

    def denormalize(self, actions: torch.Tensor, clip: bool = False) -> torch.Tensor:
        """(..., D) normalized -> (..., D) joint units.

        ``clip`` (minmax only): first clamp to [-1, 1], i.e. to the range of the training
        actions, as Diffusion Policy clips its samples; model outputs are never let out of
        the range the data (recorded within the robot's limits) spans.
        """
        self._check(actions)
        if clip and self.kind == 'minmax':
            actions = actions.clamp(-1.0, 1.0)
        offset, scale = self._offset_scale(actions)
        return actions * scale + offset

    def to_tensors(self, prefix: str = 'action_norm.') -> typing.Dict[str, torch.Tensor]:
        """Tensors for a safetensors file; the kind is encoded in the key names."""
        names = ('min', 'max') if self.kind == 'minmax' else ('mean', 'std')
        return {prefix + names[0]: self.a.clone(), prefix + names[1]: self.b.clone()}

    @classmethod
    def from_tensors(cls, tensors: typing.Mapping[str, torch.Tensor],
                     prefix: str = 'action_norm.') -> 'ActionNormalizer':
        """Inverse of ``to_tensors``; CheckpointError when the stats are missing."""
        if prefix + 'min' in tensors and prefix + 'max' in tensors:
            return cls('minmax', tensors[prefix + 'min'], tensors[prefix + 'max'])
        if prefix + 'mean' in tensors and prefix + 'std' in tensors:
            return cls('meanstd', tensors[prefix + 'mean'], tensors[prefix + 'std'])
        raise CheckpointError(
            f'action normalization stats missing: expected {prefix}min/max or {prefix}mean/std')

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        names = ('min', 'max') if self.kind == 'minmax' else ('mean', 'std')
        return {'kind': self.kind, names[0]: self.a.tolist(), names[1]: self.b.tolist()}

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'ActionNormalizer':
        """Inverse of ``to_dict``."""
        kind = data.get('kind')
        names = ('min', 'max') if kind == 'minmax' else ('mean', 'std')
        try:
            return cls(kind, torch.tensor(data[names[0]]), torch.tensor(data[names[1]]))
        except KeyError as exc:
            raise ConfigError(f'action normalization {kind!r}: missing field {exc}') from None
