"""Evaluate VAG against the two-stage and no-bridge baselines on held-out seeds of the world.

For each episode: make the seeded task, run the scripted expert (ground truth: frames resized
to the model's resolution, and its actions), give every method the first frame and the
instruction, then score each method's joints (action ED / success against the expert's
actions, and replay success in the world) and its video (PSNR / SSIM against the expert's
frames, and consistency with the frames rendered while replaying its own joints).

Methods:

- ``vag``: the joint checkpoint's video and actions, sampled together.
- ``two_stage``: a video, then the inverse-dynamics CNN reads the joints off each frame.
  The video is the joint checkpoint's own: its bridge is detached, so the video branch gets
  exactly the gradients a video-only model would (proved in test/model); a separate
  ``video_only_dir`` replaces it when given.
- ``two_stage_true_video``: the same inverse-dynamics reader on the ground-truth frames:
  the ceiling of the two-stage row, what a perfect video would give the reader.
- ``no_bridge``: the action-only checkpoint (mode ``action_no_bridge``), no video.
- ``scene_blind``: each task family's mean training motion from the measured state; it
  ignores the image and the named object, so a method that does not beat it does not use
  its inputs.

Every method gets the arm's measured state at the first frame (the two-stage joints are
anchored to it as VAG's are). Beyond the paper's metrics: wrong-target rate, a
counterfactual instruction per episode (same scene and wording, another block named),
per-joint errors at the first and last step, the first point's distance from the state,
Wilson 95% intervals on every rate, and replay success split by instruction templates seen
in training and held out (every other episode uses a held-out template).
"""

import dataclasses
import json
import math
from pathlib import Path
import time
import typing

import numpy as np

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.eval import metrics
from vag_ros.eval.regions import expert_regions
from vag_ros.eval.replay import replay_and_score

DEFAULT_SEED_START = 100000  # training data uses seeds below this
METHODS = ('vag', 'teacher', 'two_stage', 'two_stage_true_video', 'no_bridge',
           'scene_blind')
VIDEO_REGION_METRICS = ('predicted_psnr', 'arm_psnr', 'arm_ssim', 'target_block_psnr',
                        'arm_sharpness', 'video_sharpness')
RATES = ('action_sr', 'replay_success', 'wrong_target', 'counterfactual')
METRICS = ('action_ed', *RATES, 'consistency_psnr', 'video_psnr', 'video_ssim',
           *VIDEO_REGION_METRICS, 'start_error')
NO_BRIDGE_SUBDIR = Path('baselines') / 'no_bridge'
INVERSE_DYNAMICS_SUBDIR = Path('baselines') / 'inverse_dynamics'
SCENE_BLIND_SUBDIR = Path('baselines') / 'scene_blind'

PathLike = typing.Union[str, Path]


def baseline_dirs(checkpoint_dir: PathLike, no_bridge_dir: typing.Optional[PathLike] = None,
                  inverse_dynamics_dir: typing.Optional[PathLike] = None,
                  scene_blind_dir: typing.Optional[PathLike] = None
                  ) -> typing.Tuple[Path, Path, Path]:
    """The baselines' folders: given, or ``<checkpoint>/baselines/...``; error if missing."""
    checkpoint_dir = Path(checkpoint_dir)
    found = []
    for given, sub, what, flag, how in (
            (no_bridge_dir, NO_BRIDGE_SUBDIR, 'no-bridge baseline', '--no-bridge',
             'train a VAG checkpoint with mode action_no_bridge'),
            (inverse_dynamics_dir, INVERSE_DYNAMICS_SUBDIR, 'inverse-dynamics baseline',
             '--inverse-dynamics', 'run vag-ros train-inverse-dynamics'),
            (scene_blind_dir, SCENE_BLIND_SUBDIR, 'scene-blind baseline', '--scene-blind',
             'run vag-ros train-scene-blind')):
        path = Path(given) if given is not None else checkpoint_dir / sub
        if not path.is_dir():
            where = 'given' if given is not None else 'default'
            raise CheckpointError(f'{what} not found at {path} ({where} location): {how} '
                                  f'into it, or pass {flag} DIR')
        found.append(path)
    return found[0], found[1], found[2]


