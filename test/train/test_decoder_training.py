"""vag-ros train-decoder: the learned decoder stage on a trained checkpoint's own latents."""

import dataclasses

import numpy as np
import pytest
import torch
from train_helpers import make_episode, micro_config

from vag_ros import cli
from vag_ros.errors import ConfigError
from vag_ros.model.checkpoint import load_checkpoint, read_weights
from vag_ros.model.pipeline import frame_to_tensor, video_to_uint8, VagPipeline
from vag_ros.outputs import OutputError
from vag_ros.train import trainer
from vag_ros.train.decoder_training import DecoderTrainConfig, select_bags, train_decoder

SMALL = DecoderTrainConfig(episodes=2, steps=6, batch_size=2, width=8, sample_steps=2)


def _train(tmp_path_factory, bag_dir, mode):
    from vag_ros.train.train_config import TrainConfig
    out = tmp_path_factory.mktemp(f'vag_{mode}') / 'ckpt'
    config = TrainConfig(steps=2, batch_size=2, lr=1e-3, warmup_steps=1, log_every=1,
                         save_every=2)
    trainer.train(micro_config(mode), config, bag_dir, out, progress=False)
    return out


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, bag_dir):
    return _train(tmp_path_factory, bag_dir, 'joint')


def test_the_stage_adds_a_trained_refiner_and_keeps_everything_else(checkpoint, bag_dir,
                                                                    tmp_path):
    out = tmp_path / 'decoded'
    summary = train_decoder(checkpoint, bag_dir, out, SMALL, progress=False)
    assert summary.steps == 6 and summary.episodes == 2 and summary.validation_episodes == 1
    assert 'video of 1 other training episodes' in summary.describe()
    assert np.isfinite(summary.final_loss) and np.isfinite(summary.validation_refined_psnr)
    before, after = load_checkpoint(checkpoint), load_checkpoint(out)
    assert after.config.video.codec.refiner_width == 8
    assert after.config == dataclasses.replace(before.config, video=dataclasses.replace(
        before.config.video, codec=after.config.video.codec))
    # the DiT, the action branch, the action stats and the PCA tensors are the input's
    old, new = read_weights(checkpoint)[0], read_weights(out)[0]
    refiner = {k for k in new if k.startswith('codec.refiner.')}
    assert refiner and set(new) - refiner == set(old)
    assert all(torch.equal(old[k], new[k]) for k in old)
    assert float(new['codec.refiner.fine.2.weight'].abs().max()) > 0   # it learned
    assert after.extra['decoder']['steps'] == 6
    assert (out / 'loss_log.jsonl').read_text().count('\n') == 1      # one line / 50 steps
    # generation decodes through it: frame 0 is the given frame
    pipe = VagPipeline.from_checkpoint(out)
    image = make_episode(0).frames[0]                                   # (48, 48, 3)
    video = pipe.generate(image, 'touch red', seed=1, state=np.zeros(7)).video
    given = video_to_uint8(frame_to_tensor(image, 32, 32, True)[0])[0]
    np.testing.assert_array_equal(video[0], given)


def test_refusals_leave_the_checkpoint_and_the_output_as_they_were(checkpoint, bag_dir,
                                                                   tmp_path, tmp_path_factory):
    weights = (checkpoint / 'model.safetensors').read_bytes()
    with pytest.raises(OutputError, match='input checkpoint'):
        train_decoder(checkpoint, bag_dir, checkpoint, SMALL, progress=False)
    taken = tmp_path / 'taken'
    taken.mkdir()
    (taken / 'notes.txt').write_text('mine')
    with pytest.raises(OutputError, match='not empty'):
        train_decoder(checkpoint, bag_dir, taken, SMALL, progress=False)
    assert (checkpoint / 'model.safetensors').read_bytes() == weights
    assert [p.name for p in taken.iterdir()] == ['notes.txt']
    with pytest.raises(ConfigError, match='steps=0'):
        train_decoder(checkpoint, bag_dir, tmp_path / 'x', dataclasses.replace(SMALL, steps=0))
    action_only = _train(tmp_path_factory, bag_dir, 'action_no_bridge')
    with pytest.raises(ConfigError, match='video branch'):
        train_decoder(action_only, bag_dir, tmp_path / 'y', SMALL, progress=False)
    assert not (tmp_path / 'y' / 'model.safetensors').exists()


def test_cli_trains_the_decoder(checkpoint, bag_dir, tmp_path, capsys):
    out = tmp_path / 'cli'
    code = cli.main(['train-decoder', '--checkpoint', str(checkpoint), '--data', str(bag_dir),
                     '--out', str(out), '--episodes', '2', '--steps', '2', '--width', '4',
                     '--batch-size', '2', '--sample-steps', '1', '--quiet'])
    assert code == 0 and 'dB refined' in capsys.readouterr().out
    assert load_checkpoint(out).config.video.codec.refiner_width == 4
    assert cli.main(['train-decoder', '--checkpoint', str(checkpoint), '--data',
                     str(tmp_path / 'none'), '--out', str(tmp_path / 'z'), '--quiet']) != 0
    assert not (tmp_path / 'z').exists()   # refused before anything was made


def test_bags_are_chosen_evenly():
    bags = [f'b{i}' for i in range(10)]
    assert select_bags(bags, 3) == ['b0', 'b4', 'b9']
    assert select_bags(bags, 20) == bags


def test_training_on_from_a_decoded_checkpoint_says_which_field_differs(checkpoint, bag_dir,
                                                                        tmp_path):
    from vag_ros.train.train_config import TrainConfig
    decoded = tmp_path / 'decoded'
    train_decoder(checkpoint, bag_dir, decoded, dataclasses.replace(SMALL, steps=1),
                  progress=False)
    config = TrainConfig(steps=1, batch_size=2, lr=1e-3, warmup_steps=1, save_every=1)
    message = 'video.codec.refiner_width: 8 vs 0.*train-decoder'
    with pytest.raises(trainer.TrainError, match=message):
        trainer.train(micro_config(), config, bag_dir, tmp_path / 'more', init=decoded,
                      progress=False)


def test_a_codec_the_refiner_cannot_take_is_refused_before_sampling(
        bag_dir, tmp_path, monkeypatch):
    import micro_model

    from vag_ros.model.config import CodecConfig
    from vag_ros.train.train_config import TrainConfig
    config = micro_model.micro_config('joint', codec_kind='pca', observation_dim=16,
                                      latent_channels=12,
                                      codec=CodecConfig(kind='pca', spatial_factor=2))
    source = tmp_path / 'sf2'
    trainer.train(config, TrainConfig(steps=1, batch_size=2, lr=1e-3, warmup_steps=1,
                                      save_every=1), bag_dir, source, progress=False)
    from vag_ros.train import decoder_training
    sampled = []
    monkeypatch.setattr(decoder_training, 'generate_clips',
                        lambda *args, **kwargs: sampled.append(1))
    with pytest.raises(ConfigError, match='divisible by 4'):
        train_decoder(source, bag_dir, tmp_path / 'out', SMALL, progress=False)
    assert not sampled and not (tmp_path / 'out').exists()


def test_the_stage_repeats_exactly(checkpoint, bag_dir, tmp_path):
    config = dataclasses.replace(SMALL, steps=2)
    for name in ('a', 'b'):
        torch.manual_seed(len(name) * 7 + ord(name))   # whatever the caller's global seed
        train_decoder(checkpoint, bag_dir, tmp_path / name, config, progress=False)
    a, b = read_weights(tmp_path / 'a')[0], read_weights(tmp_path / 'b')[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
