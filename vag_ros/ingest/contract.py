"""The topic contract: which topics of a lab's teleoperation bag become a training episode.

A YAML file (examples in config/contracts/) or the command line's overrides; validated like
every config, errors name the key. Joint names are the robot's (URDF) names; each state
source maps some of them to the names its messages use.
"""

import dataclasses
import math
import typing

from vag_ros.config import load_yaml, require
from vag_ros.errors import ConfigError

CAMERA_TYPES = ('auto', 'image', 'compressed')
ACTION_SOURCES = ('next_state', 'topic')
INSTRUCTION_SOURCES = ('metadata', 'topic', 'given')
SPLITS = ('bag', 'topic', 'idle')
ALIGNMENTS = ('asof', 'hold')
STAMPS = ('header', 'receive')


@dataclasses.dataclass(frozen=True)
class StateSource:
    """One topic that carries some of the robot's joints (JointState, or Float64MultiArray /
    JointTrajectory for commands)."""

    topic: str
    joints: typing.Dict[str, str]  # robot joint -> the name in the message (or its index)
    scale: float = 1.0             # robot value = scale * message value + offset
    offset: float = 0.0


@dataclasses.dataclass(frozen=True)
class TopicContract:
    """Bag topics -> episodes at ``fps``; see config/contracts/*.yaml for each field."""

    fps: float = 10.0
    camera_topic: str = '/camera/image_raw'
    camera_type: str = 'auto'          # image | compressed | auto (from the bag's type)
    state: typing.Tuple[StateSource, ...] = ()
    action_source: str = 'next_state'  # next_state | topic (commands)
    action: typing.Tuple[StateSource, ...] = ()
    instruction_source: str = 'metadata'  # metadata | topic | given (the text, every bag)
    instruction_topic: str = ''        # std_msgs/String
    instruction_key: str = 'instruction'  # key in the bag's metadata.yaml custom_data
    instruction: str = ''              # source given: the text; metadata | topic: the
    #                                    fallback for a bag whose own has none
    split: str = 'bag'                 # bag | topic (a message starts an episode) | idle
    split_topic: str = ''
    idle_s: float = 2.0                # split: idle, a still stretch at least this long [s]
    idle_tolerance: float = 0.002      # joint motion counted as still [rad, m]
    min_episode_s: float = 1.0         # shorter stretches are dropped (and reported) [s]
    alignment: str = 'asof'            # asof: within tolerance_s, else split there; hold
    tolerance_s: float = 0.1           # [s]
    stamps: str = 'header'             # header (message stamp) | receive (bag log time)

    def validate(self, joint_names: typing.Sequence[str]) -> None:
        """ConfigError naming the key, for a robot with ``joint_names``."""
        require(math.isfinite(self.fps) and 0 < self.fps <= 1000, 'fps', self.fps,
                'must be in (0, 1000]')
        for key, value, choices in (('camera.type', self.camera_type, CAMERA_TYPES),
                                    ('action.source', self.action_source, ACTION_SOURCES),
                                    ('instruction.source', self.instruction_source,
                                     INSTRUCTION_SOURCES),
                                    ('episodes.split', self.split, SPLITS),
                                    ('alignment.mode', self.alignment, ALIGNMENTS),
                                    ('alignment.stamps', self.stamps, STAMPS)):
            require(value in choices, key, value, f'expected one of {choices}')
        _topic(self.camera_topic, 'camera.topic')
        _covers(self.state, joint_names, 'state')
        if self.action_source == 'topic':
            _covers(self.action, joint_names, 'action.topics')
        if self.instruction_source == 'topic':
            _topic(self.instruction_topic, 'instruction.topic')
        if self.instruction_source == 'given':
            require(bool(self.instruction.strip()), 'instruction.text', self.instruction,
                    'give the text (or --instruction) for instruction.source: given')
        if self.split == 'topic':
            _topic(self.split_topic, 'episodes.topic')
        for key, value in (('episodes.idle_s', self.idle_s),
                           ('episodes.idle_tolerance', self.idle_tolerance),
                           ('episodes.min_length_s', self.min_episode_s),
                           ('alignment.tolerance_s', self.tolerance_s)):
            require(math.isfinite(value) and value > 0, key, value, 'must be > 0')

    def instruction_fallback(self) -> str:
        """The text for a bag without its own instruction ('' when there is none)."""
        return self.instruction.strip() if self.instruction_source != 'given' else ''

    def topics(self) -> typing.List[str]:
        """Every topic the contract reads."""
        out = [self.camera_topic] + [s.topic for s in self.state]
        if self.action_source == 'topic':
            out += [s.topic for s in self.action]
        if self.instruction_source == 'topic':
            out.append(self.instruction_topic)
        if self.split == 'topic':
            out.append(self.split_topic)
        return list(dict.fromkeys(out))


