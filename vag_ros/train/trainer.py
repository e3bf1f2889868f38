"""The training loop: AdamW + EMA on in-memory episodes, single process or DDP (torchrun).

Sampling is stateless: the batch of step s comes from the permutation of its epoch, seeded
by (seed, epoch), and the noise from a generator seeded by (seed, step, rank); together with
the saved weights/optimizer/EMA this makes ``resume`` continue exactly.
"""

import dataclasses
import json
import math
import os
from pathlib import Path
import time
import typing
import warnings

import torch
from torch import nn

from vag_ros.errors import CheckpointError, ConfigError, VagError
from vag_ros.model.checkpoint import read_codec, save_checkpoint
from vag_ros.model.config import MODES
from vag_ros.model.vag import VagModel
from vag_ros.outputs import writable_folder
from vag_ros.train import training_state as ts
from vag_ros.train.dataset import EpisodeDataset, episodes_robot
from vag_ros.train.distillation import distillation_loss, TeacherTrajectories, TRAJECTORIES
from vag_ros.train.ema import Ema
from vag_ros.train.train_config import TrainConfig

LOSS_LOG = 'loss_log.jsonl'


class TrainError(VagError):
    """A training run cannot start or continue (output folder, resume mismatch...)."""


@dataclasses.dataclass
class TrainResult:
    """Summary of a finished run."""

    out_dir: Path
    step: int
    loss: float              # mean loss of the last logged interval
    seconds_per_step: float  # wall time of this process's steps / steps


class _LossModule(nn.Module):
    """Wrap training_loss as forward so DistributedDataParallel can sync gradients."""

    def __init__(self, model: VagModel, distill_method: typing.Optional[str] = None):
        super().__init__()
        self.model = model
        self.distill_method = distill_method

    def forward(self, latents, text_emb, text_mask, actions, frames, states, generator=None,
                observation_only: bool = False):
        if self.distill_method is not None:  # latents, actions: the teacher's grid states
            return distillation_loss(self.model, latents, actions, text_emb, text_mask,
                                     frames, states, self.distill_method, generator)
        if observation_only:  # the encoder's warm-up: no DiT, no U-Net
            from vag_ros.model.vag import Observation
            features = self.model.observe(Observation(frames, text_emb, text_mask, states))
            loss = self.model.waypoint_loss(features, actions)
            return {'loss': loss, 'waypoint_loss': loss, 'action_loss': loss,
                    'video_loss': torch.zeros((), device=loss.device)}
        return self.model.training_loss(latents, text_emb, text_mask, actions, generator,
                                        frames, states)


