"""Text encoders: bundled MiniLM, a tiny random T5 from a folder, the null encoder."""

import pytest
import torch

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.config import TextConfig
from vag_ros.model.text import (build_text_encoder, minilm_path, MiniLMTextEncoder,
                                NullTextEncoder, T5TextEncoder)


@pytest.fixture(scope='module')
def minilm():
    return MiniLMTextEncoder(max_length=12)


def test_minilm_embeddings_mask_and_cache(minilm):
    emb, mask = minilm.encode(['pick up the red cube', 'open the drawer'])
    assert emb.shape == (2, 12, 384) and mask.shape == (2, 12) and mask.dtype == torch.bool
    assert mask[0].sum() > mask[1].sum() - 3
    assert emb[1, mask[1].sum():].abs().max() == 0  # padding zeroed, like Cosmos' T5
    assert emb[0, :mask[0].sum()].abs().sum() > 0
    again, _ = minilm.encode(['open the drawer'])
    assert torch.equal(again[0], emb[1])
    assert 'open the drawer' in minilm._cache
    null, nmask = minilm.null(3)
    assert null.shape == (3, 12, 384) and not nmask.any() and null.abs().sum() == 0
    with pytest.raises(ConfigError):
        minilm.encode('not a list')


def test_tiny_t5_from_a_local_folder(tmp_path):
    from transformers import AutoTokenizer, T5Config, T5EncoderModel
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))  # any local tokenizer will do
    cfg = T5Config(vocab_size=tok.vocab_size, d_model=16, d_ff=32, d_kv=8, num_layers=1,
                   num_heads=2)
    torch.manual_seed(0)
    T5EncoderModel(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    enc = T5TextEncoder(tmp_path, max_length=8)
    emb, mask = enc.encode(['wipe the table'])
    assert emb.shape == (1, 8, 16) and enc.embed_dim == 16
    built = build_text_encoder(TextConfig(kind='t5', path=str(tmp_path), max_length=8,
                                          embed_dim=16))
    assert torch.allclose(built.encode(['wipe the table'])[0], emb)
    with pytest.raises(ConfigError, match='embed_dim'):
        build_text_encoder(TextConfig(kind='t5', path=str(tmp_path), embed_dim=1024))
    with pytest.raises(CheckpointError, match='config.json'):
        T5TextEncoder(tmp_path / 'nothing')


def test_null_encoder():
    enc = NullTextEncoder(embed_dim=5, max_length=2)
    emb, mask = enc.encode(['a', 'b'])
    assert emb.shape == (2, 2, 5) and emb.abs().sum() == 0 and not mask.any()
