"""Model config presets and validation errors that name the field."""

import dataclasses

import pytest
import yaml

from vag_ros.errors import ConfigError
from vag_ros.model.config import config_from_dict, load_model_config


def test_presets_load_and_round_trip(tmp_path):
    tiny, paper = load_model_config('tiny'), load_model_config('paper')
    assert tiny.video.latent_shape == (16, 40, 8, 8) and tiny.video.codec.kind == 'pca'
    assert paper.video.latent_shape == (16, 24, 54, 96)
    assert paper.bridge.expanded_dim == 132 and paper.sampler.num_steps == 35
    assert paper.action.dim == 7 and paper.video.num_layers == 28
    path = tmp_path / 'm.yaml'
    path.write_text(yaml.safe_dump(tiny.to_dict()))
    assert load_model_config(path) == tiny


def test_small_preset_is_tiny_with_a_larger_video_branch():
    """small trains on tiny's data (same clip, codec, text and actions): only the DiT grows."""
    tiny, small = load_model_config('tiny'), load_model_config('small')
    assert (small.action, small.text, small.bridge, small.sampler, small.loss) == (
        tiny.action, tiny.text, tiny.bridge, tiny.sampler, tiny.loss)
    assert small.video.latent_shape == tiny.video.latent_shape
    assert small.video.codec == tiny.video.codec
    assert small.video.num_layers > tiny.video.num_layers
    assert (small.video.num_heads * small.video.head_dim
            > tiny.video.num_heads * tiny.video.head_dim)


@pytest.mark.parametrize('patch, field', [
    ({'video': {'num_heads': 0}}, 'video.num_heads'),
    ({'video': {'num_heads': 'four'}}, 'video.num_heads'),
    ({'video': {'latent_channels': 193}}, 'video.latent_channels'),
    ({'video': {'height': 60}}, 'video.height'),
    ({'video': {'codec': {'kind': 'jpeg'}}}, 'video.codec.kind'),
    ({'action': {'down_dims': [64, 100]}}, 'action.down_dims[1]'),
    ({'mode': 'both'}, 'mode'),
    ({'sampler': {'num_steps': 0}}, 'sampler.num_steps'),
    ({'loss': {'text_dropout': 1.5}}, 'loss.text_dropout'),
    ({'bridge': {'width': 3}}, 'bridge'),
])
def test_errors_name_the_field(patch, field):
    data = load_model_config('tiny').to_dict()
    for key, value in patch.items():
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict):
                    data[key][k].update(v)
                else:
                    data[key][k] = v
        else:
            data[key] = value
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert field in str(err.value)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match='huge'):
        load_model_config('huge')
    with pytest.raises(ConfigError, match='not found'):
        load_model_config(tmp_path / 'nope.yaml')


def test_frames_must_fit_the_temporal_factor():
    cfg = load_model_config('paper')
    with pytest.raises(ConfigError, match='video.frames'):
        dataclasses.replace(cfg, video=dataclasses.replace(cfg.video, frames=92)).validate()
