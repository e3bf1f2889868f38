"""The robot model read from its URDF: actuated joints, limits and the kinematic tree."""

import dataclasses
import hashlib
from pathlib import Path
import typing
import xml.etree.ElementTree as ET

import numpy as np

from vag_ros.errors import ConfigError, read_utf8
from vag_ros.resources import share_path


DEFAULT_URDF = 'config/robot/vag_arm.urdf'
ACTUATED_TYPES = ('revolute', 'prismatic', 'continuous')
GRIPPER_WORDS = ('finger', 'gripper')  # in a revolute last joint's name: a gripper


@dataclasses.dataclass(frozen=True)
class JointInfo:
    """One URDF joint: where it sits in the tree and how it moves."""

    name: str
    type: str
    parent: str
    child: str
    origin_xyz: np.ndarray  # (3,) m, in the parent link frame
    origin_rpy: np.ndarray  # (3,) rad, fixed-axis roll-pitch-yaw
    axis: np.ndarray        # (3,) unit vector in the joint frame
    lower: float = 0.0
    upper: float = 0.0
    velocity: float = 0.0
    effort: float = 0.0
    mimic: typing.Optional[str] = None


@dataclasses.dataclass(frozen=True)
class RobotDescription:
    """What the core needs from the URDF; the action vector follows ``joint_names``."""

    name: str
    joint_names: typing.Tuple[str, ...]   # actuated order: arm joints, then the gripper
    lower: np.ndarray                     # (D,) rad or m
    upper: np.ndarray                     # (D,)
    velocity: np.ndarray                  # (D,) rad/s or m/s
    joints: typing.Tuple[JointInfo, ...]  # every joint (fixed and mimic ones too), file order
    links: typing.Tuple[str, ...]
    root_link: str
    urdf: str                             # the file's text, for robot_state_publisher
    path: typing.Optional[Path] = None

    @property
    def dof(self) -> int:
        """D, the length of a joint or action vector."""
        return len(self.joint_names)

    @property
    def has_gripper(self) -> bool:
        """Whether the last actuated joint drives a gripper: it is prismatic, other joints
        mimic it, or its name says finger / gripper (a bare arm's last joint is its wrist)."""
        last = self.joint(self.joint_names[-1])
        return len(self.joint_names) > 1 and (
            last.type == 'prismatic' or any(j.mimic == last.name for j in self.joints)
            or any(word in last.name.lower() for word in GRIPPER_WORDS))

    @property
    def arm_joint_names(self) -> typing.Tuple[str, ...]:
        """The arm joints: every actuated joint but the gripper's (``has_gripper``)."""
        return self.joint_names[:-1] if self.has_gripper else self.joint_names

    @property
    def gripper_joint_name(self) -> str:
        """The gripper's driving finger joint (position = finger opening, m)."""
        if not self.has_gripper:
            raise ConfigError(f'{self.name}: no gripper joint (the last actuated joint '
                              f'{self.joint_names[-1]!r} is neither prismatic, nor mimicked, '
                              'nor named finger / gripper)')
        return self.joint_names[-1]

    @property
    def urdf_sha256(self) -> str:
        """Hex sha256 of the URDF text: which file, not only which joints."""
        return hashlib.sha256(self.urdf.encode()).hexdigest()

    def identity(self) -> dict:
        """Name, joint names and URDF hash: what manifests and metadata record."""
        return {'name': self.name, 'joint_names': list(self.joint_names),
                'urdf_sha256': self.urdf_sha256}

    def joint(self, name: str) -> JointInfo:
        """The JointInfo called ``name``; ConfigError if there is none."""
        for info in self.joints:
            if info.name == name:
                return info
        raise ConfigError(f'{self.name}: no joint named {name!r}')


def _vector(text: typing.Optional[str], default, where: str) -> np.ndarray:
    if text is None:
        return np.array(default, dtype=float)
    try:
        values = np.array([float(v) for v in text.split()], dtype=float)
    except ValueError:
        raise ConfigError(f'{where}: expected 3 numbers, got {text!r}') from None
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise ConfigError(f'{where}: expected 3 finite numbers, got {text!r}')
    return values


def _number(element, key: str, where: str, default=None) -> float:
    text = element.get(key) if element is not None else None
    if text is None:
        if default is None:
            raise ConfigError(f'{where}: missing attribute {key!r}')
        return float(default)
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f'{where}.{key}={text!r}: not a number') from None
    if not np.isfinite(value):
        raise ConfigError(f'{where}.{key}={text!r}: not finite')
    return value


