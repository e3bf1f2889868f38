"""vag-ros train: fit a VAG model on a folder of episode bags; checkpoints into --out."""

import argparse

from vag_ros.commands.arguments import non_negative, positive, torch_device

HELP = 'train a VAG model on episode bags (EMA checkpoint + resumable state in --out)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', default='tiny',
                        help="model preset ('tiny', 'small', 'paper') or a model YAML "
                             '(default tiny)')
    parser.add_argument('--data', required=True, help='folder of episode bags')
    parser.add_argument('--cache', default=None,
                        help='latent cache folder: built there on first use (a new folder), '
                             'then training reads the encoded windows from disk; a cache of '
                             'other data, config or window stride is refused')
    parser.add_argument('--out', required=True,
                        help='output folder: new/empty, or the run to continue with --resume')
    parser.add_argument('--train-config', default=None,
                        help='TrainConfig YAML (default config/train_tiny.yaml)')
    parser.add_argument('--steps', type=positive, default=None,
                        help='total optimizer steps (overrides the train config)')
    parser.add_argument('--seed', type=non_negative, default=None,
                        help='seed of the initial weights, batches and noise (overrides the '
                             'train config)')
    parser.add_argument('--window-stride', type=non_negative, default=None,
                        help='frames between the windows of long episodes (overrides the '
                             'train config; 0 = the clip length)')
    parser.add_argument('--mode', choices=('joint', 'video_only', 'action_no_bridge'),
                        default=None, help='override the model mode (default: the config)')
    parser.add_argument('--device', type=torch_device, default=None,
                        help='torch device (default: cuda when available, else cpu)')
    parser.add_argument('--init', default=None,
                        help='start from this checkpoint (same model config): its weights, '
                             'action stats and codec; with freeze_video in the train config '
                             'this trains the action branch further')
    parser.add_argument('--init-video', default=None,
                        help='take only the video branch (and codec) from this joint '
                             'checkpoint; the action branch trains afresh (with freeze_video: '
                             'a new action branch on a trained video branch)')
    parser.add_argument('--urdf', default=None,
                        help="the robot's URDF: only for episodes that carry none (recorded "
                             'before episodes did), or to record a file of the same robot '
                             'with other limits; the checkpoint keeps it as robot.urdf')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run saved in --out')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from vag_ros.model.config import load_model_config
    from vag_ros.train.train_config import load_train_config
    from vag_ros.train.trainer import train

    model_config = load_model_config(args.config)
    train_config = load_train_config(args.train_config)
    if args.steps is not None:
        train_config = dataclasses.replace(train_config, steps=args.steps)
    if args.seed is not None:
        train_config = dataclasses.replace(train_config, seed=args.seed)
    if args.window_stride is not None:
        train_config = dataclasses.replace(train_config, window_stride=args.window_stride)
    result = train(model_config, train_config, args.data, args.out, mode=args.mode,
                   resume=args.resume, progress=not args.quiet, device=args.device,
                   init=args.init, init_video=args.init_video, cache_dir=args.cache,
                   urdf=args.urdf)
    if int(os.environ.get('RANK', '0')) == 0:
        print(f'trained to step {result.step}: loss {result.loss:.4f}, '
              f'{result.seconds_per_step:.2f} s/step; checkpoint in {result.out_dir}')
    return 0
