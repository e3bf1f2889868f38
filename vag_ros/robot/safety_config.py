"""SafetyConfig: the limits a trajectory must respect before anything moves.

Per-joint quantities (``position_margin``, ``max_acceleration``, ``start_tolerance``,
``max_start_velocity``) take one number, a list of D numbers in the robot's joint order, or
a map from joint names to numbers (``{default: 2.0, wrist_roll_joint: 3.0}``: joints not
named take ``default``). One number (and ``default``) is in rad (rad/s^2) and applies to
rotating joints; prismatic joints (the gripper finger, in m) then take the matching
``prismatic_*`` number, so one scalar never mixes radians and metres. A file of numbers and
``default`` fits any robot; lists and names fit one.
"""

import dataclasses
import math
from pathlib import Path
import typing

import numpy as np

from vag_ros.config import from_dict, load_yaml, require
from vag_ros.errors import ConfigError
from vag_ros.resources import share_path


DEFAULT_SAFETY_YAML = 'config/safety.yaml'
ON_VIOLATION = ('reject', 'slow_down')
PerJoint = typing.Any  # float, a tuple of D floats, or {joint name | 'default': float}
DEFAULT_KEY = 'default'


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _per_joint_value(value, field: str, allow_zero: bool):
    """A finite number, a tuple of them (lists become tuples) or a {name: number} map;
    ConfigError otherwise."""
    ok = (lambda v: v >= 0) if allow_zero else (lambda v: v > 0)
    bound = '>= 0' if allow_zero else '> 0'
    if isinstance(value, typing.Mapping):
        require(len(value) > 0, field, value, 'expected a non-empty map of joint names')
        for name, item in value.items():
            require(isinstance(name, str) and name, field, value,
                    'map keys must be joint names (or default)')
            require(_finite(item) and ok(item), f'{field}.{name}', item,
                    f'must be a finite number {bound}')
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        require(len(value) > 0, field, value, 'expected a number or a non-empty list')
        for i, item in enumerate(value):
            require(_finite(item) and ok(item), f'{field}[{i}]', item,
                    f'must be a finite number {bound}')
        return tuple(float(v) for v in value)
    require(_finite(value) and ok(value), field, value, f'must be a finite number {bound}')
    return float(value)


@dataclasses.dataclass(frozen=True)
class JointLimits:
    """SafetyConfig resolved against one robot: (D,) arrays in its joint order."""

    lower: np.ndarray         # (D,) rad or m: URDF lower + margin
    upper: np.ndarray         # (D,) URDF upper - margin
    velocity: np.ndarray      # (D,) rad/s or m/s: velocity_scale * URDF velocity
    acceleration: np.ndarray  # (D,) rad/s^2 or m/s^2
    start_tolerance: np.ndarray  # (D,) rad or m
    units: typing.Tuple[str, ...]  # 'rad' or 'm' per joint, for messages
    start_velocity: np.ndarray = None  # (D,) rad/s or m/s: the arm counts as at rest