def _load_pipeline(directory: Path, modes: typing.Sequence[str], what: str, device,
                   share=None):
    """VagPipeline of ``directory``; reuse ``share``'s text encoder/codec when identical."""
    from vag_ros.model.checkpoint import read_config
    from vag_ros.model.pipeline import VagPipeline
    config = read_config(directory)
    if config.mode not in modes:
        raise CheckpointError(f'{what} {directory}: mode {config.mode!r}, expected '
                              f'{" or ".join(repr(m) for m in modes)}')
    text = codec = None
    if share is not None:
        if config.text == share.config.text:
            text = share.text_encoder
        if config.video.codec == share.config.video.codec and \
                config.video.latent_channels == share.config.video.latent_channels:
            codec = share.codec
    return VagPipeline.from_checkpoint(directory, device, text_encoder=text, codec=codec)


def check_world_robot(sim_config, checkpoints) -> None:
    """ConfigError unless every (folder, what) checkpoint was trained for the world's arm:
    evaluation replays in the embedded world."""
    from vag_ros.model.checkpoint import checkpoint_robot
    from vag_ros.robot.description import check_same_robot, load_robot_description
    world_robot = load_robot_description(sim_config.urdf_path)
    for directory, what in checkpoints:
        try:
            check_same_robot(world_robot, checkpoint_robot(directory), f"the world's arm "
                             f'({sim_config.urdf_path})', f'{what} {directory}')
        except ConfigError as exc:
            raise ConfigError(f'{exc} (this replays in the embedded world; your own robot '
                              'runs under ros2 launch vag_ros generate_and_replay.launch.py)'
                              ) from None


def _check_lengths(pipe, what: str, steps: int, dof: int, actions: bool = True) -> None:
    cfg = pipe.config
    if cfg.video.frames != steps:
        raise ConfigError(f'{what}: the model generates {cfg.video.frames} frames but the '
                          f"world's episodes have episode_steps={steps}; evaluate with a sim "
                          f'config whose episode_steps matches')
    if actions and (cfg.action.horizon != steps or cfg.action.dim != dof):
        raise ConfigError(f'{what}: action (horizon, dim)=({cfg.action.horizon}, '
                          f'{cfg.action.dim}) but the world needs ({steps}, {dof})')


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _mean(values) -> typing.Optional[float]:
    values = [float(v) for v in values if v is not None]
    return _finite(np.mean(values)) if values else None


def _rate(rows, key: str) -> dict:
    """Mean of a boolean field with its Wilson 95% interval and counts."""
    return metrics.rate([r[key] for r in rows if r.get(key) is not None])


def arm_psnr(video: np.ndarray, gt_frames: np.ndarray,
             regions: typing.Mapping[str, np.ndarray]) -> typing.Optional[float]:
    """PSNR over the arm's pixels of the predicted frames 1..T-1 (``region_video_metrics``'
    arm_psnr)."""
    return _finite(metrics.region_psnr(video[1:], gt_frames[1:], regions['arm'][1:]))


def region_video_metrics(video: np.ndarray, gt_frames: np.ndarray,
                         regions: typing.Mapping[str, np.ndarray]) -> dict:
    """The video against the truth where it matters, on the predicted frames (1..T-1; the
    first is the camera frame it was given): PSNR over the whole frame, PSNR and SSIM on the
    arm's pixels, PSNR on the named block's, and the sharpness (gradient energy over the
    truth's) on the arm and on the whole frame. ``regions``: expert_regions' weights
    (T, h, w)."""
    made, true = video[1:], gt_frames[1:]
    arm, block = regions['arm'][1:], regions['target_block'][1:]
    return {'predicted_psnr': metrics.psnr(made, true),
            'arm_psnr': arm_psnr(video, gt_frames, regions),
            'arm_ssim': _finite(metrics.region_ssim(made, true, arm)),
            'target_block_psnr': _finite(metrics.region_psnr(made, true, block)),
            'arm_sharpness': _finite(metrics.sharpness(made, true, arm)),
            'video_sharpness': _finite(metrics.sharpness(made, true))}


