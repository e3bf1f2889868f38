"""The one replay-and-score step of eval, synthesize and eval-policy, in the real world."""

import numpy as np

from vag_ros.eval.replay import replay_and_score
from vag_ros.sim.config import SimConfig
from vag_ros.sim.world import World


def test_a_plan_is_replayed_judged_and_its_video_scored_against_the_render():
    world = World(SimConfig(width=48, height=48, episode_steps=20))
    try:
        task = world.make_task('touch', 5)
        expert = world.run_expert(task)            # frames (T, 48, 48, 3), actions (T, D)
        blind = replay_and_score(world, task, expert.actions)
        assert blind.success == bool(expert.metadata.success) and blind.error is None
        assert blind.replay.frames.shape[1:3] == (0, 0) and blind.consistency_psnr is None
        seen = replay_and_score(world, task, expert.actions, expert.frames)
        assert seen.replay.frames.shape == expert.frames.shape
        assert seen.consistency_psnr > 40          # the world is deterministic
        half = replay_and_score(world, task, expert.actions, expert.frames[:, ::2, ::2])
        assert half.consistency_psnr > 20          # the render is resized to the video's size
        wrong = replay_and_score(world, task, expert.actions,
                                 np.zeros_like(expert.frames))
        assert wrong.consistency_psnr < seen.consistency_psnr
        recorded = replay_and_score(world, task, expert.actions, render=True)
        assert recorded.replay.frames.shape == expert.frames.shape
        refused = replay_and_score(world, task, np.full_like(expert.actions, np.nan))
        assert not refused.success and refused.replay is None and 'NaN' in refused.error
    finally:
        world.close()