def learning_rate(step: int, cfg) -> float:
    """LR of optimizer step ``step`` (0-based): linear warmup, then cosine to lr*min_ratio."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return cfg.lr * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * cosine)


def batch_indices(step: int, n: int, global_batch: int, seed: int) -> torch.Tensor:
    """Global batch (B,) of step ``step``: consecutive slices of per-epoch permutations."""
    start = step * global_batch
    out, cache = [], {}
    for p in range(start, start + global_batch):
        epoch = p // n
        if epoch not in cache:
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            cache[epoch] = torch.randperm(n, generator=g)
        out.append(cache[epoch][p % n])
    return torch.stack(out)


def _dist_info() -> typing.Tuple[int, int, int]:
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    return world, rank, local


# a distillation's teacher states: a folder holding only them is a start, not a run
REUSABLE = (TRAJECTORIES, TRAJECTORIES + '.tmp')
# what a training run writes into its folder (and nothing else)
RUN_FILES = ('model.safetensors', 'model.safetensors.tmp', 'config.yaml', 'robot.urdf',
             'SHA256SUMS', 'SHA256SUMS.tmp', 'loss_log.jsonl', 'training_state.tmp',
             'training_state.old', *REUSABLE)


def _only_run_files(out_dir: Path) -> bool:
    return all(p.name in RUN_FILES for p in out_dir.iterdir())


def check_out_dir(out_dir: Path, resume: bool) -> None:
    """Refuse a non-empty folder unless resuming a run; refuse resume without a state."""
    # a distillation killed before its first save keeps its teacher's states for the next try
    busy = out_dir.is_dir() and any(p.name not in REUSABLE for p in out_dir.iterdir())
    unfinished = busy and not ts.has_state(out_dir) and _only_run_files(out_dir)
    if unfinished:
        raise TrainError(
            f'{out_dir}: holds a run that never finished its first save (killed or crashed '
            f'before {ts.STATE_DIR}/ was written), so there is nothing to resume; remove it '
            f'and start again: rm -r {out_dir}')
    if resume:
        if not ts.has_state(out_dir):
            raise TrainError(f'{out_dir}: --resume given, but there is no '
                             f'{ts.STATE_DIR}/ to resume from')
    elif busy:
        raise TrainError(f'{out_dir}: output folder is not empty; pick a new folder or pass '
                         f'--resume to continue the run in it')
    if out_dir.exists() and not out_dir.is_dir():
        raise TrainError(f'{out_dir}: exists and is not a folder')
    writable_folder(out_dir, '--out folder', create=False)   # a read-only disk, a dead link


def _resolve_device(device, local_rank: int) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def train(model_config, train_config, data_dir: typing.Union[str, Path],
          out_dir: typing.Union[str, Path], mode: typing.Optional[str] = None,
          resume: bool = False, progress: bool = True,
          device: typing.Union[str, torch.device, None] = None,
          dataset: typing.Optional[EpisodeDataset] = None,
          init: typing.Union[str, Path, None] = None,
          init_video: typing.Union[str, Path, None] = None,
          cache_dir: typing.Union[str, Path, None] = None,
          urdf: typing.Union[str, Path, None] = None, robot=None) -> TrainResult:
    """Train a VagModel on the bags of ``data_dir``; checkpoint (EMA weights) into out_dir.

    out_dir gets ``model.safetensors`` + ``config.yaml`` (load_checkpoint), ``loss_log.jsonl``
    and ``training_state/`` (raw weights, AdamW, EMA, step, RNG) for ``resume``.
    ``init``: start from a checkpoint of the same model config (its weights, action stats
    and codec), e.g. to train the action branch further with ``freeze_video``.
    ``init_video``: take only the video branch (and its codec) from a joint checkpoint with
    the same video and text config; the action branch starts afresh. With ``freeze_video``
    this trains a new action branch on a trained video branch (the bridge is detached, so
    that is the joint objective's action part).
    ``cache_dir``: read the encoded windows from this latent cache (built there first when
    the folder is new; refused when stale) instead of holding them all in memory.
    The checkpoint records the episodes' robot (``episodes_robot``: their URDF, or
    ``urdf``; ``robot``, a RobotDescription, for a dataset that is no folder of bags); a
    model config whose action.dim is not that robot's joint count takes it.
    """
    if init is not None and init_video is not None:
        raise ConfigError('give init (the whole model) or init_video (its video branch), '
                          'not both')
    train_config.validate()
    if mode is not None:
        if mode not in MODES:
            raise ConfigError(f'mode={mode!r}: must be one of {list(MODES)}')
        model_config = dataclasses.replace(model_config, mode=mode)
    if robot is None:
        robot = episodes_robot(EpisodeDataset._list_bags(Path(data_dir)), urdf)
    if model_config.mode != 'video_only' and model_config.action.dim != robot.dof:
        model_config = dataclasses.replace(model_config, action=dataclasses.replace(
            model_config.action, dim=robot.dof))  # the robot's, not the preset's
    model_config = model_config.validate()
    out_dir = Path(out_dir)
    world, rank, local_rank = _dist_info()
    check_out_dir(out_dir, resume)  # every rank reads, before rank 0 writes anything
    dev = _resolve_device(device, local_rank)
    distributed = world > 1
    if distributed:
        import torch.distributed as dist
        if dev.type == 'cuda':
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            dist.init_process_group('nccl' if dev.type == 'cuda' else 'gloo')
        if dev.type == 'cpu':
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        dist.barrier()
    try:
        return _train(model_config, train_config, data_dir, out_dir, resume, progress, dev,
                      dataset, world, rank, robot, init, init_video, cache_dir)
    finally:
        if distributed:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def _load_init(init, model_config):
    """The checkpoint a run starts from; TrainError unless its model config is this one
    (the training objective, ``loss``, may differ: it shapes no weight)."""
    from vag_ros.model.checkpoint import checkpoint_codec, load_checkpoint
    ckpt = load_checkpoint(init)
    theirs_all, ours_all = ckpt.config.to_dict(), model_config.to_dict()
    theirs_all.pop('loss', None)
    ours_all.pop('loss', None)
    if theirs_all != ours_all:
        field, theirs, ours = first_difference(theirs_all, ours_all)
        hint = (' (a checkpoint after `vag-ros train-decoder`: start from the one before it, '
                'or pass its config.yaml as --config and run train-decoder again after)'
                if field == 'video.codec.refiner_width' else '')
        raise TrainError(f'--init {init}: its model config differs from this run\'s at '
                         f'{field}: {theirs!r} vs {ours!r}; start from a checkpoint of the '
                         f'same config{hint}')
    return ckpt, checkpoint_codec(ckpt, str(init))


def first_difference(a: dict, b: dict, prefix: str = ''):
    """(dotted key, a's value, b's value) of the first key where nested dicts differ."""
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if x != y:
            if isinstance(x, dict) and isinstance(y, dict):
                return first_difference(x, y, f'{prefix}{key}.')
            return f'{prefix}{key}', x, y
    return prefix.rstrip('.'), None, None


def _load_video_init(init, model_config):
    """(video branch tensors, codec) of a joint checkpoint whose video and text config are
    this run's; its action branch may be of another design (it is not read)."""
    import yaml

    from vag_ros.config import from_dict
    from vag_ros.model.checkpoint import (build_saved_codec, CODEC_PREFIX, CONFIG,
                                          read_weights)
    from vag_ros.model.config import TextConfig, VideoConfig
    path = Path(init) / CONFIG
    try:
        data = yaml.safe_load(path.read_text()) or {}
        video = from_dict(VideoConfig, data.get('video', {}), 'video')
        text = from_dict(TextConfig, data.get('text', {}), 'text')
    except (OSError, ValueError, yaml.YAMLError, ConfigError) as exc:
        raise TrainError(f'--init-video {init}: cannot read {path}: {exc}') from None
    if data.get('mode') == 'action_no_bridge' or (video, text) != (model_config.video,
                                                                   model_config.text):
        raise TrainError(f'--init-video {init}: needs a checkpoint with a video branch of '
                         f'the same video and text config as this run')
    tensors, _ = read_weights(init)
    video_tensors = {k[len('video.'):]: v.float() for k, v in tensors.items()
                     if k.startswith('video.')}
    codec_tensors = {k[len(CODEC_PREFIX):]: v.float() for k, v in tensors.items()
                     if k.startswith(CODEC_PREFIX)}
    return video_tensors, build_saved_codec(model_config, codec_tensors, str(init))


