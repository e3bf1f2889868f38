"""Video PSNR frame by frame, on held-out episodes of the embedded world: where a checkpoint's
generated video falls behind, against the two references `vag-ros eval` reports (the first
frame held still; the codec's reconstruction of the ground truth).

    python scripts/video_psnr_per_frame.py checkpoints/tiny_demo runs/gpu/small/final \\
        --episodes 6
"""

import argparse
from pathlib import Path
import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vag_ros.model.pipeline import VagPipeline  # noqa: E402
from vag_ros.sim.config import load_sim_config  # noqa: E402
from vag_ros.sim.world import World  # noqa: E402
from vag_ros.eval import metrics  # noqa: E402
from vag_ros.frame_geometry import resize_frames  # noqa: E402
from vag_ros.eval.evaluate import reference_videos  # noqa: E402

FAMILIES = ('touch', 'push', 'pick')
SHOWN = (1, 2, 5, 10, 20, 30, 39)


def per_frame(video: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(T,) PSNR [dB] of each frame of uint8 videos (T, H, W, 3)."""
    return np.array([metrics.psnr(video[t:t + 1], truth[t:t + 1]) for t in range(len(truth))])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--episodes', type=int, default=6)
    parser.add_argument('--seed-start', type=int, default=100000)
    args = parser.parse_args(argv)
    pipes = {c: VagPipeline.from_checkpoint(c, 'cpu') for c in args.checkpoints}
    first = next(iter(pipes.values()))
    height, width = first.config.video.height, first.config.video.width
    world = World(load_sim_config(None))
    rows = {name: [] for name in [*pipes, 'first frame held', 'codec reconstruction']}
    try:
        for k in range(args.episodes):
            seed = args.seed_start + k
            task = world.make_task(FAMILIES[k % 3], seed, 'train')
            expert = world.run_expert(task)
            truth = resize_frames(expert.frames, height, width)  # (T, H, W, 3)
            held, rebuilt = reference_videos(first.codec, truth)
            rows['first frame held'].append(per_frame(held, truth))
            rows['codec reconstruction'].append(per_frame(rebuilt, truth))
            for name, pipe in pipes.items():
                out = pipe.generate(expert.frames[0], task.instruction, seed,
                                    state=expert.joints[0])
                rows[name].append(per_frame(out.video, truth))
    finally:
        world.close()
    # frame 0 is the given first frame: left out of the mean, indices count from it
    print(f'| video | mean of frames 1-{len(truth) - 1} | '
          f'{" | ".join(f"frame {t}" for t in SHOWN)} |')
    print(f'| --- | ---: | {" | ".join("---:" for _ in SHOWN)} |')
    for name, values in rows.items():
        m = np.mean(values, axis=0)   # (T,)
        print(f'| {name} | {m[1:].mean():.2f} | {" | ".join(f"{m[t]:.2f}" for t in SHOWN)} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
