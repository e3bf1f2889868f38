"""The action branch's view of its inputs: the first frame, the instruction, the arm's state.

Diffusion Policy's U-Net is conditioned on observation features; VAG's action branch gets
the same plus the bridge. Without the bridge this is the paper's ablation "first frame +
text only". It reads data, never the video branch, so the action loss still cannot reach the
video branch's parameters.

Where the named object is decides the trajectory, so the frame is read at pixel level (not
through the video codec's 8x8 patches). The instruction becomes a few query vectors; every
pixel (its colour, through a small per-pixel network) is scored against each query, and a
softmax over the image turns each score map into one image point (x, y) -- a spatial softmax
(Levine et al., 2016) whose map the text chooses, as attention pooling does in CLIPort.
Measured on the embedded world's 900 training episodes (a supervised probe: these features
regressing the final joints): this reached r = 0.98 for the final base yaw on held-out
episodes within 400 steps, where FiLM-modulated convolutions with per-map keypoints stayed
at r ~ 0 (and collapsed to a uniform softmax inside the flow model).

Two options: ``text_pooling='attention'`` makes each query from its own learned weighting
of the instruction's tokens (instead of their mean), and ``local_features`` reads a small
convolution's output with each query's attention: the colour network is per pixel and sees
no outline, so without it the block's yaw, which sets the wrist, is invisible. In the probe
(``scripts/observation_probe.py``) 8 local features took the held-out correlation of the
final wrist yaw from 0.48 to 0.72.
"""

import math
import typing

import torch
from torch import nn
import torch.nn.functional as F

from vag_ros.model.config import TEXT_POOLINGS


def grid(n: int, like: torch.Tensor) -> torch.Tensor:
    """(n,) evenly spaced values from -1 to 1 in ``like``'s dtype and device.

    arange, not linspace: the ONNX exporter turns linspace into a float64 Range.
    """
    step = 2.0 / max(n - 1, 1)
    return torch.arange(n, device=like.device).to(like.dtype) * step - 1.0


def pooled_text(text_emb: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean of token embeddings: (B, L, E), (B, L) -> (B, E)."""
    m = text_mask.to(text_emb.dtype)[..., None]  # (B, L, 1)
    return (text_emb * m).sum(1) / m.sum(1).clamp_min(1.0)


class AttentionPooling(nn.Module):
    """Q learned weightings of the instruction's tokens: (B, L, E), (B, L) -> (B, Q, E).

    Each slot scores every token (a linear map of its embedding) and takes the softmax-weighted
    sum over the real tokens, so a slot can read the colour or the direction word and skip
    filler ("could you", "I want"). The scores start at zero: every slot starts as the masked
    mean. An all-padding instruction (the CFG null) pools to zeros, as the mean does.
    """

    def __init__(self, text_dim: int, slots: int):
        super().__init__()
        self.score = nn.Linear(text_dim, slots)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, text_emb: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(text_emb)  # (B, L, Q)
        padding = torch.full_like(scores, -1e4)  # finite: fp16 engines, all-padding rows
        weights = torch.softmax(torch.where(text_mask[..., None], scores, padding), dim=1)
        weights = weights * text_mask[..., None].to(weights.dtype)  # null text -> zeros
        return torch.einsum('blq,ble->bqe', weights, text_emb)


class ObservationEncoder(nn.Module):
    """Frame (B, 3, S, S) in [-1, 1] + text (B, L, E) + state (B, D) -> features (B, dim)."""

    def __init__(self, text_dim: int, state_dim: int = 0, dim: int = 128, heads: int = 4,
                 pixel_dim: int = 16, hidden: int = 32, temperature: float = 0.1,
                 text_pooling: str = 'mean', local_features: int = 0):
        super().__init__()
        if text_pooling not in TEXT_POOLINGS:
            raise ValueError(f'text_pooling={text_pooling!r}: expected one of {TEXT_POOLINGS}')
        self.heads, self.pixel_dim = heads, pixel_dim
        # 'attention': one token weighting per query head and one for the text feature
        self.pooling = AttentionPooling(text_dim, heads + 1) \
            if text_pooling == 'attention' else None
        self.pixel = nn.Sequential(  # per pixel: colour -> embedding, position-free
            nn.Conv2d(3, hidden, 1), nn.SiLU(), nn.Conv2d(hidden, pixel_dim, 1))
        self.query = nn.Linear(text_dim, heads * pixel_dim)
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())
        self.text = nn.Linear(text_dim, dim)
        self.state = nn.Linear(state_dim, dim) if state_dim else None
        # what the neighbourhood looks like (edges: the block's yaw), read where each head
        # attends; the colour network above is per pixel and cannot see a shape
        self.local = nn.Sequential(
            nn.Conv2d(3, hidden, 5, padding=2), nn.SiLU(),
            nn.Conv2d(hidden, local_features, 3, padding=1)) if local_features else None
        # per head: x, y, how strongly the image answers the query (and the local features)
        width = (3 + local_features) * heads + dim + (dim if state_dim else 0)
        self.out = nn.Sequential(nn.Linear(width, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, dim))
        self.out_dim = dim

    def queries(self, text: torch.Tensor) -> torch.Tensor:
        """Pooled text, one (B, E) for all heads or one per head (B, M, E) -> (B, M, P)."""
        if text.ndim == 2:
            return self.query(text).view(text.shape[0], self.heads, self.pixel_dim)
        weight = self.query.weight.view(self.heads, self.pixel_dim, -1)  # (M, P, E)
        bias = self.query.bias.view(self.heads, self.pixel_dim)
        return torch.einsum('bme,mpe->bmp', text, weight) + bias

    def attend(self, frame: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Frame (B, 3, H, W), pooled text (B, E) or (B, M, E) -> attention over pixels
        (B, M, H*W) and the log of how much the image answers each query (B, M)."""
        pixels = self.pixel(frame)  # (B, P, H, W)
        b, p, h, w = pixels.shape
        query = self.queries(text)  # (B, M, P)
        logits = torch.einsum('bphw,bmp->bmhw', pixels, query).reshape(b, self.heads, h * w)
        logits = logits / p ** 0.5
        attention = torch.softmax(logits / self.log_temperature.exp(), -1)  # (B, M, H*W)
        strength = torch.logsumexp(logits, -1) - math.log(h * w)  # (B, M)
        return attention, strength

    def forward(self, frame: torch.Tensor, text_emb: torch.Tensor, text_mask: torch.Tensor,
                state: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.pooling is None:
            text = query_text = pooled_text(text_emb, text_mask)  # (B, E)
        else:
            slots = self.pooling(text_emb, text_mask)  # (B, M + 1, E)
            query_text, text = slots[:, :-1], slots[:, -1]  # (B, M, E), (B, E)
        attention, strength = self.attend(frame, query_text)  # (B, M, H*W), (B, M)
        h, w = frame.shape[2:]
        ys, xs = grid(h, frame), grid(w, frame)
        x = (attention * xs.repeat(h)).sum(-1)  # (B, M) expected column in [-1, 1]
        y = (attention * ys.repeat_interleave(w)).sum(-1)  # (B, M) expected row
        parts = [x, y, strength, F.silu(self.text(text))]
        if self.local is not None:
            local = self.local(frame).flatten(2)  # (B, F, H*W)
            parts.append(torch.einsum('bmn,bfn->bmf', attention, local).flatten(1))
        if self.state is not None:
            if state is None:
                raise ValueError('this observation encoder needs the arm state (B, D)')
            parts.append(F.silu(self.state(state)))
        return self.out(torch.cat(parts, dim=-1))  # (B, dim)
