"""Generation: first frame (H, W, 3) uint8 + instruction -> video and joint trajectory."""

import dataclasses
from pathlib import Path
import time
import typing

import numpy as np
import torch

from vag_ros.config import MAX_SEED
from vag_ros.errors import VagError
from vag_ros.frame_geometry import crop_box, frames_to_video, resize_frames
from vag_ros.model import action_space
from vag_ros.model.codecs import build_codec, LatentCodec
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.text import build_text_encoder, TextEncoder
from vag_ros.model.vag import Observation, VagModel


class GenerationError(VagError, ValueError):
    """A generation request is malformed (image shape/dtype, empty instruction...)."""


@dataclasses.dataclass
class GenerationResult:
    """One generated episode."""

    video: np.ndarray                    # (T, H, W, 3) uint8
    actions: typing.Optional[np.ndarray]  # (T, D) float32 in joint units; None if video-only
    timings: typing.Dict[str, float]     # seconds per stage: text, encode, denoise, decode
    seed: int
    instruction: str
    fps: float
    state: typing.Optional[np.ndarray] = None  # (D,) the measured state it was given
    raw_start_error: typing.Optional[np.ndarray] = None  # (D,) |first point - state| before
    #                                                      anchoring, per joint


def frame_to_tensor(frame: np.ndarray, height: int, width: int, resize: bool) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, 1, height, width) float in [-1, 1].

    A frame of another size is centre-cropped to the model's aspect ratio (as the capture
    node's ``crop: center``), never squashed, then resized by the one resize training uses
    (frame_geometry.resize_frames); one more than ``MAX_UPSCALE`` times smaller than the
    model's input on a side is refused.
    """
    if not isinstance(frame, np.ndarray):
        raise GenerationError(f'first frame: expected a numpy array, got {type(frame).__name__}')
    if frame.dtype != np.uint8:
        raise GenerationError(f'first frame: expected dtype uint8, got {frame.dtype}')
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise GenerationError(f'first frame: expected shape (H, W, 3), got {frame.shape}')
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise GenerationError(f'first frame: empty image of shape {frame.shape}')
    if tuple(frame.shape[:2]) != (height, width):
        if not resize:
            raise GenerationError(f'first frame: size {frame.shape[:2]} differs from the '
                                  f'model resolution {(height, width)} and resize is off')
        check_frame_size(frame.shape[0], frame.shape[1], height, width)
        left, top, right, bottom = crop_box(frame.shape[1], frame.shape[0], width, height)
        frame = frame[top:bottom, left:right]  # (h, w, 3) the model's aspect
    frames = resize_frames(frame[None], height, width)  # (1, H, W, 3)
    return frames_to_video(frames)[None]  # (1, 3, 1, H, W), as training reads its windows


def check_frame_size(frame_h: int, frame_w: int, height: int, width: int) -> None:
    """GenerationError when a frame_h x frame_w frame, centre-cropped to the model's aspect,
    is more than MAX_UPSCALE times smaller than a height x width model input."""
    left, top, right, bottom = crop_box(frame_w, frame_h, width, height)
    h, w = bottom - top, right - left
    if h * MAX_UPSCALE < height or w * MAX_UPSCALE < width:
        raise GenerationError(
            f'first frame: {w}x{h} px (after the centre crop) is more than {MAX_UPSCALE}x '
            f'smaller than the model input {width}x{height}; send the camera image at its '
            'own resolution')


def video_to_uint8(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    x = ((video.float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).cpu().numpy()


# a first frame may be at most this many times smaller than the model input on a side
MAX_UPSCALE = 2


def check_request(instruction, seed) -> None:
    """GenerationError unless ``instruction`` is a non-empty str and ``seed`` an integer."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise GenerationError(f'instruction: expected a non-empty str, got {instruction!r}')
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= int(seed) <= MAX_SEED:
        raise GenerationError(f'seed: expected an integer in [0, {MAX_SEED}], got {seed!r}')


