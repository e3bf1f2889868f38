"""vag-ros train-inverse-dynamics: the two-stage baseline's frame -> joints CNN."""

import argparse

from vag_ros.commands.arguments import add_config_options, frame_side, non_negative, \
    positive, positive_float, torch_device

HELP = "train the two-stage baseline's inverse-dynamics CNN on a folder of episode bags"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.train.train_config import InverseDynamicsTrainConfig  # no torch: built at start
    parser.add_argument('--data', required=True, help='folder of episode bags')
    parser.add_argument('--out', required=True,
                        help='output folder (e.g. <checkpoint>/baselines/inverse_dynamics)')
    add_config_options(parser, InverseDynamicsTrainConfig(), {
        'steps': (positive, 'optimizer steps'),
        'height': (frame_side, "frame height, the VAG model's"),
        'width': (frame_side, "frame width, the VAG model's"),
        'batch_size': (positive, 'frames per step'),
        'lr': (positive_float, 'AdamW learning rate, cosine to 5%%'),
        'seed': (non_negative, 'seed of the weights, batches and shifts')})
    parser.add_argument('--no-augment', action='store_true', help='no random shifts')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='torch device (default cpu)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from vag_ros.train.inverse_dynamics import train_inverse_dynamics

    summary = train_inverse_dynamics(
        args.data, args.out, steps=args.steps, height=args.height, width=args.width,
        batch_size=args.batch_size, lr=args.lr, seed=args.seed, augment=not args.no_augment,
        progress=not args.quiet, device=args.device)
    print(summary.describe())
    return 0
