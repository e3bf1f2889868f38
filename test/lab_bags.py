"""Episode bags of a lab's own arm (joint names that are not the package robot's)."""

from pathlib import Path

import numpy as np

from vag_ros.episodes.bag_writer import write_episode
from vag_ros.episodes.episode import Episode, EpisodeMetadata

LAB_JOINTS = ('shoulder_pan', 'shoulder_lift', 'elbow', 'wrist', 'gripper')


def lab_episode(k: int, steps: int = 3, frame_rate: float = 15.0,
                joint_names=LAB_JOINTS, size=(8, 12)) -> Episode:
    """A tiny episode: frames (T, H, W, 3) of ``size`` (H, W) whose pixels say frame and
    episode, joints (T, D) random in [-1, 1]."""
    rng = np.random.default_rng(k)
    joints = rng.uniform(-1, 1, (steps, len(joint_names)))            # (T, D)
    frames = np.zeros((steps, *size, 3), np.uint8)                     # (T, H, W, 3)
    frames[..., 0] = 10 * k
    frames[..., 1] = 20 * np.arange(steps)[:, None, None]
    return Episode(frames, joints, joints.copy(), EpisodeMetadata(
        task='teleop', seed=k, success=True, robot='lab_arm', joint_names=tuple(joint_names),
        frame_rate=frame_rate, source='teleop', instruction=f'task {k}'))


def lab_bags(folder: Path, count: int, **kwargs) -> Path:
    """``count`` bags session<k>_ep000 in ``folder`` and an ingest report (not a bag)."""
    for k in range(count):
        write_episode(lab_episode(k, **kwargs), folder, f'session{k}_ep000')
    (folder / 'ingest_report.json').write_text('{}\n')
    return folder
