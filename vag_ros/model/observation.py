"""The action branch's view of its inputs: the first latent frame and the instruction.

Diffusion Policy's U-Net is conditioned on observation features; VAG's action branch gets
the same (the given first frame and the text) plus the bridge. Without the bridge this is
the paper's ablation "first frame + text only". It reads data, never the video branch, so
the action loss still cannot reach the video branch's parameters.
"""

import torch
from torch import nn
import torch.nn.functional as F


class ObservationEncoder(nn.Module):
    """First latent (B, C, 1, H', W') + text (B, L, E) -> features (B, dim + E)."""

    GRID = 4  # coarse spatial layout kept: where the objects and the arm are

    def __init__(self, latent_channels: int, text_dim: int, dim: int = 128,
                 hidden: int = 64):
        super().__init__()
        self.text_dim = text_dim
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, hidden, 3, padding=1), nn.SiLU(),
            nn.Conv2d(hidden, hidden, 3, stride=2, padding=1), nn.SiLU(),
            nn.AdaptiveAvgPool2d(self.GRID), nn.Flatten(),
            nn.Linear(hidden * self.GRID ** 2, dim))
        self.out_dim = dim + text_dim

    def forward(self, first_latent: torch.Tensor, text_emb: torch.Tensor,
                text_mask: torch.Tensor) -> torch.Tensor:
        frame = self.net(first_latent[:, :, 0])  # (B, dim)
        m = text_mask.to(text_emb.dtype)[..., None]  # (B, L, 1)
        text = (text_emb * m).sum(1) / m.sum(1).clamp_min(1.0)  # (B, E) masked mean
        return torch.cat([F.silu(frame), text], dim=-1)  # (B, dim + E)
