"""The two-stage generator (as DreamGen): a model's video, the joints read off its frames by an
inverse-dynamics model, in place of the model's own action branch.

It generates as any pipeline does (``generate`` returns a GenerationResult), so ``synthesize``
and evaluation take it where they take VAG: the data-baseline that VAG's dual stream is
compared with.
"""

import dataclasses
import time
import typing

import numpy as np

from vag_ros.model.action_space import anchor_start
from vag_ros.model.pipeline import GenerationError, GenerationResult


def smooth_labels(joints: np.ndarray, frames: int) -> np.ndarray:
    """(T, D) joints -> their centred moving average over ``frames`` (odd; 1: unchanged),
    the ends held: a per-frame reader's labels jitter from frame to frame."""
    if frames <= 1:
        return joints
    if frames % 2 == 0:
        raise GenerationError(f'label smoothing over {frames} frames: must be odd')
    half = frames // 2
    padded = np.pad(joints, ((half, half), (0, 0)), mode='edge')   # (T + 2 half, D)
    kernel = np.full(frames, 1.0 / frames)
    return np.stack([np.convolve(padded[:, d], kernel, mode='valid')
                     for d in range(joints.shape[1])], axis=1)


class TwoStagePipeline:
    """``video_pipeline``'s video (its joints ignored), labelled by ``inverse``
    (InverseDynamicsModel), smoothed over ``smoothing`` frames; the first ``anchor_steps``
    points blend into the measured state, as the action branch's are."""

    def __init__(self, video_pipeline, inverse, joint_names: typing.Sequence[str],
                 smoothing: int = 1, anchor_steps: typing.Optional[int] = None):
        self.video_pipeline, self.inverse = video_pipeline, inverse
        self.smoothing = smoothing
        smooth_labels(np.zeros((1, 1)), smoothing)   # an even width: refused now
        self.config = video_pipeline.config
        action = self.config.action
        reads = tuple(inverse.config.joint_names) or None
        if inverse.config.dim != len(joint_names) or reads not in (None, tuple(joint_names)):
            raise GenerationError(
                f'inverse dynamics reads {inverse.config.dim} joints '
                f'{list(reads or [])}, the robot has {len(joint_names)}: {list(joint_names)}')
        self.anchor_steps = (anchor_steps if anchor_steps is not None else
                             action.anchor_steps if action.state_conditioning else 0)

    def __getattr__(self, name):   # check_frame, check_instruction, resize, close ...
        return getattr(self.video_pipeline, name)

    def generate(self, first_frame: np.ndarray, instruction: str, seed: int = 0,
                 num_steps: typing.Optional[int] = None,
                 guidance_scale: typing.Optional[float] = None,
                 callback: typing.Optional[typing.Callable[[int, int], None]] = None,
                 state=None) -> GenerationResult:
        result = self.video_pipeline.generate(first_frame, instruction, seed, num_steps,
                                              guidance_scale, callback, state)
        if len(result.video) == 0:
            raise GenerationError('two-stage: the video model generated no video (an '
                                  'action-only checkpoint?)')
        t0 = time.perf_counter()
        joints = smooth_labels(self.inverse.predict(result.video), self.smoothing)  # (T, D)
        raw_error = None
        if state is not None:
            state = np.asarray(state, np.float64)
            raw_error = np.abs(joints[0] - state)
            joints = anchor_start(joints, state, self.anchor_steps)
        timings = dict(result.timings, label=time.perf_counter() - t0)
        timings['total'] = result.timings.get('total', 0.0) + timings['label']
        return dataclasses.replace(result, actions=joints.astype(np.float32), timings=timings,
                                   raw_start_error=raw_error)
