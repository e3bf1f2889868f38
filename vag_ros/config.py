"""Config dataclasses: loading from YAML/dicts with errors that name the field and value.

Each component owns one frozen dataclass (``SimConfig`` in ``vag_ros.sim.config``...);
this module holds the shared machinery to build and validate them.
"""

import dataclasses
from pathlib import Path
import typing

import yaml

from vag_ros.errors import ConfigError


T = typing.TypeVar('T')
MAX_SEED = 2 ** 64 - 1  # the largest sampling seed (torch.Generator.manual_seed's range)


def from_dict(cls: typing.Type[T], data: typing.Mapping, where: str = '') -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, typing.Mapping):
        raise ConfigError(f'{where or cls.__name__}: expected a mapping, got {data!r}')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f'{where or cls.__name__}: unknown field(s) {unknown}; known: {sorted(fields)}')
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f'{where}.{name}' if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f'{where or cls.__name__}: {exc}') from None


def _coerce(hint, value, where: str):
    """Check ``value`` against a simple type hint, converting lists to tuples."""
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{where}: expected a list, got {value!r}')
        item = args[0] if args else typing.Any
        return tuple(_coerce(item, v, f'{where}[{i}]') for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{where}: expected a number, got {value!r}')
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'{where}: expected an integer, got {value!r}')
        return value
    if hint in (str, bool) and not isinstance(value, hint):
        raise ConfigError(f'{where}: expected {hint.__name__}, got {value!r}')
    return value


def load_yaml(path: typing.Union[str, Path]) -> dict:
    """Read a YAML mapping from ``path`` with a clear error for missing or malformed files."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f'config file not found: {path}') from None
    except OSError as exc:   # a folder, a file it may not read
        raise ConfigError(f'cannot read config file {path}: {exc.strerror}') from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f'config file {path} is not UTF-8 text ({exc.reason} at byte '
                          f'{exc.start}): save it as UTF-8') from None
    except yaml.YAMLError as exc:
        raise ConfigError(f'config file {path} is not valid YAML: {exc}') from None
    if not isinstance(data, dict):
        raise ConfigError(f'config file {path}: expected a mapping at top level')
    return data


def require(condition: bool, field: str, value, why: str) -> None:
    """Raise ConfigError naming ``field`` and ``value`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(f'{field}={value!r}: {why}')


def described(default=dataclasses.MISSING, description: str = '', unit: str = '',
              default_factory=dataclasses.MISSING):
    """A dataclass field that says what it is, for people: ``vag-ros params`` and the ROS
    parameter descriptors print ``description`` and ``unit`` (SI, '' for none)."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={'description': description, 'unit': unit})


def field_descriptions(cls, prefix: str = '') -> typing.Dict[str, typing.Tuple[str, str]]:
    """{dotted field name: (description, unit)} of dataclass ``cls``, nested dataclasses
    included; ('', '') for a field with none."""
    out = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[field.name]):
            out.update(field_descriptions(hints[field.name], f'{prefix}{field.name}.'))
        else:
            out[prefix + field.name] = (field.metadata.get('description', ''),
                                        field.metadata.get('unit', ''))
    return out