def _train(model_config, cfg, data_dir, out_dir: Path, resume: bool, progress: bool,
           dev: torch.device, dataset, world: int, rank: int, robot, init=None,
           init_video=None, cache_dir=None) -> TrainResult:
    main = rank == 0
    if cfg.batch_size % world:
        raise ConfigError(f'batch_size={cfg.batch_size}: must divide by the {world} processes')
    if cfg.freeze_video and model_config.mode != 'joint':
        raise ConfigError(f'freeze_video: only a joint model has a video branch to freeze '
                          f'(mode {model_config.mode!r})')
    token = model_config.video.observation_token
    if cfg.freeze_video and token and cfg.observation_warmup_steps:
        raise ConfigError('observation_warmup_steps: with video.observation_token the video '
                          'branch reads the observation encoder, so freeze_video freezes it '
                          'too; warm it up in the run that trains the video (set 0 here)')
    if init_video is not None and token:
        raise ConfigError('--init-video: with video.observation_token the video branch reads '
                          'the observation encoder; start from the whole model (--init)')
    teacher_config = model_config
    if cfg.distill_steps:
        _check_distillation(cfg, model_config, init, resume, world)
        model_config = student_config(model_config, cfg.distill_steps)
    state = ts.read_training_state(out_dir) if resume else None
    normalizer = start = video_start = None
    init_codec = None
    if state is not None:
        _check_resume(state[1], model_config, cfg)
        _check_resume_robot(out_dir, robot)
        from vag_ros.model.normalization import ActionNormalizer
        normalizer = ActionNormalizer.from_dict(state[1]['normalizer'])
    elif init is not None:
        start, init_codec = _load_init(init, teacher_config)
        normalizer = start.normalizer
    elif init_video is not None:
        video_start, init_codec = _load_video_init(init_video, model_config)
    if dataset is None:
        # resume: the codec fitted by the first run, not a refit
        codec = read_codec(out_dir, model_config) if state is not None else init_codec
        if cache_dir is not None:
            dataset = _cached_dataset(model_config, cfg, data_dir, Path(cache_dir), codec,
                                      normalizer, dev, main, world > 1)
        else:
            dataset = EpisodeDataset(model_config, data_dir, codec=codec,
                                     normalizer=normalizer, progress=progress and main,
                                     device=dev, window_stride=cfg.window_stride)
    normalizer, codec = dataset.normalizer, dataset.codec
    variants = _instruction_variants(model_config, cfg, dataset)
    if cfg.distill_steps:
        dataset = _teacher_trajectories(cfg, dataset, start, init, out_dir, progress and main,
                                        dev)

    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    model = VagModel(model_config).to(dev)
    if video_start is not None:
        from vag_ros.model.checkpoint import check_state_dict
        check_state_dict(model.video, video_start, f'{init_video} (video.* tensors)')
        model.video.load_state_dict(video_start, strict=True)
    elif start is not None:
        model.load_state_dict(start.model.state_dict(), strict=True)
    if cfg.freeze_video:
        model.video.requires_grad_(False)  # forward only: no graph, no optimizer state
        if model.video_reads_observation:  # the frozen video's input stays as it learned it
            model.observation.requires_grad_(False)
        if model.video.plan_start is not None:  # and so does the plan it reads (plan_dim)
            model.waypoints.requires_grad_(False)
    if cfg.distill_steps:  # the observation is data: only the velocity field changes
        for part in (model.observation, model.waypoints):
            if part is not None:
                part.requires_grad_(False)
    ema = Ema(model, cfg.ema_decay)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    step = 0
    if state is not None:
        step = ts.restore_training_state(state[0], state[1], model, optimizer, ema)
        state = None
    loss_module: nn.Module = _LossModule(model, cfg.distill_method if cfg.distill_steps
                                         else None)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel
        loss_module = DistributedDataParallel(
            loss_module, device_ids=[dev.index] if dev.type == 'cuda' else None,
            find_unused_parameters=(model_config.mode == 'action_no_bridge'
                                    or cfg.observation_warmup_steps > 0))
    model.train()

    per_rank = cfg.batch_size // world
    meta = {'train_config': cfg.to_dict(), 'mode': model_config.mode,
            'model_config': model_config.to_dict(), 'normalizer': normalizer.to_dict(),
            'data_dir': str(data_dir), 'world_size': world, 'episodes': len(dataset),
            'init': None if init is None else str(init),
            'init_video': None if init_video is None else str(init_video)}
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _truncate_log(out_dir / LOSS_LOG, step)
    bar = None
    if progress and main:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc='train', dynamic_ncols=True)
    sums = torch.zeros(3, dtype=torch.float64)  # loss, video, action since the last log
    count, last_loss, t_start, t_log, first = 0, float('nan'), time.time(), time.time(), step
    while step < cfg.steps:
        lr = learning_rate(step, cfg)
        for group in optimizer.param_groups:
            group['lr'] = lr * group['lr_scale']
        index = batch_indices(step, len(dataset), cfg.batch_size, cfg.seed)
        index = index[rank * per_rank:(rank + 1) * per_rank]  # (B / world,)
        lat, emb, mask, act, frames, states = dataset.batch(index, dev)
        step_seed = (cfg.seed * 1_000_003 + step) * 1024 + rank  # one per step and rank
        if variants is not None:
            emb, mask = variants.pick(index, emb, mask,
                                      torch.Generator().manual_seed(step_seed + 512))
        gen = torch.Generator().manual_seed(step_seed)
        warming = step < cfg.observation_warmup_steps and model.waypoints is not None
        # during the warm-up the observation encoder learns alone, from the waypoint loss
        out = loss_module(lat, emb, mask, act, frames, states, gen, observation_only=warming)
        optimizer.zero_grad(set_to_none=True)
        out['loss'].backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        step += 1
        ema.update(model, step)
        values = torch.stack([out['loss'].detach(), out['video_loss'].detach(),
                              out['action_loss'].detach()]).double().cpu()
        if not torch.isfinite(values).all():
            raise TrainError(f'step {step}: loss is not finite ({values.tolist()}); '
                             f'lower lr or check the data')
        sums += values
        count += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f'{values[0]:.4f}', lr=f'{lr:.2e}')
        if step % cfg.log_every == 0 or step == cfg.steps:
            if world > 1:
                import torch.distributed as dist
                dist.all_reduce(sums)  # gloo/nccl: float64 on CPU is fine for gloo
                sums /= world
            mean = (sums / count).tolist()
            last_loss = mean[0]
            if main:
                now = time.time()
                record = {'step': step, 'loss': mean[0], 'video_loss': mean[1],
                          'action_loss': mean[2], 'lr': lr,
                          'seconds': round(now - t_start, 3),
                          'seconds_per_step': round((now - t_log) / count, 4)}
                with open(out_dir / LOSS_LOG, 'a') as log:
                    log.write(json.dumps(record) + '\n')
                t_log = now
            sums.zero_()
            count = 0
        if (step % cfg.save_every == 0 or step == cfg.steps) and main:
            _save(out_dir, model, optimizer, ema, normalizer, codec, model_config, step, meta,
                  robot)
    if bar is not None:
        bar.close()
    if world > 1:
        import torch.distributed as dist
        dist.barrier()  # the checkpoint is complete before any rank returns
    elapsed = time.time() - t_start
    return TrainResult(out_dir, step, last_loss, elapsed / max(1, step - first))