class GenerationPipeline:
    """The one generation call; a subclass runs its four stages (text, encode, denoise,
    decode) with torch modules (VagPipeline) or engine runtimes (EnginePipeline).

    Subclasses set ``config`` (VagConfig), ``normalizer`` and ``resize``.
    """

    def instruction_tokens(self, instruction: str) -> typing.Optional[int]:
        """How many tokens the text encoder makes of ``instruction`` (None: unknown)."""
        return None

    def check_instruction(self, instruction: str) -> None:
        """GenerationError when the model would read only part of ``instruction``."""
        check_request(instruction, 0)
        limit = self.config.text.max_length
        tokens = self.instruction_tokens(instruction)
        if tokens is not None and tokens <= self.instruction_tokens(''):
            raise GenerationError(f'instruction {instruction!r} has no word the text encoder '
                                  'reads')
        if tokens is not None and tokens > limit:
            raise GenerationError(
                f'instruction has {tokens} tokens > text.max_length {limit} that the model '
                f'reads: it would act on a cut-off text ({instruction[:60]!r}...); shorten it')

    def check_frame(self, frame: np.ndarray) -> None:
        """GenerationError when ``frame`` (H, W, 3) is too small for the model's inputs."""
        if not self.resize:
            return
        for height, width in ((self.config.video.height, self.config.video.width),
                              tuple(self.config.observation_hw)):
            check_frame_size(frame.shape[0], frame.shape[1], height, width)

    @torch.no_grad()
    def generate(self, first_frame: np.ndarray, instruction: str, seed: int = 0,
                 num_steps: typing.Optional[int] = None,
                 guidance_scale: typing.Optional[float] = None,
                 callback: typing.Optional[typing.Callable[[int, int], None]] = None,
                 state=None) -> GenerationResult:
        """Generate; same inputs and seed give the same outputs (seeded CPU noise).

        ``state``: the arm's measured joints (D,), required by state-conditioned models.
        """
        check_request(instruction, seed)
        self.check_instruction(instruction)
        vc, ac = self.config.video, self.config.action
        relative = ac.state_conditioning and self.config.mode != 'video_only'
        state_t = action_space.check_state(state, ac.dim) if relative else None  # (1, D)
        timings = {}

        def timed(stage: str, run, *args):
            t0 = time.perf_counter()
            out = run(*args)
            timings[stage] = time.perf_counter() - t0
            return out

        start = time.perf_counter()
        frame, first_latent, observation = self.inputs(first_frame, instruction, state_t,
                                                       timed)
        latents, actions = timed('denoise', self.denoise, first_latent, observation,
                                 num_steps, guidance_scale, int(seed), callback)
        video = None  # (3, T, H, W); an action-only model has none
        if latents is not None:
            video = timed('decode', self.decode, latents, frame)
        joints = raw_error = None
        if actions is not None:
            joints = action_space.from_model(actions.float().cpu(), state_t, self.normalizer,
                                             relative)[0].numpy()  # (T, D)
            if relative:
                state_np = state_t[0].numpy()
                raw_error = np.abs(joints[0] - state_np)
                joints = action_space.anchor_start(joints, state_np, ac.anchor_steps)
        # diverged or corrupt weights (or engine) give NaN: refused here, for every backend,
        # before anything is cast to pixels or published
        for what, value in (('video', video), ('joints', joints)):
            finite = value is None or bool(torch.isfinite(value).all() if torch.is_tensor(value)
                                           else np.isfinite(value).all())
            if not finite:
                raise GenerationError(f'generated {what} hold NaN or inf (diverged or corrupt '
                                      'weights or engine?); nothing is published')
        timings['total'] = time.perf_counter() - start
        frames = (video_to_uint8(video) if video is not None else
                  np.zeros((0, vc.height, vc.width, 3), np.uint8))
        return GenerationResult(frames, joints, timings, int(seed), instruction,
                                vc.fps, None if state_t is None else state_t[0].numpy(),
                                raw_error)

    def inputs(self, first_frame: np.ndarray, instruction: str,
               state: typing.Optional[torch.Tensor], timed=None):
        """-> frame (1, 3, 1, H, W) in [-1, 1], its latent (1, C, 1, h, w), the Observation;
        ``state`` (1, D) as ``check_state`` gives it, or None."""
        timed = timed or (lambda stage, run, *args: run(*args))
        vc = self.config.video
        frame = frame_to_tensor(first_frame, vc.height, vc.width, self.resize)  # (1, 3, 1, H, W)
        oh, ow = self.config.observation_hw
        obs_frame = frame_to_tensor(first_frame, oh, ow, self.resize)[:, :, 0]  # (1, 3, S, S)
        text_emb, text_mask = timed('text', self.encode_text, instruction)
        first_latent = timed('encode', self.encode_frame, frame)
        return frame, first_latent, Observation(obs_frame, text_emb, text_mask, state)


