"""Training data: episode bags -> latents, text embeddings and normalized actions in memory."""

import ctypes
import dataclasses
from pathlib import Path
import typing

import numpy as np
import torch

from vag_ros.episodes.bag_reader import list_episode_bags, read_episode
from vag_ros.episodes.withhold import WITHHELD
from vag_ros.errors import EpisodeError
from vag_ros.model import action_space
from vag_ros.model.codecs import build_codec, LatentCodec
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.frame_geometry import frames_to_video, resize_frames
from vag_ros.model.text import build_text_encoder, TextEncoder


# clips that fit the (unused) codec of a model without a video branch
UNUSED_CODEC_FIT_CLIPS = 64


def window_starts(length: int, clip: int, stride: int) -> typing.List[int]:
    """First frames of the clip-long windows of an episode of ``length`` frames: every
    ``stride`` frames, and the last window flush with the end (no frame left out)."""
    starts = list(range(0, length - clip + 1, stride))
    if starts[-1] != length - clip:
        starts.append(length - clip)
    return starts


class Window(typing.NamedTuple):
    """One clip of an episode, ready to encode."""

    start: int                 # first frame in the episode
    frames: np.ndarray         # (T, H, W, 3) uint8 at the model's video size
    observed: np.ndarray       # (S, S, 3) uint8 first frame at the observation size
    state: torch.Tensor        # (D,) measured joints at the first frame
    actions: torch.Tensor      # (T, D) absolute actions
    instruction: str


def read_training_episode(model_config, path: Path):
    """The episode bag at ``path``, checked against the model config."""
    try:
        episode = read_episode(path)
    except EpisodeError:
        raise
    except Exception as exc:  # noqa: B902 - anything else still means a bad bag
        raise EpisodeError(f'{path}: unreadable episode: {exc}') from exc
    video, action = model_config.video, model_config.action
    t = episode.num_steps
    if video.frames != action.horizon:
        raise EpisodeError(f'model config: video.frames={video.frames} but '
                           f'action.horizon={action.horizon}; they must be equal')
    if t < video.frames:
        raise EpisodeError(f'{path}: episode has {t} frames ({t / video.fps:.1f} s), '
                           f'shorter than one clip of video.frames={video.frames}; '
                           'leave it out or record longer episodes')
    if abs(episode.metadata.frame_rate - video.fps) > 1e-6:
        raise EpisodeError(f'{path}: recorded at {episode.metadata.frame_rate:g} Hz, the model '
                           f'config has video.fps={video.fps:g}: its clips would play at '
                           f'the wrong speed; ingest it at --fps {video.fps:g} or match the '
                           'config')
    if model_config.mode != 'video_only' and episode.actions.shape[1] != action.dim:
        raise EpisodeError(f'{path}: actions have {episode.actions.shape[1]} dims, the '
                           f'model config needs action.dim={action.dim}')
    if actions_withheld(episode.metadata):   # video only: its windows add no action loss
        episode = dataclasses.replace(episode, actions=np.full_like(episode.actions, np.nan))
    if action.execute_steps:   # a receding-horizon policy: windows from every frame
        episode = hold_last(episode, video.frames - 1)
    return episode


def actions_withheld(metadata) -> bool:
    """Whether an episode's actions are withheld from training (its video still trains the
    video branch): a failed or unlabelled run, or the action-free study's videos."""
    return metadata.extra.get('actions') == WITHHELD


def hold_last(episode, steps: int):
    """``episode`` with ``steps`` more frames holding its last frame, joints and action (the
    arm at rest at its goal): a window may start at any frame of the original."""
    def held(array):   # (T, ...) -> (T + steps, ...)
        return np.concatenate([array, np.repeat(array[-1:], steps, axis=0)])
    return dataclasses.replace(episode, frames=held(episode.frames),
                               joints=held(episode.joints), actions=held(episode.actions))


def check_one_setup(bags: typing.Sequence[Path]) -> list:
    """EpisodeError unless every bag has the first one's robot and joint names (in order)
    and, where recorded, the same URDF: the action columns mean the same joints in every
    episode. Reads metadata.yaml only; returns each bag's EpisodeMetadata (or None)."""
    from vag_ros.episodes.bag_reader import read_metadata
    metas = [read_metadata(path) for path in bags]
    first = urdf = None
    for path, meta in zip(bags, metas):
        if meta is None:
            continue
        setup = (meta.robot, tuple(meta.joint_names))
        if first is None:
            first = (path, setup)
        elif setup != first[1]:
            raise EpisodeError(f'{path}: robot {setup[0]!r}, joints {list(setup[1])}; '
                               f'{first[0].name} has robot {first[1][0]!r}, joints '
                               f'{list(first[1][1])}: one model, one robot and joint order')
        if meta.robot_urdf:
            if urdf is None:
                urdf = (path, meta.robot_urdf)
            elif meta.robot_urdf != urdf[1]:
                raise EpisodeError(f'{path} and {urdf[0].name} record different URDFs of robot '
                                   f'{meta.robot!r}: one model, one robot description')
    return metas


