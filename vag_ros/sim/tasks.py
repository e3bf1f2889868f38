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

NOUNS = ('block', 'cube', 'object', 'box')
# Colour words a user may say for each block; the first is the canonical name.
COLOUR_WORDS = {
    'red': ('red', 'crimson', 'scarlet'),
    'green': ('green', 'lime', 'emerald'),
    'blue': ('blue', 'navy', 'azure'),
    'yellow': ('yellow', 'golden', 'lemon'),
    'purple': ('purple', 'violet', 'lilac'),
}
# Training templates: varied verbs and word orders. A model is trained on these only.
TEMPLATES = {
    'touch': (
        'touch the {colour} {noun}',
        'reach out and touch the {colour} {noun}',
        'put the gripper on the {colour} {noun}',
        'tap the {colour} {noun}',
        'move to the {colour} {noun} and touch it',
        'the {colour} {noun}: touch it',
        'go touch the {colour} {noun} with the gripper',
        'poke the {colour} {noun}',
        'make contact with the {colour} {noun}',
    ),
    'push': (
        'push the {colour} {noun} {direction}',
        'slide the {colour} {noun} {distance} cm {direction}',
        'nudge the {colour} {noun} {direction} by about {distance} cm',
        'shove the {colour} {noun} {direction}',
        'move the {colour} {noun} {direction} by pushing it',
        '{direction}, push the {colour} {noun}',
        'the {colour} {noun} should be pushed {direction}',
        'give the {colour} {noun} a push {direction}',
    ),
    'pick': (
        'pick up the {colour} {noun}',
        'lift the {colour} {noun}',
        'grasp the {colour} {noun} and lift it',
        'pick the {colour} {noun} up off the table',
        'raise the {colour} {noun} into the air',
        'the {colour} {noun}: pick it up',
        'grab the {colour} {noun} and raise it',
        'take the {colour} {noun} off the table',
    ),
}
# Held-out templates: never in training data; evaluation reports them separately.
HELD_OUT_TEMPLATES = {
    'touch': (
        'could you touch the {colour} {noun}',
        'I want the gripper to touch the {colour} {noun}',
        'bring the fingers down onto the {colour} {noun}',
    ),
    'push': (
        'could you push the {colour} {noun} {direction}',
        'I want the {colour} {noun} moved {direction}',
        'with the closed gripper, drive the {colour} {noun} {direction}',
    ),
    'pick': (
        'could you pick up the {colour} {noun}',
        'I want the {colour} {noun} lifted',
        'hold the {colour} {noun} up in the air',
    ),
}
TEMPLATE_SPLITS = ('train', 'held_out')
DIRECTION_PHRASES = {
    'forward': ('forward', 'away from the robot', 'to the front', 'further away'),
    'backward': ('backward', 'toward the robot', 'back', 'closer to the robot'),
    'left': ('to the left', 'left', 'leftward', 'to the robot\'s left'),
    'right': ('to the right', 'right', 'rightward', 'to the robot\'s right'),
}


def templates_of(family: str, split: str = 'train') -> typing.Tuple[str, ...]:
    """The instruction templates of ``family`` in ``split`` ('train' or 'held_out')."""
    if split not in TEMPLATE_SPLITS:
        raise SimError(f'template split {split!r}: expected one of {TEMPLATE_SPLITS}')
    return (TEMPLATES if split == 'train' else HELD_OUT_TEMPLATES)[check_family(family)]


def phrase_instruction(family: str, colour: str, direction: str, rng,
                       split: str = 'train', distance: int = 8) -> str:
    """One instruction for ``family`` naming the ``colour`` block, drawn with ``rng``."""
    return fill_template(templates_of(family, split), colour, direction, rng,
                         DIRECTION_PHRASES, distance)


def fill_template(templates: typing.Sequence[str], colour: str, direction: str, rng,
                  direction_phrases: typing.Mapping[str, typing.Sequence[str]],
                  distance: int = 8) -> str:
    """One of ``templates`` filled for the ``colour`` block and ``direction``, drawn with
    ``rng`` (template, colour word, noun, then direction phrase)."""
    template = templates[int(rng.integers(len(templates)))]
    words = COLOUR_WORDS[colour]
    phrases = direction_phrases.get(direction, ('',))
    return template.format(
        colour=words[int(rng.integers(len(words)))],
        noun=NOUNS[int(rng.integers(len(NOUNS)))],
        direction=phrases[int(rng.integers(len(phrases)))], distance=distance)


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
    templates: str = 'train'                       # template split of the instruction

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


def make_task(family: str, seed: int, config: typing.Optional[SimConfig] = None,
              templates: str = 'train') -> Task:
    """The task of ``family`` for ``seed``: same inputs, same task, on every machine.

    ``templates`` picks the instruction's template split ('train' or 'held_out'); the layout
    and the initial joints do not depend on it.
    """
    family = check_family(family)
    templates_of(family, templates)
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
    noise = rng.uniform(-0.05, 0.05, size=len(HOME_JOINTS))
    # the phrasing has its own stream, so the split never changes the layout or the joints
    text_rng = np.random.default_rng([TASK_FAMILIES.index(family), seed, 1])
    instruction = phrase_instruction(family, colours[0], direction, text_rng, templates,
                                     int(round(config.push_distance * 100)))
    noise[-1] = 0.0
    return Task(family=family, seed=seed, instruction=instruction, target=colours[0],
                objects=objects, direction=direction, templates=templates,
                initial_joints=tuple(float(v) for v in np.add(HOME_JOINTS, noise)))


def instruction_naming(task: Task, colour: str, config: typing.Optional[SimConfig] = None
                       ) -> str:
    """``task``'s instruction with the same wording but naming the ``colour`` block instead
    (a counterfactual: same scene, another object)."""
    if colour not in task.colours:
        raise SimError(f'task {task.family}/{task.seed} has no {colour!r} block; it has '
                       f'{list(task.colours)}')
    text_rng = np.random.default_rng([TASK_FAMILIES.index(task.family), task.seed, 1])
    distance = int(round((config or SimConfig()).push_distance * 100))
    return phrase_instruction(task.family, colour, task.direction, text_rng, task.templates,
                              distance)


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
