"""Exponential moving average of the model weights (what inference loads)."""

import copy

import torch
from torch import nn


class Ema:
    """A frozen copy of ``model`` updated as ema = d * ema + (1 - d) * weights."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self, step: int) -> float:
        """Decay at optimizer step ``step`` (1-based), warmed up: min(d, (1 + s) / (10 + s))."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Blend the weights of ``model`` in; buffers are copied."""
        d = self.current_decay(step)
        ema_params = dict(self.model.named_parameters())
        for name, p in model.named_parameters():
            ema_params[name].lerp_(p.detach(), 1.0 - d)
        ema_buffers = dict(self.model.named_buffers())
        for name, b in model.named_buffers():
            ema_buffers[name].copy_(b)

    def state_dict(self):
        return self.model.state_dict()

    def load_state_dict(self, state) -> None:
        self.model.load_state_dict(state, strict=True)