class VagPipeline(GenerationPipeline):
    """Text encoder + codec + VagModel + action de-normalization, one call."""

    def __init__(self, model: VagModel, codec: LatentCodec, text_encoder: TextEncoder,
                 normalizer: ActionNormalizer, device: typing.Union[str, torch.device] = 'cpu',
                 resize: bool = True):
        self.model = model.eval().to(device)
        self.codec = codec.eval().to(device)
        self.text_encoder = text_encoder
        self.normalizer = normalizer
        self.device = torch.device(device)
        self.resize = resize
        self.config = model.config
        if codec.latent_channels != self.config.video.latent_channels:
            raise GenerationError(f'codec gives {codec.latent_channels} latent channels, '
                                  f'video.latent_channels={self.config.video.latent_channels}')

    @classmethod
    def from_config(cls, model: VagModel, normalizer: ActionNormalizer,
                    device: typing.Union[str, torch.device] = 'cpu',
                    resize: bool = True) -> 'VagPipeline':
        """Build the codec and text encoder that ``model.config`` names."""
        cfg = model.config
        return cls(model, build_codec(cfg.video.codec, cfg.video.latent_channels),
                   build_text_encoder(cfg.text), normalizer, device, resize)

    @classmethod
    def from_checkpoint(cls, directory: typing.Union[str, Path],
                        device: typing.Union[str, torch.device] = 'cpu',
                        text_encoder: typing.Optional[TextEncoder] = None,
                        codec: typing.Optional[LatentCodec] = None,
                        resize: bool = True) -> 'VagPipeline':
        """Load a checkpoint and build its codec and text encoder from its config.

        A given ``codec`` is used only if it holds the checkpoint's fitted codec tensors.
        """
        from vag_ros.model.checkpoint import checkpoint_codec, load_checkpoint, same_codec
        ckpt = load_checkpoint(directory, device)
        cfg = ckpt.config
        if codec is None or not same_codec(codec, ckpt):
            codec = checkpoint_codec(ckpt, str(directory))
        text_encoder = text_encoder or build_text_encoder(cfg.text)
        return cls(ckpt.model, codec, text_encoder, ckpt.normalizer, device, resize)

    def instruction_tokens(self, instruction: str) -> typing.Optional[int]:
        """Tokens of ``instruction`` under the checkpoint's text encoder."""
        return self.text_encoder.token_count(instruction)

    def encode_text(self, instruction: str) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        """-> text embeddings (1, L, E) and mask (1, L) on the model's device."""
        text_emb, text_mask = self.text_encoder.encode([instruction])  # (1, L, E), (1, L)
        return text_emb.to(self.device), text_mask.to(self.device)

    def encode_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """(1, 3, 1, H, W) in [-1, 1] -> first latent (1, C, 1, h, w)."""
        return self.codec.encode(frame.to(self.device))

    def denoise(self, first_latent, observation: Observation, num_steps, guidance_scale,
                seed: int,
                callback):
        """-> latents (1, C, T', h, w), normalized actions (1, T, D) or None."""
        generator = torch.Generator().manual_seed(seed)
        observation = Observation(*(None if x is None else x.to(self.device) for x in (
            observation.frame, observation.text_emb, observation.text_mask,
            observation.state)))
        return self.model.sample(first_latent, observation, num_steps, guidance_scale,
                                 generator, callback=callback)

    def decode(self, latents: torch.Tensor, first_frame: torch.Tensor) -> torch.Tensor:
        """(1, C, T', h, w) and the given frame (1, 3, 1, H, W) -> video (3, T, H, W)."""
        return self.codec.decode(latents, first_frame.to(self.device))[0]
