"""vag-ros first-frames: episode bags -> the first-frames list synthesize reads.

For each episode bag of --episodes: frame --frame (default 0, the first) as <bag>.png in
--out, and an entry of --out/scenes.yaml {image, state, instruction, seed, episode, frame}:
state = the measured joints at that frame in the episode's joint order (scenes.yaml's
joint_names), instruction = the episode's, seed = --seed + its position. Then
`vag-ros synthesize --first-frames DIR` generates from each. An existing non-empty --out
is refused.
"""

import argparse

from vag_ros.commands.arguments import non_negative, seed

HELP = 'write a --first-frames list (PNG + state + instruction) from episode bags'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--episodes', required=True, help='folder of episode bags')
    parser.add_argument('--out', required=True, help='new folder for the PNGs and scenes.yaml')
    parser.add_argument('--frame', type=non_negative, default=0,
                        help='which frame of each episode (default 0, the first)')
    parser.add_argument('--seed', type=seed, default=0,
                        help='generation seed of the first entry, the next ones +1 each '
                             '(default 0)')


def run(args: argparse.Namespace) -> int:
    from vag_ros.synth.first_frames import LIST_NAME, write_first_frames
    listing = write_first_frames(args.episodes, args.out, args.frame, args.seed)
    print(f'{len(listing["scenes"])} first frames (frame {args.frame}) of {args.episodes} in '
          f'{args.out}; list {args.out}/{LIST_NAME}, joints {listing["joint_names"]}')
    return 0
