"""Faults the tests inject into files: bit flips in stored data."""

import numpy as np


def flip_bits(path, count=4096, seed=0):
    """Flip ``count`` random bits in the second half of a file (the tensor data)."""
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for position in rng.integers(len(data) // 2, len(data), count):
        data[position] ^= 1 << int(rng.integers(0, 8))
    path.write_bytes(bytes(data))
