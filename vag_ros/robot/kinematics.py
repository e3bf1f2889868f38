"""Forward kinematics from the URDF tree (transforms3d); poses in the root link frame."""

import dataclasses
import typing
import xml.etree.ElementTree as ET

import numpy as np
from transforms3d.axangles import axangle2mat
from transforms3d.euler import euler2mat

from vag_ros.errors import ConfigError, TrajectoryError
from vag_ros.robot.description import RobotDescription


DEFAULT_TIP_LINK = 'tool0'
_ROTATING = ('revolute', 'continuous')


@dataclasses.dataclass(frozen=True)
class _Step:
    """One joint of the tree, ready to apply: parent pose @ origin @ motion(value)."""

    name: str
    type: str
    parent: str
    child: str
    origin: np.ndarray          # (4, 4) joint frame in the parent link frame
    axis: np.ndarray            # (3,) unit, joint frame
    index: int                  # column in q for actuated joints; -1 otherwise
    mimic: typing.Optional[str]
    multiplier: float = 1.0
    offset: float = 0.0


def _mimic_parameters(description: RobotDescription) -> typing.Dict[str, typing.Tuple]:
    """{joint: (multiplier, offset)} from the URDF text (JointInfo may not carry them)."""
    try:
        root = ET.fromstring(description.urdf)
    except ET.ParseError:
        return {}
    params = {}
    for element in root.findall('joint'):
        mimic = element.find('mimic')
        if mimic is None:
            continue
        where = f'{description.name}: joint {element.get("name")!r} <mimic>'
        try:
            values = (float(mimic.get('multiplier', 1.0)), float(mimic.get('offset', 0.0)))
        except ValueError:
            raise ConfigError(f'{where}: multiplier/offset must be numbers') from None
        if not np.all(np.isfinite(values)):
            raise ConfigError(f'{where}: multiplier/offset must be finite, got {values}')
        params[element.get('name')] = values
    return params


class KinematicChain:
    """The description's joint tree, pre-ordered root to leaves, for repeated FK calls."""

    def __init__(self, description: RobotDescription):
        self.description = description
        self.root_link = description.root_link
        index = {name: i for i, name in enumerate(description.joint_names)}
        from_urdf = _mimic_parameters(description)
        by_parent = {}
        for info in description.joints:
            if info.type not in ('fixed',) + _ROTATING + ('prismatic',):
                raise ConfigError(
                    f'{description.name}: joint {info.name!r} of type {info.type!r} '
                    'is not supported by forward kinematics')
            multiplier, offset = from_urdf.get(info.name, (1.0, 0.0))
            if getattr(info, 'mimic_multiplier', None) is not None:
                multiplier = float(info.mimic_multiplier)
            if getattr(info, 'mimic_offset', None) is not None:
                offset = float(info.mimic_offset)
            origin = np.eye(4)
            origin[:3, :3] = euler2mat(*info.origin_rpy, axes='sxyz')
            origin[:3, 3] = info.origin_xyz
            by_parent.setdefault(info.parent, []).append(_Step(
                name=info.name, type=info.type, parent=info.parent, child=info.child,
                origin=origin, axis=np.asarray(info.axis, dtype=float),
                index=index.get(info.name, -1) if info.mimic is None else -1,
                mimic=info.mimic, multiplier=multiplier, offset=offset))
        steps, frontier = [], [self.root_link]
        while frontier:  # breadth first: every parent pose exists before its children
            link = frontier.pop(0)
            for step in by_parent.get(link, ()):
                steps.append(step)
                frontier.append(step.child)
        self.steps: typing.Tuple[_Step, ...] = tuple(steps)
        self.links = (self.root_link,) + tuple(s.child for s in steps)

    def joint_values(self, q) -> typing.Dict[str, float]:
        """Every movable joint's value (actuated from ``q``, mimic ones derived)."""
        q = np.asarray(q, dtype=float)  # (D,)
        d = self.description.dof
        if q.shape != (d,):
            raise TrajectoryError(f'joint positions: expected shape ({d},), got {q.shape}')
        if not np.all(np.isfinite(q)):
            raise TrajectoryError(f'joint positions must be finite, got {q.tolist()}')
        values = {name: float(q[i]) for i, name in enumerate(self.description.joint_names)}
        pending = [s for s in self.steps if s.mimic is not None]
        while pending:  # mimic of a mimic resolves once its target is known
            left = [s for s in pending if s.mimic not in values]
            for step in pending:
                if step.mimic in values:
                    values[step.name] = step.multiplier * values[step.mimic] + step.offset
            if len(left) == len(pending):
                raise ConfigError(
                    f'{self.description.name}: mimic joint(s) {[s.name for s in left]} '
                    'follow joints that are neither actuated nor mimic')
            pending = left
        return values

    def link_poses(self, q) -> typing.Dict[str, np.ndarray]:
        """{link: (4, 4) pose in the root link frame} for joint positions ``q`` (D,)."""
        values = self.joint_values(q)
        poses = {self.root_link: np.eye(4)}
        for step in self.steps:
            pose = poses[step.parent] @ step.origin
            if step.type != 'fixed':
                value = values[step.name]
                motion = np.eye(4)
                if step.type == 'prismatic':
                    motion[:3, 3] = step.axis * value
                else:
                    motion[:3, :3] = axangle2mat(step.axis, value, is_normalized=True)
                pose = pose @ motion
            poses[step.child] = pose
        return poses

    def tip_link(self, link: typing.Optional[str] = None) -> str:
        """``link`` if the tree has it; None: 'tool0', else the last arm joint's child."""
        if link is None:
            if DEFAULT_TIP_LINK in self.links:
                return DEFAULT_TIP_LINK
            return self.description.joint(self.description.arm_joint_names[-1]).child
        if link not in self.links:
            raise ConfigError(f'{self.description.name}: no link named {link!r}; '
                              f'links: {list(self.links)}')
        return link

    def positions(self, trajectory, link: typing.Optional[str] = None) -> np.ndarray:
        """(T, 3) positions of ``link`` [m] along ``trajectory`` (T, D)."""
        link = self.tip_link(link)
        trajectory = np.asarray(trajectory, dtype=float)  # (T, D)
        if trajectory.ndim != 2:
            raise TrajectoryError(
                f'trajectory: expected shape (T, {self.description.dof}), '
                f'got {trajectory.shape}')
        out = np.empty((trajectory.shape[0], 3))  # (T, 3)
        for t, q in enumerate(trajectory):
            out[t] = self.link_poses(q)[link][:3, 3]
        return out


def link_poses(description: RobotDescription, q) -> typing.Dict[str, np.ndarray]:
    """{link: (4, 4) homogeneous pose in the root link frame} for ``q`` (D,) [rad, m]."""
    return KinematicChain(description).link_poses(q)


def end_effector_positions(description: RobotDescription, trajectory,
                           link: typing.Optional[str] = None) -> np.ndarray:
    """(T, 3) positions [m] of ``link`` (default 'tool0') along ``trajectory`` (T, D)."""
    return KinematicChain(description).positions(trajectory, link)
