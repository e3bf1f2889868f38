"""Character slips as people type them: the noise eval's typo variant and training's typo
augmentation both apply (the held-out phrasing set is another matter: it is eval's alone)."""

import string
import typing

import numpy as np

KEYBOARD_ROWS = ('qwertyuiop', 'asdfghjkl', 'zxcvbnm')


def _neighbour(letter: str, rng) -> str:
    for row in KEYBOARD_ROWS:
        k = row.find(letter.lower())
        if k >= 0:
            near = [row[j] for j in (k - 1, k + 1) if 0 <= j < len(row)]
            return near[int(rng.integers(len(near)))]
    return letter


def with_typos(text: str, seed: typing.Sequence[int], edits: int = 2, min_word: int = 4) -> str:
    """``text`` with ``edits`` character slips, each in a different word of at least
    ``min_word`` letters (swap two neighbours, drop one, double one, or a neighbouring
    key), seeded; a text without such words comes back unchanged."""
    rng = np.random.default_rng(list(seed))
    words = text.split(' ')
    long = [k for k, w in enumerate(words)
            if sum(c in string.ascii_letters for c in w) >= min_word]
    for k in rng.permutation(long)[:edits]:
        word = words[k]
        letters = [i for i, c in enumerate(word) if c in string.ascii_letters]
        i = letters[int(rng.integers(1, len(letters) - 1))]   # never the first or the last
        kind = int(rng.integers(4))
        if kind == 0 and word[i + 1] in string.ascii_letters and word[i + 1] != word[i]:
            word = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif kind <= 1:   # a drop (also where a swap would change nothing)
            word = word[:i] + word[i + 1:]
        elif kind == 2:
            word = word[:i] + word[i] + word[i:]
        else:
            word = word[:i] + _neighbour(word[i], rng) + word[i + 1:]
        words[k] = word
    return ' '.join(words)