def reference_videos(codec, gt_frames: np.ndarray, device='cpu'
                     ) -> typing.Tuple[np.ndarray, np.ndarray]:
    """What the video metrics are read against: the first frame held still for the whole
    clip (a video that shows no motion) and the codec's own reconstruction of the ground
    truth from its first frame and latents (what the best latents could give); both
    (T, H, W, 3) uint8."""
    import torch

    from vag_ros.model.pipeline import video_to_uint8
    from vag_ros.frame_geometry import frames_to_video
    held = np.repeat(gt_frames[:1], len(gt_frames), axis=0)
    with torch.no_grad():
        clip = frames_to_video(gt_frames)[None].to(device)  # (1, 3, T, H, W)
        rebuilt = video_to_uint8(codec.decode(codec.encode(clip), clip[:, :, :1])[0])
    return held, rebuilt


def video_references(codec, gt_frames: np.ndarray, device='cpu',
                     regions: typing.Optional[typing.Mapping[str, np.ndarray]] = None
                     ) -> dict:
    """The reference videos' PSNR (and the held frame's SSIM) against the ground truth;
    with ``regions`` also on the arm's pixels of the predicted frames."""
    held, rebuilt = reference_videos(codec, gt_frames, device)
    out = {'held_first_frame_psnr': metrics.psnr(held, gt_frames),
           'held_first_frame_ssim': _finite(metrics.ssim(held, gt_frames)),
           'codec_psnr': metrics.psnr(rebuilt, gt_frames)}
    if regions is not None:
        for name, video in (('held_first_frame', held), ('codec', rebuilt)):
            out[f'{name}_arm_psnr'] = arm_psnr(video, gt_frames, regions)
    return out


def aggregate_references(records: typing.Sequence[dict]) -> dict:
    """Means of the episodes' video references."""
    rows = [r['video_references'] for r in records if r.get('video_references')]
    return {key: _mean(r[key] for r in rows) for key in (rows[0] if rows else {})}


def aggregate(records: typing.Sequence[dict]) -> typing.Dict[str, dict]:
    """Each method's metrics over episode records; rates in [0, 1] with Wilson intervals."""
    out = {}
    for method in METHODS:
        rows = [r['methods'][method] for r in records if method in r['methods']]
        if not rows:
            continue
        means = {'action_ed': _mean(r['action_ed'] for r in rows)}
        rates = {'action_sr': _rate(rows, 'action_success'),
                 'replay_success': _rate(rows, 'replay_success'),
                 'wrong_target': _rate(rows, 'wrong_target'),
                 'counterfactual': _rate(rows, 'counterfactual')}
        for key, rate in rates.items():
            means[key] = rate['rate']
            means[key + '_interval'] = rate['interval']
            means[key + '_count'] = [rate['successes'], rate['n']]
        for key in ('consistency_psnr', 'video_psnr', 'video_ssim', *VIDEO_REGION_METRICS):
            means[key] = _mean(r.get(key) for r in rows)
        starts = [r['start_error'] for r in rows if r.get('start_error') is not None]
        means['start_error'] = _finite(max(starts)) if starts else None
        for key in ('first_step_error', 'last_step_error', 'raw_start_error'):
            stacked = [r[key] for r in rows if r.get(key) is not None]
            means[key] = np.mean(stacked, axis=0).tolist() if stacked else None
        out[method] = means
    return out


