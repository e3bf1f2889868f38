"""Checkpoints: safetensors + config.yaml round trip; bad checkpoints are rejected clearly."""

import dataclasses

from fault_helpers import flip_bits
import pytest
import torch
import yaml

from vag_ros.errors import CheckpointError
from vag_ros.model.checkpoint import load_checkpoint, save_checkpoint
from vag_ros.model.normalization import ActionNormalizer


@pytest.fixture
def saved(tmp_path, model, config):
    norm = ActionNormalizer.fit(torch.randn(20, config.action.dim))
    save_checkpoint(tmp_path / 'ckpt', model, config, norm, {'step': 12, 'note': 'x'})
    return tmp_path / 'ckpt', norm


def test_round_trip_gives_the_same_model(saved, model, config, make_batch, observe):
    path, norm = saved
    assert {p.name for p in path.iterdir()} == {'model.safetensors', 'config.yaml',
                                                'SHA256SUMS'}
    ck = load_checkpoint(path)
    assert ck.config == config and ck.extra == {'step': 12, 'note': 'x'}
    assert torch.equal(ck.normalizer.a, norm.a) and ck.normalizer.kind == norm.kind
    lat, emb, mask, _ = make_batch(config, b=1)
    model.eval()
    g = torch.Generator
    obs = observe(config, emb, mask)
    x1, a1 = model.sample(lat[:, :, :1], obs, 2, generator=g().manual_seed(0))
    x2, a2 = ck.model.sample(lat[:, :, :1], obs, 2, generator=g().manual_seed(0))
    assert torch.equal(x1, x2)
    assert torch.allclose(a1, a2, atol=1e-5), (a1 - a2).abs().max()
    sd = model.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in ck.model.state_dict().items())
    assert all(not p.is_meta for p in ck.model.parameters())


def test_missing_folder_and_files(saved, tmp_path):
    path, _ = saved
    with pytest.raises(CheckpointError, match='not found'):
        load_checkpoint(tmp_path / 'nope')
    (path / 'config.yaml').rename(path / 'c.yaml')
    with pytest.raises(CheckpointError, match='config.yaml'):
        load_checkpoint(path)
    (path / 'c.yaml').rename(path / 'config.yaml')
    (path / 'model.safetensors').unlink()
    with pytest.raises(CheckpointError, match='model.safetensors'):
        load_checkpoint(path)


def test_truncated_weights_are_rejected(saved):
    path, _ = saved
    weights = path / 'model.safetensors'
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        load_checkpoint(path)
    weights.write_bytes(b'\x00' * 3)
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        load_checkpoint(path)


def test_bit_flips_in_the_weights_are_refused_before_use(saved):
    from safetensors.torch import load_file
    path, _ = saved
    flip_bits(path / 'model.safetensors')
    load_file(str(path / 'model.safetensors'))  # safetensors alone would load it
    with pytest.raises(CheckpointError, match='corrupt or truncated: sha256'):
        load_checkpoint(path)


def test_an_edited_config_is_refused_unless_its_checksum_is_renewed(saved, config):
    path, _ = saved
    text = (path / 'config.yaml').read_text()
    (path / 'config.yaml').write_text(text.replace('num_steps: ', 'num_steps: 1'))
    with pytest.raises(CheckpointError, match=r'checkpoint config\) is corrupt'):
        load_checkpoint(path)
    renew_checksums(path)  # a deliberate edit: the user renews the record
    assert load_checkpoint(path).config.sampler.num_steps != config.sampler.num_steps


def renew_checksums(path):
    """What `sha256sum model.safetensors config.yaml > SHA256SUMS` does by hand."""
    from vag_ros.checksums import write_checksums
    write_checksums(path, ['model.safetensors', 'config.yaml'])


