"""Task families: seeded layouts, language instructions and success checks.

Directions are in the robot's base frame: ``forward`` is +x (away from the robot), ``left``
is +y. A check judges only the world's state, so it works on any joint trajectory.
"""

import dataclasses
import typing

import numpy as np

from vag_ros.errors import SimError
from vag_ros.sim.config import SimConfig
from vag_ros.sim.scene import COLOURS


TASK_FAMILIES = ('touch', 'push', 'pick')
DIRECTIONS = {  # name -> unit vector in the table plane, base frame
    'forward': (1.0, 0.0), 'backward': (-1.0, 0.0), 'left': (0.0, 1.0), 'right': (0.0, -1.0)}
HOME_JOINTS = (0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02)  # tcp ~(0.25, 0, 0.35) m, pointing down
PUSH_REACH_X = (0.27, 0.6)  # where a pushed block may end up [m]
PUSH_REACH_Y = 0.26
PUSHER_CLEARANCE = 0.075    # other block centres stay this far from the push corridor [m]

NOUNS = ('block', 'cube', 'object')
TEMPLATES = {
    'touch': (
        'touch the {colour} {noun}',
        'reach out and touch the {colour} {noun}',
        'put the gripper on the {colour} {noun}',
        'tap the {colour} {noun}',
        'move to the {colour} {noun} and touch it',
    ),
    'push': (
        'push the {colour} {noun} {direction}',
        'slide the {colour} {noun} {distance} cm {direction}',
        'nudge the {colour} {noun} {direction} by about {distance} cm',
        'shove the {colour} {noun} {direction}',
        'move the {colour} {noun} {direction} by pushing it',
    ),
    'pick': (
        'pick up the {colour} {noun}',
        'lift the {colour} {noun}',
        'grasp the {colour} {noun} and lift it',
        'pick the {colour} {noun} up off the table',
        'raise the {colour} {noun} into the air',
    ),
}
DIRECTION_PHRASES = {
    'forward': ('forward', 'away from the robot', 'to the front'),
    'backward': ('backward', 'toward the robot', 'back'),
    'left': ('to the left', 'left', 'leftward'),
    'right': ('to the right', 'right', 'rightward'),
}


@dataclasses.dataclass(frozen=True)
class Task:
    """One seeded task: the layout, the goal and its instruction."""

    family: str
    seed: int
    instruction: str
    target: str                                    # colour of the block the task is about
    objects: typing.Tuple[typing.Tuple[str, float, float, float], ...]  # (colour, x, y, yaw)
    initial_joints: typing.Tuple[float, ...]       # (D,) rad, gripper in m
    direction: str = ''                            # push only: a key of DIRECTIONS

    @property
    def colours(self) -> typing.Tuple[str, ...]:
        """Colours of the blocks on the table; the target first."""
        return tuple(o[0] for o in self.objects)

    def object_pose(self, colour: str) -> typing.Tuple[float, float, float]:
        """(x, y, yaw) of the block of ``colour`` at the start."""
        for name, x, y, yaw in self.objects:
            if name == colour:
                return x, y, yaw
        raise SimError(f'task {self.family}/{self.seed} has no {colour!r} block')


@dataclasses.dataclass
class Outcome:
    """What happened in the world, collected while an episode ran."""

    start: typing.Dict[str, np.ndarray]  # colour -> (3,) block centre at the start [m]
    end: typing.Dict[str, np.ndarray]    # colour -> (3,) block centre at the end [m]
    min_touch_distance: float = np.inf   # closest tcp-to-target-surface distance [m]
    touched: bool = False                # a gripper geom contacted the target at a frame


