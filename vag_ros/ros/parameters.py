"""ROS parameters <-> config dataclasses, in one place.

Every field of a config dataclass is a parameter of the same name (nested dataclasses:
dotted names). Parameters are dynamically typed so that the dataclass, not rclpy, judges
the values and its errors name the field.
"""

import array
import dataclasses
import typing

from rcl_interfaces.msg import ParameterDescriptor

from vag_ros.config import field_descriptions, from_dict
from vag_ros.errors import ConfigError
from vag_ros.ros.configs import describe

T = typing.TypeVar('T')


def _default_instance(cls):
    return cls()


def _flatten(config, prefix: str = '') -> typing.Dict[str, typing.Any]:
    """{dotted name: ROS-compatible default} of a dataclass instance."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        name = prefix + field.name
        if dataclasses.is_dataclass(value):
            out.update(_flatten(value, name + '.'))
        elif isinstance(value, tuple):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def declare_parameters(node, cls, prefix: str = '') -> None:
    """Declare a parameter per field of ``cls``, defaults from ``cls()`` and its description
    from the field's (``ros2 param describe``); values untouched."""
    descriptions = field_descriptions(cls, prefix)
    for name, default in _flatten(_default_instance(cls), prefix).items():
        if not node.has_parameter(name):
            node.declare_parameter(name, default, ParameterDescriptor(
                dynamic_typing=True, description=describe(*descriptions[name])))


def declare_config(node, cls: typing.Type[T], prefix: str = '') -> T:
    """Declare the parameters of ``cls`` and read them back into it (ConfigError if bad)."""
    declare_parameters(node, cls, prefix)
    return read_config(node, cls, prefix)


def config_to_parameters(config, prefix: str = '') -> typing.Dict[str, typing.Any]:
    """{parameter name: value} of a config instance, e.g. for a launch file or YAML."""
    return _flatten(config, prefix)


def _plain(value):
    if isinstance(value, (array.array, list, tuple)):
        return [_plain(v) for v in value]
    return value


def _nested(cls, node, prefix: str) -> dict:
    data = {}
    for field in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[field.name]
        name = prefix + field.name
        if dataclasses.is_dataclass(hint):
            data[field.name] = _nested(hint, node, name + '.')
        else:
            data[field.name] = _plain(node.get_parameter(name).value)
    return data


def read_config(node, cls: typing.Type[T], prefix: str = '') -> T:
    """The dataclass ``cls`` built from the node's parameters; ConfigError names the field."""
    return from_dict(cls, _nested(cls, node, prefix), prefix.rstrip('.') or cls.__name__)


def undeclared_overrides(node) -> typing.List[str]:
    """Parameters given to ``node`` (``-p``, a params file, a launch file) that it does not
    declare: rclpy ignores them without a word, so a typo (``dryrun``) or an older name
    (``safety.start_tolerance``, now in ``safety_file``) would run the node with settings the
    user did not ask for. ``use_sim_time`` and ``qos_overrides.*`` are rclpy's own."""
    given = getattr(node, '_parameter_overrides', {}) or {}   # rclpy keeps them here
    return sorted(name for name in given if not node.has_parameter(name)
                  and name != 'use_sim_time' and not name.startswith('qos_overrides.'))


def check_overrides(node, refuse: bool = False) -> None:
    """Warn (``refuse``: ConfigError) about parameters given to ``node`` that it does not
    declare; call it once every parameter is declared."""
    unknown = undeclared_overrides(node)
    if not unknown:
        return
    text = (f'{node.get_name()}: parameter(s) {unknown} given but not declared by this node '
            '(a typo, or a name of an older version?); `vag-ros params` lists every parameter')
    if refuse:
        raise ConfigError(text)
    node.get_logger().warning(text)