def test_config_mismatch_names_the_tensor(saved, config):
    path, _ = saved
    data = config.to_dict()
    data['action']['down_dims'] = [16, 48]
    (path / 'config.yaml').write_text(yaml.safe_dump(data))
    renew_checksums(path)
    with pytest.raises(CheckpointError, match=r"tensor 'action\.[^']+' has shape"):
        load_checkpoint(path)
    data = config.to_dict()
    data['video']['num_layers'] = 2
    (path / 'config.yaml').write_text(yaml.safe_dump(data))
    renew_checksums(path)
    with pytest.raises(CheckpointError, match='missing tensors'):
        load_checkpoint(path)
    data['video']['num_heads'] = 'many'
    (path / 'config.yaml').write_text(yaml.safe_dump(data))
    renew_checksums(path)
    with pytest.raises(CheckpointError, match='video.num_heads'):
        load_checkpoint(path)


def test_stats_dim_must_match(tmp_path, model, config):
    save_checkpoint(tmp_path, model, config, ActionNormalizer.identity(3))
    with pytest.raises(CheckpointError, match='action.dim'):
        load_checkpoint(tmp_path)


def test_video_only_checkpoint(tmp_path, micro_config):
    from vag_ros.model.vag import VagModel
    cfg = micro_config('video_only')
    save_checkpoint(tmp_path, VagModel(cfg), cfg, ActionNormalizer.identity(7))
    ck = load_checkpoint(tmp_path, config=dataclasses.replace(cfg))
    assert ck.model.action is None


def test_fitted_codec_travels_with_the_checkpoint(tmp_path, micro_config):
    """A pca model saves its codec tensors; without them the checkpoint is refused."""
    from vag_ros.model.checkpoint import checkpoint_codec
    from vag_ros.model.codecs import PcaCodec
    from vag_ros.model.config import CodecConfig
    from vag_ros.model.pipeline import VagPipeline
    from vag_ros.model.vag import VagModel
    config = micro_config(latent_channels=16, codec=CodecConfig(kind='pca', spatial_factor=8))
    torch.manual_seed(0)
    model = VagModel(config)
    videos = [torch.rand(1, 3, 5, 32, 32) * 2 - 1 for _ in range(3)]
    codec = PcaCodec(8, 16).fit(videos)
    norm = ActionNormalizer.fit(torch.randn(20, config.action.dim))
    save_checkpoint(tmp_path / 'with', model, config, norm, codec=codec)
    loaded = checkpoint_codec(load_checkpoint(tmp_path / 'with'))
    assert torch.equal(loaded.encode(videos[0]), codec.encode(videos[0]))
    pipe = VagPipeline.from_checkpoint(tmp_path / 'with')
    assert torch.equal(pipe.codec.basis, codec.basis)
    # a foreign codec offered for reuse is not taken: the checkpoint's own one is
    other = PcaCodec(8, 16).fit([v.flip(-1) for v in videos])
    pipe = VagPipeline.from_checkpoint(tmp_path / 'with', codec=other)
    assert torch.equal(pipe.codec.basis, codec.basis)
    save_checkpoint(tmp_path / 'without', model, config, norm)
    with pytest.raises(CheckpointError, match='no codec'):
        VagPipeline.from_checkpoint(tmp_path / 'without')


def test_a_checkpoint_without_its_checksums_is_refused_with_the_command_to_record_them(saved):
    import subprocess
    path, _ = saved
    (path / 'SHA256SUMS').unlink()
    with pytest.raises(CheckpointError, match=r'no SHA256SUMS record.*sha256sum model'):
        load_checkpoint(path)
    # the weights recorded alone leave the config (mode, anchoring, guidance) unchecked
    subprocess.run('sha256sum model.safetensors > SHA256SUMS', shell=True, cwd=path,
                   check=True)
    with pytest.raises(CheckpointError, match=r'no SHA256SUMS record of model.safetensors and '
                                              'config.yaml'):
        load_checkpoint(path)
    subprocess.run('sha256sum model.safetensors config.yaml > SHA256SUMS', shell=True,
                   cwd=path, check=True)  # the command the message gives
    load_checkpoint(path)