def _parse_joint(element, robot: str) -> JointInfo:
    name = element.get('name')
    kind = element.get('type')
    where = f'{robot}: joint {name!r}'
    if not name or not kind:
        raise ConfigError(f'{robot}: a <joint> lacks a name or type')
    parent, child = element.find('parent'), element.find('child')
    if parent is None or child is None:
        raise ConfigError(f'{where}: needs <parent> and <child>')
    origin = element.find('origin')
    xyz = _vector(origin.get('xyz') if origin is not None else None, (0, 0, 0), where)
    rpy = _vector(origin.get('rpy') if origin is not None else None, (0, 0, 0), where)
    axis_el = element.find('axis')
    axis = _vector(axis_el.get('xyz') if axis_el is not None else None, (1, 0, 0), where)
    norm = np.linalg.norm(axis)
    if kind != 'fixed':
        if norm == 0:
            raise ConfigError(f'{where}: zero axis')
        axis = axis / norm
    limits = {'lower': 0.0, 'upper': 0.0, 'velocity': 0.0, 'effort': 0.0}
    limit = element.find('limit')
    if kind in ('revolute', 'prismatic'):
        if limit is None:
            raise ConfigError(f'{where}: {kind} joint needs <limit>')
        for key in limits:
            limits[key] = _number(limit, key, f'{where} <limit>')
        if limits['lower'] > limits['upper']:
            raise ConfigError(
                f'{where}: lower={limits["lower"]} > upper={limits["upper"]}')
    elif kind == 'continuous':  # no position limits: it turns without end
        limits.update(lower=-np.inf, upper=np.inf)
        if limit is not None:
            limits['velocity'] = _number(limit, 'velocity', f'{where} <limit>', 0.0)
            limits['effort'] = _number(limit, 'effort', f'{where} <limit>', 0.0)
    mimic = element.find('mimic')
    return JointInfo(
        name=name, type=kind, parent=parent.get('link'), child=child.get('link'),
        origin_xyz=xyz, origin_rpy=rpy, axis=axis,
        mimic=mimic.get('joint') if mimic is not None else None, **limits)


def parse_robot_description(text: str, path: typing.Optional[Path] = None) -> RobotDescription:
    """Parse URDF ``text``; actuated joints are the non-fixed, non-mimic ones in file order."""
    where = str(path) if path else 'URDF'
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(f'{where}: not valid XML: {exc}') from None
    if root.tag != 'robot' or not root.get('name'):
        raise ConfigError(f'{where}: top element must be <robot name="...">')
    name = root.get('name')
    links = tuple(link.get('name') for link in root.findall('link'))
    joints = tuple(_parse_joint(el, name) for el in root.findall('joint'))
    children = {j.child for j in joints}
    roots = [link for link in links if link not in children]
    if len(roots) != 1:
        raise ConfigError(f'{where}: expected one root link, found {roots}')
    actuated = [j for j in joints if j.type in ACTUATED_TYPES and j.mimic is None]
    if not actuated:
        raise ConfigError(f'{where}: no actuated joints')
    return RobotDescription(
        name=name,
        joint_names=tuple(j.name for j in actuated),
        lower=np.array([j.lower for j in actuated]),
        upper=np.array([j.upper for j in actuated]),
        velocity=np.array([j.velocity for j in actuated]),
        joints=joints, links=links, root_link=roots[0], urdf=text, path=path)


def load_robot_description(path: typing.Union[str, Path, None] = None) -> RobotDescription:
    """Read the URDF at ``path`` (default: the package's vag_arm.urdf)."""
    path = Path(path) if path is not None else share_path(DEFAULT_URDF)
    if not path.exists():
        raise ConfigError(f'URDF not found: {path}')
    return parse_robot_description(read_utf8(path, 'URDF', ConfigError), path)


def check_same_robot(expected: RobotDescription, given: RobotDescription,
                     expected_what: str, given_what: str) -> None:
    """ConfigError naming both unless ``given`` is ``expected``'s robot: the same name and
    the same actuated joints in the same order (the action vector means the same joints)."""
    if (given.name, given.joint_names) != (expected.name, expected.joint_names):
        raise ConfigError(
            f'{given_what} is robot {given.name!r} with joints {list(given.joint_names)}, but '
            f'{expected_what} is robot {expected.name!r} with joints '
            f'{list(expected.joint_names)}: they must be the same robot')
