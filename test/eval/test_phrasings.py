"""The held-out phrasing set stays apart from everything training reads; typos are seeded
slips that keep the words recognisable."""

import re

import pytest
import yaml

from vag_ros.errors import ConfigError
from vag_ros.eval.phrasings import held_out_phrasing, load_phrasings, scene_variants
from vag_ros.sim.tasks import (DIRECTION_PHRASES, HELD_OUT_TEMPLATES, TASK_FAMILIES,
                               TEMPLATES)
from vag_ros.sim.world import make_task
from vag_ros.train import instruction_context
from vag_ros.typos import with_typos


def _words(text: str) -> set:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_the_set_shares_no_verb_template_or_direction_phrase_with_training():
    phrasings = load_phrasings()
    seen = [t for f in TASK_FAMILIES for t in TEMPLATES[f] + HELD_OUT_TEMPLATES[f]]
    seen += list(instruction_context.PREFIXES) + list(instruction_context.SUFFIXES)
    seen_words = set().union(*(_words(t) for t in seen))
    assert not set(phrasings.verbs) & seen_words
    for family, templates in phrasings.templates.items():
        assert not set(templates) & set(TEMPLATES[family] + HELD_OUT_TEMPLATES[family])
        for template in templates:  # each uses one of the listed, never-trained verbs
            assert _words(template) & set(phrasings.verbs), template
    for direction, phrases in phrasings.directions.items():
        assert not set(phrases) & set(DIRECTION_PHRASES[direction])


def test_a_scene_always_gets_the_same_variants_and_they_name_its_block():
    phrasings = load_phrasings()
    from vag_ros.sim.tasks import COLOUR_WORDS
    for family in TASK_FAMILIES:
        for seed in range(100000, 100012):
            task = make_task(family, seed)
            variants = scene_variants(task, phrasings)
            assert variants == scene_variants(task, phrasings)
            assert variants['typos'] != task.instruction
            assert _words(variants['phrasing']) & set(COLOUR_WORDS[task.target])
            other = task.colours[1]
            assert _words(held_out_phrasing(task, phrasings, other)) & \
                set(COLOUR_WORDS[other])
            if family == 'push':
                assert any(p in variants['phrasing'] for p in
                           phrasings.directions[task.direction])


def test_typos_are_small_seeded_edits_of_long_words():
    text = 'push the violet block toward the robot'
    slipped = with_typos(text, (1, 2, 3), edits=2, min_word=4)
    assert slipped == with_typos(text, (1, 2, 3), edits=2, min_word=4)
    assert slipped != text
    before, after = text.split(' '), slipped.split(' ')
    assert len(before) == len(after)
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert 1 <= len(changed) <= 2
    for a, b in changed:
        assert len(a) >= 4 and abs(len(a) - len(b)) <= 1 and a[0] == b[0]
    assert with_typos('go to the box', (1,), edits=3, min_word=4) == 'go to the box'
    # a word of doubled letters still gets its slip: every seed edits both words
    for seed in range(300):
        slipped = with_typos('green yellow', (seed,), edits=2, min_word=4).split(' ')
        assert slipped[0] != 'green' and slipped[1] != 'yellow', seed


def test_a_broken_set_is_refused(tmp_path):
    from vag_ros.resources import share_path
    good = yaml.safe_load(share_path('config/eval_phrasings.yaml').read_text())
    broken = dict(good, templates=dict(good['templates'], push=['shove it {colour} {noun}']))
    path = tmp_path / 'p.yaml'
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(ConfigError, match='push template needs'):
        load_phrasings(path)
    path.write_text('templates: [')
    with pytest.raises(ConfigError, match='phrasing set'):
        load_phrasings(path)
    for bad in (dict(good, templates=['touch the {colour} {noun}']), dict(good, verbs='press'),
                dict(good, templates=dict(good['templates'],
                                          touch=['touch the {colour} {noun} {distance}']))):
        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError, match='phrasing set'):
            load_phrasings(path)