def check_seed(seed) -> int:
    """The seed as an int; SimError unless it is a non-negative integer (bool is not)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise SimError(f'seed={seed!r}: expected a non-negative integer')
    if seed < 0 or seed >= 2 ** 63:
        raise SimError(f'seed={seed!r}: expected a non-negative integer below 2**63')
    return int(seed)


def check_family(family) -> str:
    """The family name; SimError unless it is one of TASK_FAMILIES."""
    if not isinstance(family, str) or family not in TASK_FAMILIES:
        raise SimError(f'unknown task family {family!r}: expected one of {TASK_FAMILIES}')
    return family


def _segment_distance(point, start, end) -> float:
    """Distance from ``point`` to the segment start-end, in the table plane."""
    point, start, end = (np.asarray(v, float) for v in (point, start, end))
    span = end - start
    t = np.clip(np.dot(point - start, span) / max(np.dot(span, span), 1e-12), 0.0, 1.0)
    return float(np.linalg.norm(point - (start + t * span)))


def _push_direction(rng, positions, config: SimConfig) -> typing.Optional[str]:
    """A direction the target (first block) can be pushed without hitting another."""
    target = positions[0]
    half = config.object_size / 2
    for name in rng.permutation(sorted(DIRECTIONS)):
        unit = np.array(DIRECTIONS[name])
        end = target + unit * config.push_distance
        if not (PUSH_REACH_X[0] <= end[0] <= PUSH_REACH_X[1] and abs(end[1]) <= PUSH_REACH_Y):
            continue
        start = target - unit * (half + 0.04)
        tip = end + unit * half
        if all(_segment_distance(p, start, tip) >= PUSHER_CLEARANCE for p in positions[1:]):
            return str(name)
    return None


def _layout(rng, config: SimConfig, count: int):
    """``count`` block positions (x, y) at least min_separation apart; None if stuck."""
    positions = []
    for _ in range(200):
        candidate = np.array([rng.uniform(*config.object_x_range),
                              rng.uniform(*config.object_y_range)])
        if all(np.linalg.norm(candidate - p) >= config.min_separation for p in positions):
            positions.append(candidate)
            if len(positions) == count:
                return positions
    return None


def make_task(family: str, seed: int, config: typing.Optional[SimConfig] = None) -> Task:
    """The task of ``family`` for ``seed``: same inputs, same task, on every machine."""
    family = check_family(family)
    seed = check_seed(seed)
    config = config or SimConfig()
    rng = np.random.default_rng([TASK_FAMILIES.index(family), seed])
    names = list(COLOURS)
    for _ in range(100):
        count = int(rng.integers(config.num_objects_min, config.num_objects_max + 1))
        colours = [names[i] for i in rng.permutation(len(names))[:count]]
        positions = _layout(rng, config, count)
        if positions is None:
            continue
        direction = ''
        if family == 'push':
            direction = _push_direction(rng, positions, config)
            if direction is None:
                continue
        break
    else:
        raise SimError(
            f'cannot place {config.num_objects_min}-{config.num_objects_max} blocks '
            f'{config.min_separation} m apart in x={config.object_x_range}, '
            f'y={config.object_y_range} for {family}/{seed}; widen the ranges')
    yaws = rng.uniform(-config.object_max_yaw, config.object_max_yaw, size=count)
    objects = tuple((c, float(p[0]), float(p[1]), float(w))
                    for c, p, w in zip(colours, positions, yaws))
    template = TEMPLATES[family][int(rng.integers(len(TEMPLATES[family])))]
    phrases = DIRECTION_PHRASES.get(direction, ('',))
    instruction = template.format(
        colour=colours[0], noun=NOUNS[int(rng.integers(len(NOUNS)))],
        direction=phrases[int(rng.integers(len(phrases)))],
        distance=int(round(config.push_distance * 100)))
    noise = rng.uniform(-0.05, 0.05, size=len(HOME_JOINTS))
    noise[-1] = 0.0
    return Task(family=family, seed=seed, instruction=instruction, target=colours[0],
                objects=objects, direction=direction,
                initial_joints=tuple(float(v) for v in np.add(HOME_JOINTS, noise)))


def check_success(task: Task, outcome: Outcome, config: SimConfig) -> bool:
    """Whether ``outcome`` achieves ``task``; see the module docstring for the rules."""
    start, end = outcome.start[task.target], outcome.end[task.target]
    if task.family == 'touch':
        return bool(outcome.touched or outcome.min_touch_distance <= config.touch_tolerance)
    if task.family == 'push':
        moved = (end - start)[:2]
        along = float(np.dot(moved, DIRECTIONS[task.direction]))
        others_still = all(
            np.linalg.norm((outcome.end[c] - outcome.start[c])[:2])
            <= config.others_max_displacement
            for c in task.colours[1:])
        return bool(along >= config.push_min_distance and others_still)
    if task.family == 'pick':
        bottom = end[2] - config.object_size / 2
        return bool(bottom >= config.pick_lift_height)
    raise SimError(f'unknown task family {task.family!r}')
