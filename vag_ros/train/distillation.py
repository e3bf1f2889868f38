"""Few-step distillation: a student that samples in K synchronized Euler steps what the
teacher samples in many.

The teacher (a trained joint checkpoint) integrates the one sampler (``SynchronizedEuler``)
from each training window's noise at ``teacher_steps``; its states at the student's K + 1
grid times are kept (``TeacherTrajectories``). Two objectives read them:

- ``trajectory``: at grid time t_k the student's velocity must carry the teacher's state
  x_k to the teacher's x_{k+1} in one Euler step, v = (x_k - x_{k+1}) / (t_k - t_{k+1}),
  for both branches (the action velocity reads the student's own bridge, as at sampling);
- ``reflow``: rectified flow's reflow (Liu et al. 2022) on the teacher's coupling of noise
  x_K=1 and sample x_0, at any t: x_t = (1 - t) x_0 + t noise, v = noise - x_0.

The student starts from the teacher's weights; its observation encoder (and waypoint head)
stay frozen: the observation is data, only the velocity field changes.
"""

import typing

import torch

from vag_ros.model import flow
from vag_ros.model.sampler import SynchronizedEuler
from vag_ros.model.vag import Observation

METHODS = ('trajectory', 'reflow')
TRAJECTORIES = 'teacher_trajectories.safetensors'


def grid_ratio(teacher_steps: int, student_steps: int) -> int:
    """Teacher steps per student step; ValueError unless the grids nest."""
    if student_steps < 1 or teacher_steps < student_steps or teacher_steps % student_steps:
        raise ValueError(f'teacher_steps={teacher_steps} must be a multiple of the student\'s '
                         f'{student_steps} steps, so the student\'s grid times are the '
                         f'teacher\'s')
    return teacher_steps // student_steps


@torch.no_grad()
def teacher_states(model, first_latent: torch.Tensor, observation, teacher_steps: int,
                   student_steps: int, generator: torch.Generator
                   ) -> typing.Tuple[torch.Tensor, torch.Tensor]:
    """The teacher's synchronized-Euler states at the student's grid times.

    first_latent (B, C, 1, H, W) -> video (B, K + 1, C, T', H, W) and normalized actions
    (B, K + 1, T, D); index 0 is the noise (t = 1), index K the sample (t = 0).
    """
    ratio = grid_ratio(teacher_steps, student_steps)
    sampler = SynchronizedEuler(model.config)
    _, guidance = sampler.settings()
    x, a = sampler.noise(first_latent, generator)
    teacher_step = model.step_function(first_latent, observation, guidance)
    videos, actions, calls = [], [], [0]

    def step(x_t, a_t, t):  # the teacher's step, keeping its inputs at the student's times
        if calls[0] % ratio == 0:
            videos.append(x_t)
            actions.append(a_t)
        calls[0] += 1
        return teacher_step(x_t, a_t, t)
    x, a = sampler.run(step, x, a, teacher_steps)
    videos.append(x)
    actions.append(a)
    return torch.stack(videos, 1), torch.stack(actions, 1)


