"""The action branch's view of its inputs: the first frame, the instruction, the arm's state.

Diffusion Policy's U-Net is conditioned on observation features; VAG's action branch gets
the same plus the bridge. Without the bridge this is the paper's ablation "first frame +
text only". It reads data, never the video branch, so the action loss still cannot reach the
video branch's parameters.

Where the named object is decides the trajectory, so the frame is read at pixel level (not
through the video codec's 8x8 patches): convolutions with coordinate channels, modulated by
the instruction (FiLM) so that the text selects what to look at, then a spatial softmax
that turns each feature map into one image point (x, y), as in Levine et al. (2016).
"""

import typing

import torch
from torch import nn
import torch.nn.functional as F


def grid(n: int, like: torch.Tensor) -> torch.Tensor:
    """(n,) evenly spaced values from -1 to 1 in ``like``'s dtype and device.

    arange, not linspace: the ONNX exporter turns linspace into a float64 Range.
    """
    step = 2.0 / max(n - 1, 1)
    return torch.arange(n, device=like.device).to(like.dtype) * step - 1.0


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + 2, H, W) with x and y in [-1, 1] appended (CoordConv)."""
    b, _, h, w = x.shape
    ys, xs = grid(h, x), grid(w, x)
    grid_y = ys.view(1, 1, h, 1).expand(b, 1, h, w)
    grid_x = xs.view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([x, grid_x, grid_y], dim=1)


class SpatialSoftmax(nn.Module):
    """(B, K, H, W) feature maps -> (B, 2K) expected image coordinates of each map."""

    def __init__(self):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        b, k, h, w = maps.shape
        attention = torch.softmax(maps.reshape(b, k, h * w) / self.log_temperature.exp(), -1)
        ys, xs = grid(h, maps), grid(w, maps)
        grid_x = xs.repeat(h)             # (H*W,)
        grid_y = ys.repeat_interleave(w)  # (H*W,)
        x = (attention * grid_x).sum(-1)  # (B, K)
        y = (attention * grid_y).sum(-1)
        return torch.cat([x, y], dim=-1)  # (B, 2K)


def pooled_text(text_emb: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean of token embeddings: (B, L, E), (B, L) -> (B, E)."""
    m = text_mask.to(text_emb.dtype)[..., None]  # (B, L, 1)
    return (text_emb * m).sum(1) / m.sum(1).clamp_min(1.0)


class ObservationEncoder(nn.Module):
    """Frame (B, 3, S, S) in [-1, 1] + text (B, L, E) + state (B, D) -> features (B, dim)."""

    def __init__(self, text_dim: int, state_dim: int = 0, dim: int = 128,
                 keypoints: int = 32, hidden: int = 32):
        super().__init__()
        self.state_dim = state_dim
        self.stem = nn.Sequential(
            nn.Conv2d(3 + 2, hidden, 5, stride=2, padding=2), nn.GroupNorm(8, hidden),
            nn.SiLU(),
            nn.Conv2d(hidden, 2 * hidden, 3, stride=2, padding=1), nn.GroupNorm(8, 2 * hidden))
        self.film = nn.Linear(text_dim, 4 * hidden)  # scale and bias per channel
        self.head = nn.Sequential(
            nn.Conv2d(2 * hidden + 2, 2 * hidden, 3, padding=1), nn.SiLU(),
            nn.Conv2d(2 * hidden, keypoints, 1))
        self.keypoints = SpatialSoftmax()
        self.text = nn.Linear(text_dim, dim)
        width = 2 * keypoints + dim + (dim if state_dim else 0)
        self.state = nn.Linear(state_dim, dim) if state_dim else None
        self.out = nn.Sequential(nn.Linear(width, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.out_dim = dim
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, frame: torch.Tensor, text_emb: torch.Tensor, text_mask: torch.Tensor,
                state: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        text = pooled_text(text_emb, text_mask)  # (B, E)
        h = self.stem(coordinate_channels(frame))  # (B, 2h, S/4, S/4)
        scale, bias = self.film(text)[..., None, None].chunk(2, dim=1)  # (B, 2h, 1, 1)
        h = F.silu(h * (1.0 + scale) + bias)
        points = self.keypoints(self.head(coordinate_channels(h)))  # (B, 2K)
        parts = [points, F.silu(self.text(text))]
        if self.state is not None:
            if state is None:
                raise ValueError('this observation encoder needs the arm state (B, D)')
            parts.append(F.silu(self.state(state)))
        return self.out(torch.cat(parts, dim=-1))  # (B, dim)
