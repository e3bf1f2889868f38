"""vag-ros train-decoder: the learned decoder stage of a trained VAG checkpoint."""

import argparse

from vag_ros.commands.arguments import non_negative, positive, torch_device

HELP = ("train a checkpoint's learned video decoder (the PCA codec's refiner) on its own "
        'generated latents; writes a new checkpoint')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.train.train_config import DecoderTrainConfig  # no torch: built at start
    d = DecoderTrainConfig()
    parser.add_argument('--checkpoint', required=True, help='trained VAG checkpoint folder')
    parser.add_argument('--data', required=True, help='its training episode bags')
    parser.add_argument('--out', required=True, help='new checkpoint folder (new or empty)')
    parser.add_argument('--episodes', type=positive, default=d.episodes,
                        help=f'episodes whose first clip is generated (default {d.episodes})')
    parser.add_argument('--steps', type=positive, default=d.steps,
                        help=f'optimizer steps (default {d.steps})')
    parser.add_argument('--batch-size', type=positive, default=d.batch_size)
    parser.add_argument('--lr', type=float, default=d.lr)
    parser.add_argument('--width', type=positive, default=d.width,
                        help=f'refiner channels (default {d.width})')
    parser.add_argument('--noise', type=float, default=d.noise,
                        help='max std of the noise on true latents (default %(default)s)')
    parser.add_argument('--generated-fraction', type=float, default=d.generated_fraction,
                        help='share of each batch from generated latents (default %(default)s)')
    parser.add_argument('--sample-steps', type=positive, default=d.sample_steps,
                        help='Euler steps when sampling latents (default %(default)s)')
    parser.add_argument('--seed', type=non_negative, default=d.seed)
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='torch device (default cpu)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from vag_ros.train.decoder_training import train_decoder
    from vag_ros.train.train_config import DecoderTrainConfig

    config = DecoderTrainConfig(args.episodes, args.steps, args.batch_size, args.lr,
                                args.width, args.noise, args.generated_fraction,
                                args.sample_steps, args.seed)
    summary = train_decoder(args.checkpoint, args.data, args.out, config,
                            progress=not args.quiet, device=args.device)
    print(summary.describe())
    return 0
