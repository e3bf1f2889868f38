"""Instruction embeddings for engines: a per-engine cache, then the configured encoder.

Export can embed the instructions a robot will hear into ``text_cache.safetensors`` so that
generation needs no text model; an instruction not in it is encoded by the text encoder the
model config names (built on first use), unless the cache is strict.
"""

import json
from pathlib import Path
import typing

import torch

from vag_ros.errors import ConfigError, EngineError, VagError

FILE = 'text_cache.safetensors'


def write_text_cache(path: typing.Union[str, Path], encoder,
                     instructions: typing.Sequence[str]) -> typing.List[str]:
    """Encode ``instructions`` and store them; returns the unique instructions kept."""
    from safetensors.torch import save_file
    unique = list(dict.fromkeys(i for i in instructions))
    if not unique or any(not isinstance(i, str) or not i.strip() for i in unique):
        raise EngineError(f'text cache: instructions must be non-empty strings, got {unique!r}')
    emb, mask = encoder.encode(unique)  # (N, L, E), (N, L)
    save_file({'emb': emb.float().contiguous(), 'mask': mask.contiguous()}, str(path),
              metadata={'instructions': json.dumps(unique)})
    return unique


def read_text_cache(path: typing.Union[str, Path]
                    ) -> typing.Dict[str, typing.Tuple[torch.Tensor, torch.Tensor]]:
    """{instruction: (emb (L, E), mask (L,))}; EngineError if unreadable."""
    from safetensors import safe_open
    try:
        with safe_open(str(path), framework='pt', device='cpu') as f:
            names = json.loads((f.metadata() or {})['instructions'])
            emb, mask = f.get_tensor('emb'), f.get_tensor('mask')
    except Exception as exc:  # SafetensorError, KeyError, JSON errors
        raise EngineError(f'text cache {path} is unreadable ({exc}); export again') from None
    return {n: (emb[i], mask[i]) for i, n in enumerate(names)}


class TextSource:
    """Instruction -> (emb (1, L, E), mask (1, L)): the cache first, then the encoder."""

    def __init__(self, text_config, cache: typing.Optional[typing.Mapping] = None,
                 strict: bool = False, encoder=None):
        self.config = text_config
        self.cache = dict(cache or {})
        self.strict = strict
        self.encoder = encoder
        self.misses = 0

    def encode(self, instruction: str) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        if instruction in self.cache:
            emb, mask = self.cache[instruction]
            return emb[None], mask[None]
        self.misses += 1
        return self.encoder_for(instruction).encode([instruction])

    def token_count(self, instruction: str) -> typing.Optional[int]:
        """Tokens of an instruction the cache lacks (None for cached ones: they were
        encoded at export)."""
        if instruction in self.cache:
            return None
        return self.encoder_for(instruction).token_count(instruction)

    def encoder_for(self, instruction: str):
        """The text encoder for an instruction the cache lacks (built once)."""
        if self.strict:
            raise EngineError(f'instruction {instruction!r} is not in the engine text cache '
                              f'({len(self.cache)} instructions) and text_cache is strict')
        if self.encoder is None:
            from vag_ros.model.text import build_text_encoder
            try:
                self.encoder = build_text_encoder(self.config)
            except (ConfigError, VagError) as exc:
                raise EngineError(f'instruction {instruction!r} is not in the engine text '
                                  f'cache and the text encoder cannot be built: {exc}') from None
        return self.encoder
