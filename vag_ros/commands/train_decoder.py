"""vag-ros train-decoder: the learned decoder stage of a trained VAG checkpoint."""

import argparse

from vag_ros.commands.arguments import add_config_options, network_width, non_negative, \
    positive, positive_float, torch_device

HELP = ("train a checkpoint's learned video decoder (the PCA codec's refiner) on its own "
        'generated latents; writes a new checkpoint')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.train.train_config import DecoderTrainConfig  # no torch: built at start
    parser.add_argument('--checkpoint', required=True, help='trained VAG checkpoint folder')
    parser.add_argument('--data', required=True, help='its training episode bags')
    parser.add_argument('--out', required=True, help='new checkpoint folder (new or empty)')
    add_config_options(parser, DecoderTrainConfig(), {
        'episodes': (positive, 'episodes whose first clip is generated'),
        'steps': (positive, 'optimizer steps'),
        'batch_size': (positive, 'frames per step, each from another clip'),
        'lr': (positive_float, 'AdamW learning rate, cosine to 10%%'),
        'width': (network_width, 'refiner channels'),
        'noise': (float, 'max std of the noise on true latents'),
        'generated_fraction': (float, 'share of each batch from generated latents'),
        'sample_steps': (positive, 'Euler steps when sampling latents'),
        'seed': (non_negative,
                 "seed of the sampled latents, the refiner's weights and the batches")})
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