def episodes_robot(bags: typing.Sequence[Path], urdf=None):
    """The RobotDescription of the robot the episodes in ``bags`` were recorded on: the URDF
    their bags carry (ingest and sim-record write it). ``urdf`` (a path) may give the same
    robot's URDF, or the URDF of episodes that carry none; a URDF of another robot than the
    episodes name is refused. Episodes with no URDF and no ``urdf`` are taken for the
    package's arm only when they name it and its joints exactly."""
    from vag_ros.robot.description import (
        check_same_robot, DEFAULT_URDF, load_robot_description)
    metas = check_one_setup(bags)
    named = [(path, meta) for path, meta in zip(bags, metas) if meta is not None]
    if not named:
        raise EpisodeError(f'{bags[0].parent}: no bag carries episode metadata (robot, joint '
                           'names): write them with vag-ros ingest or sim-record')
    path, meta = next(((p, m) for p, m in named if m.robot_urdf), named[0])
    recorded = meta.robot_description()
    given = load_robot_description(urdf) if urdf else None
    where = f'the episodes in {path.parent}'
    if recorded is not None:
        if given is not None:
            check_same_robot(recorded, given, where, f'--urdf {urdf}')
        return given or recorded
    if given is None:
        given = load_robot_description()
        if (given.name, given.joint_names) != (meta.robot, tuple(meta.joint_names)):
            raise EpisodeError(
                f'{where} are of robot {meta.robot!r} with joints {list(meta.joint_names)} '
                'and carry no URDF (recorded before episodes did): pass --urdf with that '
                f"robot's URDF (the package's {DEFAULT_URDF} is {given.name!r})")
        return given
    if (given.name, given.joint_names) != (meta.robot, tuple(meta.joint_names)):
        raise EpisodeError(
            f'--urdf {urdf} is robot {given.name!r} with joints {list(given.joint_names)}, but '
            f'{where} are of robot {meta.robot!r} with joints {list(meta.joint_names)}')
    return given


def episode_windows(model_config, path: Path, window_stride: int = 0) -> typing.List[Window]:
    """The clip-long windows of one episode bag, every ``window_stride`` frames."""
    if window_stride < 0:
        raise EpisodeError(f'window_stride={window_stride}: must be >= 0')
    episode = read_training_episode(model_config, path)
    video = model_config.video
    oh, ow = model_config.observation_hw
    clip = video.frames
    resized = resize_frames(episode.frames, video.height, video.width)
    starts = window_starts(episode.num_steps, clip, window_stride or clip)
    # each window's first frame at the observation size, in one new array (W, S, S, 3):
    # views of the episode's frames would keep them alive, and one small copy per window
    # fragments the heap (10 MB held per 55-frame episode at window_stride 1, 2.6 MB now)
    observed = np.array(resize_frames(episode.frames[starts], oh, ow))
    return [Window(start, resized[start:start + clip], observed[k],
                   torch.as_tensor(episode.joints[start], dtype=torch.float32),
                   torch.as_tensor(episode.actions[start:start + clip], dtype=torch.float32),
                   episode.metadata.instruction)
            for k, start in enumerate(starts)]


def named_windows(model_config, bags: typing.Sequence[Path], window_stride: int = 0,
                  progress: bool = False) -> typing.List[typing.Tuple[str, Window]]:
    """(bag name, Window) of every window of ``bags``, in order."""
    named = []
    for path in _maybe_tqdm(bags, progress, 'reading bags'):
        named.extend((path.name, window)
                     for window in episode_windows(model_config, path, window_stride))
        release_freed_memory()
    return named


def release_freed_memory() -> None:
    """Give the C heap's free pages back to the system (glibc; elsewhere nothing).

    Reading an episode allocates large transient buffers (decoded frames, the resize's
    float copy) between the small arrays its windows keep; glibc then keeps the freed
    pages: 10.5 MB of resident memory per 55-frame episode at window_stride 1 for 2.6 MB
    of kept arrays (2.9 MB with this call)."""
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return
    trim = getattr(libc, 'malloc_trim', None)
    if trim is not None:
        trim(0)


