"""Episode bags -> a first-frames list (``vag-ros synthesize --first-frames``).

For each bag: frame k as ``<bag>.png`` and one scenes.yaml entry {image, state, instruction,
seed, episode, frame}, the state the measured joints at that frame; the list's top-level
``joint_names`` (the episodes' metadata joint order) says whose joints they are, and
synthesize checks them against its robot. Written into a hidden folder beside ``out`` and
renamed into place.
"""

from pathlib import Path
import typing

from vag_ros.episodes.bag_reader import list_episode_bags, read_frame
from vag_ros.errors import EpisodeError
from vag_ros.outputs import new_folder

LIST_NAME = 'scenes.yaml'  # the first name synth.scenes.find_scene_list looks for


def write_first_frames(episodes, out, frame: int = 0, seed: int = 0) -> dict:
    """Write frame ``frame`` of every bag of ``episodes`` and scenes.yaml into ``out`` (new
    or empty); the list as written. Entry k gets seed ``seed + k``."""
    from PIL import Image
    import yaml
    episodes, out = Path(episodes), Path(out)
    bags = list_episode_bags(episodes)
    if not bags:
        raise EpisodeError(f'--episodes {episodes}: no episode bag (a folder with '
                           'metadata.yaml)')
    entries: typing.List[dict] = []
    names = first = None
    with new_folder(out) as stage:
        for k, bag in enumerate(bags):
            image, joints, meta = read_frame(bag, frame)  # (H, W, 3), (D,)
            if names is None:
                names, first, robot = list(meta.joint_names), bag, meta.robot
            elif (meta.robot, list(meta.joint_names)) != (robot, names):
                raise EpisodeError(f'{bag}: robot {meta.robot!r}, joints '
                                   f'{list(meta.joint_names)}; {first.name}: robot {robot!r}, '
                                   f'joints {names}; one first-frames list holds one robot\'s '
                                   'episodes (split them into folders)')
            if not meta.instruction.strip():
                raise EpisodeError(f'{bag}: the episode has no instruction; re-ingest it '
                                   'with --instruction')
            Image.fromarray(image).save(stage / f'{bag.name}.png')
            entries.append({'image': f'{bag.name}.png',
                            'state': [float(v) for v in joints],
                            'instruction': meta.instruction, 'seed': int(seed) + k,
                            'episode': bag.name, 'frame': int(frame)})
        listing = {'joint_names': names, 'scenes': entries}
        (stage / LIST_NAME).write_text(yaml.safe_dump(listing, sort_keys=False,
                                                      allow_unicode=True))
    return listing
