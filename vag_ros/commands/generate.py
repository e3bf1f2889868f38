"""vag-ros generate: first frame + instruction -> video and joint trajectory, as a bag.

The bag is an Episode with source='generated': frames are the generated video and both
its joints and its actions are the predicted joint trajectory (nothing was measured, so
the joint-state topic carries the prediction too). A GIF, an action-curve PNG and, when
imageio-ffmpeg is installed, an MP4 are written beside it.

--backend torch runs the checkpoint itself; onnxruntime and tensorrt run an engine folder
(--engine, written by vag-ros export, plus vag-ros build-engine for tensorrt), which must
have been exported from --checkpoint. Every backend writes the same files.
"""

import argparse

from vag_ros.commands.arguments import (add_sampling_steps_argument, add_urdf_argument,
                                        non_negative_float, seed, torch_device)
from vag_ros.engines.backends import BACKENDS, ENGINE_BACKENDS

HELP = 'generate a robot video and joint trajectory from a first frame and an instruction'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True, help='joint VAG checkpoint folder')
    parser.add_argument('--image', default=None, help='first frame (PNG, JPEG...), RGB')
    parser.add_argument('--state', default=None,
                        help="the arm's measured joints at the frame, comma-separated in the "
                             "robot's joint order [rad, m] (state-conditioned models)")
    parser.add_argument('--episode', default=None,
                        help='an episode bag: its first frame and first measured joints '
                             'replace --image and --state')
    parser.add_argument('--instruction', required=True, help='what the robot should do')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--seed', type=seed, default=0, help='sampling seed')
    add_sampling_steps_argument(parser)
    add_guidance_argument(parser)
    parser.add_argument('--name', default=None,
                        help='bag and file name stem (default generated_seed<seed>)')
    add_backend_arguments(parser)


def add_guidance_argument(parser: argparse.ArgumentParser) -> None:
    """--guidance-scale, beside --sampling-steps."""
    parser.add_argument('--guidance-scale', type=non_negative_float, default=None,
                        help='classifier-free guidance scale (default: the checkpoint\'s '
                             'sampler.guidance_scale; 1 = none)')


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """--backend, --engine, --device: what runs the checkpoint."""
    parser.add_argument('--backend', default='torch', choices=BACKENDS,
                        help='torch runs the checkpoint; onnxruntime and tensorrt run the '
                        '--engine folder exported from it (default torch)')
    parser.add_argument('--engine', default=None,
                        help='engine folder (vag-ros export; vag-ros build-engine for '
                        'tensorrt); required by, and only for, --backend onnxruntime/tensorrt')
    parser.add_argument('--device', type=torch_device, default=None,
                        help='torch device (default cpu; cuda for --backend tensorrt)')
    add_urdf_argument(parser)


def check_backend_arguments(args: argparse.Namespace) -> None:
    """Refuse --engine without an engine backend and an engine backend without --engine."""
    from vag_ros.engines.backends import check_backend_sources
    check_backend_sources(args.backend, args.checkpoint, args.engine, '--engine',
                          '--checkpoint')


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from vag_ros.episodes.bag_writer import write_episode
    from vag_ros.episodes.episode import Episode, EpisodeMetadata
    from vag_ros.errors import EpisodeError, VagError
    from vag_ros.model.checkpoint import checkpoint_robot, read_config
    from vag_ros.outputs import check_name, undone_on_failure, writable_folder
    from vag_ros import media

    check_backend_arguments(args)
    # everything that can be checked is checked before any model runs
    name = check_name(args.name or f'generated_seed{args.seed:06d}', '--name')
    out = writable_folder(args.out, '--out folder', create=False)
    if (out / name).exists():
        raise EpisodeError(f'{out / name} already exists; refusing to overwrite: choose '
                           f'another --out, --name or --seed')
    robot = checkpoint_robot(args.checkpoint, args.urdf)
    frame, state = first_frame_and_state(args, robot)
    if not args.instruction.strip():
        raise VagError('--instruction is empty')
    check_checkpoint_fits(read_config(args.checkpoint), args.checkpoint, robot, state)
    pipe = load_pipeline(args)
    try:
        label = pipe.describe() if args.backend in ENGINE_BACKENDS else f'torch ({pipe.device})'
        result = pipe.generate(frame, args.instruction, seed=args.seed, num_steps=args.steps,
                               guidance_scale=args.guidance_scale, state=state)
    finally:
        if hasattr(pipe, 'close'):
            pipe.close()
    video, joints = result.video, result.actions.astype(np.float64)  # (T, H, W, 3), (T, D)
    metadata = EpisodeMetadata(
        task='generated', seed=args.seed, success=False, robot=robot.name,
        joint_names=tuple(robot.joint_names), frame_rate=float(result.fps),
        source='generated', instruction=args.instruction, robot_urdf=robot.urdf,
        extra={'checkpoint': str(Path(args.checkpoint).resolve()),
               'image': str(args.image or args.episode),
               'state': None if state is None else [float(v) for v in state],
               'joints': 'predicted (same as actions)', 'timings': result.timings,
               'backend': args.backend,
               **({'engine': str(Path(args.engine).resolve())} if args.engine else {})})
    episode = Episode(frames=video, joints=joints, actions=joints.copy(), metadata=metadata)
    files = [name, f'{name}.gif', f'{name}_actions.png', f'{name}.mp4']
    with undone_on_failure(out, files):   # a full disk, Ctrl-C: none of these files stay
        bag = write_episode(episode, out, name=name)
        gif = media.write_gif(video, out / files[1], result.fps)
        png = media.plot_action_curves({'generated': joints}, out / files[2], result.fps,
                                       robot.joint_names,
                                       f'"{args.instruction}" (seed {args.seed})')
        mp4_ok, why = media.mp4_support()
        mp4 = media.write_mp4(video, out / files[3], result.fps) if mp4_ok else None
    print(f'backend: {label}')
    print(f'bag:     {bag}')
    print(f'gif:     {gif}')
    print(f'mp4:     {mp4}' if mp4 is not None else f'mp4:     skipped ({why})')
    print(f'actions: {png}')
    print('timings: ' + ', '.join(f'{k} {v:.2f} s' for k, v in result.timings.items()))
    return 0


