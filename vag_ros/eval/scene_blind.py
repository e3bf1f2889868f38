"""The scene-blind baseline: each task family's mean expert motion, from the measured state.

It never looks at the image or the instruction's object, so a model that does not beat it
is not using its inputs. It gets the arm's state like every other method (the mean offset
of the training trajectories from their first measured state, added to the given state),
so the comparison stays fair.
"""

import dataclasses
import json
from pathlib import Path
import typing

import numpy as np

from vag_ros.checksums import write_checksums
from vag_ros.errors import CheckpointError, EpisodeError

WEIGHTS = 'scene_blind.safetensors'
FORMAT = 'vag_ros.scene_blind.v1'
PREFIX = 'mean_offset.'


@dataclasses.dataclass
class SceneBlindBaseline:
    """Per task family: the mean of (actions - first measured joints), (T, D)."""

    mean_offsets: typing.Dict[str, np.ndarray]
    joint_names: typing.Tuple[str, ...]
    episodes: typing.Dict[str, int]

    def predict(self, family: str, state) -> np.ndarray:
        """(T, D) joint trajectory for ``family`` starting from ``state`` (D,)."""
        if family not in self.mean_offsets:
            raise EpisodeError(f'scene-blind baseline: no episodes of task {family!r}; it '
                               f'knows {sorted(self.mean_offsets)}')
        return np.asarray(state, np.float64)[None, :] + self.mean_offsets[family]

    def save(self, directory: typing.Union[str, Path]) -> Path:
        """Write ``scene_blind.safetensors`` (float32 means) into ``directory``."""
        import torch
        from safetensors.torch import save_file
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {PREFIX + k: torch.as_tensor(v, dtype=torch.float32).contiguous()
                   for k, v in self.mean_offsets.items()}
        metadata = {'format': FORMAT, 'joint_names': json.dumps(list(self.joint_names)),
                    'episodes': json.dumps(self.episodes)}
        save_file(tensors, str(directory / WEIGHTS), metadata=metadata)
        write_checksums(directory, [WEIGHTS])
        return directory

    @classmethod
    def load(cls, directory: typing.Union[str, Path]) -> 'SceneBlindBaseline':
        """Read a folder written by ``save``; CheckpointError when missing or corrupt."""
        from vag_ros.model.checkpoint import read_safetensors
        tensors, metadata = read_safetensors(Path(directory) / WEIGHTS, FORMAT,
                                             'scene-blind baseline')
        try:
            names = tuple(json.loads(metadata['joint_names']))
            episodes = dict(json.loads(metadata['episodes']))
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f'{directory}: scene-blind metadata is malformed ({exc})') \
                from None
        means = {k[len(PREFIX):]: v.double().numpy() for k, v in tensors.items()
                 if k.startswith(PREFIX)}
        return cls(means, names, episodes)


def fit_scene_blind(data_dir: typing.Union[str, Path]) -> SceneBlindBaseline:
    """Mean offsets per task family over the episode bags of ``data_dir``."""
    from vag_ros.episodes.bag_reader import list_episode_bags, read_episode
    bags = list_episode_bags(data_dir)
    if not bags:
        raise EpisodeError(f'{data_dir}: no episode bags')
    sums: typing.Dict[str, np.ndarray] = {}
    counts: typing.Dict[str, int] = {}
    names = None
    for path in bags:
        episode = read_episode(path)
        offset = episode.actions - episode.joints[:1]  # (T, D)
        family = episode.metadata.task
        if family in sums and sums[family].shape != offset.shape:
            raise EpisodeError(f'{path}: {offset.shape} actions, other {family} episodes '
                               f'have {sums[family].shape}')
        sums[family] = sums.get(family, 0.0) + offset
        counts[family] = counts.get(family, 0) + 1
        names = names or tuple(episode.metadata.joint_names)
    means = {k: sums[k] / counts[k] for k in sums}
    return SceneBlindBaseline(means, names, counts)
