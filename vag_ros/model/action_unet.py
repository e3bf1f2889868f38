"""Action branch: Diffusion Policy's conditional 1D temporal U-Net, predicting velocity.

Global condition = [sinusoidal timestep embedding -> MLP, condition vector (B, cond_dim)],
applied by FiLM (per-channel scale and bias) in every residual block. The condition vector
is the bridge (B, C'') in VAG, or any other vector (first frame + text for the ablation).
"""

import typing

import torch
from torch import nn
import torch.nn.functional as F

from vag_ros.model.flow import sinusoidal_embedding


class Conv1dBlock(nn.Module):
    """Conv1d -> GroupNorm -> Mish."""

    def __init__(self, cin: int, cout: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv1d(cin, cout, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, cout), nn.Mish())

    def forward(self, x):  # (B, C, T) -> (B, C', T)
        return self.block(x)


class ConditionalResidualBlock1D(nn.Module):
    """Two conv blocks with FiLM from the global condition in between."""

    def __init__(self, cin: int, cout: int, cond_dim: int, kernel_size: int, n_groups: int):
        super().__init__()
        self.blocks = nn.ModuleList([Conv1dBlock(cin, cout, kernel_size, n_groups),
                                     Conv1dBlock(cout, cout, kernel_size, n_groups)])
        self.out_channels = cout
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * cout))
        self.residual = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Apply to x (B, Cin, T) with cond (B, cond_dim) -> (B, Cout, T)."""
        out = self.blocks[0](x)
        scale, bias = self.cond_encoder(cond).unsqueeze(-1).chunk(2, dim=1)  # (B, Cout, 1)
        out = scale * out + bias
        out = self.blocks[1](out)
        return out + self.residual(x)


class ActionUNet(nn.Module):
    """(B, T, D) noisy normalized actions, t (B,), cond (B, cond_dim) -> velocity (B, T, D)."""

    def __init__(self, action_dim: int, cond_dim: int,
                 down_dims: typing.Sequence[int] = (256, 512, 1024), kernel_size: int = 5,
                 n_groups: int = 8, timestep_embed_dim: int = 128):
        super().__init__()
        self.action_dim, self.cond_dim = action_dim, cond_dim
        self.timestep_embed_dim = timestep_embed_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(timestep_embed_dim, 4 * timestep_embed_dim), nn.Mish(),
            nn.Linear(4 * timestep_embed_dim, timestep_embed_dim))
        gdim = timestep_embed_dim + cond_dim
        dims = [action_dim, *down_dims]
        pairs = list(zip(dims[:-1], dims[1:]))
        mid = down_dims[-1]

        def block(a, b):
            return ConditionalResidualBlock1D(a, b, gdim, kernel_size, n_groups)

        self.down = nn.ModuleList()
        for i, (a, b) in enumerate(pairs):
            last = i == len(pairs) - 1
            self.down.append(nn.ModuleList([
                block(a, b), block(b, b),
                nn.Conv1d(b, b, 3, 2, 1) if not last else nn.Identity()]))
        self.mid = nn.ModuleList([block(mid, mid), block(mid, mid)])
        self.up = nn.ModuleList()
        for i, (a, b) in enumerate(reversed(pairs[1:])):
            self.up.append(nn.ModuleList([
                block(b * 2, a), block(a, a), nn.ConvTranspose1d(a, a, 4, 2, 1)]))
        self.final = nn.Sequential(Conv1dBlock(down_dims[0], down_dims[0], kernel_size, n_groups),
                                   nn.Conv1d(down_dims[0], action_dim, 1))
        self.levels = len(pairs)

    def forward(self, actions: torch.Tensor, t: torch.Tensor,
                cond: torch.Tensor) -> torch.Tensor:
        """Velocity (B, T, D) of actions (B, T, D) at t (B,) in [0, 1] given cond (B, cond_dim)."""
        b, horizon, _ = actions.shape
        t = torch.as_tensor(t, dtype=actions.dtype, device=actions.device).reshape(-1)
        t = t.expand(b) if t.numel() == 1 else t
        temb = self.time_mlp(sinusoidal_embedding(t, self.timestep_embed_dim).to(actions.dtype))
        g = torch.cat([temb, cond.to(actions.dtype)], dim=-1)  # (B, E_t + cond_dim)
        x = actions.transpose(1, 2)  # (B, D, T)
        # pad T to a multiple of 2^(levels-1) so down/up sampling round-trips (93 -> 96)
        mult = 2 ** (self.levels - 1)
        pad = (-horizon) % mult
        if pad:
            x = F.pad(x, (0, pad), mode='replicate')
        skips = []
        for res1, res2, down in self.down:
            x = res2(res1(x, g), g)
            skips.append(x)
            x = down(x)
        for res in self.mid:
            x = res(x, g)
        for res1, res2, up in self.up:
            x = torch.cat([x, skips.pop()], dim=1)
            x = up(res2(res1(x, g), g))
        x = self.final(x)  # (B, D, T + pad)
        return x[:, :, :horizon].transpose(1, 2)  # (B, T, D)
