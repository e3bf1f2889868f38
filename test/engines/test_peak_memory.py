"""vag-ros bench's memory meter on the CPU: the peak inside a block, above the level before."""

import time

import numpy as np

from vag_ros.engines.bench import PeakMemory


def test_peak_inside_the_block_is_seen_after_it_was_freed():
    with PeakMemory('cpu') as mem:
        block = np.ones(256 * 2 ** 20 // 8)  # 256 MiB, every page touched
        time.sleep(0.2)  # the sampler (every 2 ms) sees it
        del block
    assert 200 < mem.increase_mb < 400


def test_a_block_that_allocates_nothing_adds_little():
    keep = np.ones(64 * 2 ** 20 // 8)  # in use before the block: not counted
    with PeakMemory('cpu') as mem:
        time.sleep(0.05)
    assert mem.increase_mb < 32
    del keep
