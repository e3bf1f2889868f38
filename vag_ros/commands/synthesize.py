"""vag-ros synthesize: generate, validate, replay, score and filter episodes into a data set.

Scenes come from the embedded world (--scenes N seeded from --seed, task families in turn)
or from a lab's first frames (--first-frames LIST: a YAML/JSON list of {image, state,
instruction[, seed]}). Each scene: the checkpoint generates video and joints from the first
frame, the measured state and the instruction; the joints are validated as the replay node
would (the safety file in force: config/safety.yaml unless --safety-file); world scenes are
replayed in the world and scored (replay success, consistency PSNR, tracking error). Every
episode is written as bags (bags/: executed, generated/: the generated video and joints) and
scored in scores.csv / scores.json; the valid ones passing every --keep rule become the
LeRobot data set lerobot/ (v3.0; --format v2.1: the layout openpi reads, with its norm
stats), with each episode's time_scale, the slow-down the arm needs (--keep-invalid lets
refused trajectories in). Re-running the same command resumes (a
smaller --scenes keeps the scenes made beyond it: nothing finished is dropped);
another checkpoint, backend, engine, step count, safety file or scene source in the same
--out is refused. Under torchrun each rank writes out/shard-<r>-of-<w>/; join them with
vag-ros merge-datasets (v3.0 sets: --format v2.1 is refused under torchrun).
"""

import argparse

from vag_ros.commands.arguments import add_codec_argument, add_format_arguments, \
    add_sampling_steps_argument, episode_count, odd_frames, seed
from vag_ros.commands.generate import add_backend_arguments, add_guidance_argument

HELP = 'generate, validate, replay and score episodes into a LeRobot data set'
DEFAULT_LABEL_SMOOTHING = 3  # frames: unsmoothed frame-wise readings jitter past the limits
DEFAULT_SEED = 200000  # above eval's held-out seeds (100000...) and training's (below)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True, help='joint VAG checkpoint folder')
    parser.add_argument('--out', required=True, help='output folder (resumed when it exists)')
    parser.add_argument('--scenes', type=episode_count, default=None,
                        help='number of world scenes (or the first N of --first-frames); '
                             'in an --out resumed, scenes beyond N that an earlier run '
                             'finished stay in the tables and the data set')
    parser.add_argument('--first-frames', default=None,
                        help='a lab\'s first frames instead of the world: a folder of images '
                             'with scenes.yaml (or .json), or that list itself: entries '
                             '{image, state, instruction[, seed]}, paths relative to it '
                             '(or {joint_names, scenes: entries}; vag-ros first-frames '
                             'writes one from episode bags)')
    parser.add_argument('--seed', type=seed, default=DEFAULT_SEED,
                        help=f'first world scene seed (default {DEFAULT_SEED}: outside the '
                             'training and evaluation seeds)')
    parser.add_argument('--task', default='all', help='task family or "all" (world scenes)')
    parser.add_argument('--templates', default='train', choices=('train', 'held_out'),
                        help='instruction templates of world scenes (default train)')
    parser.add_argument('--keep', action='append', default=None, metavar='RULE',
                        help='keep an episode only if RULE holds (repeatable, or comma-'
                             'separated): valid, replay_success, consistency_psnr>=X, '
                             'tracking_error_max<=X, tracking_error_mean<=X, time_scale<=X, '
                             'raw_start_error_max<=X. Default: valid,replay_success for '
                             'world scenes, valid for first frames; valid is required '
                             'whatever the rules, unless --keep-invalid')
    parser.add_argument('--keep-invalid', action='store_true',
                        help='do not require valid: episodes whose trajectory the safety '
                             'file refuses may enter the data set (by the other rules)')
    parser.add_argument('--safety-file', default=None,
                        help='safety YAML the trajectories are validated against (default '
                             'the package\'s config/safety.yaml, as the replay node)')
    parser.add_argument('--on-violation', default='slow_down', choices=('slow_down', 'reject'),
                        help='a trajectory faster than the velocity / acceleration limits: '
                             'slow_down (default) counts it valid when stretching time by '
                             'at most the file\'s max_slowdown fits the limits (the stretch '
                             'is the time_scale score); reject: invalid, as a replay node '
                             'with on_violation: reject decides')
    parser.add_argument('--label-video', default=None, metavar='INVERSE_DYNAMICS',
                        help='the two-stage generator (as DreamGen): read the joints off '
                             'the generated video with this inverse-dynamics model (e.g. '
                             'CHECKPOINT/baselines/inverse_dynamics) instead of taking the '
                             'action branch\'s; a data baseline for VAG\'s own joints')
    parser.add_argument('--label-smoothing', type=odd_frames, default=None, metavar='FRAMES',
                        help='--label-video: centred moving average of the read joints over '
                             'FRAMES (odd; 1: none). Default 3: unsmoothed frame-wise '
                             'readings jitter past the safety limits (1 of 30 scenes valid, '
                             '25 of 30 at 3)')
    add_sampling_steps_argument(parser)
    add_guidance_argument(parser)
    parser.add_argument('--sim-config', default=None, help='world config YAML (world scenes)')
    parser.add_argument('--no-generated-video', action='store_true',
                        help='leave the generated video out of the data set (it is in the '
                             'bags either way)')
    add_codec_argument(parser, 'video codec of the data set')
    add_format_arguments(parser)
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    add_backend_arguments(parser)