def _topic(value, key):
    require(isinstance(value, str) and value.startswith('/') and len(value) > 1, key, value,
            'expected an absolute topic name')


def _covers(sources, joint_names, key):
    require(len(sources) > 0, key, list(sources), 'give at least one topic')
    seen = {}
    for k, source in enumerate(sources):
        _topic(source.topic, f'{key}[{k}].topic')
        for joint in source.joints:
            require(joint in joint_names, f'{key}[{k}].joints', joint,
                    f'not a robot joint; the robot has {list(joint_names)}')
            require(joint not in seen, f'{key}[{k}].joints', joint,
                    f'already given by {seen.get(joint)}')
            seen[joint] = source.topic
    missing = [j for j in joint_names if j not in seen]
    require(not missing, key, missing, 'these robot joints come from no topic')


def _sources(items, key, default_names) -> typing.Tuple[StateSource, ...]:
    """[{'topic', 'joints': [names] | {robot: message name}, 'scale', 'offset'}] -> tuple."""
    out = []
    require(isinstance(items, list), key, items, 'expected a list of {topic, joints}')
    for k, item in enumerate(items):
        require(isinstance(item, dict), f'{key}[{k}]', item, 'expected a mapping')
        unknown = sorted(set(item) - {'topic', 'joints', 'scale', 'offset'})
        require(not unknown, f'{key}[{k}]', unknown, 'unknown keys; expected topic, joints, '
                'scale, offset')
        joints = item.get('joints', list(default_names))
        if isinstance(joints, list):
            joints = {name: name for name in joints}
        require(isinstance(joints, dict) and all(
                    isinstance(v, (str, int)) and not isinstance(v, bool)
                    for v in joints.values()),
                f'{key}[{k}].joints', joints, 'expected a list of names or a mapping')
        _typed(item.get('topic', ''), f'{key}[{k}].topic', TEXT)
        for name in ('scale', 'offset'):
            value = _typed(item.get(name, 1.0 if name == 'scale' else 0.0),
                           f'{key}[{k}].{name}', NUMBER)
            require(math.isfinite(value), f'{key}[{k}].{name}', value,
                    'expected a finite number')
        out.append(StateSource(str(item.get('topic', '')), dict(joints),
                               float(item.get('scale', 1.0)), float(item.get('offset', 0.0))))
    return tuple(out)


SECTIONS = {'fps', 'camera', 'state', 'action', 'instruction', 'episodes', 'alignment'}
NUMBER, TEXT, LIST = 'a number', 'text', 'a list'
# section -> {key: kind}: what a contract may say; anything else is refused by name
SECTION_KEYS = {
    'camera': {'topic': TEXT, 'type': TEXT},
    'action': {'source': TEXT, 'topics': LIST},
    'instruction': {'source': TEXT, 'topic': TEXT, 'key': TEXT, 'text': TEXT},
    'episodes': {'split': TEXT, 'topic': TEXT, 'idle_s': NUMBER, 'idle_tolerance': NUMBER,
                 'min_length_s': NUMBER},
    'alignment': {'mode': TEXT, 'tolerance_s': NUMBER, 'stamps': TEXT},
}


