"""vag-ros export-lerobot: a folder of episode bags -> a LeRobot data set (v3.0, or v2.1 for
openpi with --format v2.1: its norm stats in meta/norm_stats.json).

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

HELP = 'export episode bags as a LeRobot data set (v3.0, or v2.1 for openpi)'


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
    from vag_ros.commands.arguments import add_codec_argument, add_format_arguments
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
    add_format_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vag_ros.errors import EpisodeError
    from vag_ros.outputs import real_path, writable_folder
    from vag_ros.synth.export import dataset_writer, export_folder, read_exported

    make_writer = dataset_writer(args.format, args.openpi_action_horizon)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise EpisodeError(f'{out} already exists; pass --overwrite to replace it')
    writable_folder(out.parent, 'folder of --out')
    for given, what in ((args.episodes, '--episodes'), (args.generated, '--generated')):
        if given and real_path(given, what).is_relative_to(real_path(out, '--out')):
            raise EpisodeError(f'--out {out} holds the input {given}; export elsewhere')
    root = export_folder(Path(args.episodes), out, args.generated and Path(args.generated),
                         args.codec, args.overwrite, args.fps, make_writer)
    dataset = read_exported(root)
    print(f'{root}: LeRobot {args.format}, {len(dataset.episodes)} episodes, '
          f'{dataset.info["total_frames"]} frames at {dataset.info["fps"]} fps, '
          f'{len(dataset.tasks)} tasks, cameras {dataset.video_keys}')
    if args.format == 'v2.1':
        from vag_ros.datasets.lerobot_v21 import NORM_STATS_PATH, OPENPI_ACTION_HORIZON
        print(f'openpi norm stats (action horizon '
              f'{args.openpi_action_horizon or OPENPI_ACTION_HORIZON}): {root / NORM_STATS_PATH}')
    return 0