class TeacherTrajectories:
    """Training items of a distillation: (window of ``base``, the teacher's grid states).

    ``batch`` gives what ``EpisodeDataset.batch`` gives, with the latents and actions
    replaced by the teacher's states: video (B, K + 1, C, T', H, W), actions (B, K + 1, T, D).
    """

    def __init__(self, base, windows: torch.Tensor, videos: torch.Tensor,
                 actions: torch.Tensor):
        if not (len(windows) == len(videos) == len(actions)):
            raise ValueError('teacher trajectories: windows, videos and actions differ in '
                             'length')
        self.base, self.windows, self.videos, self.actions = base, windows, videos, actions
        self.normalizer, self.codec = base.normalizer, base.codec
        self.instructions = None  # context variants are the base's rows, not these

    def __len__(self) -> int:
        return len(self.windows)

    def batch(self, index: torch.Tensor, device='cpu'):
        _, emb, mask, _, frames, states = self.base.batch(self.windows[index], device)
        return (self.videos[index].to(device), emb, mask, self.actions[index].to(device),
                frames, states)

    @classmethod
    def generate(cls, teacher, base, teacher_steps: int, student_steps: int, draws: int,
                 seed: int, batch_size: int = 32, progress: bool = False,
                 device='cpu') -> 'TeacherTrajectories':
        """Run ``teacher`` (a VagModel, eval mode) ``draws`` times on every window of
        ``base`` (an EpisodeDataset), each draw with its own noise."""
        n = len(base)
        order = torch.arange(n).repeat(draws)  # (N * draws,) window of each item
        videos, actions = [], []
        starts = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc='teacher', dynamic_ncols=True)
        for start in starts:
            index = order[start:start + batch_size]
            lat, emb, mask, _, frames, states = base.batch(index, device)
            generator = torch.Generator().manual_seed(seed * 1_000_003 + start)
            v, a = teacher_states(teacher, lat[:, :, :1], Observation(frames, emb, mask, states),
                                  teacher_steps, student_steps, generator)
            videos.append(v.cpu())
            actions.append(a.cpu())
        return cls(base, order, torch.cat(videos), torch.cat(actions))

    def save(self, path, made_by: typing.Optional[typing.Mapping[str, str]] = None) -> None:
        """Safetensors file of the items (written beside, then renamed: never half a file);
        ``made_by``: what made them (teacher, steps, draws, seed), kept as its metadata."""
        from pathlib import Path

        from safetensors.torch import save_file
        path = Path(path)
        tmp = path.with_name(path.name + '.tmp')
        save_file({'windows': self.windows.contiguous(), 'videos': self.videos.contiguous(),
                   'actions': self.actions.contiguous()}, str(tmp),
                  metadata=dict(made_by or {}))
        tmp.replace(path)

    @classmethod
    def load(cls, path, base, student_steps: int,
             made_by: typing.Optional[typing.Mapping[str, str]] = None
             ) -> 'TeacherTrajectories':
        """Items saved by ``save`` for the windows of ``base`` (and, given ``made_by``, by
        the same teacher and settings); ValueError if they do not fit."""
        from safetensors import safe_open, SafetensorError
        from safetensors.torch import load_file
        try:
            tensors = load_file(str(path))
            windows, videos, actions = (tensors['windows'], tensors['videos'],
                                        tensors['actions'])
            with safe_open(str(path), 'pt') as f:
                saved_by = f.metadata() or {}
        except (OSError, SafetensorError, KeyError) as exc:
            raise ValueError(f'{path}: not a teacher trajectories file ({exc}); remove it to '
                             f'generate it again') from None
        differ = sorted(k for k, v in (made_by or {}).items() if saved_by.get(k) != v)
        if differ:
            raise ValueError(f'{path}: made with other {", ".join(differ)} than this run '
                             f'({", ".join(f"{k}={saved_by.get(k)}" for k in differ)}); '
                             f'remove it to generate it again')
        if (videos.shape[1] != student_steps + 1 or len(windows) == 0
                or int(windows.max()) >= len(base)):
            raise ValueError(f'{path}: made for another data set or step count (states '
                             f'{videos.shape[1]}, {student_steps + 1} expected; windows up to '
                             f'{int(windows.max()) if len(windows) else None}, data has '
                             f'{len(base)}); remove it to generate it again')
        return cls(base, windows, videos, actions)


def distillation_loss(model, videos: torch.Tensor, actions: torch.Tensor,
                      text_emb: torch.Tensor, text_mask: torch.Tensor, frames: torch.Tensor,
                      states: torch.Tensor, method: str,
                      generator: typing.Optional[torch.Generator] = None
                      ) -> typing.Dict[str, torch.Tensor]:
    """The student's loss on teacher states.

    videos (B, K + 1, C, T', H, W), actions (B, K + 1, T, D) from ``TeacherTrajectories``
    -> dict(loss, video_loss, action_loss, t), as ``VagModel.training_loss``.
    """
    if method not in METHODS:
        raise ValueError(f'distillation method {method!r}: must be one of {list(METHODS)}')
    lc = model.config.loss
    b, states_k = videos.shape[0], videos.shape[1] - 1
    rows = torch.arange(b)
    first = videos[:, 0, :, :1]  # (B, C, 1, H, W): the clean first latent rides in every state
    if method == 'trajectory':
        times = SynchronizedEuler(model.config).timesteps(states_k)
        times = torch.tensor(times, dtype=videos.dtype, device=videos.device)  # (K + 1,)
        k = torch.randint(states_k, (b,), generator=generator).to(videos.device)  # (B,)
        t, dt = times[k], times[k] - times[k + 1]  # (B,)
        x_t, a_t = videos[rows, k], actions[rows, k]
        target_v = (x_t - videos[rows, k + 1]) / dt.reshape(b, 1, 1, 1, 1)
        target_a = (a_t - actions[rows, k + 1]) / dt.reshape(b, 1, 1)
    else:
        t = flow.sample_timesteps(b, generator, lc.timestep_sampling, lc.logit_mean,
                                  lc.logit_std).to(videos.device)
        noise, sample = videos[:, 0], videos[:, -1]
        x_t = torch.cat([first, flow.interpolate(sample, noise, t)[:, :, 1:]], dim=2)
        a_t = flow.interpolate(actions[:, -1], actions[:, 0], t)
        target_v = flow.velocity_target(sample, noise)
        target_a = flow.velocity_target(actions[:, -1], actions[:, 0])
    observation = Observation(frames, text_emb, text_mask, states)
    with torch.no_grad():  # the encoder is frozen: the observation's features are fixed
        features = model.observe(observation)
    v, va = model.step(x_t, a_t, t, first, observation, torch.zeros_like(text_emb), 1.0,
                       features)
    video_loss = flow.mse(v, target_v, flow.predicted_frames_mask(videos.shape[3],
                                                                  videos.device))
    action_loss = flow.mse(va, target_a)
    return {'loss': lc.video_weight * video_loss + lc.action_weight * action_loss,
            'video_loss': video_loss, 'action_loss': action_loss, 't': t}
