"""One frame path: the frame generation reads, the capture node's output and a training
window's first frame are the same pixels, resized by the one resize."""

import numpy as np
import torch

from vag_ros.frame_geometry import fit_frame, frames_to_video, resize_frames
from vag_ros.model.pipeline import frame_to_tensor
from vag_ros.sim.config import SimConfig
from vag_ros.sim.world import World


def world_frames():
    world = World(SimConfig(width=128, height=96))
    try:
        return np.stack([world.run_expert(world.make_task(family, seed)).frames[0]
                         for family, seed in (('touch', 1), ('pick', 2))])   # (2, 96, 128, 3)
    finally:
        world.close()


def test_generation_reads_the_first_frame_as_training_does():
    frames = world_frames()
    for height, width in ((48, 64), (64, 64), (120, 160)):   # down, cropped, up
        for frame in frames:
            cropped = fit_frame(frame, width, height)         # the capture node's output
            window = frames_to_video(resize_frames(cropped[None], height, width))   # training
            read = frame_to_tensor(frame, height, width, resize=True)[0]            # generation
            assert read.shape == (3, 1, height, width)
            assert torch.equal(read, window)
            assert torch.equal(frame_to_tensor(cropped, height, width, resize=False)[0], window)


def test_the_one_resize_is_an_area_mean_when_shrinking():
    frames = world_frames()
    half = resize_frames(frames, 48, 64).astype(float)               # (2, 48, 64, 3)
    box = frames.reshape(2, 48, 2, 64, 2, 3).astype(float).mean(axis=(2, 4))
    assert np.abs(half - box).max() <= 0.5 + 1e-6                    # rounded to uint8
    assert resize_frames(frames, 96, 128) is frames                  # nothing to do