def _typed(value, key: str, kind: str):
    """``value`` of ``kind`` or ConfigError naming ``key`` (a number is not a bool or '0.1s')."""
    if kind == NUMBER:
        require(isinstance(value, (int, float)) and not isinstance(value, bool), key, value,
                'expected a number (no unit: seconds, radians, metres)')
        return float(value)
    if kind == TEXT:
        require(isinstance(value, str), key, value, 'expected text')
    if kind == LIST:
        require(isinstance(value, list), key, value, 'expected a list')
    return value


def contract_from_dict(data: typing.Mapping, joint_names: typing.Sequence[str],
                       **overrides) -> TopicContract:
    """A validated contract from its YAML mapping, then the command line's ``overrides``
    (camera_topic, joint_states_topic, instruction_topic, instruction, fps)."""
    data = dict(data or {})
    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        raise ConfigError(f'contract: unknown section(s) {unknown}; expected {sorted(SECTIONS)}')

    def section(name):
        value = data.get(name, {}) or {}
        require(isinstance(value, dict), name, value, 'expected a mapping')
        keys = SECTION_KEYS[name]
        unknown = sorted(set(value) - set(keys))
        require(not unknown, name, unknown, f'unknown key(s); expected {sorted(keys)}')
        return {key: _typed(v, f'{name}.{key}', keys[key]) for key, v in value.items()}
    camera, action, instruction = section('camera'), section('action'), section('instruction')
    episodes, alignment = section('episodes'), section('alignment')
    state = data.get('state', [{'topic': '/joint_states'}])
    fields = dict(
        fps=_typed(data.get('fps', 10.0), 'fps', NUMBER),
        camera_topic=camera.get('topic', '/camera/image_raw'),
        camera_type=camera.get('type', 'auto'),
        state=_sources(state, 'state', joint_names),
        action_source=action.get('source', 'next_state'),
        action=_sources(action.get('topics', []), 'action.topics', joint_names),
        instruction_source=instruction.get('source', 'metadata'),
        instruction_topic=instruction.get('topic', ''),
        instruction_key=instruction.get('key', 'instruction'),
        instruction=instruction.get('text', ''),
        split=episodes.get('split', 'bag'), split_topic=episodes.get('topic', ''),
        idle_s=episodes.get('idle_s', 2.0),
        idle_tolerance=episodes.get('idle_tolerance', 0.002),
        min_episode_s=episodes.get('min_length_s', 1.0),
        alignment=alignment.get('mode', 'asof'),
        tolerance_s=alignment.get('tolerance_s', 0.1),
        stamps=alignment.get('stamps', 'header'))
    if overrides.get('camera_topic'):
        fields['camera_topic'] = overrides['camera_topic']
    if overrides.get('joint_states_topic'):
        first = fields['state'][0] if fields['state'] else StateSource('', {})
        fields['state'] = (dataclasses.replace(first, topic=overrides['joint_states_topic']),
                           ) + fields['state'][1:]
    if overrides.get('instruction_topic'):  # the contract's text, if any, is the fallback
        fields.update(instruction_source='topic', instruction_topic=overrides['instruction_topic'])
    if overrides.get('instruction'):
        # source given: replaces the text; metadata | topic: the bag's own instruction
        # first, this text only for a bag that has none
        fields['instruction'] = overrides['instruction']
    if overrides.get('fps'):
        fields['fps'] = float(overrides['fps'])
    contract = TopicContract(**fields)
    contract.validate(joint_names)
    return contract


def load_contract(path, joint_names: typing.Sequence[str], **overrides) -> TopicContract:
    """Read a contract YAML (None: the defaults: /camera/image_raw, /joint_states, metadata
    instruction, one episode per bag), then apply the overrides."""
    data = load_yaml(path) if path else {}
    return contract_from_dict(data, joint_names, **overrides)
