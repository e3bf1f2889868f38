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
    named, text, meta = gpu_train.load_pack(path, config)
    packed = EpisodeDataset.from_windows(config, named, source=str(path), text_encoder=text)
    bags = EpisodeDataset(config, bag_dir)
    assert packed.windows == bags.windows and packed.instructions == bags.instructions
    assert meta['names'] == [name for name, _ in bags.windows]
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
    longer = dataclasses.replace(config, action=dataclasses.replace(
        config.action, dim=config.action.dim + 1))
    with pytest.raises(EpisodeError, match='do not fit'):
        gpu_train.load_pack(path, longer)
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


def test_train_preset_runs_the_three_stages_from_a_pack(gpu_train, bag_dir, tmp_path):
    """A smoke run on the CPU: probe, stage 1 fitted to a budget, stages 2 and 3, and the
    checkpoint with the earlier stages' loss logs beside its own."""
    import yaml

    from vag_ros.model.checkpoint import load_checkpoint
    config = micro_config()
    model_yaml = tmp_path / 'micro.yaml'
    model_yaml.write_text(yaml.safe_dump(config.to_dict()))
    path = tmp_path / 'pack.safetensors.xz'
    gpu_train.pack(bag_dir, path, config)
    report = gpu_train.train_preset(path, str(model_yaml), tmp_path / 'run', 'cpu',
                                    stage1_seconds=0.01, probe_steps=4, max_steps=3)
    final = tmp_path / 'run' / 'final'
    assert [report[s]['steps'] for s in ('stage1', 'stage2', 'stage3')] == [3, 3, 3]
    assert report['windows'] == 3 and report['probe_ms_per_step'] > 0
    assert {'loss_log_stage1.jsonl', 'loss_log_stage2.jsonl', 'loss_log.jsonl'} <= {
        p.name for p in final.iterdir()}
    assert not (final / 'training_state').exists() and not (tmp_path / 'run' / 'probe').exists()
    assert load_checkpoint(final).config == config
    # stage 3's file wraps instructions, which needs a text encoder the pack does not have
    from vag_ros.model.config import preset_dir
    from vag_ros.train.train_config import load_train_config
    assert load_train_config(preset_dir() / 'train_tiny_action_more.yaml').instruction_context
    assert load_checkpoint(final).extra['train_config']['instruction_context'] == 0.0
    with pytest.raises(SystemExit, match='exists'):
        gpu_train.train_preset(path, str(model_yaml), tmp_path / 'run', 'cpu', 0)


def test_the_observation_probe_learns_the_waypoints_of_a_pack(gpu_train, bag_dir, tmp_path):
    """scripts/observation_probe.py: fitting the encoder alone lowers its waypoint error."""
    spec = importlib.util.spec_from_file_location('observation_probe',
                                                  SCRIPT.parent / 'observation_probe.py')
    probe_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe_script)
    config = micro_config()
    path = tmp_path / 'pack.safetensors.xz'
    gpu_train.pack(bag_dir, path, config)
    named, text, _ = gpu_train.load_pack(path, config)
    data = probe_script.tensors(config, named, text)
    rows = torch.arange(len(named))
    _, untrained, _, _ = probe_script.probe(config, data, rows, rows, 0, 8, 3e-3, 0)
    r, trained, loss, _ = probe_script.probe(config, data, rows, rows, 80, 8, 3e-3, 0)
    assert len(r) == len(trained) == config.action.dim
    assert sum(trained) < 0.5 * sum(untrained)
    assert probe_script.parse_variant('local8:local_features=8,text_pooling=attention') == \
        ('local8', {'local_features': 8, 'text_pooling': 'attention'})
