"""Seeded task layouts, instructions, config and input checks (no physics)."""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vag_ros.errors import ConfigError, SimError  # noqa: E402
from vag_ros.sim import load_sim_config, make_task, SimConfig, TASK_FAMILIES  # noqa: E402
from vag_ros.sim.tasks import (  # noqa: E402
    COLOUR_WORDS, DIRECTIONS, HELD_OUT_TEMPLATES, instruction_naming, TEMPLATES)


@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_every_instruction_names_its_target_block(family):
    for seed in range(40):
        task = make_task(family, seed)
        words = COLOUR_WORDS[task.target]
        assert any(w in task.instruction for w in words), (task.instruction, task.target)
        others = [w for c in task.colours[1:] for w in COLOUR_WORDS[c]
                  if not any(w in t for t in words)]
        assert not any(f' {w} ' in f' {task.instruction} ' for w in others), task.instruction


@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_same_seed_same_task_and_seeds_differ(family):
    assert make_task(family, 3) == make_task(family, 3)
    tasks = [make_task(family, s) for s in range(30)]
    assert len({t.objects for t in tasks}) == 30
    assert len({t.instruction for t in tasks}) >= 5  # varied phrasing
    assert len({t.colours for t in tasks}) > 5        # which colours are present varies


@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_layout_within_reach_and_apart(family):
    config = SimConfig()
    for seed in range(50):
        task = make_task(family, seed)
        assert config.num_objects_min <= len(task.objects) <= config.num_objects_max
        assert len(set(task.colours)) == len(task.colours) and task.target == task.colours[0]
        named = [w for w in COLOUR_WORDS[task.target] if w in task.instruction.split()]
        assert named, task.instruction  # one of the target's colour words
        others = {w for c in task.colours[1:] for w in COLOUR_WORDS[c]}
        assert not others & set(task.instruction.split())
        xy = np.array([o[1:3] for o in task.objects])
        assert np.all((xy[:, 0] >= 0.32) & (xy[:, 0] <= 0.52) & (np.abs(xy[:, 1]) <= 0.18))
        gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
        assert gaps.min() >= config.min_separation
        assert len(task.initial_joints) == 7
        if family == 'push':
            assert task.direction in DIRECTIONS
        else:
            assert task.direction == ''


@pytest.mark.parametrize('family, seed, message', [
    ('juggle', 0, 'unknown task family'),
    (None, 0, 'unknown task family'),
    ('touch', -1, 'seed=-1'),
    ('touch', 1.5, 'seed=1.5'),
    ('touch', True, 'seed=True'),
    ('touch', '3', "seed='3'"),
])
def test_bad_task_inputs(family, seed, message):
    with pytest.raises(SimError, match=message):
        make_task(family, seed)


@pytest.mark.parametrize('family', TASK_FAMILIES)
def test_held_out_templates_share_the_layout_but_not_the_wording(family):
    train = [make_task(family, s) for s in range(40)]
    held = [make_task(family, s, templates='held_out') for s in range(40)]
    for a, b in zip(train, held):
        assert a.objects == b.objects and a.initial_joints == b.initial_joints
        assert a.direction == b.direction and b.templates == 'held_out'

    def stems(template):  # the template's fixed words
        return template.split('{')[0].strip()

    train_stems = {stems(t) for t in TEMPLATES[family]}
    assert not {stems(t) for t in HELD_OUT_TEMPLATES[family]} & train_stems
    assert all(not any(t.instruction.startswith(s) for s in
                       {stems(h) for h in HELD_OUT_TEMPLATES[family]} if s) for t in train)
    # synonyms: more than one word per colour is used across seeds
    used = {w for t in train for w in t.instruction.split()}
    assert sum(len(used & set(words)) > 1 for words in COLOUR_WORDS.values()) >= 3
    with pytest.raises(SimError, match='template split'):
        make_task(family, 0, templates='test')


def test_counterfactual_instruction_keeps_the_wording():
    task = make_task('push', 5)
    other = task.colours[1]
    text = instruction_naming(task, other)
    assert text != task.instruction and instruction_naming(task, task.target) == task.instruction
    assert len(text.split()) == len(task.instruction.split())
    assert any(w in text.split() for w in COLOUR_WORDS[other])
    with pytest.raises(SimError, match='no'):
        instruction_naming(task, 'orange')


def test_numpy_int_seed_is_fine():
    assert make_task('pick', np.int64(4)) == make_task('pick', 4)


def test_config_yaml_and_validation():
    assert load_sim_config() == SimConfig()
    assert SimConfig().width == 128 and SimConfig().height == 128
    assert SimConfig().substeps == 50
    with pytest.raises(ConfigError, match='camera'):
        SimConfig(camera='nope')
    with pytest.raises(ConfigError, match='timestep'):
        SimConfig(timestep=0.003)
    with pytest.raises(ConfigError, match='unknown field'):
        SimConfig.from_dict({'widht': 64})
    with pytest.raises(ConfigError, match='width'):
        SimConfig.from_dict({'width': 'big'})