def student_config(teacher_config, steps: int):
    """The distilled model's config: the teacher's, sampling in ``steps`` steps without
    guidance (a guided teacher's guidance is distilled into the student's velocity)."""
    return dataclasses.replace(teacher_config, sampler=dataclasses.replace(
        teacher_config.sampler, num_steps=steps, guidance_scale=1.0))


def _check_distillation(cfg, model_config, init, resume: bool, world: int) -> None:
    """ConfigError unless a distillation run can start as configured."""
    if model_config.mode != 'joint':
        raise ConfigError(f'distill_steps: distils a joint model (mode {model_config.mode!r})')
    if init is None and not resume:
        raise ConfigError('distill_steps: give the teacher as --init (a trained joint '
                          'checkpoint; pass its config.yaml as --config)')
    if world > 1:
        raise ConfigError('distill_steps: distillation runs in one process (no torchrun)')
    for name in ('freeze_video', 'observation_warmup_steps', 'instruction_context'):
        if getattr(cfg, name):
            raise ConfigError(f'distill_steps: {name} must be off (the student keeps the '
                              f'teacher\'s observation encoder and instructions)')


def _teacher_trajectories(cfg, dataset, start, init, out_dir: Path, progress: bool, dev):
    """The teacher's grid states on ``dataset``: read from ``out_dir`` (a resumed run),
    else generated by the --init checkpoint and saved there first."""
    from vag_ros.checksums import sha256_file
    from vag_ros.model.checkpoint import WEIGHTS
    path = out_dir / TRAJECTORIES
    made_by = {'teacher_steps': str(cfg.teacher_steps), 'teacher_draws': str(cfg.teacher_draws),
               'seed': str(cfg.seed)}
    if start is not None:  # a resumed run has no --init to compare (its state fixes the rest)
        made_by['teacher_sha256'] = sha256_file(Path(init) / WEIGHTS)
    if path.is_file():
        try:
            return TeacherTrajectories.load(path, dataset, cfg.distill_steps, made_by)
        except ValueError as exc:
            raise TrainError(str(exc)) from None
    if start is None:
        raise TrainError(f'{out_dir}: --resume of a distillation without its {TRAJECTORIES}; '
                         f'start it again with --init <teacher>')
    teacher = start.model.to(dev).eval()
    trajectories = TeacherTrajectories.generate(
        teacher, dataset, cfg.teacher_steps, cfg.distill_steps, cfg.teacher_draws, cfg.seed,
        progress=progress, device=dev)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        trajectories.save(path, made_by)
    except OSError as exc:
        raise TrainError(f'{path}: cannot write the teacher trajectories: {exc}') from None
    return trajectories


