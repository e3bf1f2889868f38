"""How well a trained checkpoint's observation encoder knows where the motion goes: its waypoint
head's guess (no flow, no video) against the expert's joints at the waypoints, on held-out
episodes of the embedded world, training and held-out instruction templates apart.

    python scripts/waypoint_head_check.py checkpoints/tiny_demo ckpt/token --episodes 60

Prints the RMS error [rad] of the final waypoint per joint, and over all waypoints and joints.
Every other episode uses a held-out template, as ``vag-ros eval`` does.
"""

import argparse
from pathlib import Path
import sys
import typing

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vag_ros.model.action_space import check_state, from_model  # noqa: E402
from vag_ros.model.pipeline import frame_to_tensor, VagPipeline  # noqa: E402
from vag_ros.model.vag import Observation, waypoint_index, WAYPOINTS  # noqa: E402
from vag_ros.sim.config import load_sim_config  # noqa: E402
from vag_ros.sim.record import task_schedule  # noqa: E402
from vag_ros.sim.world import World  # noqa: E402

SPLITS = ('train', 'held_out')


def guess(pipe, first_frame: np.ndarray, instruction: str, state: np.ndarray) -> np.ndarray:
    """The waypoint head's (W, D) joints for one episode's first frame, text and state."""
    cfg = pipe.config
    if pipe.model.waypoints is None:
        raise SystemExit(f'{cfg.name}: this checkpoint has no waypoint head')
    emb, mask = pipe.encode_text(instruction)
    oh, ow = cfg.observation_hw
    frame = frame_to_tensor(first_frame, oh, ow, True)[:, :, 0].to(pipe.device)  # (1, 3, S, S)
    s = check_state(state, cfg.action.dim).to(pipe.device)  # (1, D)
    with torch.no_grad():
        features = pipe.model.observe(Observation(frame, emb.to(pipe.device),
                                                  mask.to(pipe.device), s))
        normalized = pipe.model.waypoints(features).view(1, WAYPOINTS, cfg.action.dim)
        joints = from_model(normalized, s, pipe.normalizer, cfg.action.state_conditioning)
    return joints[0].cpu().numpy()


def errors(pipes: typing.Sequence, world, episodes: int, seed_start: int) -> list:
    """Per checkpoint, {split: (N, W, D) guess - truth}."""
    out = [{split: [] for split in SPLITS} for _ in pipes]
    for k, (family, seed) in enumerate(task_schedule('all', episodes, seed_start)):
        split = SPLITS[(k + 1) % 2 == 0]
        task = world.make_task(family, seed, split)
        expert = world.run_expert(task)
        truth = expert.actions[waypoint_index(len(expert.actions)).numpy()]  # (W, D)
        for pipe, rows in zip(pipes, out):
            rows[split].append(guess(pipe, expert.frames[0], task.instruction,
                                     expert.joints[0]) - truth)
    return [{split: np.array(rows[split]) for split in SPLITS if rows[split]} for rows in out]


def table(names: typing.Sequence[str], results: list, joint_names) -> str:
    """Markdown: final-waypoint RMS per joint and the RMS over everything, per split."""
    lines = [f'| checkpoint | templates | {" | ".join(joint_names)} | all waypoints |',
             f'| --- | --- | {" | ".join("---:" for _ in joint_names)} | ---: |']
    for name, result in zip(names, results):
        for split, e in result.items():
            final = np.sqrt((e[:, -1] ** 2).mean(axis=0))  # (D,)
            lines.append(f'| {name} | {split} ({len(e)}) | '
                         f'{" | ".join(f"{v:.3f}" for v in final)} | '
                         f'{float(np.sqrt((e ** 2).mean())):.3f} |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--episodes', type=int, default=60)
    parser.add_argument('--seed-start', type=int, default=100000)
    parser.add_argument('--sim-config', default=None, help='default config/sim.yaml')
    args = parser.parse_args(argv)
    pipes = [VagPipeline.from_checkpoint(c, 'cpu') for c in args.checkpoints]
    world = World(load_sim_config(args.sim_config))
    try:
        results = errors(pipes, world, args.episodes, args.seed_start)
        print(table(args.checkpoints, results, world.robot.joint_names))
    finally:
        world.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
