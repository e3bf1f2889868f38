"""scripts/waypoint_head_check.py: the encoder's own waypoint guess scored against the expert."""

from pathlib import Path
import sys

import numpy as np
import torch
import train_helpers

from vag_ros.model.checkpoint import save_checkpoint
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.pipeline import VagPipeline
from vag_ros.model.vag import VagModel, waypoint_index
from vag_ros.sim.config import SimConfig
from vag_ros.sim.world import World

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'scripts'))
import waypoint_head_check  # noqa: E402,I100


def test_a_head_that_guesses_the_middle_of_the_range_is_scored_by_hand(tmp_path):
    """Head weights zero: the guess is the state plus the middle of the action range (the
    model predicts offsets from the state); the script's errors must be that minus the
    expert's joints at the waypoints, split by template."""
    config = train_helpers.micro_config()
    torch.manual_seed(0)
    model = VagModel(config)
    torch.nn.init.zeros_(model.waypoints.weight)
    torch.nn.init.zeros_(model.waypoints.bias)
    low, high = -torch.ones(7) * 0.4, torch.ones(7) * 0.6  # middle: 0.1 rad
    save_checkpoint(tmp_path / 'ckpt', model, config, ActionNormalizer('minmax', low, high),
                    codec=train_helpers.fitted_codec(config))
    pipe = VagPipeline.from_checkpoint(tmp_path / 'ckpt')
    world = World(SimConfig(width=48, height=48, episode_steps=8))
    try:
        [result] = waypoint_head_check.errors([pipe], world, 4, 100000)
        assert set(result) == {'train', 'held_out'}
        assert result['train'].shape == (2, 4, 7)
        task = world.make_task('push', 100001, 'held_out')  # episode 1: a held-out template
        expert = world.run_expert(task)
        want = expert.joints[0] + 0.1 - expert.actions[waypoint_index(8).numpy()]
        np.testing.assert_allclose(result['held_out'][0], want, atol=1e-5)
        text = waypoint_head_check.table(['micro'], [result], world.robot.joint_names)
        assert text.count('| micro |') == 2 and 'held_out (2)' in text
    finally:
        world.close()
