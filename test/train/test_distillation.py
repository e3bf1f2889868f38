"""Few-step distillation: the teacher's grid states, both objectives, the trainer's run."""

import dataclasses

import pytest
import torch
from train_helpers import micro_config

from vag_ros.errors import ConfigError
from vag_ros.model.checkpoint import load_checkpoint
from vag_ros.model.vag import Observation, VagModel
from vag_ros.train import trainer
from vag_ros.train.dataset import EpisodeDataset
from vag_ros.train.distillation import (distillation_loss, grid_ratio, teacher_states,
                                        TeacherTrajectories, TRAJECTORIES)
from vag_ros.train.train_config import TrainConfig


@pytest.fixture(scope='module')
def dataset(bag_dir):
    return EpisodeDataset(micro_config(), bag_dir)


def _model(seed=0):
    torch.manual_seed(seed)
    return VagModel(micro_config()).eval()


def _inputs(dataset, n=3):
    lat, emb, mask, _, frames, states = dataset.batch(torch.arange(n))
    return lat[:, :, :1], Observation(frames, emb, mask, states)


def test_the_last_grid_state_is_what_the_sampler_gives(dataset):
    model = _model()
    first, observation = _inputs(dataset)
    videos, actions = teacher_states(model, first, observation, 6, 3,
                                     torch.Generator().manual_seed(4))
    assert videos.shape[1] == actions.shape[1] == 4  # K + 1 states
    x, a = model.sample(first, observation, 6, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(videos[:, -1], x)
    torch.testing.assert_close(actions[:, -1], a)
    # state 0 is the noise, with the clean first latent in front
    torch.testing.assert_close(videos[:, 0, :, :1], first)
    with pytest.raises(ValueError, match='multiple'):
        grid_ratio(6, 4)


def test_the_teacher_has_no_trajectory_loss_on_its_own_one_step_grid(dataset):
    """With teacher_steps == student steps every target is the teacher's own velocity."""
    model = _model()
    first, observation = _inputs(dataset)
    videos, actions = teacher_states(model, first, observation, 3, 3,
                                     torch.Generator().manual_seed(1))
    out = distillation_loss(model, videos, actions, observation.text_emb,
                            observation.text_mask, observation.frame, observation.state,
                            'trajectory', torch.Generator().manual_seed(0))
    assert out['video_loss'] < 1e-9 and out['action_loss'] < 1e-9
    # another model (a student that has not learned) does have a loss, and so does reflow
    other = distillation_loss(_model(seed=5), videos, actions, observation.text_emb,
                              observation.text_mask, observation.frame, observation.state,
                              'trajectory', torch.Generator().manual_seed(0))
    assert other['video_loss'] > 1e-4 and other['action_loss'] > 1e-4
    reflow = distillation_loss(model, videos, actions, observation.text_emb,
                               observation.text_mask, observation.frame, observation.state,
                               'reflow', torch.Generator().manual_seed(0))
    assert torch.isfinite(reflow['loss']) and reflow['loss'] > 0
    with pytest.raises(ValueError, match='method'):
        distillation_loss(model, videos, actions, observation.text_emb,
                          observation.text_mask, observation.frame, observation.state, 'x')


@pytest.mark.parametrize('method', ['trajectory', 'reflow'])
def test_a_distilled_checkpoint_samples_in_its_steps_and_keeps_the_encoder(
        tmp_path, bag_dir, dataset, method):
    teacher = tmp_path / 'teacher'
    base = TrainConfig(steps=2, batch_size=2, lr=1e-3, warmup_steps=1, ema_decay=0.9,
                       log_every=1, save_every=1, seed=0)
    trainer.train(micro_config(), base, bag_dir, teacher, progress=False, dataset=dataset)
    distil = dataclasses.replace(base, steps=3, ema_decay=0.0, distill_steps=2,
                                 distill_method=method, teacher_steps=4, teacher_draws=2)
    student = tmp_path / 'student'
    trainer.train(micro_config(), distil, bag_dir, student, progress=False, init=teacher)
    t, s = load_checkpoint(teacher), load_checkpoint(student)
    assert s.config.sampler.num_steps == 2 and t.config.sampler.num_steps == 3
    assert s.config == dataclasses.replace(t.config, sampler=s.config.sampler)
    saved = TeacherTrajectories.load(student / TRAJECTORIES, dataset, 2)
    assert len(saved) == 2 * len(dataset) and saved.videos.shape[1] == 3
    encoder_t, encoder_s = t.model.observation.state_dict(), s.model.observation.state_dict()
    assert all(torch.equal(encoder_t[k], encoder_s[k]) for k in encoder_t)
    video_t, video_s = t.model.video.state_dict(), s.model.video.state_dict()
    assert any(not torch.equal(video_t[k], video_s[k]) for k in video_t)
    # resume reads the saved trajectories (no teacher needed) and continues
    more = dataclasses.replace(distil, steps=4)
    result = trainer.train(micro_config(), more, bag_dir, student, progress=False,
                           resume=True)
    assert result.step == 4


def test_distillation_refusals(tmp_path, bag_dir, dataset):
    cfg = TrainConfig(steps=1, batch_size=2, distill_steps=2, teacher_steps=4)
    with pytest.raises(ConfigError, match='--init'):
        trainer.train(micro_config(), cfg, bag_dir, tmp_path / 'a', progress=False,
                      dataset=dataset)
    with pytest.raises(ConfigError, match='instruction_context'):
        trainer.train(micro_config(), dataclasses.replace(cfg, instruction_context=0.5),
                      bag_dir, tmp_path / 'b', progress=False, dataset=dataset,
                      init=tmp_path)
    with pytest.raises(ConfigError, match='multiple of distill_steps'):
        dataclasses.replace(cfg, teacher_steps=5).validate()
    with pytest.raises(ConfigError, match='distill_method'):
        dataclasses.replace(cfg, distill_method='consistency').validate()
    # a trajectories file of another step count is refused with what to do
    teacher = tmp_path / 'teacher'
    trainer.train(micro_config(), TrainConfig(steps=1, batch_size=2, save_every=1), bag_dir,
                  teacher, progress=False, dataset=dataset)
    model = load_checkpoint(teacher).model.eval()
    other = TeacherTrajectories.generate(model, dataset, 3, 3, 1, 0)
    out = tmp_path / 'student'
    out.mkdir()
    other.save(out / TRAJECTORIES)
    with pytest.raises(ValueError, match='step count'):
        TeacherTrajectories.load(out / TRAJECTORIES, dataset, 2)
    with pytest.raises(trainer.TrainError, match='made with other .*teacher_steps'):
        trainer.train(micro_config(), cfg, bag_dir, out, progress=False, init=teacher)
    # a run killed before its first save keeps its teacher states: the next start reuses
    # them when teacher and settings are the same, and refuses them when not
    (out / TRAJECTORIES).unlink()
    trainer.train(micro_config(), cfg, bag_dir, out, progress=False, init=teacher)
    again = tmp_path / 'again'
    again.mkdir()
    (again / TRAJECTORIES).write_bytes((out / TRAJECTORIES).read_bytes())
    trainer.train(micro_config(), cfg, bag_dir, again, progress=False, init=teacher)
    other_seed = tmp_path / 'other_seed'
    other_seed.mkdir()
    (other_seed / TRAJECTORIES).write_bytes((out / TRAJECTORIES).read_bytes())
    with pytest.raises(trainer.TrainError, match='seed'):
        trainer.train(micro_config(), dataclasses.replace(cfg, seed=1), bag_dir, other_seed,
                      progress=False, init=teacher)
