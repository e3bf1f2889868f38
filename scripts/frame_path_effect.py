"""The one frame path's effect on what generation reads: the first frames of N held-out world
scenes resized to the model's video size by the resize generation used before (float
antialiased bilinear, not rounded) and by the one resize training uses (area, rounded to
uint8, vag_ros.frame_geometry.resize_frames). Prints the PSNR between the two and the largest
pixel difference.

    python scripts/frame_path_effect.py --checkpoint checkpoints/tiny_demo --scenes 99
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from vag_ros.frame_geometry import resize_frames
from vag_ros.model.checkpoint import read_config
from vag_ros.sim.config import load_sim_config
from vag_ros.sim.scenes import world_specs, WorldScenes
from vag_ros.sim.world import World


def previous_generation_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """What frame_to_tensor did before the one frame path, back in uint8 units (H, W, 3)."""
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    x = F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False,
                      antialias=True).clamp(-1.0, 1.0)
    return ((x[0].permute(1, 2, 0) + 1.0) * 127.5).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', default='checkpoints/tiny_demo')
    parser.add_argument('--scenes', type=int, default=99)
    parser.add_argument('--seed', type=int, default=100000)
    args = parser.parse_args()
    video = read_config(args.checkpoint).video
    world = World(load_sim_config(None))
    scenes = WorldScenes(world)
    try:
        frames = np.stack([scenes.load(spec).first_frame
                           for spec in world_specs(args.scenes, args.seed)])  # (N, H, W, 3)
    finally:
        world.close()
    new = resize_frames(frames, video.height, video.width).astype(np.float64)
    old = np.stack([previous_generation_resize(f, video.height, video.width) for f in frames])
    mse = np.mean(((old - new) / 255.0) ** 2)
    print(f'{len(frames)} first frames {frames.shape[1]}x{frames.shape[2]} -> '
          f'{video.height}x{video.width}: PSNR(previous generation resize, training resize) '
          f'= {10 * np.log10(1.0 / mse):.2f} dB, max |difference| {np.abs(old - new).max():.2f} '
          f'of 255, mean {np.abs(old - new).mean():.3f}')


if __name__ == '__main__':
    main()