def _scene_source(args, robot):
    """(specs, loader, world or None, identity of the source)."""
    from vag_ros.errors import VagError
    from vag_ros.synth import scenes
    if args.first_frames is not None:
        if args.task != 'all' or args.templates != 'train' or args.seed != DEFAULT_SEED:
            raise VagError('--task, --templates and --seed choose world scenes; a '
                           '--first-frames list gives its own (seed per entry)')
        specs = scenes.first_frame_specs(args.first_frames, robot.dof, robot.joint_names)
        source = {'kind': 'first_frames', 'digest': scenes.frames_digest(specs)}
        if args.scenes is not None:
            specs = specs[:args.scenes]
        return specs, scenes.FrameScenes(), None, source
    if args.scenes is None:
        raise VagError('give --scenes N (world scenes) or --first-frames LIST')
    from vag_ros.robot.description import check_same_robot, load_robot_description
    from vag_ros.sim.config import load_sim_config
    from vag_ros.sim.scenes import world_specs, WorldScenes
    from vag_ros.sim.world import World
    config = load_sim_config(args.sim_config)
    world_robot = load_robot_description(config.urdf_path)
    try:
        check_same_robot(robot, world_robot, f'--checkpoint {args.checkpoint}',
                         f'the world\'s arm ({config.urdf_path})')
    except VagError as exc:
        raise VagError(f'{exc}. World scenes replay in the embedded world; for your own '
                       'robot give your first frames: --first-frames (vag-ros first-frames '
                       'writes them from episodes)') from None
    specs = world_specs(args.scenes, args.seed, args.task)
    world = World(config, robot=world_robot)
    return specs, WorldScenes(world, args.templates), world, {
        'kind': 'world', 'seed': args.seed, 'task': args.task, 'templates': args.templates,
        'sim_config': repr(config)}