@dataclasses.dataclass(frozen=True)
class SafetyConfig:
    """Replay safety: limits, start-state check and what to do on a violation."""

    position_margin: PerJoint = 0.05        # shrink URDF limits by this [rad]
    prismatic_position_margin: float = 0.0  # same for prismatic joints [m]
    velocity_scale: float = 0.5             # fraction of URDF velocity limits allowed
    max_acceleration: PerJoint = 2.0        # [rad/s^2]
    prismatic_max_acceleration: float = 0.5  # [m/s^2]
    rest_at_ends: bool = True               # acceleration check starts and ends at rest
    start_tolerance: PerJoint = 0.05        # first point vs current joints [rad]
    prismatic_start_tolerance: float = 0.01  # [m]
    max_state_age_s: float = 0.5            # refuse older joint states [s]
    # a motion starts only from rest: measured |velocity| at most this [rad/s]
    max_start_velocity: PerJoint = 0.05
    prismatic_max_start_velocity: float = 0.01  # [m/s]
    min_lead_in_s: float = 0.1              # shortest move from the measured state [s]
    on_violation: str = 'reject'            # 'reject' | 'slow_down' (velocity/acceleration)
    max_slowdown: float = 4.0               # refuse if a longer stretch would be needed
    max_duration_s: float = 60.0            # after any slow-down [s]

    def __post_init__(self):
        for name, allow_zero in (('position_margin', True), ('max_acceleration', False),
                                 ('start_tolerance', True), ('max_start_velocity', False)):
            object.__setattr__(
                self, name, _per_joint_value(getattr(self, name), name, allow_zero))
        for name in ('prismatic_position_margin', 'prismatic_start_tolerance'):
            value = getattr(self, name)
            require(_finite(value) and value >= 0, name, value, 'must be a finite number >= 0')
        for name in ('prismatic_max_acceleration', 'max_state_age_s', 'max_duration_s',
                     'min_lead_in_s', 'prismatic_max_start_velocity'):
            value = getattr(self, name)
            require(_finite(value) and value > 0, name, value, 'must be a finite number > 0')
        require(_finite(self.velocity_scale) and 0 < self.velocity_scale <= 1,
                'velocity_scale', self.velocity_scale, 'must be in (0, 1]')
        require(self.on_violation in ON_VIOLATION, 'on_violation', self.on_violation,
                f'expected one of {ON_VIOLATION}')
        require(_finite(self.max_slowdown) and self.max_slowdown >= 1, 'max_slowdown',
                self.max_slowdown, 'must be a finite number >= 1')
        require(isinstance(self.rest_at_ends, bool), 'rest_at_ends', self.rest_at_ends,
                'expected true or false')

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'SafetyConfig':
        """Build from a mapping; unknown fields and bad values raise ConfigError."""
        return from_dict(cls, data, 'safety')

    def resolve(self, description) -> JointLimits:
        """The (D,) limits for ``description``; ConfigError if a margin leaves no range."""
        types = [description.joint(name).type for name in description.joint_names]
        prismatic = np.array([t == 'prismatic' for t in types])  # (D,)
        d = description.dof

        def per_joint(field, prismatic_value):
            value = getattr(self, field)
            if isinstance(value, dict):
                return _named(field, value, description, prismatic, prismatic_value)
            if isinstance(value, tuple):
                if len(value) == 1:
                    value = value[0]
                else:
                    require(len(value) == d, field, value,
                            f'expected one number or {d} ({list(description.joint_names)})')
                    return np.array(value)
            return np.where(prismatic, prismatic_value, value)

        margin = per_joint('position_margin', self.prismatic_position_margin)
        lower = np.asarray(description.lower, dtype=float) + margin
        upper = np.asarray(description.upper, dtype=float) - margin
        for i, name in enumerate(description.joint_names):
            if lower[i] > upper[i]:
                raise ConfigError(
                    f'position_margin={margin[i]!r}: leaves joint {name!r} no range '
                    f'(URDF [{description.lower[i]}, {description.upper[i]}])')
            if not description.velocity[i] > 0:
                raise ConfigError(
                    f'{description.name}: joint {name!r} has URDF velocity limit '
                    f'{description.velocity[i]!r}; a positive limit is required')
        return JointLimits(
            lower=lower, upper=upper,
            velocity=self.velocity_scale * np.asarray(description.velocity, dtype=float),
            acceleration=per_joint('max_acceleration', self.prismatic_max_acceleration),
            start_tolerance=per_joint('start_tolerance', self.prismatic_start_tolerance),
            units=tuple('m' if p else 'rad' for p in prismatic),
            start_velocity=per_joint('max_start_velocity', self.prismatic_max_start_velocity))


def _named(field: str, value: dict, description, prismatic: np.ndarray,
           prismatic_value: float) -> np.ndarray:
    """(D,) values of a {joint name | default: number} map; ConfigError on a name the robot
    does not have or a rotating joint left without a value."""
    names = description.joint_names
    unknown = sorted(set(value) - set(names) - {DEFAULT_KEY})
    require(not unknown, field, value,
            f'{unknown} are not joints of {description.name} ({list(names)})')
    out = []
    for name, is_prismatic in zip(names, prismatic):
        if name in value:
            out.append(value[name])
        elif is_prismatic:
            out.append(prismatic_value)
        else:
            require(DEFAULT_KEY in value, field, value,
                    f'joint {name!r} has no value: name it or give {DEFAULT_KEY}')
            out.append(value[DEFAULT_KEY])
    return np.array(out)


def load_safety_config(path: typing.Union[str, Path, None] = None) -> SafetyConfig:
    """Read a SafetyConfig from YAML (default: the package's config/safety.yaml)."""
    path = Path(path) if path is not None else share_path(DEFAULT_SAFETY_YAML)
    return SafetyConfig.from_dict(load_yaml(path))


def limits_in_force(safety: SafetyConfig, limits: JointLimits, names) -> dict:
    """What a replay enforces, for people and summaries: every SafetyConfig field as given,
    and per joint (``names``, the robot's order) the limits resolved against the URDF."""
    joints = {}
    for i, name in enumerate(names):
        start_velocity = limits.start_velocity
        joints[name] = {
            'unit': limits.units[i],                           # rad or m
            'position': [float(limits.lower[i]), float(limits.upper[i])],
            'velocity': float(limits.velocity[i]),             # [unit/s]
            'acceleration': float(limits.acceleration[i]),     # [unit/s^2]
            'start_tolerance': float(limits.start_tolerance[i]),  # [unit]
            'start_velocity': None if start_velocity is None else float(start_velocity[i])}
    safety = {k: list(v) if isinstance(v, tuple) else v
              for k, v in dataclasses.asdict(safety).items()}
    return {'safety': safety, 'joints': joints}


def describe_joint_limits(joint: typing.Mapping) -> str:
    """One joint of ``limits_in_force`` as text."""
    unit = joint['unit']
    low, high = joint['position']
    return (f'position [{low:.3f}, {high:.3f}] {unit}, velocity {joint["velocity"]:.3f} '
            f'{unit}/s, acceleration {joint["acceleration"]:.3f} {unit}/s^2, start tolerance '
            f'{joint["start_tolerance"]:.3f} {unit}')