def _param_groups(model: VagModel, cfg) -> typing.List[dict]:
    """AdamW groups: the observation encoder (and its waypoint head) at lr *
    observation_lr_scale, everything else at lr; frozen parameters left out."""
    observation = {id(p) for m in (model.observation, model.waypoints) if m is not None
                   for p in m.parameters()}
    groups = [{'params': [p for p in model.parameters()
                          if p.requires_grad and id(p) not in observation], 'lr_scale': 1.0},
              {'params': [p for p in model.parameters()
                          if p.requires_grad and id(p) in observation],
               'lr_scale': cfg.observation_lr_scale}]
    return [g for g in groups if g['params']]


def _save(out_dir: Path, model, optimizer, ema: Ema, normalizer, codec, model_config,
          step: int, meta: dict, robot) -> None:
    """EMA weights as the inference checkpoint, then the full state for resume."""
    from safetensors import SafetensorError
    extra = {'step': step, 'mode': model_config.mode, 'ema_decay': ema.decay,
             'train_config': meta['train_config'], 'episodes': meta['episodes']}
    try:
        save_checkpoint(out_dir, ema.model, model_config, normalizer, extra=extra,
                        codec=codec, robot=robot)
        ts.save_training_state(out_dir, model, optimizer, ema.state_dict(), step, meta)
    except (OSError, SafetensorError) as exc:  # a full disk, a file-size limit
        raise TrainError(f'{out_dir}: cannot write the checkpoint of step {step}: {exc} '
                         '(free space, then --resume from the last saved step)') from None


