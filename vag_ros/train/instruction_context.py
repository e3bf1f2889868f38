"""Instruction context augmentation: a training instruction with a task-neutral clause around it.

A model trained on a few fixed phrasings learns spurious cues from words that carry no task:
the tiny demo, whose training touch templates alone mention the gripper, pushed 8 of 12
blocks with "push the red cube left" and 0 of 12 with "with the gripper, push the red cube
left". Wrapping training instructions in clauses drawn from every family alike ("please",
"using the arm", "when you are ready") takes the cue away. The core instruction is kept
word for word (its first letter lower-cased after a prefix, its end punctuation kept last),
so this works on a data set's own English instructions.
"""

import typing

import numpy as np
import torch

from vag_ros.errors import ConfigError
from vag_ros.typos import with_typos

PREFIXES = (
    'please', 'now', 'next,', 'okay,', 'robot,', 'go ahead and', 'can you', 'I need you to',
    "I'd like you to", 'your task:', 'using the gripper,', 'with the arm,', 'carefully',
    'slowly,', 'first,', 'when ready,',
)
SUFFIXES = (
    'please', 'now', 'carefully', 'slowly', 'with the gripper', 'using the arm',
    'when you are ready', 'right away', 'for me', 'thanks', 'gently', 'with the robot',
)


MAX_VARIANT_BYTES = 4 << 30  # float32 embeddings of all variants held in memory


def _lower_first(text: str) -> str:
    """'Push the cube' -> 'push the cube'; 'I want ...', "I'd ..." and 'UR5 ...' unchanged."""
    word = text.split(' ', 1)[0]
    if word[:1].isupper() and word[1:].islower() and not word.startswith("I'"):
        return text[0].lower() + text[1:]
    return text


def with_context(instruction: str, rng: np.random.Generator) -> str:
    """``instruction`` with a random prefix, suffix or both (its words unchanged)."""
    kind = int(rng.integers(3))  # 0: prefix, 1: suffix, 2: both
    text = instruction
    if kind in (0, 2):
        text = f'{PREFIXES[int(rng.integers(len(PREFIXES)))]} {_lower_first(text)}'
    if kind in (1, 2):
        body = text.rstrip('.!?')
        text = f'{body} {SUFFIXES[int(rng.integers(len(SUFFIXES)))]}{text[len(body):]}'
    return text


class InstructionVariants:
    """``count`` context variants of each distinct instruction, encoded once; a share
    ``typos`` of them also carry character slips.

    ``pick`` swaps a batch's text embeddings for a random variant with probability
    ``probability`` per item, drawn from the step's generator (so ``resume`` repeats it).
    """

    def __init__(self, instructions: typing.Sequence[str], text_encoder, count: int,
                 probability: float, seed: int = 0, typos: float = 0.0):
        unique = sorted(set(instructions))
        limit, width = text_encoder.max_length, text_encoder.embed_dim
        size = len(unique) * count * limit * width * 4
        if size > MAX_VARIANT_BYTES:
            raise ConfigError(
                f'instruction_context: {len(unique)} distinct instructions x {count} variants '
                f'would hold {size / 2**30:.1f} GiB of text embeddings (limit '
                f'{MAX_VARIANT_BYTES / 2**30:.0f}); lower instruction_variants or set '
                'instruction_context: 0')
        rng = np.random.default_rng(seed)
        texts, self.too_long = [], 0
        for base in unique:
            for _ in range(count):
                text = with_context(base, rng)
                if typos > 0 and rng.random() < typos:  # a slip or two, as people type
                    text = with_typos(text, rng.integers(1 << 31, size=2).tolist())
                tokens = text_encoder.token_count(text)
                if tokens is not None and tokens > limit:  # the model would read it cut off
                    text, self.too_long = base, self.too_long + 1
                texts.append(text)
        self.texts = texts                                # (U * count,)
        self.emb, self.mask = text_encoder.encode(texts)  # (U * count, L, E), (U * count, L)
        position = {s: i for i, s in enumerate(unique)}
        self.first = torch.tensor([position[s] * count for s in instructions])  # (N,)
        self.count = count
        self.probability = probability

    def pick(self, index: torch.Tensor, emb: torch.Tensor, mask: torch.Tensor,
             generator: torch.Generator) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        """Items ``index`` (B,) with embeddings (B, L, E), mask (B, L) -> some swapped."""
        swap = torch.rand(len(index), generator=generator) < self.probability  # (B,)
        which = torch.randint(self.count, (len(index),), generator=generator)  # (B,)
        if not bool(swap.any()):
            return emb, mask
        rows = self.first[index.cpu()[swap]] + which[swap]
        on = swap.to(emb.device)
        emb, mask = emb.clone(), mask.clone()
        emb[on] = self.emb[rows].to(emb.device, emb.dtype)
        mask[on] = self.mask[rows].to(mask.device)
        return emb, mask
