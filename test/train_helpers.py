"""Micro model configs and tiny synthetic episode bags for the training tests."""

from pathlib import Path

import micro_model
import numpy as np
import torch

from vag_ros.episodes.bag_writer import write_episode
from vag_ros.episodes.episode import Episode, EpisodeMetadata
from vag_ros.model.codecs import build_codec
from vag_ros.robot.description import load_robot_description

ROBOT = load_robot_description()  # the package's arm: the episodes carry its URDF
JOINTS = ROBOT.joint_names


def micro_config(mode: str = 'joint', frames: int = 5, num_steps: int = 3):
    """The shared micro config with the tiny preset's PCA codec (training fits it)."""
    return micro_model.micro_config(mode, frames, num_steps, codec_kind='pca',
                                    observation_dim=16)


def fitted_codec(config, seed: int = 0):
    """The config's codec, fitted on random frames: a random-weight checkpoint needs one."""
    video = config.video
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(2, 3, video.frames, video.height, video.width, generator=g) * 2 - 1
    return build_codec(video.codec, video.latent_channels).fit([frames])


def make_episode(seed: int, frames: int = 5, size: int = 48, instruction: str = 'touch red'):
    """A random episode of ``frames`` (size x size) images and 7-dof actions."""
    rng = np.random.default_rng(seed)
    meta = EpisodeMetadata(task='touch', seed=seed, success=True, robot=ROBOT.name,
                           joint_names=JOINTS, frame_rate=10.0, source='expert',
                           instruction=instruction, robot_urdf=ROBOT.urdf)
    return Episode(frames=rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8),
                   joints=rng.normal(size=(frames, 7)), actions=rng.normal(size=(frames, 7)),
                   metadata=meta)


def write_bags(folder: Path, count: int = 3, frames: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        write_episode(make_episode(k, frames, instruction=('touch red', 'push blue')[k % 2]),
                      folder, name=f'ep_{k:03d}')
    return folder