def _check_resume_robot(out_dir: Path, robot) -> None:
    """TrainError unless the run being resumed was trained for ``robot``."""
    from vag_ros.model.checkpoint import checkpoint_robot, ROBOT
    from vag_ros.robot.description import check_same_robot
    if not (out_dir / ROBOT).is_file():  # a run started before checkpoints carried it
        return
    try:
        check_same_robot(checkpoint_robot(out_dir), robot, f'the run in {out_dir}',
                         'the episodes to resume on')
    except VagError as exc:
        raise TrainError(f'--resume: {exc}') from None


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past ``step`` (logged after the last save of a crashed run)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)['step'] <= step:
                keep.append(line + '\n')
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by the crash
    path.write_text(''.join(keep))


def _cached_dataset(model_config, cfg, data_dir, cache_dir: Path, codec, normalizer, dev,
                    main: bool, distributed: bool):
    """The latent cache of ``data_dir`` (built by rank 0 when new), checked fresh."""
    from vag_ros.episodes.bag_reader import list_episode_bags
    from vag_ros.train.dataset import check_one_setup
    from vag_ros.train.latent_cache import build_latent_cache, CachedEpisodeDataset, MANIFEST
    bags = list_episode_bags(data_dir)
    if not bags:
        raise TrainError(f'{data_dir}: no episode bags')
    check_one_setup(bags)
    if main and not (cache_dir / MANIFEST).is_file():
        build_latent_cache(model_config, bags, cache_dir, codec=codec, normalizer=normalizer,
                           window_stride=cfg.window_stride, device=dev)
    if distributed:
        import torch.distributed as dist
        dist.barrier()  # the cache is complete before any rank reads it
    return CachedEpisodeDataset(cache_dir, model_config, bags, cfg.window_stride, codec,
                                normalizer, verify=True)  # every shard against SHA256SUMS


def _instruction_variants(model_config, cfg, dataset):
    """The context-wrapped instruction variants (cfg.instruction_context > 0) or None."""
    if cfg.instruction_context <= 0:
        return None
    instructions = getattr(dataset, 'instructions', None)
    if instructions is None:
        raise ConfigError('instruction_context: the training data keeps no instruction strings '
                          '(a latent cache built before caches kept them: build a new one, in '
                          'another --cache folder), or set instruction_context: 0')
    from vag_ros.model.text import build_text_encoder
    from vag_ros.train.instruction_context import InstructionVariants
    variants = InstructionVariants(instructions, build_text_encoder(model_config.text),
                                   cfg.instruction_variants, cfg.instruction_context, cfg.seed,
                                   cfg.instruction_typos)
    if variants.too_long:
        warnings.warn(f'instruction_context: {variants.too_long} of {len(variants.texts)} '
                      f'wrapped instructions exceed text.max_length='
                      f'{model_config.text.max_length} tokens; those stay unwrapped')
    return variants


def _check_resume(meta: dict, model_config, cfg) -> None:
    """Refuse to resume with a different model, mode or optimization (steps may grow)."""
    from vag_ros.model.config import config_from_dict
    try:  # read back, so a field added since the run was saved takes its default
        saved_model = config_from_dict(meta.get('model_config') or {}, '').to_dict()
    except (ConfigError, TypeError, ValueError):
        saved_model = meta.get('model_config')
    if saved_model != model_config.to_dict():
        raise CheckpointError('resume: the model config (or --mode) differs from the run '
                              f'being resumed (mode was {meta.get("mode")!r})')
    # a run saved before a field existed ran with its default
    saved = {**TrainConfig().to_dict(), **meta.get('train_config', {})}
    now = cfg.to_dict()
    for key in ('steps', 'log_every', 'save_every'):
        saved.pop(key, None)
        now.pop(key, None)
    if saved != now:
        diff = sorted(k for k in now if saved.get(k) != now[k])
        raise CheckpointError(f'resume: train config fields {diff} differ from the run '
                              f'being resumed')
    if meta.get('step', 0) > cfg.steps:
        raise CheckpointError(f'resume: the run is at step {meta["step"]}, beyond '
                              f'steps={cfg.steps}')