def check_checkpoint_fits(config, checkpoint, robot, state, modes=('joint',),
                          why: str = 'use a joint checkpoint') -> None:
    """VagError unless the checkpoint, of one of ``modes`` (default: both streams),
    generates for this robot from ``state``."""
    from vag_ros.errors import VagError
    if config.mode not in modes:  # video_only: no joints; action_no_bridge: no video
        raise VagError(f'{checkpoint}: mode {config.mode!r} does not generate both video and '
                       f'joints; {why}' if modes == ('joint',) else
                       f'{checkpoint}: mode {config.mode!r}: {why}')
    if config.action.dim != robot.dof:
        raise VagError(f'{checkpoint}: action.dim={config.action.dim} but the robot '
                       f'{robot.name} has {robot.dof} joints {list(robot.joint_names)}')
    if config.video.frames != config.action.horizon:  # one bag clock: a joint per frame
        raise VagError(f'{checkpoint}: video.frames={config.video.frames} but '
                       f'action.horizon={config.action.horizon}; they must be equal')
    if config.action.state_conditioning and state is None:
        raise VagError(f"{checkpoint} starts from the arm's measured joints: pass --state "
                       f'with {robot.dof} values {list(robot.joint_names)} or --episode BAG')
    if state is not None and len(state) != robot.dof:
        raise VagError(f'--state has {len(state)} values: expected {robot.dof} joint '
                       f'positions {list(robot.joint_names)} of {robot.name}')
    if state is not None:
        outside = [f'{n}={v:g} not in [{lo:g}, {hi:g}]' for n, v, lo, hi in zip(
            robot.joint_names, state, robot.lower, robot.upper) if not lo <= v <= hi]
        if outside:
            raise VagError(f'--state is outside the joint limits of {robot.name} '
                           f'(radians and metres): {", ".join(outside)}')


def parse_state(text: str):
    """'a,b,c' (commas or spaces) -> (D,) float array; VagError on anything else."""
    import numpy as np

    from vag_ros.errors import VagError
    try:
        values = [float(v) for v in text.replace(',', ' ').split()]
    except ValueError:
        raise VagError(f'--state {text!r}: expected numbers separated by commas') from None
    if not values or not np.all(np.isfinite(values)):
        raise VagError(f'--state {text!r}: expected finite joint positions')
    return np.asarray(values, dtype=np.float64)


def first_frame_and_state(args: argparse.Namespace, robot):
    """(first frame (H, W, 3) uint8, state (D,) or None) from --episode or --image/--state;
    an episode of another robot than ``robot`` is refused."""
    from vag_ros.errors import VagError
    from vag_ros import media
    if args.episode is not None:
        if args.image is not None or args.state is not None:
            raise VagError('--episode gives the first frame and state: drop --image/--state')
        from vag_ros.episodes.bag_reader import read_episode
        episode = read_episode(args.episode)
        meta = episode.metadata
        if (meta.robot, tuple(meta.joint_names)) != (robot.name, robot.joint_names):
            raise VagError(f'--episode {args.episode} is of robot {meta.robot!r} with joints '
                           f'{list(meta.joint_names)}, but the checkpoint is for robot '
                           f'{robot.name!r} with joints {list(robot.joint_names)}')
        return episode.frames[0], episode.joints[0].astype('float64')
    if args.image is None:
        raise VagError('give the first frame: --image FILE (with --state) or --episode BAG')
    state = parse_state(args.state) if args.state is not None else None
    return media.load_image(args.image), state


def load_pipeline(args: argparse.Namespace):
    """VagPipeline for --backend torch, else the --engine folder checked against --checkpoint.

    Both have ``config`` and ``generate`` returning the same GenerationResult.
    """
    from vag_ros.engines.factory import load_pipeline as make_pipeline
    return make_pipeline(args.backend, args.checkpoint, args.engine, args.device)
