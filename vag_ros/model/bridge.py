"""The pooling bridge from the video branch to the action branch (no learned layers).

z0 (B, C, T', H', W') -> adaptive_avg_pool3d -> (B, C') with C' = C -> tiled to C''.
Expansion choice: the C' values are repeated cyclically (c0..c_{C'-1}, c0, ...) and cut at
C''; for the paper (C' = 16, C'' = 132) that is 8 full copies and the first 4 channels once
more. Cyclic tiling is deterministic, keeps every channel, and needs no weights.
The result is detached: the action loss never reaches the video branch.
"""

import torch
import torch.nn.functional as F


def pool_latent(z0: torch.Tensor) -> torch.Tensor:
    """(B, C, T', H', W') -> (B, C) global average."""
    return F.adaptive_avg_pool3d(z0, (1, 1, 1)).flatten(1)  # (B, C)


def expand_channels(pooled: torch.Tensor, expanded_dim: int) -> torch.Tensor:
    """(B, C') -> (B, C'') by cyclic tiling, truncated to ``expanded_dim``."""
    channels = pooled.shape[1]
    reps = -(-expanded_dim // channels)  # ceil
    return pooled.repeat(1, reps)[:, :expanded_dim]  # (B, C'')


def bridge(z0: torch.Tensor, expanded_dim: int) -> torch.Tensor:
    """Clean-latent estimate (B, C, T', H', W') -> detached condition (B, C'')."""
    return expand_channels(pool_latent(z0.detach()), expanded_dim).detach()