@dataclasses.dataclass
class _Method:
    """One method's output on one episode."""

    actions: np.ndarray                  # (T, D) joint units
    video: typing.Optional[np.ndarray]   # (T, H, W, 3) uint8 at the model resolution
    seconds: float
    counterfactual: typing.Optional[np.ndarray] = None  # (T, D) for the other block named
    raw_start_error: typing.Optional[np.ndarray] = None  # (D,) before anchoring


class _Targets:
    """Final end-effector position tests against the blocks of one task."""

    def __init__(self, robot, task):
        from vag_ros.robot.kinematics import KinematicChain
        self.chain = KinematicChain(robot)
        self.objects = {c: (x, y) for c, x, y, _ in task.objects}

    def nearest(self, actions: np.ndarray) -> typing.Optional[str]:
        if not np.all(np.isfinite(actions)):
            return None
        return metrics.nearest_object(self.chain.positions(actions[-1:])[0], self.objects)


def _training_twin(world, task):
    """The same scene and goal as ``task``, its instruction from a training template."""
    twin = world.make_task(task.family, task.seed, 'train')
    same = (twin.target, twin.objects, twin.direction, twin.initial_joints) == \
        (task.target, task.objects, task.direction, task.initial_joints)
    if not same:
        raise ConfigError(f'{task.family} seed {task.seed}: the training-template task has '
                          'another scene or goal than the held-out one')
    return twin


def _replay_success(world, task, actions: np.ndarray) -> bool:
    """Replay ``actions`` in ``task``'s scene: did the task succeed (False when refused)?"""
    return replay_and_score(world, task, actions).success


def template_pairs(records: typing.Sequence[dict]) -> typing.Optional[dict]:
    """VAG's replay success on the held-out-template episodes against the same scenes
    with a training template; None when no episode has a twin."""
    pairs = [(r['methods']['vag']['replay_success'],
              r['training_template_twin']['replay_success'])
             for r in records if 'training_template_twin' in r]
    if not pairs:
        return None
    held = [a for a, _ in pairs]
    trained = [b for _, b in pairs]
    return {'episodes': len(pairs), 'held_out_template': metrics.rate(held),
            'training_template': metrics.rate(trained),
            'difference': (sum(trained) - sum(held)) / len(pairs),
            'only_training_template_succeeded': sum(b and not a for a, b in pairs),
            'only_held_out_template_succeeded': sum(a and not b for a, b in pairs)}


def phrasing_pairs(records: typing.Sequence[dict]) -> typing.Optional[dict]:
    """VAG's replay success and wrong target on each scene's own (templated) instruction
    against a held-out phrasing and against typos of it, on the same scenes: per kind,
    overall and per task family; None when no episode ran them."""
    from vag_ros.eval.phrasings import KINDS
    rows = [r for r in records if r.get('phrasings')]
    if not rows:
        return None
    out = {}
    for kind in KINDS:
        groups = {'all': rows}
        groups.update({f: [r for r in rows if r['task'] == f]
                       for f in dict.fromkeys(r['task'] for r in rows)})
        out[kind] = {}
        for name, group in groups.items():
            own = [r['methods']['vag']['replay_success'] for r in group]
            said = [r['phrasings'][kind]['replay_success'] for r in group]
            out[kind][name] = {
                'episodes': len(group), 'templated': metrics.rate(own),
                kind: metrics.rate(said),
                'wrong_target': metrics.rate([r['phrasings'][kind]['wrong_target']
                                              for r in group]),
                'difference': (sum(said) - sum(own)) / len(group)}
    return out


