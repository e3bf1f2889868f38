"""The Episode record shared by the world, the bags, training and the ROS graph."""

import dataclasses
import typing
import uuid

import numpy as np

from vag_ros.errors import EpisodeError


SOURCES = ('expert', 'generated', 'replayed', 'teleop')  # teleop: vag-ros ingest


@dataclasses.dataclass
class EpisodeMetadata:
    """What an episode is, carried inside its bag so that it survives copying."""

    task: str
    seed: int
    success: bool
    robot: str
    joint_names: typing.Tuple[str, ...]
    frame_rate: float
    source: str
    instruction: str
    episode_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    extra: typing.Dict[str, typing.Any] = dataclasses.field(default_factory=dict)
    # the robot's URDF text ('' = not recorded): in the bag's custom_data, not in the JSON
    robot_urdf: str = dataclasses.field(default='', repr=False, compare=False)

    def validate(self) -> None:
        """Raise EpisodeError on a field that no reader could trust."""
        if self.source not in SOURCES:
            raise EpisodeError(f'metadata.source={self.source!r}: expected one of {SOURCES}')
        if not (np.isfinite(self.frame_rate) and self.frame_rate > 0):
            raise EpisodeError(f'metadata.frame_rate={self.frame_rate!r}: must be > 0')
        if not self.joint_names or len(set(self.joint_names)) != len(self.joint_names):
            raise EpisodeError(
                f'metadata.joint_names={self.joint_names!r}: must be non-empty and unique')
        if self.robot_urdf:
            self.robot_description()

    def robot_description(self):
        """The RobotDescription of ``robot_urdf`` (None when not recorded); EpisodeError
        when it is not a URDF of this episode's robot and joints."""
        if not self.robot_urdf:
            return None
        from vag_ros.errors import ConfigError
        from vag_ros.robot.description import parse_robot_description
        try:
            robot = parse_robot_description(self.robot_urdf)
        except ConfigError as exc:
            raise EpisodeError(f'metadata.robot_urdf: {exc}') from None
        if (robot.name, robot.joint_names) != (self.robot, tuple(self.joint_names)):
            raise EpisodeError(
                f'metadata.robot_urdf is robot {robot.name!r} with joints '
                f'{list(robot.joint_names)}, but the episode says robot {self.robot!r} with '
                f'joints {list(self.joint_names)}')
        return robot


@dataclasses.dataclass
class Episode:
    """One episode: frames, measured joints and commanded actions on one 10 Hz clock."""

    frames: np.ndarray   # (T, H, W, 3) uint8, RGB
    joints: np.ndarray   # (T, D) float64, measured joint positions [rad, m for the gripper]
    actions: np.ndarray  # (T, D) float64, absolute joint position targets
    metadata: EpisodeMetadata

    def validate(self) -> None:
        """Raise EpisodeError on wrong shapes, dtypes or non-finite values."""
        self.metadata.validate()
        frames, joints, actions = self.frames, self.joints, self.actions
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise EpisodeError(
                f'frames: expected (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}')
        dof = len(self.metadata.joint_names)
        for name, array in (('joints', joints), ('actions', actions)):
            if array.ndim != 2 or array.shape[1] != dof:
                raise EpisodeError(f'{name}: expected (T, {dof}), got {array.shape}')
            if not np.all(np.isfinite(array)):
                raise EpisodeError(f'{name}: contains NaN or inf')
        if not (len(frames) == len(joints) == len(actions)):
            raise EpisodeError(
                f'frames/joints/actions disagree in length: '
                f'{len(frames)}/{len(joints)}/{len(actions)}')

    @property
    def num_steps(self) -> int:
        """T, the number of frames at the frame rate."""
        return len(self.frames)
