"""Whole-episode parity of a checkpoint's onnxruntime engine against torch, on world scenes.

    python scripts/engine_parity.py checkpoints/tiny_demo --scenes 6

Exports the checkpoint to a temporary float32 engine, generates each scene (the embedded
world's first frame, state and instruction; seeds from 100000) with both backends at the
checkpoint's own sampler steps, and prints the largest differences: joints [rad] and video
[uint8 levels]. The unit tests check the same on micro checkpoints
(test/engines/test_engine_parity.py); this is the figure for a trained one.
"""

import argparse
import tempfile

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--scenes', type=int, default=6)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    from vag_ros.engines.export import export_engine
    from vag_ros.engines.factory import load_pipeline
    from vag_ros.sim.config import load_sim_config
    from vag_ros.sim.record import task_schedule
    from vag_ros.sim.world import World
    torch_pipe = load_pipeline('torch', args.checkpoint)
    world = World(load_sim_config(None))
    joints, levels = [], []
    with tempfile.TemporaryDirectory(prefix='vag-parity-') as tmp:
        export_engine(args.checkpoint, f'{tmp}/engine', log=lambda m: None)
        ort = load_pipeline('onnxruntime', args.checkpoint, f'{tmp}/engine',
                            threads=args.threads)
        for family, seed in task_schedule('all', args.scenes, 100000):
            task = world.make_task(family, seed, 'train')
            expert = world.run_expert(task)
            first, state = expert.frames[0], expert.joints[0]
            want = torch_pipe.generate(first, task.instruction, seed, state=state)
            got = ort.generate(first, task.instruction, seed, state=state)
            joints.append(float(np.abs(got.actions - want.actions).max()))
            levels.append(int(np.abs(got.video.astype(int) - want.video).max()))
    world.close()
    steps = torch_pipe.config.sampler.num_steps
    print(f'{args.checkpoint}: {len(joints)} scenes at {steps} steps, onnxruntime vs torch: '
          f'joints max |diff| {max(joints):.2e} rad (median {np.median(joints):.2e}), video '
          f'max |diff| {max(levels)} uint8 levels (median {np.median(levels):.0f})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
