"""vag-ros pack-demo: the demo checkpoint layout (VAG + baselines) with float16 weights."""

import argparse

from vag_ros.commands.arguments import keyword_defaults

HELP = 'pack a VAG checkpoint and its baselines into one folder with float16 weights'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.train.demo_checkpoint import DTYPES, pack_demo_checkpoint  # no torch
    parser.add_argument('--vag', required=True, help='trained VAG checkpoint folder')
    parser.add_argument('--no-bridge', required=True, help='trained no-bridge checkpoint')
    parser.add_argument('--inverse-dynamics', required=True,
                        help='trained inverse-dynamics checkpoint')
    parser.add_argument('--scene-blind', default=None,
                        help='scene-blind baseline folder (vag-ros train-scene-blind)')
    parser.add_argument('--out', required=True, help='new folder, e.g. checkpoints/tiny_demo')
    parser.add_argument('--dtype', default=keyword_defaults(pack_demo_checkpoint)['dtype'],
                        choices=DTYPES, help='weights in the folder (default %(default)s)')


def run(args: argparse.Namespace) -> int:
    from vag_ros.train.demo_checkpoint import pack_demo_checkpoint

    out = pack_demo_checkpoint(args.vag, args.no_bridge, args.inverse_dynamics, args.out,
                               args.dtype, args.scene_blind)
    size = sum(p.stat().st_size for p in out.rglob('*') if p.is_file())
    print(f'packed {out} ({size / 1e6:.1f} MB, {args.dtype} weights)')
    return 0