def check_label_smoothing(args: argparse.Namespace, frames: int) -> None:
    """--label-smoothing only with --label-video (default 3 there), over at most the
    generated clip's ``frames``."""
    from vag_ros.errors import VagError
    if args.label_video is None:
        if args.label_smoothing is not None:
            raise VagError('--label-smoothing smooths the joints --label-video reads off the '
                           'video: give --label-video too, or leave --label-smoothing out')
        return
    args.label_smoothing = args.label_smoothing or DEFAULT_LABEL_SMOOTHING
    if args.label_smoothing > frames:
        raise VagError(f'--label-smoothing {args.label_smoothing}: more frames than the '
                       f'{frames} of a generated clip (video.frames); give an odd number '
                       f'up to {frames - 1 + frames % 2}')


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from vag_ros.checksums import SUMS, sha256_file
    from vag_ros.commands.generate import (check_backend_arguments, check_checkpoint_fits,
                                           load_pipeline)
    from vag_ros.errors import VagError
    from vag_ros.model.checkpoint import check_checkpoint_files, checkpoint_robot, read_config
    from vag_ros.outputs import writable_folder
    from vag_ros.resources import share_path
    from vag_ros.robot.safety_config import DEFAULT_SAFETY_YAML, load_safety_config
    from vag_ros.synth import keep_rules
    from vag_ros.synth import synthesize as synth
    from vag_ros.synth.export import dataset_writer

    check_backend_arguments(args)
    robot = checkpoint_robot(args.checkpoint, args.urdf)
    rules = keep_rules.parse_rules(args.keep, keep_rules.FRAMES_DEFAULT if args.first_frames
                                   else keep_rules.WORLD_DEFAULT, args.keep_invalid)
    safety_path = Path(args.safety_file) if args.safety_file else \
        share_path(DEFAULT_SAFETY_YAML)
    safety = dataclasses.replace(load_safety_config(safety_path),
                                 on_violation=args.on_violation)
    try:   # a file that does not fit this robot: refused before anything is written
        safety.resolve(robot)
    except VagError as exc:
        raise VagError(f'--safety-file {safety_path}: {exc}') from None
    # every scene brings its state; the modes a source can use:
    if args.label_video is not None:   # a video to label: joint or video-only
        modes, why = ('joint', 'video_only'), '--label-video labels a generated video'
    elif args.first_frames is None:    # world scenes replay: joints alone suffice
        modes, why = ('joint', 'action_no_bridge'), 'world scenes need generated joints'
    else:                              # a lab's frames: the generated episode is the data
        modes, why = ('joint',), 'first frames need video and joints; use a joint checkpoint'
    config = read_config(args.checkpoint)
    check_checkpoint_fits(config, args.checkpoint, robot, robot.lower, modes, why)
    check_label_smoothing(args, config.video.frames)
    sums = check_checkpoint_files(args.checkpoint) / SUMS   # its sha256: the run's identity
    rank, world_size = synth.dist_info()
    make_writer = dataset_writer(args.format, args.openpi_action_horizon)
    if world_size > 1 and args.format != 'v3.0':
        raise VagError(f'--format {args.format} under torchrun: merge-datasets joins v3.0 '
                       'shards only; synthesize with --format v3.0 here, or in one process')
    out = synth.rank_folder(Path(args.out), rank, world_size)
    writable_folder(out, create=False)  # the scenes are checked before --out is made
    specs, loader, world, source = _scene_source(args, robot)
    if args.device is None and world_size > 1:
        import torch
        if torch.cuda.is_available():
            import os
            args.device = f'cuda:{os.environ.get("LOCAL_RANK", "0")}'
    pipe = load_pipeline(args)
    if args.label_video is not None:
        from vag_ros.model.inverse_dynamics import InverseDynamicsModel
        from vag_ros.model.two_stage import TwoStagePipeline
        pipe = TwoStagePipeline(pipe, InverseDynamicsModel.load(args.label_video),
                                robot.joint_names, args.label_smoothing)
    if world is None:   # a lab's first frames: each entry checked as generate checks it
        _check_first_frames(pipe, loader, specs, args.first_frames)
    out = writable_folder(out)
    identity = {'checkpoint_sha256': sha256_file(sums), 'backend': args.backend,
                'engine_sha256': None if args.engine is None else
                sha256_file(Path(args.engine) / 'manifest.json'),
                'steps': args.steps, 'guidance_scale': args.guidance_scale,
                'safety_sha256': sha256_file(safety_path),
                'on_violation': args.on_violation,
                'label_video': None if args.label_video is None else
                sha256_file(Path(args.label_video) / SUMS),
                **({} if args.label_video is None else
                   {'label_smoothing': args.label_smoothing}),
                'robot': robot.identity(), 'source': source}
    synth.check_identity(out, identity)
    run_config = synth.Synthesis(
        out=out, checkpoint=str(Path(args.checkpoint).resolve()), identity=identity,
        pipeline=pipe, robot=robot, safety=safety, rules=rules, loader=loader, world=world,
        num_steps=args.steps, guidance_scale=args.guidance_scale,
        export_generated=not args.no_generated_video, codec=args.codec,
        make_writer=make_writer)
    try:
        summary = synth.synthesize(run_config, specs[rank::world_size], not args.quiet)
    finally:
        if world is not None:
            world.close()
        if hasattr(pipe, 'close'):
            pipe.close()
    stage = summary['stage_s']
    total = sum(stage.values()) + summary['export_s']
    print(f'{summary["out"]}: {summary["scenes"]} scenes ({summary["new"]} new, '
          f'{summary["skipped"]} already done), kept {summary["kept"]} by '
          f'{", ".join(summary["rules"]) or "no rule"}')
    if args.keep_invalid:
        print('note: --keep-invalid: episodes the safety file refuses may be in the data set')
    spread = summary['time_scale']
    if spread['median'] is not None:
        print(f'time scale (slow-down the arm needs) of the kept episodes: min '
              f'{spread["min"]:.2f}, median {spread["median"]:.2f}, max {spread["max"]:.2f}'
              + (f' ({spread["unknown"]} invalid, none)' if spread['unknown'] else ''))
    if summary['new']:
        rate = 60.0 * summary['new'] / max(summary['seconds'], 1e-9)
        shares = ', '.join(f'{k[:-2]} {100 * v / total:.0f}%' for k, v in stage.items())
        print(f'{rate:.1f} scenes/min; time: {shares}, '
              f'export {100 * summary["export_s"] / total:.0f}%')
    print(f'scores:  {", ".join(summary["table"])}')
    print(f'dataset: {summary["dataset"]}' if summary['dataset'] is not None else
          'dataset: none written: no episode was kept (see the counts above); loosen --keep, '
          'or look at the scores of the episodes in --out/bags')
    if world_size > 1 and rank == 0:
        print(f'join the shards: vag-ros merge-datasets {args.out}/shard-*-of-'
              f'{world_size:03d}/lerobot --out {args.out}/lerobot')
    (out / 'synthesis_summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    return 0


def _check_first_frames(pipe, loader, specs, where) -> None:
    """VagError naming the first entry of the first-frames list that generation would refuse
    (a frame too small for the model, an instruction it would read cut off), before any
    output is written."""
    from vag_ros.errors import VagError
    for spec in specs:
        scene = loader.load(spec)
        try:
            pipe.check_frame(scene.first_frame)
            pipe.check_instruction(scene.instruction)
        except VagError as exc:
            raise VagError(f'--first-frames {where} entry {spec.index} ({spec.image.name}): '
                           f'{exc}') from None