def _score(world, task, out: _Method, gt_frames: np.ndarray, gt_actions: np.ndarray,
           state: np.ndarray, targets: _Targets, counter_colour: typing.Optional[str],
           regions: typing.Mapping[str, np.ndarray]) -> typing.Tuple[dict, float]:
    """Metrics of one method on one episode, and the replay time."""
    first, last = metrics.step_errors(out.actions, gt_actions)
    row = {'action_ed': _finite(metrics.action_ed(out.actions, gt_actions)),
           'action_success': metrics.action_success(out.actions, gt_actions),
           'replay_success': False, 'consistency_psnr': None, 'video_psnr': None,
           'video_ssim': None, 'first_step_error': first, 'last_step_error': last,
           'start_error': _finite(metrics.start_error(out.actions, state)),
           **{key: None for key in VIDEO_REGION_METRICS},
           'raw_start_error': None if out.raw_start_error is None else
           [float(v) for v in out.raw_start_error]}
    row['end_nearest'] = targets.nearest(out.actions)
    row['wrong_target'] = row['end_nearest'] != task.target
    row['counterfactual'] = None
    if counter_colour is not None and out.counterfactual is not None:
        row['counterfactual_nearest'] = targets.nearest(out.counterfactual)
        row['counterfactual'] = row['counterfactual_nearest'] == counter_colour
    t0 = time.perf_counter()
    score = replay_and_score(world, task, out.actions, out.video)
    row['replay_success'], row['consistency_psnr'] = score.success, score.consistency_psnr
    if score.error is not None:
        row['replay_error'] = score.error
    replay_s = time.perf_counter() - t0
    if out.video is not None:
        row['video_psnr'] = metrics.psnr(out.video, gt_frames)
        row['video_ssim'] = _finite(metrics.ssim(out.video, gt_frames))
        row.update(region_video_metrics(out.video, gt_frames, regions))
    return row, replay_s


