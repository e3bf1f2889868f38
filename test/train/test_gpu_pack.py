"""scripts/gpu_train.py: a training pack gives the batches the bags give, and is checked."""

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

from train_helpers import micro_config
from vag_ros.errors import EpisodeError
from vag_ros.train.dataset import EpisodeDataset

SCRIPT = Path(__file__).resolve().parents[2] / 'scripts' / 'gpu_train.py'


@pytest.fixture(scope='module')
def gpu_train():
    spec = importlib.util.spec_from_file_location('gpu_train', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_pack_trains_on_the_same_batches_as_its_bags(gpu_train, bag_dir, tmp_path):
    config = micro_config()
    path = tmp_path / 'pack.safetensors.xz'
    gpu_train.pack(bag_dir, path, config)
    named, text = gpu_train.load_pack(path, config)
    packed = EpisodeDataset.from_windows(config, named, source=str(path), text_encoder=text)
    bags = EpisodeDataset(config, bag_dir)
    assert packed.windows == bags.windows and packed.instructions == bags.instructions
    index = torch.arange(len(bags)).flip(0)
    for a, b in zip(packed.batch(index), bags.batch(index)):
        torch.testing.assert_close(a, b)
    assert torch.equal(packed.normalizer.a, bags.normalizer.a)
    with pytest.raises(EpisodeError, match='no embedding'):
        text.encode(['an instruction it never saw'])


def test_a_pack_of_another_config_or_a_corrupt_pack_is_refused(gpu_train, bag_dir, tmp_path):
    config = micro_config()
    path = tmp_path / 'pack.safetensors.xz'
    gpu_train.pack(bag_dir, path, config)
    other_text = dataclasses.replace(config, text=dataclasses.replace(
        config.text, max_length=config.text.max_length + 1))
    with pytest.raises(EpisodeError, match='another text config'):
        gpu_train.load_pack(path, other_text)
    bigger = dataclasses.replace(config, video=dataclasses.replace(
        config.video, height=2 * config.video.height, width=2 * config.video.width))
    with pytest.raises(EpisodeError, match='do not fit'):
        gpu_train.load_pack(path, bigger)
    torn = tmp_path / 'torn.safetensors.xz'
    torn.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(EpisodeError, match='unreadable training pack'):
        gpu_train.load_pack(torn, config)
    with pytest.raises(EpisodeError, match='no windows'):
        EpisodeDataset.from_windows(config, [], source='nothing')
