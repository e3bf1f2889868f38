"""A learned decoder stage: sharpens the PCA codec's linear decode from the given first frame.

The generator is handed the first frame in pixels, so the decoder may read it too (as Wan's
causal decoder carries its first frame forward). Each later frame k is refined by a small
two-scale CNN from its linear decode, the first frame (the given pixels and their linear
decode) and the linear decodes of frames k-1 and k+1; the last layer starts at zero, so an
untrained refiner is the linear decode exactly. Trained by ``vag-ros train-decoder`` on the
generator's own latents of training episodes and on noised true latents.
"""

import torch
from torch import nn

INPUTS = 5  # frames read per refined frame: itself, first (pixels, linear), previous, next
COARSE = 4  # the coarse path's pooling: frame height and width must divide by it


class FrameRefiner(nn.Module):
    """(B, 3, T, H, W) linear decode + (B, 3, 1, H, W) first frame -> (B, 3, T, H, W)."""

    def __init__(self, width: int = 48):
        super().__init__()
        self.width = width
        self.inp = nn.Sequential(nn.Conv2d(3 * INPUTS, width, 3, padding=1), nn.SiLU())
        self.coarse = nn.Sequential(   # at a quarter of the resolution: the arm's reach
            nn.AvgPool2d(COARSE), nn.Conv2d(width, 2 * width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=2, dilation=2), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=COARSE, mode='nearest'))
        self.fine = nn.Sequential(nn.Conv2d(3 * width, width, 3, padding=1), nn.SiLU(),
                                  nn.Conv2d(width, 3, 3, padding=1))
        nn.init.zeros_(self.fine[-1].weight)
        nn.init.zeros_(self.fine[-1].bias)

    def net(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 15, H, W) -> the correction (N, 3, H, W): full-resolution features beside
        features of a 4x coarser grid (H and W divide by 4).

        On the CPU the convolutions run channels-last (oneDNN's layout: 1.4x faster decode
        measured, the same values to 1e-6); an ONNX export keeps the plain layout."""
        if x.device.type == 'cpu' and not torch.onnx.is_in_onnx_export():
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.inp(x)
        return self.fine(torch.cat([h, self.coarse(h)], dim=1)).contiguous()

    def refine(self, current: torch.Tensor, previous: torch.Tensor, following: torch.Tensor,
               first: torch.Tensor, first_linear: torch.Tensor) -> torch.Tensor:
        """Linear decodes (B, K, 3, H, W) of the frames, their neighbours, the given first
        frame and its linear decode -> refined frames (B, K, 3, H, W), unclamped."""
        b, k, _, h, w = current.shape
        x = torch.cat([current, first.expand(-1, k, -1, -1, -1),
                       first_linear.expand(-1, k, -1, -1, -1), previous - current,
                       following - current], dim=2).reshape(b * k, 3 * INPUTS, h, w)
        out = current.reshape(b * k, 3, h, w) + self.net(x)
        return out.reshape(b, k, 3, h, w)

    def refine_frames(self, video: torch.Tensor, first_frame: torch.Tensor,
                      index: torch.Tensor) -> torch.Tensor:
        """Frames ``index`` (B, K) (each >= 1; K per clip) -> (B, 3, K, H, W), unclamped."""
        t = video.shape[2]
        rows = torch.arange(video.shape[0], device=video.device)[:, None]  # (B, 1)

        def frames(i: torch.Tensor) -> torch.Tensor:  # (B, K) -> (B, K, 3, H, W)
            return video[rows, :, i]

        out = self.refine(frames(index), frames((index - 1).clamp_min(0)),
                          frames((index + 1).clamp_max(t - 1)),
                          first_frame.to(video.dtype).transpose(1, 2),
                          video[:, :, :1].transpose(1, 2))
        return out.transpose(1, 2)

    def forward(self, video: torch.Tensor, first_frame: torch.Tensor) -> torch.Tensor:
        """Frame 0 becomes ``first_frame``; frames 1.. are refined; clamped to [-1, 1]."""
        first = first_frame.to(video.dtype)
        if video.shape[2] == 1:
            return first.clamp(-1.0, 1.0)
        frames = video.transpose(1, 2)  # (B, T, 3, H, W); slices, no gather (ONNX export)
        following = torch.cat([frames[:, 2:], frames[:, -1:]], dim=1)
        rest = self.refine(frames[:, 1:], frames[:, :-1], following, first.transpose(1, 2),
                           frames[:, :1])
        return torch.cat([first, rest.transpose(1, 2)], dim=2).clamp(-1.0, 1.0)
