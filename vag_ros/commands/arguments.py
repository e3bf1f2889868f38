"""argparse types and arguments shared by the subcommands, and the subcommand tables."""

import argparse
import typing

from vag_ros.config import MAX_SEED


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None


def positive(text: str) -> int:
    """A count: an integer > 0."""
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {value}')
    return value


def non_negative(text: str) -> int:
    """A seed or an index: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected an integer >= 0, got {value}')
    return value


def seed(text: str) -> int:
    """A sampling seed: an integer in [0, 2**64 - 1]."""
    value = non_negative(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f'expected a seed <= {MAX_SEED}, got {value}')
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
    if value != value or value in (float('inf'), float('-inf')):
        raise argparse.ArgumentTypeError(f'expected a finite number, got {text!r}')
    return value


def positive_float(text: str) -> float:
    """A duration or a scale: a number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'expected a number > 0, got {value}')
    return value


def non_negative_float(text: str) -> float:
    """A weight such as a guidance scale: a finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a number >= 0, got {value}')
    return value


MAX_EPISODES = 1_000_000  # more is days of compute: a typo, or several runs
MAX_SAMPLING_STEPS = 10_000


def bounded(limit: int, what: str):
    """An argparse type: a positive integer of at most ``limit`` ``what``."""
    def parse(text: str) -> int:
        value = positive(text)
        if value > limit:
            raise argparse.ArgumentTypeError(
                f'{value} {what} is more than the {limit:,} allowed; split the work into '
                'several runs')
        return value
    parse.__name__ = what.replace(' ', '_')
    return parse


episode_count = bounded(MAX_EPISODES, 'episodes')
sampling_steps = bounded(MAX_SAMPLING_STEPS, 'sampling steps')


def at_most(limit: int, what: str):
    """An argparse type: a positive integer of at most ``limit``, ``what`` naming the limit
    (a size past it is a typo, and no memory would hold it)."""
    def parse(text: str) -> int:
        value = positive(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f'{value} is more than the {limit} {what}')
        return value
    parse.__name__ = what.split()[0]
    return parse


MAX_CAMERA_SIDE = 8192  # px: an 8K camera's width
camera_side = at_most(MAX_CAMERA_SIDE, 'px a camera side may have')
network_width = at_most(4096, 'channels a layer of these small networks may have')
frame_side = at_most(1024, 'px a side of the frames the model reads may have')


def jpeg_quality(text: str) -> int:
    """A JPEG quality: 1 (smallest) to 100 (best), as PIL and image_transport take it."""
    value = positive(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f'expected a JPEG quality of 1 to 100, got {value}')
    return value


def thread_count(text: str) -> int:
    """CPU threads: 0 (the library's default) up to this machine's CPU count."""
    import os
    value, cpus = non_negative(text), os.cpu_count() or 1
    if value > cpus:
        raise argparse.ArgumentTypeError(
            f'{value} threads: this machine has {cpus} CPUs; give 1 to {cpus} (0: the '
            'library default)')
    return value


def odd_frames(text: str) -> int:
    """A centred window in frames: an odd integer >= 1 (1: none)."""
    value = positive(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f'expected an odd number of frames (1: none), got '
                                         f'{value}')
    return value


def add_sampling_steps_argument(parser: argparse.ArgumentParser) -> None:
    """--sampling-steps: denoising (flow) steps per generation, not optimizer steps (the
    training commands' --steps); --steps is its older spelling."""
    parser.add_argument('--sampling-steps', '--steps', dest='steps', type=sampling_steps,
                        default=None, metavar='N',
                        help='denoising steps per generation (default: the checkpoint\'s '
                             'sampler.num_steps); --steps: the older spelling')


def add_config_options(parser: argparse.ArgumentParser, config,
                       options: typing.Mapping[str, typing.Tuple[typing.Callable, str]]) -> None:
    """--<field> for each field of dataclass instance ``config`` named in ``options`` ({field:
    (type, help)}), defaulting to its value there: the config the code reads, not a copy."""
    for field, (kind, text) in options.items():
        parser.add_argument('--' + field.replace('_', '-'), type=kind,
                            default=getattr(config, field),
                            help=f'{text} (default %(default)s)'.lstrip())


def keyword_defaults(function: typing.Callable) -> typing.Dict[str, typing.Any]:
    """{parameter: default} of ``function``: an option passed to it defaults to what it does
    (for code whose defaults no dataclass holds; its module must not import torch)."""
    import inspect
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def torch_device(text: str) -> str:
    """A torch device that exists here: cpu, cuda, cuda:<i> (checked against this machine)."""
    import torch
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f'{text!r} is not a torch device ({exc})') from None
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f'{text}: no CUDA device on this machine (torch {torch.__version__}, '
                'torch.cuda.is_available() is False); use --device cpu')
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(
                f'{text}: this machine has {torch.cuda.device_count()} CUDA device(s)')
    elif device.type != 'cpu':
        raise argparse.ArgumentTypeError(f'{text}: expected cpu or cuda[:i]')
    return text


def add_urdf_argument(parser: argparse.ArgumentParser) -> None:
    """--urdf: the robot comes from the checkpoint; this only names the same robot's file."""
    parser.add_argument('--urdf', default=None,
                        help="the robot's URDF (default: the checkpoint's robot.urdf, the "
                        'robot it was trained for); must be the same robot (name and '
                        'joints), e.g. with your own limits; needed only for a checkpoint '
                        'that records no robot')


def add_codec_argument(parser: argparse.ArgumentParser, what: str = 'video codec') -> None:
    """--codec of a LeRobot data set's videos: the writer's default (LeRobot's) unless given."""
    from vag_ros.datasets.video_files import DEFAULT_CODEC
    parser.add_argument('--codec', default=DEFAULT_CODEC, choices=('libsvtav1', 'h264'),
                        help=f'{what} (default %(default)s, as LeRobot)')


def add_format_arguments(parser: argparse.ArgumentParser) -> None:
    """--format of a LeRobot data set (v3.0, or v2.1 as openpi reads) and the action horizon
    of the openpi norm stats a v2.1 set carries."""
    from vag_ros.datasets.lerobot_v21 import OPENPI_ACTION_HORIZON
    from vag_ros.synth.export import FORMATS
    parser.add_argument('--format', default=FORMATS[0], choices=FORMATS,
                        help='LeRobot layout (default %(default)s); v2.1 is the one openpi '
                             'trains on, with its norm stats in meta/norm_stats.json')
    parser.add_argument('--openpi-action-horizon', type=positive, default=None, metavar='H',
                        help='--format v2.1: the action chunk length of the openpi model the '
                             f'norm stats are for (default {OPENPI_ACTION_HORIZON}, openpi\'s '
                             'pi05_libero; pi0 configs: 50)')


def add_subcommands(parsers, table: typing.Mapping[str, str], run_name: str = 'run') -> None:
    """One subparser of ``parsers`` per {name: module in vag_ros.commands} of ``table``: the
    module's HELP, docstring and add_arguments; its ``run`` as the namespace's ``run_name``."""
    import importlib
    for name, module_name in table.items():
        module = importlib.import_module(f'vag_ros.commands.{module_name}')
        sub = parsers.add_parser(name, help=module.HELP, description=module.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(**{run_name: module.run})
