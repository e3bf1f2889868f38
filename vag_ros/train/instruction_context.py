"""Instruction context augmentation: a training instruction with a task-neutral clause around it.

A model trained on a few fixed phrasings learns spurious cues from words that carry no task:
the tiny demo, whose training touch templates alone mention the gripper, pushed 8 of 12
blocks with "push the red cube left" and 0 of 12 with "with the gripper, push the red cube
left". Wrapping training instructions in clauses drawn from every family alike ("please",
"using the arm", "when you are ready") takes the cue away. The core instruction is kept
word for word, so this works on any data set's instructions (English).
"""

import typing

import numpy as np
import torch

PREFIXES = (
    'please', 'now', 'next,', 'okay,', 'robot,', 'go ahead and', 'can you', 'I need you to',
    "I'd like you to", 'your task:', 'using the gripper,', 'with the arm,', 'carefully',
    'slowly,', 'first,', 'when ready,',
)
SUFFIXES = (
    'please', 'now', 'carefully', 'slowly', 'with the gripper', 'using the arm',
    'when you are ready', 'right away', 'for me', 'thanks', 'gently', 'with the robot',
)


def with_context(instruction: str, rng: np.random.Generator) -> str:
    """``instruction`` with a random prefix, suffix or both (the instruction unchanged)."""
    kind = int(rng.integers(3))  # 0: prefix, 1: suffix, 2: both
    text = instruction
    if kind in (0, 2):
        text = f'{PREFIXES[int(rng.integers(len(PREFIXES)))]} {text}'
    if kind in (1, 2):
        text = f'{text} {SUFFIXES[int(rng.integers(len(SUFFIXES)))]}'
    return text


class InstructionVariants:
    """``count`` context variants of each distinct instruction, encoded once.

    ``pick`` swaps a batch's text embeddings for a random variant with probability
    ``probability`` per item, drawn from the step's generator (so ``resume`` repeats it).
    """

    def __init__(self, instructions: typing.Sequence[str], text_encoder, count: int,
                 probability: float, seed: int = 0):
        unique = sorted(set(instructions))
        rng = np.random.default_rng(seed)
        limit = text_encoder.max_length
        texts = []
        for base in unique:
            for _ in range(count):
                text = with_context(base, rng)
                tokens = text_encoder.token_count(text)
                texts.append(base if tokens is not None and tokens > limit else text)
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
