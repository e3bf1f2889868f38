"""Instruction context augmentation: wrapped variants, the swap, and the trainer's use of it."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from train_helpers import micro_config

from vag_ros.checksums import write_checksums
from vag_ros.episodes.bag_reader import list_episode_bags
from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.checkpoint import read_weights
from vag_ros.model.config import TextConfig
from vag_ros.model.text import build_text_encoder
from vag_ros.train import trainer
from vag_ros.train.instruction_context import InstructionVariants, with_context
from vag_ros.train.latent_cache import CachedEpisodeDataset, MANIFEST
from vag_ros.train.train_config import train_config_from_dict

BASE = ('push the red cube left', 'pick up the green block')
# InstructionVariants([BASE[0]], minilm, 3, 0.5, seed=7).texts at 7733f39, before typos
PINNED_VARIANTS = ['using the gripper, push the red cube left for me',
                   'your task: push the red cube left thanks',
                   'okay, push the red cube left please']


@pytest.fixture(scope='module')
def minilm():
    return build_text_encoder(TextConfig(kind='minilm', max_length=32, embed_dim=384))


def minilm_config():
    cfg = micro_config()
    return dataclasses.replace(cfg, text=TextConfig(kind='minilm', max_length=32,
                                                    embed_dim=384))


def test_with_context_keeps_the_instruction_word_for_word():
    rng = np.random.default_rng(0)
    texts = {with_context(BASE[0], rng) for _ in range(40)}
    assert len(texts) > 10
    for text in texts:
        assert BASE[0] in text and text != BASE[0]


def test_with_context_lower_cases_a_capital_after_a_prefix_and_keeps_the_end_punctuation():
    rng = np.random.default_rng(0)
    texts = [with_context('Push the red cube left.', rng) for _ in range(60)]
    prefixed = [t for t in texts if not t.startswith('Push')]
    assert prefixed and all(' push the red cube left' in t and 'Push' not in t
                            for t in prefixed)
    assert any(not t.endswith(' left.') for t in texts)          # some got a suffix
    for text in texts:
        assert text.endswith('.') and text.count('.') == 1
    assert all('I want the cube' in with_context('I want the cube', rng) for _ in range(20))


def test_pick_swaps_only_with_the_probability_and_only_to_the_items_own_variants(minilm):
    instructions = [BASE[0], BASE[1], BASE[0]]          # (N,) = 3 items, 2 distinct
    emb, mask = minilm.encode(instructions)             # (3, L, E), (3, L)
    index = torch.tensor([0, 1, 2])
    never = InstructionVariants(instructions, minilm, 3, 0.0)
    same = never.pick(index, emb, mask, torch.Generator().manual_seed(0))
    assert torch.equal(same[0], emb) and torch.equal(same[1], mask)
    always = InstructionVariants(instructions, minilm, 3, 1.0)
    out, out_mask = always.pick(index, emb, mask, torch.Generator().manual_seed(0))
    for k, base in enumerate(instructions):
        assert not torch.equal(out[k], emb[k])
        own = [always.texts.index(t) for t in always.texts if base in t]
        assert any(torch.equal(out[k], always.emb[r]) and torch.equal(out_mask[k], always.mask[r])
                   for r in own)
    again = always.pick(index, emb, mask, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], out)                   # the step's generator decides
    assert torch.equal(emb, minilm.encode(instructions)[0])  # the batch is not changed in place


def test_pick_swaps_about_the_probabilitys_share_of_items(minilm):
    instructions = [BASE[k % 2] for k in range(400)]
    emb, mask = minilm.encode(instructions)
    half = InstructionVariants(instructions, minilm, 2, 0.5)
    out, _ = half.pick(torch.arange(400), emb, mask, torch.Generator().manual_seed(1))
    swapped = sum(not torch.equal(out[k], emb[k]) for k in range(400))
    assert 160 < swapped < 240


def test_a_wrapped_instruction_the_model_would_read_cut_off_stays_unwrapped(minilm):
    short = build_text_encoder(TextConfig(kind='minilm', max_length=9, embed_dim=384))
    long = 'push the red cube to the left'                      # 9 tokens with [CLS] [SEP]
    assert short.token_count(long) == 9
    variants = InstructionVariants([long], short, 6, 1.0)
    assert variants.too_long == 6 and variants.texts == [long] * 6


def test_too_many_variants_to_hold_are_refused_before_encoding(minilm, monkeypatch):
    from vag_ros.train import instruction_context
    monkeypatch.setattr(instruction_context, 'MAX_VARIANT_BYTES', 1 << 20)
    with pytest.raises(ConfigError, match='GiB of text embeddings'):
        InstructionVariants([f'touch block {k}' for k in range(20)], minilm, 4, 0.5)


def test_train_config_checks_the_context_fields():
    with pytest.raises(ConfigError, match='instruction_context'):
        train_config_from_dict({'instruction_context': 1.5})
    with pytest.raises(ConfigError, match='instruction_variants'):
        train_config_from_dict({'instruction_variants': 0})
    with pytest.raises(ConfigError, match='set instruction_context > 0'):
        train_config_from_dict({'instruction_typos': 0.5})
    with pytest.raises(ConfigError, match='instruction_typos'):
        train_config_from_dict({'instruction_context': 0.5, 'instruction_typos': 2.0})


def test_the_variants_without_typos_are_drawn_as_before_typos_existed(minilm):
    """Pinned texts: runs made before instruction_typos draw the same variants."""
    assert InstructionVariants([BASE[0]], minilm, 3, 0.5, seed=7, typos=0.0).texts == \
        PINNED_VARIANTS


def test_a_share_of_the_variants_carry_typos_and_keep_the_words_otherwise(minilm):
    instructions = [BASE[0], BASE[1]]
    plain = InstructionVariants(instructions, minilm, 40, 1.0, seed=3)
    slipped = InstructionVariants(instructions, minilm, 40, 1.0, seed=3, typos=0.5)
    clean = [t for t in slipped.texts if any(b in t for b in BASE)]
    assert len(plain.texts) == len(slipped.texts) == 80
    assert all(any(b in t for b in BASE) for t in plain.texts)
    assert 20 <= len(slipped.texts) - len(clean) <= 60        # about half carry a slip
    from vag_ros.train.instruction_context import PREFIXES, SUFFIXES
    known = {w for t in BASE + PREFIXES + SUFFIXES for w in t.split(' ')}
    for text in set(slipped.texts) - set(clean):   # at most two words slipped, no more
        assert 1 <= sum(w not in known for w in text.split(' ')) <= 2, text


def test_training_reads_the_wrapped_instructions(tmp_path, bag_dir, train_config):
    """Same seed: with the context on the weights differ from a run without it, and two runs
    with it on agree (the swap is drawn from the step's seed)."""
    cfg = dataclasses.replace(train_config, steps=2, save_every=2)
    on = dataclasses.replace(cfg, instruction_context=1.0, instruction_variants=2)
    slips = dataclasses.replace(on, instruction_typos=1.0)
    runs = {}
    for name, c in (('off', cfg), ('on', on), ('on_again', on), ('typos', slips)):
        trainer.train(minilm_config(), c, bag_dir, tmp_path / name, progress=False)
        runs[name] = read_weights(tmp_path / name)[0]
    assert all(torch.equal(runs['on'][k], runs['on_again'][k]) for k in runs['on'])
    assert any(not torch.equal(runs['on'][k], runs['off'][k]) for k in runs['on'])
    assert any(not torch.equal(runs['on'][k], runs['typos'][k]) for k in runs['on'])


def test_resume_draws_the_same_swaps_as_a_straight_run(tmp_path, bag_dir, train_config):
    """The swap comes from each step's seed: 2 + 2 resumed steps equal 4 straight ones."""
    on = dataclasses.replace(train_config, steps=4, save_every=2, instruction_context=0.5,
                             instruction_variants=2)
    trainer.train(minilm_config(), on, bag_dir, tmp_path / 'straight', progress=False)
    trainer.train(minilm_config(), dataclasses.replace(on, steps=2), bag_dir,
                  tmp_path / 'resumed', progress=False)
    torch.manual_seed(1234)   # a draw from the global generator would now differ
    trainer.train(minilm_config(), on, bag_dir, tmp_path / 'resumed', resume=True,
                  progress=False)
    a, b = read_weights(tmp_path / 'straight')[0], read_weights(tmp_path / 'resumed')[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_latent_cache_keeps_the_instructions_and_an_older_cache_is_refused(
        tmp_path, bag_dir, train_config):
    cache = tmp_path / 'cache'
    one = dataclasses.replace(train_config, steps=1, save_every=1, instruction_context=0.5)
    trainer.train(micro_config(), one, bag_dir, tmp_path / 'run', progress=False,
                  cache_dir=cache)
    dataset = CachedEpisodeDataset(cache, micro_config(), list_episode_bags(bag_dir))
    assert dataset.instructions == ['touch red', 'push blue', 'touch red']
    manifest = json.loads((cache / MANIFEST).read_text())
    assert len(manifest['instructions']) == len(manifest['windows'])
    del manifest['instructions']  # as written before caches kept them
    (cache / MANIFEST).write_text(json.dumps(manifest))
    write_checksums(cache, [MANIFEST])
    with pytest.raises(ConfigError, match='build a new one'):
        trainer.train(micro_config(), one, bag_dir, tmp_path / 'run2', progress=False,
                      cache_dir=cache)


def test_a_run_saved_before_the_context_fields_existed_still_resumes(tmp_path, bag_dir,
                                                                     train_config):
    out = tmp_path / 'run'
    one = dataclasses.replace(train_config, steps=1, save_every=1)
    trainer.train(micro_config(), one, bag_dir, out, progress=False)
    state = out / 'training_state'
    meta = json.loads((state / 'state.json').read_text())
    for key in ('instruction_context', 'instruction_variants'):
        del meta['train_config'][key]
    (state / 'state.json').write_text(json.dumps(meta))
    write_checksums(state, ['state.json'])
    two = dataclasses.replace(one, steps=2)
    assert trainer.train(micro_config(), two, bag_dir, out, resume=True,
                         progress=False).step == 2
    on = dataclasses.replace(two, steps=3, instruction_context=0.5)  # a real change is refused
    with pytest.raises(CheckpointError, match='instruction_context'):
        trainer.train(micro_config(), on, bag_dir, out, resume=True, progress=False)