def evaluate(checkpoint_dir: PathLike, episodes: int,
             seed_start: int = DEFAULT_SEED_START, out_dir: typing.Optional[PathLike] = None,
             no_bridge_dir: typing.Optional[PathLike] = None,
             inverse_dynamics_dir: typing.Optional[PathLike] = None, tasks: str = 'all',
             video_only_dir: typing.Optional[PathLike] = None, sim_config=None,
             num_steps: typing.Optional[int] = None, plot_episodes: int = 3,
             progress: bool = True, device='cpu',
             scene_blind_dir: typing.Optional[PathLike] = None,
             held_out_every: int = 2, counterfactual: bool = True,
             paired_templates: bool = True,
             teacher_dir: typing.Optional[PathLike] = None,
             teacher_steps: typing.Optional[int] = None, phrasings: bool = True,
             phrasings_file: typing.Optional[PathLike] = None,
             guidance_scale: typing.Optional[float] = None) -> dict:
    """Score every method on ``episodes`` held-out seeds; the results dict.

    ``sim_config``: a SimConfig, a YAML path or None (config/sim.yaml); its episode_steps
    must equal the models' frames. With ``out_dir``: writes eval.json, report.md and
    plots/ there. Seeds are fixed (generation seed = task seed), so reruns agree. Episode k
    uses a held-out instruction template when ``held_out_every`` divides k + 1 (0: never);
    with ``paired_templates`` VAG also runs each of those scenes with a training template,
    so the template effect is measured on the same scenes (``template_pairs``).
    ``teacher_dir``: the checkpoint a few-step VAG was distilled from, scored on the same
    scenes at ``teacher_steps`` (default its own sampler steps; row ``teacher``).
    With ``phrasings`` VAG also runs each scene with a held-out phrasing and with typos in
    its instruction (``phrasings_file``, default config/eval_phrasings.yaml;
    ``phrasing_pairs``). ``guidance_scale``: VAG's classifier-free guidance (default its
    sampler's), a sampling choice to measure.
    """
    from tqdm import tqdm
    from vag_ros.model.action_space import anchor_start
    from vag_ros.sim.config import load_sim_config, SimConfig
    from vag_ros.sim.record import task_schedule
    from vag_ros.sim.tasks import instruction_naming
    from vag_ros.sim.world import World
    from vag_ros.frame_geometry import resize_frames
    from vag_ros.model.inverse_dynamics import InverseDynamicsModel
    from vag_ros.eval.report import plot_episode, write_report
    from vag_ros.eval.scene_blind import SceneBlindBaseline
    from vag_ros.outputs import writable_folder

    if episodes < 1:
        raise ConfigError(f'episodes={episodes}: must be >= 1')
    if held_out_every < 0:
        raise ConfigError(f'held_out_every={held_out_every}: must be >= 0')
    if seed_start < DEFAULT_SEED_START:
        print(f'warning: seed_start={seed_start} < {DEFAULT_SEED_START}: these seeds may '
              f'overlap the training data')
    schedule = task_schedule(tasks, episodes, seed_start)
    checkpoint_dir = Path(checkpoint_dir)
    if not isinstance(sim_config, SimConfig):
        sim_config = load_sim_config(sim_config)
    check_world_robot(sim_config, ((checkpoint_dir, 'VAG checkpoint'),))
    nb_dir, id_dir, sb_dir = baseline_dirs(checkpoint_dir, no_bridge_dir,
                                           inverse_dynamics_dir, scene_blind_dir)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        writable_folder(out / 'plots', 'plots folder')

    check_world_robot(sim_config, ((nb_dir, 'no-bridge baseline'),))
    t_load = time.perf_counter()
    vag = _load_pipeline(checkpoint_dir, ('joint',), 'VAG checkpoint', device)
    no_bridge = _load_pipeline(nb_dir, ('action_no_bridge',), 'no-bridge baseline', device,
                               vag)
    teacher = None
    if teacher_dir is not None:
        check_world_robot(sim_config, ((Path(teacher_dir), 'teacher checkpoint'),))
        teacher = _load_pipeline(Path(teacher_dir), ('joint',), 'teacher checkpoint', device,
                                 vag)
    video_only = None
    if video_only_dir is not None:
        video_only = _load_pipeline(Path(video_only_dir), ('video_only', 'joint'),
                                    'video-only checkpoint', device, vag)
    inverse = InverseDynamicsModel.load(id_dir, device)
    scene_blind = SceneBlindBaseline.load(sb_dir)
    phrasing_set = None
    if phrasings:
        from vag_ros.eval.phrasings import load_phrasings, scene_variants
        phrasing_set = load_phrasings(phrasings_file)
    world = World(sim_config)
    steps, dof = sim_config.episode_steps, world.dof
    _check_lengths(vag, 'VAG checkpoint', steps, dof)
    _check_lengths(no_bridge, 'no-bridge baseline', steps, dof)
    if teacher is not None:
        _check_lengths(teacher, 'teacher checkpoint', steps, dof)
    if video_only is not None:
        _check_lengths(video_only, 'video-only checkpoint', steps, dof, actions=False)
    names = tuple(inverse.config.joint_names)
    if inverse.config.dim != dof or (names and names != tuple(world.robot.joint_names)):
        raise ConfigError(f'inverse-dynamics model predicts {inverse.config.dim} joints '
                          f'{names}, the world has {world.robot.joint_names}')
    if scene_blind.joint_names and scene_blind.joint_names != tuple(world.robot.joint_names):
        raise ConfigError(f'scene-blind baseline has joints {scene_blind.joint_names}, the '
                          f'world has {world.robot.joint_names}')
    height, width = vag.config.video.height, vag.config.video.width
    anchor = vag.config.action.anchor_steps if vag.config.action.state_conditioning else 0
    load_s = time.perf_counter() - t_load

    records, plots = [], []
    totals = {k: 0.0 for k in ('expert', *METHODS, 'replay', 'metrics', 'template_twin',
                               'phrasings')}
    start = time.perf_counter()
    try:
        for k, (family, seed) in enumerate(tqdm(schedule, desc='eval', unit='episode',
                                                disable=not progress)):
            t0 = time.perf_counter()
            split = 'held_out' if held_out_every and (k + 1) % held_out_every == 0 \
                else 'train'
            task = world.make_task(family, seed, split)
            expert = world.run_expert(task)
            gt_frames = resize_frames(expert.frames, height, width)  # (T, H, W, 3)
            gt_actions = expert.actions  # (T, D)
            first = expert.frames[0]  # (H0, W0, 3) the camera frame; pipelines resize it
            state = expert.joints[0]  # (D,) the arm's measured joints at the first frame
            other = task.colours[1] if counterfactual and len(task.colours) > 1 else None
            counter_text = instruction_naming(task, other, sim_config) if other else None
            targets = _Targets(world.robot, task)
            regions = expert_regions(world, task, gt_actions, height, width)
            totals['expert'] += time.perf_counter() - t0

            def run(pipe, text, steps=num_steps):
                guidance = guidance_scale if pipe is vag else None
                return pipe.generate(first, text, seed, steps, guidance, state=state)

            t0 = time.perf_counter()
            gen = run(vag, task.instruction)
            gen_cf = run(vag, counter_text) if other else None
            outputs = {'vag': _Method(gen.actions, gen.video, time.perf_counter() - t0,
                                      None if gen_cf is None else gen_cf.actions,
                                      gen.raw_start_error)}
            if teacher is not None:  # at its own steps: the row the student is read against
                t0 = time.perf_counter()
                gen_t = run(teacher, task.instruction, teacher_steps)
                outputs['teacher'] = _Method(
                    gen_t.actions, gen_t.video, time.perf_counter() - t0,
                    run(teacher, counter_text, teacher_steps).actions if other else None,
                    gen_t.raw_start_error)
            pair = None
            if split == 'held_out' and paired_templates:
                t0 = time.perf_counter()
                twin = _training_twin(world, task)
                pair = {'instruction': twin.instruction,
                        'replay_success': _replay_success(
                            world, twin, run(vag, twin.instruction).actions)}
                totals['template_twin'] += time.perf_counter() - t0
            said = None
            if phrasing_set is not None:   # the same scene as people might say it
                t0 = time.perf_counter()
                said = {}
                for kind, text in scene_variants(task, phrasing_set).items():
                    actions = run(vag, text).actions
                    said[kind] = {'instruction': text,
                                  'replay_success': _replay_success(world, task, actions),
                                  'wrong_target': targets.nearest(actions) != task.target}
                totals['phrasings'] += time.perf_counter() - t0
            t0 = time.perf_counter()
            video = gen.video if video_only is None else run(video_only, task.instruction).video
            video_cf = None if gen_cf is None else gen_cf.video
            if video_only is not None and other:
                video_cf = run(video_only, counter_text).video

            def two_stage(frames):
                return anchor_start(inverse.predict(frames), state, anchor)

            outputs['two_stage'] = _Method(
                two_stage(video), video, time.perf_counter() - t0,
                None if video_cf is None else two_stage(video_cf))
            t0 = time.perf_counter()   # the reader's ceiling: the same reader, the true video
            outputs['two_stage_true_video'] = _Method(two_stage(gt_frames), None,
                                                      time.perf_counter() - t0)
            t0 = time.perf_counter()
            nb = run(no_bridge, task.instruction)
            nb_cf = run(no_bridge, counter_text) if other else None
            outputs['no_bridge'] = _Method(nb.actions, None, time.perf_counter() - t0,
                                           None if nb_cf is None else nb_cf.actions,
                                           nb.raw_start_error)
            t0 = time.perf_counter()
            blind = anchor_start(scene_blind.predict(family, state), state, anchor)
            outputs['scene_blind'] = _Method(blind, None, time.perf_counter() - t0,
                                             blind if other else None)

            record = {'task': family, 'seed': seed, 'instruction': task.instruction,
                      'templates': split, 'target': task.target,
                      'counterfactual_instruction': counter_text,
                      'counterfactual_target': other,
                      'expert_success': bool(expert.metadata.success), 'methods': {},
                      'video_references': video_references(
                          vag.codec, gt_frames, vag.device, regions)}
            if pair is not None:
                record['training_template_twin'] = pair
            if said is not None:
                record['phrasings'] = said
            for name, result in outputs.items():
                totals[name] += result.seconds
                t0 = time.perf_counter()
                row, replay_s = _score(world, task, result, gt_frames, gt_actions, state,
                                       targets, other, regions)
                totals['replay'] += replay_s
                totals['metrics'] += time.perf_counter() - t0 - replay_s
                record['methods'][name] = row
            records.append(record)
            if out is not None and k < plot_episodes:
                rel = Path('plots') / f'actions_{k:03d}_{family}_seed{seed}.png'
                plot_episode(out / rel, gt_actions,
                             {n: r.actions for n, r in outputs.items()},
                             sim_config.frame_rate, world.robot.joint_names,
                             f'{family} seed {seed}: "{task.instruction}"')
                plots.append(str(rel))
    finally:
        world.close()
    wall = time.perf_counter() - start

    per_task = {}
    for family in dict.fromkeys(r['task'] for r in records):
        rows = [r for r in records if r['task'] == family]
        per_task[family] = {'episodes': len(rows), 'methods': aggregate(rows)}
    per_split = {}
    for split in ('train', 'held_out'):
        rows = [r for r in records if r['templates'] == split]
        if rows:
            per_split[split] = {'episodes': len(rows), 'methods': aggregate(rows)}
    n = len(records)
    timings = {'load_s': load_s, 'total_s': wall, 'per_episode_s': wall / n}
    timings.update({f'{k}_s_per_episode': v / n for k, v in totals.items()})
    two_stage_video = (
        f'generated by the separate video-only checkpoint {video_only_dir}'
        if video_only is not None else
        "the joint VAG checkpoint's own generated video: the bridge is detached, so its "
        'video branch gets exactly the gradients a video-only model would (a test in '
        'test/model proves it)')
    results = {
        'methods': aggregate(records),
        'video_references': aggregate_references(records),
        'per_task': per_task,
        'per_template_split': per_split,
        'template_pairs': template_pairs(records),
        'phrasing_pairs': phrasing_pairs(records),
        'episodes': n,
        'seeds': [r['seed'] for r in records],
        'expert_success': _mean(float(r['expert_success']) for r in records),
        'definitions': dict(metrics.DEFINITIONS),
        'timings': timings,
        'config': {'checkpoint': str(checkpoint_dir), 'no_bridge': str(nb_dir),
                   'inverse_dynamics': str(id_dir), 'scene_blind': str(sb_dir),
                   'video_only': None if video_only_dir is None else str(video_only_dir),
                   'two_stage_video': two_stage_video, 'tasks': tasks,
                   'seed_start': seed_start, 'num_steps': num_steps,
                   'vag_guidance_scale': vag.config.sampler.guidance_scale
                   if guidance_scale is None else guidance_scale,
                   'vag_steps': vag.config.sampler.num_steps if num_steps is None
                   else num_steps,
                   'teacher': None if teacher is None else str(teacher_dir),
                   'teacher_steps': None if teacher is None
                   else teacher_steps or teacher.config.sampler.num_steps,
                   'resolution': [height, width], 'episode_steps': steps,
                   'success_tolerance': metrics.SUCCESS_TOLERANCE,
                   'held_out_every': held_out_every, 'anchor_steps': anchor,
                   'joint_names': list(world.robot.joint_names)},
        'plots': plots,
        'per_episode': records,
    }
    if out is not None:
        write_json(results, out / 'eval.json')
        write_report(results, out / 'report.md')
    return results


def write_json(results: dict, path: PathLike) -> Path:
    """Strict JSON (no NaN/inf), indented."""
    from vag_ros.outputs import write_text_atomically
    return write_text_atomically(path, json.dumps(results, indent=2, allow_nan=False) + '\n')
