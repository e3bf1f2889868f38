"""vag-ros demo: the robot-side graph in one process on the embedded world.

Starts capture, generator, preview, replay (armed, not dry-run), recorder, mock arm and sim
camera from vag_ros.ros.graph.generate_and_replay, then for K held-out tasks: instruction ->
predicted video and trajectory -> preview -> arm + execute -> success check -> bag. Prints the
replay's settings in force (controller, safety file, limits per joint) and a summary table,
and writes per episode a preview PNG, plus the bags and summary.json, to --out. A safety
file or controller given in --params or on the command line is the one used; the demo's own
(config/safety_demo.yaml) only where none is given.
"""

import argparse

from vag_ros.commands.arguments import non_negative, positive

HELP = 'run generate -> preview -> replay -> record in one process on the embedded world'
DEFAULT_CHECKPOINT = 'checkpoints/tiny_demo'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', default=None,
                        help=f'joint VAG checkpoint folder (default {DEFAULT_CHECKPOINT} '
                        'under the package share or source root)')
    parser.add_argument('--instructions', type=positive, default=3,
                        help='held-out tasks to run, families in turn (default 3)')
    parser.add_argument('--seed', type=non_negative, default=None,
                        help='first task seed (default 200000, outside the training seeds)')
    parser.add_argument('--out', default=None, help='output folder (default runs/demo-<time>)')
    parser.add_argument('--controller-mode', default=None,
                        choices=('forward_position', 'joint_trajectory'),
                        help="how replay commands the (mock) arm (default: vag_replay's "
                        'controller_mode in --params, else its default, `vag-ros params`)')
    parser.add_argument('--controller', default=None,
                        help="the controller replay commands and the mock arm obeys "
                        "(default: vag_replay's controller in --params, else its default)")
    parser.add_argument('--safety-file', default=None,
                        help="the limits replay enforces, a safety YAML (default: "
                        "vag_replay's safety_file in --params, else the demo's "
                        'config/safety_demo.yaml: config/safety.yaml with slow_down)')
    parser.add_argument('--params', default='',
                        help='node parameter YAML (`node: ros__parameters:`), e.g. '
                        'config/vag_ros.yaml; the demo\'s own settings (safety file, '
                        'recorder waits) apply only where it gives none')
    parser.add_argument('--backend', default='onnxruntime', choices=('onnxruntime', 'torch'),
                        help='generator backend (default onnxruntime, the faster one on CPU '
                        'in docs/engines.md; it runs an engine exported from --checkpoint)')
    parser.add_argument('--engine', default=None,
                        help='engine folder for onnxruntime (default: exported once into '
                        'runs/engines/<checkpoint>-<hash>)')
    parser.add_argument('--generation-timeout', type=positive, default=600,
                        help='seconds to wait for one generation (default 600)')


def resolve_checkpoint(given):
    """The checkpoint folder to use; VagError telling how to get one if there is none."""
    from pathlib import Path

    from vag_ros.errors import ConfigError, VagError
    from vag_ros.resources import share_dir
    if given:
        path = Path(given)
        if not path.is_dir():
            raise VagError(f'--checkpoint {given}: no such folder')
        return path
    try:
        path = share_dir() / DEFAULT_CHECKPOINT
    except ConfigError:
        path = Path(DEFAULT_CHECKPOINT)
    if path.is_dir():
        return path
    raise VagError(
        f'no checkpoint: {path} does not exist. Pass --checkpoint DIR, or train one: '
        f'vag-ros sim-record (episodes), then vag-ros train --data <bags> --out {path}')


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import os
    from pathlib import Path
    import time

    from vag_ros.errors import VagError
    os.environ.setdefault('MUJOCO_GL', 'egl')
    checkpoint = resolve_checkpoint(args.checkpoint)
    from vag_ros.sim.config import load_sim_config
    from vag_ros.eval.evaluate import check_world_robot
    check_world_robot(load_sim_config(None), ((checkpoint, '--checkpoint'),))  # the world's arm
    out = Path(args.out or f'runs/demo-{time.strftime("%Y%m%d-%H%M%S")}')
    from vag_ros.ros.demo import DEFAULT_TASK_SEED, DemoTimeouts, generation_line, run_demo, \
        settings_text, summary_table
    timeouts = dataclasses.replace(DemoTimeouts(), generation=float(args.generation_timeout))
    generator = {'backend': args.backend}
    if args.backend == 'onnxruntime':
        from vag_ros.engines.engine_cache import ensure_engine
        generator['engine_dir'] = str(args.engine or ensure_engine(checkpoint, 'runs/engines'))
    elif args.engine:
        raise VagError('--engine: the torch backend runs the checkpoint, not an engine')
    summary = run_demo(str(checkpoint), out, args.instructions,
                       DEFAULT_TASK_SEED if args.seed is None else args.seed,
                       args.controller_mode, timeouts, params_file=args.params,
                       parameters={'vag_generator': generator}, safety_file=args.safety_file,
                       controller=args.controller)
    rows = summary.episodes
    print(settings_text(summary.settings))
    print(summary_table(rows))
    print(generation_line(rows))
    for row in rows:
        print(f'preview {row.index}: {row.png}')
    for row in rows:
        if row.stream_rate_hz:
            print(f'command stream {row.index}: {row.stream_rate_hz:.1f} Hz received, '
                  f'interval std {row.stream_jitter_ms:.2f} ms')
    print(f'summary: {out / "summary.json"}')
    return 0