def fit_normalizer(model_config, actions: torch.Tensor, states: torch.Tensor
                   ) -> ActionNormalizer:
    """The action statistics of windows (N, T, D) starting at states (N, D); windows whose
    actions are withheld (NaN) are left out."""
    labelled = torch.isfinite(actions).flatten(1).all(1)   # (N,)
    if not bool(labelled.any()) and model_config.mode == 'video_only':
        return ActionNormalizer.identity(actions.shape[-1])   # no actions to normalize
    if not bool(labelled.any()):
        raise EpisodeError('every episode\'s actions are withheld: training needs some with '
                           'actions (a video-only run: mode video_only)')
    actions, states = actions[labelled], states[labelled]
    relative = model_config.action.state_conditioning
    return ActionNormalizer.fit(actions - states[:, None] if relative else actions,
                                model_config.action.normalization)


def normalize_actions(model_config, actions, states, normalizer) -> torch.Tensor:
    """(N, T, D) absolute actions -> what the model learns (relative when state-conditioned)."""
    return action_space.to_model(actions, states, normalizer,
                                 model_config.action.state_conditioning)


def encode_instructions(text_encoder: TextEncoder, instructions: typing.Sequence[str]):
    """(emb (N, L, E), mask (N, L)), encoding each distinct instruction once."""
    emb, mask, index = encode_distinct_instructions(text_encoder, instructions)
    return emb[index].contiguous(), mask[index].contiguous()


def encode_distinct_instructions(text_encoder: TextEncoder,
                                 instructions: typing.Sequence[str]):
    """(emb (U, L, E), mask (U, L), index (N,)): each distinct instruction encoded once and
    the row of each of ``instructions`` (N embeddings of (L, E) would cost N * 48 KB)."""
    unique = sorted(set(instructions))
    emb, mask = text_encoder.encode(unique)  # (U, L, E), (U, L)
    rows = {text: k for k, text in enumerate(unique)}
    return emb, mask, torch.tensor([rows[s] for s in instructions], dtype=torch.long)


def fit_codec(codec, frames: typing.Sequence[np.ndarray], encode_batch: int, device,
              progress: bool = False) -> None:
    """Fit a pca codec on clips (each (T, H, W, 3) uint8), in small batches."""
    batches = (torch.stack([frames_to_video(f) for f in frames[i:i + encode_batch]])
               .to(device) for i in range(0, len(frames), encode_batch))
    codec.fit(_maybe_tqdm(batches, progress, 'fitting codec'))


@torch.no_grad()
def encode_clips(codec, frames: typing.Sequence[np.ndarray], encode_batch: int, device,
                 progress: bool = False) -> torch.Tensor:
    """Clips (each (T, H, W, 3) uint8) -> latents (N, C, T', H', W') float32 on the CPU."""
    latents = []
    for i in _maybe_tqdm(range(0, len(frames), encode_batch), progress, 'encoding'):
        chunk = torch.stack([frames_to_video(f) for f in frames[i:i + encode_batch]])
        latents.append(codec.encode(chunk.to(device)).float().cpu())  # (b, C, T', H', W')
    return torch.cat(latents)


def episode_window_actions(model_config, path: Path, window_stride: int = 0):
    """(actions (n, T, D), states (n, D)) of an episode's windows, without its frames."""
    episode = read_training_episode(model_config, path)
    clip = model_config.video.frames
    starts = window_starts(episode.num_steps, clip, window_stride or clip)
    actions = torch.as_tensor(np.stack([episode.actions[s:s + clip] for s in starts]),
                              dtype=torch.float32)
    states = torch.as_tensor(episode.joints[starts], dtype=torch.float32)
    return actions, states


