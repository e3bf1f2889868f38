"""The ``vag-ros`` command: one subcommand per job, each a thin shell over the core."""

import argparse
import errno
import os
import signal
import sys
import typing

from vag_ros.commands.arguments import add_subcommands
from vag_ros.errors import VagError

# subcommand -> module in vag_ros.commands (HELP, add_arguments, run)
TERMINATING = (signal.SIGTERM, signal.SIGHUP)  # handled as Ctrl-C (KeyboardInterrupt)
# the disk refused a write mid-run (no check before the work can rule these out): one line,
# as bad input, with the fix; the staged outputs are already removed by then
DISK_REFUSED = {
    errno.ENOSPC: 'free space on that disk, or write the output to another one',
    errno.EDQUOT: 'free space in your quota, or write the output to another disk',
    errno.EROFS: 'the disk is read-only: write the output to another one',
    errno.EFBIG: 'the file outgrew the file size limit (ulimit -f) or the file system\'s: '
                 'raise it, or write the output to another disk'}
COMMANDS = {
    'sim-record': 'sim_record',
    'ingest': 'ingest',
    'split': 'split',
    'train': 'train',
    'train-inverse-dynamics': 'train_inverse_dynamics',
    'train-scene-blind': 'train_scene_blind',
    'train-decoder': 'train_decoder',
    'eval': 'evaluate',
    'eval-policy': 'eval_policy',
    'generate': 'generate',
    'first-frames': 'first_frames',
    'withhold-actions': 'withhold_actions',
    'synthesize': 'synthesize',
    'export-lerobot': 'export_lerobot',
    'merge-datasets': 'merge_datasets',
    'demo': 'demo',
    'pack-demo': 'pack_demo',
    'export': 'export',
    'build-engine': 'build_engine',
    'params': 'params',
    'bench': 'bench',
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog='vag-ros', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    add_subcommands(commands, COMMANDS)
    return parser


def main(argv: typing.Optional[typing.Sequence[str]] = None) -> int:
    """Entry point of ``vag-ros``; bad input ends with a one-line message and exit code 2."""
    args = build_parser().parse_args(argv)
    # SIGTERM and SIGHUP (a closed terminal or ssh session): cleaned up as for Ctrl-C; a
    # SIGHUP ignored on purpose (`nohup vag-ros train ...`) stays ignored
    previous = {number: signal.signal(number, _terminate) for number in TERMINATING
                if number != signal.SIGHUP or signal.getsignal(number) is not signal.SIG_IGN}
    try:
        return args.run(args)
    except VagError as exc:
        print(f'vag-ros {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in DISK_REFUSED:
            raise
        written = exc.filename2 or exc.filename   # a copy's source is filename, its target 2
        where = f'cannot write {written}' if written else 'cannot write the output'
        print(f'vag-ros {args.command}: error: {where}: {os.strerror(exc.errno)}; '
              f'{DISK_REFUSED[exc.errno]}, and run again', file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f'vag-ros {args.command}: terminated ({signal.Signals(exc.signum).name})',
              file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f'vag-ros {args.command}: interrupted', file=sys.stderr)
        return 130
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so partial outputs are removed as on
    Ctrl-C."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = int(signum)


def _terminate(signum, frame):
    raise Terminated(signum)


if __name__ == '__main__':
    sys.exit(main())
