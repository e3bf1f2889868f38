"""The one replay-and-score step that ``eval``, ``synthesize`` and ``eval-policy`` share:
joint targets replayed in a task's scene, judged by the world's task check, and (given the
generated video) the video's consistency with what the replay rendered."""

import dataclasses
import typing

import numpy as np

from vag_ros.errors import VagError
from vag_ros.eval import metrics


@dataclasses.dataclass
class ReplayScore:
    """What replaying one trajectory gave."""

    replay: typing.Any = None              # sim.world.ReplayResult; None: not replayable
    error: typing.Optional[str] = None     # why not (NaN joints and the like)
    consistency_psnr: typing.Optional[float] = None   # generated video vs the replay's render

    @property
    def success(self) -> bool:
        """Did the task succeed? (A trajectory the world refused did not.)"""
        return self.replay is not None and bool(self.replay.success)


def replay_and_score(world, task, actions: np.ndarray,
                     video: typing.Optional[np.ndarray] = None,
                     render: bool = False) -> ReplayScore:
    """Replay ``actions`` (T, D) in ``task``'s scene. With ``video`` (T, h, w, 3) uint8 the
    replay is rendered and the video's PSNR against the render (resized to h x w) is kept;
    ``render`` forces the render without a video (an episode to record). A trajectory the
    world refuses (NaN joints, wrong width: VagError) is a failed replay with its reason."""
    from vag_ros.frame_geometry import resize_frames
    try:
        replay = world.replay(task, actions, render=render or video is not None)
    except VagError as exc:
        return ReplayScore(error=str(exc))
    score = ReplayScore(replay=replay)
    if video is not None:
        height, width = video.shape[1:3]
        rendered = resize_frames(replay.frames, height, width)   # (T, h, w, 3)
        psnr = metrics.psnr(video, rendered)
        score.consistency_psnr = float(psnr) if np.isfinite(psnr) else None
    return score
