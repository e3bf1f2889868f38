"""vag-ros train-scene-blind: the scene-blind baseline (each task's mean expert motion)."""

import argparse

HELP = "fit the scene-blind baseline (per-task mean motion) on a folder of episode bags"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data', required=True, help='folder of episode bags')
    parser.add_argument('--out', required=True,
                        help='output folder (e.g. <checkpoint>/baselines/scene_blind)')


def run(args: argparse.Namespace) -> int:
    from vag_ros.eval.scene_blind import fit_scene_blind

    baseline = fit_scene_blind(args.data)
    baseline.save(args.out)
    counts = ', '.join(f'{k}: {v}' for k, v in sorted(baseline.episodes.items()))
    print(f'scene-blind baseline from {sum(baseline.episodes.values())} episodes ({counts}) '
          f'in {args.out}')
    return 0
