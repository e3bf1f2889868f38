"""Closed-loop (receding-horizon) rollouts: execute the first n targets, observe, predict."""

import json
from pathlib import Path

import numpy as np
import pytest

from vag_ros.cli import main
from vag_ros.errors import ConfigError
from vag_ros.sim.world import World
from vag_ros.eval.policy_eval import rollout_closed_loop

CHECKPOINT = Path(__file__).resolve().parents[2] / 'checkpoints' / 'tiny_demo'


@pytest.fixture(scope='module')
def world():
    w = World()
    yield w
    w.close()


def test_the_expert_replanned_from_what_it_observes_still_succeeds(world):
    """A plan that reads the frame and joints it is given: the expert's remaining motion
    from step k. Executed 8 at a time it succeeds as open loop does, observing 5 times."""
    task = world.make_task('touch', 3)
    expert = world.expert_actions(task)                      # (40, D)
    assert world.replay(task, expert, render=False).success
    world.reset(task)
    seen = []

    def plan(frame, joints, k):
        assert frame.shape == (world.config.height, world.config.width, 3)
        seen.append((k, joints.copy()))
        return expert[k:]
    result = rollout_closed_loop(world, plan, execute=8, steps=len(expert))
    assert result['success'] and result['chunks'] == 5
    assert [k for k, _ in seen] == [0, 8, 16, 24, 32]
    # the joints handed to the plan are the ones measured then, not the start state
    np.testing.assert_allclose(seen[2][1], result['joints'][16])
    assert not np.allclose(seen[2][1], seen[0][1], atol=1e-3)


def test_a_plan_that_ignores_what_it_sees_fails_and_bad_plans_are_refused(world):
    task = world.make_task('touch', 3)
    world.reset(task)
    start = world.joints()
    result = rollout_closed_loop(world, lambda frame, joints, k: np.tile(start, (8, 1)), 8, 40)
    assert not result['success'] and result['chunks'] == 5
    world.reset(task)
    from vag_ros.errors import SimError
    with pytest.raises(SimError, match='NaN'):
        rollout_closed_loop(world, lambda f, j, k: np.full((8, world.dof), np.nan), 8, 40)
    with pytest.raises(ConfigError, match='execute=0'):
        rollout_closed_loop(world, lambda f, j, k: np.tile(start, (8, 1)), 0, 40)


def test_eval_policy_closed_loop_on_held_out_seeds(tmp_path, capsys):
    out = tmp_path / 'closed.json'
    assert main(['eval-policy', '--checkpoint', str(CHECKPOINT / 'baselines' / 'no_bridge'),
                 '--episodes', '2', '--json', str(out), '--closed-loop', '--execute', '20',
                 '--quiet']) == 0
    results = json.loads(out.read_text())
    assert results['loop'] == 'closed loop, 20 targets executed per chunk'
    assert [r['chunks'] for r in results['per_episode']] == [2, 2]
    assert 'closed loop' in capsys.readouterr().out
