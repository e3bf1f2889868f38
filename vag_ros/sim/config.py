"""SimConfig: every knob of the embedded MuJoCo world, validated on construction."""

import dataclasses
from pathlib import Path
import typing

from vag_ros.config import described as _d, from_dict, load_yaml, require
from vag_ros.resources import share_path
from vag_ros.robot.description import DEFAULT_URDF


DEFAULT_SIM_YAML = 'config/sim.yaml'
CAMERAS = ('scene', 'overhead', 'wrist')


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """The tabletop world: rendering, timing, object layout and success thresholds."""

    urdf: str = _d('', "robot URDF; '' = the package's config/robot/vag_arm.urdf")
    width: int = _d(128, 'rendered frame width', 'px')
    height: int = _d(128, 'rendered frame height', 'px')
    camera: str = _d('scene', 'camera the episode frames come from: scene, overhead or wrist')
    frame_rate: float = _d(10.0, 'frames (and actions) per second', 'Hz')
    episode_steps: int = _d(40, 'T, frames per episode', 'frames')
    timestep: float = _d(0.002, 'physics step; the frame period must be a multiple', 's')
    num_objects_min: int = _d(3, 'fewest coloured blocks on the table, drawn per seed')
    num_objects_max: int = _d(4, 'most coloured blocks on the table')
    object_size: float = _d(0.04, 'cube edge', 'm')
    object_mass: float = _d(0.05, 'cube mass', 'kg')
    object_x_range: typing.Tuple[float, ...] = _d((0.32, 0.52), 'block centres x [low, high], '
                                                  'base frame', 'm')
    object_y_range: typing.Tuple[float, ...] = _d((-0.18, 0.18), 'block centres y [low, '
                                                  'high], base frame', 'm')
    object_max_yaw: float = _d(0.4, 'block yaw drawn in [-max, max]', 'rad')
    min_separation: float = _d(0.11, 'least distance between block centres', 'm')
    touch_tolerance: float = _d(0.03, 'touch: tcp within this of the block surface', 'm')
    push_distance: float = _d(0.08, 'push: commanded displacement', 'm')
    push_min_distance: float = _d(0.05, 'push: success if moved at least this along the '
                                  'direction', 'm')
    others_max_displacement: float = _d(0.02, 'push: the other blocks must stay within this',
                                        'm')
    pick_lift_height: float = _d(0.05, 'pick: block bottom this high above the table at the '
                                 'end', 'm')

    def __post_init__(self):
        require(self.width > 0 and self.height > 0, 'width/height',
                (self.width, self.height), 'must be > 0')
        require(self.width <= 4096 and self.height <= 4096, 'width/height',
                (self.width, self.height), 'must be <= 4096')
        require(self.camera in CAMERAS, 'camera', self.camera, f'expected one of {CAMERAS}')
        require(self.frame_rate > 0, 'frame_rate', self.frame_rate, 'must be > 0')
        require(self.timestep > 0, 'timestep', self.timestep, 'must be > 0')
        ratio = 1.0 / (self.frame_rate * self.timestep)
        require(abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1, 'timestep',
                self.timestep, f'1/frame_rate={1.0 / self.frame_rate} s must be a multiple')
        require(1 <= self.episode_steps <= 10000, 'episode_steps', self.episode_steps,
                'must be in [1, 10000]')
        require(1 <= self.num_objects_min <= self.num_objects_max <= 5, 'num_objects_min/max',
                (self.num_objects_min, self.num_objects_max), 'need 1 <= min <= max <= 5')
        require(0.02 <= self.object_size <= 0.06, 'object_size', self.object_size,
                'must be in [0.02, 0.06] m for the gripper')
        require(self.object_mass > 0, 'object_mass', self.object_mass, 'must be > 0')
        for name in ('object_x_range', 'object_y_range'):
            value = getattr(self, name)
            require(len(value) == 2 and value[0] <= value[1], name, value,
                    'expected [low, high]')
        require(self.min_separation >= 2 * self.object_size, 'min_separation',
                self.min_separation, 'must be at least twice object_size')
        for name in ('touch_tolerance', 'push_distance', 'push_min_distance',
                     'others_max_displacement', 'pick_lift_height', 'object_max_yaw'):
            require(getattr(self, name) >= 0, name, getattr(self, name), 'must be >= 0')

    @property
    def substeps(self) -> int:
        """Physics steps per frame."""
        return int(round(1.0 / (self.frame_rate * self.timestep)))

    @property
    def urdf_path(self) -> Path:
        """The URDF the world is built from."""
        return Path(self.urdf) if self.urdf else share_path(DEFAULT_URDF)

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'SimConfig':
        """Build from a mapping; unknown fields and bad values raise ConfigError."""
        return from_dict(cls, data, 'sim')


def load_sim_config(path: typing.Union[str, Path, None] = None) -> SimConfig:
    """Read a SimConfig from YAML (default: the package's config/sim.yaml)."""
    path = Path(path) if path is not None else share_path(DEFAULT_SIM_YAML)
    return SimConfig.from_dict(load_yaml(path))
