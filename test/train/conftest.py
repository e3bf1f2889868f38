"""Fixtures of the training tests (helpers live in test/train_helpers.py)."""

import pytest
from train_helpers import write_bags

from vag_ros.train.train_config import TrainConfig


@pytest.fixture(scope='session')
def bag_dir(tmp_path_factory):
    """Three 5-frame 48x48 episode bags (two instructions)."""
    return write_bags(tmp_path_factory.mktemp('bags') / 'bags')


@pytest.fixture
def train_config():
    return TrainConfig(steps=3, batch_size=2, lr=1e-3, warmup_steps=1, ema_decay=0.9,
                       log_every=1, save_every=2, seed=0)
