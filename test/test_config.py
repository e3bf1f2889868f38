"""Config loading: errors name the field and the bad value."""

import dataclasses
import typing

import pytest

from vag_ros.config import from_dict, load_yaml, require
from vag_ros.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Inner:
    gain: float = 1.0


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = 'x'
    steps: int = 3
    sizes: typing.Tuple[int, ...] = (1, 2)
    inner: Inner = Inner()
    path: typing.Optional[str] = None


def test_builds_nested_dataclasses_and_converts_lists():
    config = from_dict(Outer, {'steps': 5, 'sizes': [4, 5], 'inner': {'gain': 2}})
    assert config == Outer(steps=5, sizes=(4, 5), inner=Inner(gain=2.0))


@pytest.mark.parametrize('data, field', [
    ({'steps': 'five'}, 'steps'),
    ({'steps': True}, 'steps'),
    ({'sizes': 3}, 'sizes'),
    ({'sizes': [1, 'a']}, 'sizes[1]'),
    ({'inner': {'gain': 'high'}}, 'inner.gain'),
    ({'name': 7}, 'name'),
])
def test_wrong_types_name_the_field(data, field):
    with pytest.raises(ConfigError, match=field.replace('[', r'\[').replace(']', r'\]')):
        from_dict(Outer, data)


def test_unknown_field_is_rejected_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['stpes'\]"):
        from_dict(Outer, {'stpes': 3})


def test_load_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match='not found'):
        load_yaml(tmp_path / 'missing.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('a: [1, 2')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_yaml(bad)
    scalar = tmp_path / 'scalar.yaml'
    scalar.write_text('3')
    with pytest.raises(ConfigError, match='mapping'):
        load_yaml(scalar)


def test_require_names_field_and_value():
    require(True, 'x', 1, 'fine')
    with pytest.raises(ConfigError, match=r"frame_rate=-1\.0: must be > 0"):
        require(False, 'frame_rate', -1.0, 'must be > 0')
