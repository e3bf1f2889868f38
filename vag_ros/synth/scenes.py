"""Where synthesis starts from a lab's first frames: their list (images, joints,
instructions) read into scenes (vag_ros.sim.scenes has the world's seeded scenes)."""

import hashlib
from pathlib import Path
import typing

import numpy as np

from vag_ros.config import MAX_SEED
from vag_ros.errors import VagError
from vag_ros.sim.scenes import Scene, SceneSpec


LIST_NAMES = ('scenes.yaml', 'scenes.yml', 'scenes.json', 'first_frames.yaml',
              'first_frames.json')


def find_scene_list(path: typing.Union[str, Path]) -> Path:
    """The list file itself, or in a folder of first frames its one list (LIST_NAMES first)."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise VagError(f'--first-frames {path}: no such file or folder')
    for name in LIST_NAMES:
        if (path / name).is_file():
            return path / name
    lists = sorted(p for p in path.iterdir() if p.suffix in ('.yaml', '.yml', '.json'))
    if len(lists) == 1:
        return lists[0]
    raise VagError(f'--first-frames {path}: a folder of first frames needs one list of '
                   f'{{image, state, instruction[, seed]}} entries (scenes.yaml or '
                   f'scenes.json), found {len(lists)} YAML/JSON files')


def _list_joint_names(path: Path, data, dof: int,
                      joint_names: typing.Optional[typing.Sequence[str]]):
    """(entries, index into the list's state of each robot joint, or None: as written)."""
    if not isinstance(data, dict):
        return data, None
    unknown = sorted(set(data) - {'joint_names', 'scenes'})
    if unknown or 'scenes' not in data:
        raise VagError(f'{path}: expected a list of {{image, state, instruction}} or a '
                       f'mapping {{joint_names, scenes}}; got keys {sorted(data)}')
    names = data.get('joint_names')
    if names is None:
        return data['scenes'], None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or \
            len(set(names)) != len(names):
        raise VagError(f'{path}: joint_names must be a list of distinct names, got {names!r}')
    if joint_names is None:
        if len(names) != dof:
            raise VagError(f'{path}: joint_names {names}: the robot has {dof} joints')
        return data['scenes'], None
    missing = [n for n in joint_names if n not in names]
    extra = [n for n in names if n not in joint_names]
    if missing or extra:
        raise VagError(f'{path}: joint_names {names} are not the robot\'s {list(joint_names)} '
                       f'(missing {missing}, not the robot\'s {extra}): first frames of '
                       'another arm, or the checkpoint of another robot')
    return data['scenes'], [names.index(n) for n in joint_names]


def first_frame_specs(path: typing.Union[str, Path], dof: int,
                      joint_names: typing.Optional[typing.Sequence[str]] = None
                      ) -> typing.List[SceneSpec]:
    """Scenes from a YAML/JSON list of {image, state, instruction[, seed]} (paths relative to
    the list), or a folder holding the images and that list; VagError naming the first bad
    entry. The list may also be a mapping {joint_names: [...], scenes: [entries]}: its states
    are then in that order, checked against the robot's ``joint_names`` and put in its order
    (a plain list's states are in the robot's order)."""
    import yaml
    from vag_ros import media
    path = find_scene_list(path)
    try:
        data = yaml.safe_load(path.read_text())
    except UnicodeDecodeError as exc:
        raise VagError(f'{path}: the first-frames list is not UTF-8 text ({exc.reason} at '
                       f'byte {exc.start}): save it as UTF-8') from None
    except (OSError, yaml.YAMLError) as exc:
        raise VagError(f'{path}: cannot read the first-frames list ({exc})') from None
    entries, order = _list_joint_names(path, data, dof, joint_names)
    # the joints a state lists, in its order: the list's joint_names, else the robot's
    names = (data.get('joint_names') if isinstance(data, dict) else None) or joint_names
    expected = f'{dof} joint positions' + (f' {list(names)}' if names else '')
    if not isinstance(entries, list) or not entries:
        raise VagError(f'{path}: expected a non-empty list of {{image, state, instruction}}')
    specs = []
    for k, entry in enumerate(entries):
        where = f'{path} entry {k}'
        if not isinstance(entry, dict) or not {'image', 'state', 'instruction'} <= set(entry):
            raise VagError(f'{where}: needs image, state and instruction')
        image = (path.parent / str(entry['image'])).resolve()
        if not image.is_file():
            raise VagError(f'{where}: image {image} not found')
        try:
            state = [float(v) for v in entry['state']]
        except (TypeError, ValueError):
            raise VagError(f'{where}: state {entry["state"]!r}: expected {expected} as '
                           'numbers') from None
        if len(state) != dof:
            raise VagError(f'{where}: state has {len(state)} values, expected {expected}')
        if not np.all(np.isfinite(state)):
            raise VagError(f'{where}: state {state} has NaN or inf; expected {expected}, '
                           'finite')
        if order is not None:
            state = [state[i] for i in order]  # the robot's joint order
        text = entry['instruction'].strip() if isinstance(entry['instruction'], str) else ''
        if not text:
            raise VagError(f'{where}: instruction must be non-empty text')
        seed = entry.get('seed', k)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise VagError(f'{where}: seed must be an integer in [0, {MAX_SEED}]')
        try:  # every image is read before any scene runs: no run stops half-way
            media.load_image(image)
        except media.MediaError as exc:
            raise VagError(f'{where}: {exc}') from None
        specs.append(SceneSpec(k, f'frame{k:05d}_seed{seed:06d}', seed, image=image,
                               state=state, instruction=text))
    return specs


def frames_digest(specs: typing.Sequence[SceneSpec]) -> str:
    """sha256 over a first-frames list: every state, instruction, seed and image's bytes."""
    h = hashlib.sha256()
    for spec in specs:
        h.update(repr((spec.seed, spec.state, spec.instruction)).encode())
        h.update(spec.image.read_bytes())
    return h.hexdigest()


class FrameScenes:
    """Reads a lab's first frames from their files."""

    def load(self, spec: SceneSpec) -> Scene:
        from vag_ros import media
        return Scene(spec, media.load_image(spec.image), np.asarray(spec.state, float),
                     spec.instruction)
