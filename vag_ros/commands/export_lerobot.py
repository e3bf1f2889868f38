"""vag-ros export-lerobot: a folder of episode bags -> a LeRobot v3 data set.

observation.images.camera is each bag's camera, observation.state its measured joints,
action its commanded joints, task its instruction, the fps the episodes' own frame rate
(--fps native, the default: one rate for all, a mix is refused naming two bags; or
--fps N: every episode must be recorded at N Hz, none is resampled); scores and seeds
recorded in the bags become per-episode metadata columns (vag/...). --generated adds each
bag's namesake from a folder of generated episodes as observation.images.generated. One
episode twice (a bag copied under another name: the same task, states, actions and seed,
merge-datasets' duplicate key) is refused naming both bags.
"""

import argparse

HELP = 'export episode bags as a LeRobot v3 data set'


def _fps(text: str):
    """'native' (None: the episodes' own rate) or a positive integer rate."""
    if text == 'native':
        return None
    from vag_ros.commands.arguments import positive
    try:
        return positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f'expected native or a positive integer rate, got '
                                         f'{text!r}') from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.commands.arguments import add_codec_argument
    parser.add_argument('--episodes', required=True, help='folder of episode bags')
    parser.add_argument('--out', required=True, help='data set folder to create')
    parser.add_argument('--generated', default=None,
                        help='folder of generated episode bags named as --episodes\' ones')
    add_codec_argument(parser)
    parser.add_argument('--fps', type=_fps, default=None, metavar='native|N',
                        help='the data set\'s frame rate: native (default) the episodes\' '
                             'own, one for all (e.g. 15 for a 15 Hz recording); N: refuse an '
                             'episode recorded at another rate (never resampled)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing data set at --out (after the new one is '
                             'complete)')


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vag_ros.datasets.lerobot_reader import read_dataset
    from vag_ros.errors import EpisodeError
    from vag_ros.outputs import writable_folder
    from vag_ros.synth.export import export_folder

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise EpisodeError(f'{out} already exists; pass --overwrite to replace it')
    writable_folder(out.parent, 'folder of --out')
    for given in (args.episodes, args.generated):
        if given and Path(given).resolve().is_relative_to(out.resolve()):
            raise EpisodeError(f'--out {out} holds the input {given}; export elsewhere')
    root = export_folder(Path(args.episodes), out, args.generated and Path(args.generated),
                         args.codec, args.overwrite, args.fps)
    dataset = read_dataset(root, decode_videos=False)
    print(f'{root}: {len(dataset.episodes)} episodes, {dataset.info["total_frames"]} frames '
          f'at {dataset.info["fps"]} fps, {len(dataset.tasks)} tasks, cameras '
          f'{dataset.video_keys}')
    return 0
