"""The decoder stage: train a checkpoint's learned decoder (``FrameRefiner``) on its own video.

The trained generator samples latents for the first clip of training episodes; the refiner
learns to turn their linear PCA decode, with the given first frame, into the recorded frames.
Half of each batch is the generator's latents, half the true latents with Gaussian noise (so
clean latents decode well too). The DiT, the action branch and the PCA tensors are unchanged:
the output checkpoint is the input one with ``video.codec.refiner_width`` set and the
refiner's weights among its ``codec.*`` tensors.
"""

import dataclasses
import json
import math
from pathlib import Path
import time
import typing

import numpy as np
import torch

from vag_ros.errors import ConfigError
from vag_ros.model import action_space
from vag_ros.model.codecs import PcaCodec
from vag_ros.model.pipeline import VagPipeline
from vag_ros.outputs import OutputError, real_path, writable_folder
from vag_ros.eval import metrics
from vag_ros.train.dataset import check_one_setup, read_training_episode
from vag_ros.train.train_config import DecoderTrainConfig
from vag_ros.frame_geometry import frames_to_video, resize_frames

PathLike = typing.Union[str, Path]
LOG = 'loss_log.jsonl'
VALIDATION_EPISODES = 16


@dataclasses.dataclass
class DecoderTrainSummary:
    """What ``train_decoder`` did."""

    path: Path
    episodes: int
    steps: int
    final_loss: float
    validation_linear_psnr: float   # generated latents of held-out episodes, linear decode
    validation_refined_psnr: float  # the same latents through the trained refiner
    validation_episodes: int
    seconds: float
    sampling_seconds: float         # of which reading the bags and sampling latents

    def describe(self) -> str:
        return (f'decoder: {self.steps} steps on the first clips of {self.episodes} episodes '
                f'in {self.seconds / 60:.1f} min ({self.sampling_seconds / 60:.1f} sampling), '
                f'final loss {self.final_loss:.5f}; generated '
                f'video of {self.validation_episodes} other training episodes: '
                f'{self.validation_linear_psnr:.2f} dB linear, '
                f'{self.validation_refined_psnr:.2f} dB refined; saved to {self.path}')


@dataclasses.dataclass
class Clips:
    """First clips of episodes with the generator's latents for them."""

    truth: torch.Tensor       # (N, 3, T, H, W) float16 in [-1, 1]
    true_latents: torch.Tensor    # (N, C, T, h, w) float32
    generated: torch.Tensor   # (N, C, T, h, w) float32


def check_decoder_output(out_dir: PathLike) -> Path:
    """``out_dir``, a new or empty folder; OutputError otherwise."""
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()):
        raise OutputError(f'--out {out} is not empty: give a new folder (nothing in it is '
                          'overwritten)')
    return writable_folder(out, 'decoder output folder')


def select_bags(bags: typing.Sequence[Path], count: int) -> typing.List[Path]:
    """``count`` bags spread evenly over ``bags`` (all when there are fewer)."""
    if count >= len(bags):
        return list(bags)
    return [bags[i] for i in np.linspace(0, len(bags) - 1, count).round().astype(int)]


@torch.no_grad()
def generate_clips(pipe: VagPipeline, bags: typing.Sequence[Path], sample_steps: int,
                   seed: int, progress: bool = False) -> Clips:
    """Each bag's first clip and the latents ``pipe`` samples for it (seed + index)."""
    from tqdm import tqdm
    cfg = pipe.config
    vc, ac = cfg.video, cfg.action
    relative = ac.state_conditioning and cfg.mode != 'video_only'
    truth, true_latents, generated = [], [], []
    for i, bag in enumerate(tqdm(bags, desc='sampling latents', disable=not progress)):
        episode = read_training_episode(cfg, bag)
        clip = frames_to_video(resize_frames(episode.frames[:vc.frames], vc.height,
                                             vc.width))[None]   # (1, 3, T, H, W)
        state = action_space.check_state(episode.joints[0], ac.dim) if relative else None
        instruction = episode.metadata.instruction
        _, first_latent, observation = pipe.inputs(episode.frames[0], instruction, state)
        latents, _ = pipe.denoise(first_latent, observation, sample_steps, None, seed + i,
                                  None)
        truth.append(clip[0].half())
        true_latents.append(pipe.codec.encode(clip.to(pipe.device))[0].cpu())
        generated.append(latents[0].float().cpu())
    return Clips(torch.stack(truth), torch.stack(true_latents), torch.stack(generated))