class EpisodeDataset(torch.utils.data.Dataset):
    """Windows of the episodes of a bag folder, encoded once and kept in memory.

    Episodes of any length >= the model's clip (video.frames) give windows every
    ``window_stride`` frames (0: the clip length, no overlap); a window's first frame and
    measured state are its condition. Item k: latent (C, T', H', W'), text_emb (L, E),
    text_mask (L,), actions_norm (T, D), observation frame (3, S, S) in [-1, 1] and the
    measured state at the window's first frame (D,). Everything stays on the CPU
    (``device`` only runs the codec); latents are float32.
    """

    def __init__(self, model_config, data_dir: typing.Union[str, Path],
                 codec: typing.Optional[LatentCodec] = None,
                 text_encoder: typing.Optional[TextEncoder] = None,
                 normalizer: typing.Optional[ActionNormalizer] = None,
                 encode_batch: int = 8, progress: bool = False,
                 device: typing.Union[str, torch.device] = 'cpu', window_stride: int = 0):
        self.data_dir = Path(data_dir)
        self.bags = self._list_bags(self.data_dir)
        check_one_setup(self.bags)
        named = named_windows(model_config, self.bags, window_stride, progress)
        self._encode(model_config, named, codec, text_encoder, normalizer, encode_batch,
                     progress, device)

    @classmethod
    def from_windows(cls, model_config, named_windows: typing.Sequence[
                         typing.Tuple[str, 'Window']], source: str = 'windows',
                     codec: typing.Optional[LatentCodec] = None,
                     text_encoder: typing.Optional[TextEncoder] = None,
                     normalizer: typing.Optional[ActionNormalizer] = None,
                     encode_batch: int = 8, progress: bool = False,
                     device: typing.Union[str, torch.device] = 'cpu') -> 'EpisodeDataset':
        """The dataset of windows read elsewhere: (episode name, Window) pairs, e.g. a
        training pack carried to another machine (``source`` names them in errors)."""
        named_windows = list(named_windows)
        if not named_windows:
            raise EpisodeError(f'{source}: no windows')
        dataset = cls.__new__(cls)
        dataset.data_dir, dataset.bags = Path(source), []
        dataset._encode(model_config, named_windows, codec, text_encoder, normalizer,
                        encode_batch, progress, device)
        return dataset

    def _encode(self, model_config, named_windows, codec, text_encoder, normalizer,
                encode_batch, progress, device) -> None:
        """Normalize, embed and encode (episode name, Window) pairs, kept in memory."""
        self.config = model_config
        video = model_config.video
        windows = [w for _, w in named_windows]
        self.windows: typing.List[typing.Tuple[str, int]] = [
            (name, w.start) for name, w in named_windows]  # (episode name, first frame)
        frames = [w.frames for w in windows]
        actions_all = torch.stack([w.actions for w in windows])  # (N, T, D)
        self.states = torch.stack([w.state for w in windows])  # (N, D)
        self.normalizer = normalizer or fit_normalizer(model_config, actions_all, self.states)
        self.actions = normalize_actions(model_config, actions_all, self.states,
                                         self.normalizer)  # (N, T, D)
        self.observation_frames = torch.from_numpy(
            np.stack([w.observed for w in windows])).permute(0, 3, 1, 2)
        #                                               (N, 3, S, S) uint8
        self.instructions = [w.instruction for w in windows]
        text_encoder = text_encoder or build_text_encoder(model_config.text)
        # (U, L, E), (U, L), (N,)
        self.distinct_text_emb, self.distinct_text_mask, self.text_rows = \
            encode_distinct_instructions(text_encoder, self.instructions)
        codec = (codec or build_codec(video.codec, video.latent_channels)).to(device)
        video_branch = model_config.mode != 'action_no_bridge'
        if not getattr(codec, 'fitted', True):  # pca: fit on these frames (saved with the model)
            # without a video branch the codec is only saved, never read: a few clips fit it
            fit_codec(codec, frames if video_branch else frames[:UNUSED_CODEC_FIT_CLIPS],
                      encode_batch, device, progress)
        self.codec = codec
        if video_branch:
            self.latents = encode_clips(codec, frames, encode_batch, device, progress)
        else:  # the action-only loss reads no latent value: one zero clip seen N times
            self.latents = torch.zeros(1, *video.latent_shape).expand(len(windows),
                                                                      *video.latent_shape)
        if tuple(self.latents.shape[1:]) != tuple(video.latent_shape):
            raise EpisodeError(f'{self.data_dir}: codec gives latents of shape '
                               f'{tuple(self.latents.shape[1:])}, the model expects '
                               f'{tuple(video.latent_shape)}')

    @staticmethod
    def _list_bags(data_dir: Path) -> typing.List[Path]:
        if not data_dir.exists():
            raise EpisodeError(f'{data_dir}: data folder does not exist')
        bags = list_episode_bags(data_dir)
        if not bags:
            raise EpisodeError(f'{data_dir}: no episode bags (folders with metadata.yaml)')
        return bags

    def __len__(self) -> int:
        return self.latents.shape[0]

    def __getitem__(self, k: int):
        return tuple(x[0] for x in self.batch(torch.tensor([k])))

    def batch(self, index: torch.Tensor, device: typing.Union[str, torch.device] = 'cpu'):
        """Gather items ``index`` (B,) -> latents, text_emb, text_mask, actions_norm,
        observation frames (B, 3, S, S) in [-1, 1], states (B, D)."""
        frames = self.observation_frames[index].float() / 127.5 - 1.0
        rows = self.text_rows[index]
        return tuple(x.to(device) for x in (
            self.latents[index], self.distinct_text_emb[rows], self.distinct_text_mask[rows],
            self.actions[index], frames, self.states[index]))


def _maybe_tqdm(items, progress: bool, desc: str):
    if not progress:
        return items
    from tqdm import tqdm
    return tqdm(items, desc=desc, leave=False)