def refined_psnr(codec: PcaCodec, clips: Clips) -> typing.Tuple[float, float]:
    """Mean clip PSNR [dB] of the generated latents decoded linearly and with the refiner."""
    from vag_ros.model.pipeline import video_to_uint8
    linear, refined = [], []
    with torch.no_grad():
        for truth, latents in zip(clips.truth, clips.generated):
            target = video_to_uint8(truth.float())
            first = truth[None, :, :1].float()  # the recorded frame (see train_decoder)
            linear.append(metrics.psnr(video_to_uint8(
                codec.decode_linear(latents[None]).clamp(-1, 1)[0]), target))
            refined.append(metrics.psnr(video_to_uint8(codec.decode(latents[None], first)[0]),
                                        target))
    return float(np.mean(linear)), float(np.mean(refined))


def refiner_codec(codec: PcaCodec, width: int) -> PcaCodec:
    """A copy of the fitted PCA ``codec`` with a fresh refiner of ``width`` channels."""
    fresh = PcaCodec(codec.spatial_factor, codec.latent_channels, codec.residual, width)
    state = {k: v for k, v in codec.state_dict().items() if not k.startswith('refiner.')}
    fresh.load_state_dict(state, strict=False)
    return fresh


def train_decoder(checkpoint: PathLike, data_dir: PathLike, out_dir: PathLike,
                  config: DecoderTrainConfig = DecoderTrainConfig(), progress: bool = True,
                  device='cpu') -> DecoderTrainSummary:
    """Train the refiner of ``checkpoint``'s codec on the bags in ``data_dir``; save the
    checkpoint with it into ``out_dir``."""
    from tqdm import tqdm

    from vag_ros.episodes.bag_reader import list_episode_bags
    from vag_ros.errors import EpisodeError
    from vag_ros.model.checkpoint import (
        checkpoint_codec, checkpoint_robot, load_checkpoint, save_checkpoint)
    from vag_ros.model.text import build_text_encoder
    config.validate()
    start = time.perf_counter()
    bags = list_episode_bags(data_dir)
    if len(bags) < 2:
        raise EpisodeError(f'{data_dir}: {len(bags)} episode bags; the decoder stage needs '
                           'two or more (training and validation)')
    metas = check_one_setup(bags)
    if real_path(out_dir, '--out') == real_path(checkpoint, '--checkpoint'):
        raise OutputError(f'--out {out_dir} is the input checkpoint: give a new folder (the '
                          'input stays as it is)')
    robot = checkpoint_robot(checkpoint)   # carried over unchanged
    named = next((m for m in metas if m is not None), None)
    if named is not None and (named.robot, tuple(named.joint_names)) != (
            robot.name, robot.joint_names):
        raise EpisodeError(f'{data_dir}: episodes of robot {named.robot!r} with joints '
                           f'{list(named.joint_names)}, but {checkpoint} is for robot '
                           f'{robot.name!r} with joints {list(robot.joint_names)}')
    source = load_checkpoint(checkpoint, device)
    model_config = source.config
    if model_config.video.codec.kind != 'pca' or source.model.video is None:
        raise ConfigError(f'{checkpoint}: a learned decoder needs a video branch and the pca '
                          f'codec (this one: mode {model_config.mode}, codec '
                          f'{model_config.video.codec.kind})')
    video = dataclasses.replace(model_config.video, codec=dataclasses.replace(
        model_config.video.codec, refiner_width=config.width))
    new_config = dataclasses.replace(model_config, video=video).validate()  # before sampling
    out = check_decoder_output(out_dir)
    pipe = VagPipeline(source.model, checkpoint_codec(source, str(checkpoint)),
                       build_text_encoder(model_config.text), source.normalizer, device)
    held_count = min(VALIDATION_EPISODES, max(1, len(bags) // 4))
    chosen = select_bags(bags, config.episodes + held_count)
    held = select_bags(chosen, held_count)
    train_bags = [bag for bag in chosen if bag not in held]
    train = generate_clips(pipe, train_bags, config.sample_steps, config.seed, progress)
    validation = generate_clips(pipe, held, config.sample_steps, config.seed + len(chosen),
                                progress)
    sampled = time.perf_counter()
    torch.manual_seed(config.seed)  # the refiner's initial weights too
    codec = refiner_codec(pipe.codec, config.width).to(device)
    refiner = codec.refiner.train()
    generator = torch.Generator().manual_seed(config.seed)
    optim = torch.optim.AdamW(refiner.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, config.steps,
                                                       eta_min=config.lr * 0.1)
    n, frames = train.truth.shape[0], train.truth.shape[2]
    b = config.batch_size
    log, losses = [], []
    bar = tqdm(range(config.steps), desc='decoder', unit='step', disable=not progress)
    for step in bar:
        idx = torch.randint(0, n, (b,), generator=generator)
        latents = train.true_latents[idx].clone()       # (B, C, T, h, w)
        sigma = torch.rand(b, 1, 1, 1, 1, generator=generator) * config.noise
        latents[:, :, 1:] += sigma * torch.randn(latents[:, :, 1:].shape, generator=generator)
        use = torch.rand(b, generator=generator) < config.generated_fraction
        latents[use] = train.generated[idx][use]
        truth = train.truth[idx].float().to(device)     # (B, 3, T, H, W)
        with torch.no_grad():
            linear = codec.decode_linear(latents.to(device)).clamp(-1.0, 1.0)
        index = torch.randint(1, frames, (b, 1), generator=generator).to(device)   # (B, 1)
        # the first frame as recorded (resized like the targets): fed the frame as generation
        # gives it (frame_to_tensor's bilinear resize) instead, the refiner came out worse
        # (docs/variants.md, "The learned decoder")
        out_frames = refiner.refine_frames(linear, truth[:, :, :1], index)  # (B, 3, 1, H, W)
        target = truth[torch.arange(b, device=device)[:, None], :, index]   # (B, 1, 3, H, W)
        loss = torch.mean((out_frames.transpose(1, 2) - target) ** 2)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            raise ConfigError(f'decoder training diverged at step {step} (loss '
                              f'{losses[-1]}); lower --lr')
        if (step + 1) % 50 == 0 or step + 1 == config.steps:
            log.append({'step': step + 1, 'loss': float(np.mean(losses[-50:])),
                        'lr': sched.get_last_lr()[0]})
            bar.set_postfix(loss=f'{log[-1]["loss"]:.5f}', refresh=False)
    codec = codec.eval().cpu()
    linear_psnr, refined = refined_psnr(codec, validation)
    checkpoint_model = source.model.cpu()
    stage = {**dataclasses.asdict(config), 'source': str(checkpoint),
             'validation_linear_psnr': linear_psnr, 'validation_refined_psnr': refined,
             'validation_episodes': len(held)}
    extra = {**source.extra, 'decoder': stage}
    save_checkpoint(out, checkpoint_model, new_config, pipe.normalizer, extra, codec, robot)
    with open(out / LOG, 'w') as handle:
        handle.writelines(json.dumps(line) + '\n' for line in log)
    return DecoderTrainSummary(
        out, len(train_bags), config.steps, log[-1]['loss'], linear_psnr, refined,
        validation_episodes=len(held), seconds=time.perf_counter() - start,
        sampling_seconds=sampled - start)
