"""A policy trained by lerobot (``lerobot-train``: ACT, Diffusion Policy, ...) run in the
embedded world as lerobot's own evaluation runs it: every frame period the observation
(camera frame, measured joints, instruction) goes through the checkpoint's saved
preprocessor, ``policy.select_action`` (which predicts a chunk when its queue of
``n_action_steps`` is empty), and the saved postprocessor; the action is the next joint target.

Needs the ``lerobot`` extra (``make lerobot``); only safetensors are read (lerobot saves the
weights and the normalization statistics as safetensors, its configs as JSON).
"""

import json
from pathlib import Path
import typing

from vag_ros.errors import CheckpointError, ConfigError

PRETRAINED = 'pretrained_model'   # lerobot-train: <out>/checkpoints/<step>/pretrained_model
WEIGHTS = 'model.safetensors'
PREPROCESSOR = 'policy_preprocessor.json'
CAMERA_KEY = 'observation.images.camera'   # the key vag_ros data sets give the camera
STATE_KEY = 'observation.state'
ACTION_KEY = 'action'


def lerobot_policy_folder(path: typing.Union[str, Path]) -> typing.Optional[Path]:
    """The ``pretrained_model`` folder ``path`` names (that folder, a checkpoint step
    folder, or a lerobot-train output folder: its ``checkpoints/last``), else None."""
    path = Path(path)
    for candidate in (path, path / PRETRAINED, path / 'checkpoints' / 'last' / PRETRAINED):
        config = candidate / 'config.json'
        if config.is_file() and (candidate / WEIGHTS).is_file():
            try:
                if 'type' in json.loads(config.read_text()):
                    return candidate
            except (OSError, ValueError):
                return None
    return None


def _trained_joint_names(folder: Path) -> typing.Optional[typing.List[str]]:
    """The state names of the data set the policy was trained on (train_config.json's
    dataset root, its meta/info.json), when that data set is still there."""
    try:
        train = json.loads((folder / 'train_config.json').read_text())
        root = Path(train['dataset']['root'])
        info = json.loads((root / 'meta' / 'info.json').read_text())
        return list(info['features'][STATE_KEY]['names'])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_features(folder, inputs: typing.Mapping, outputs: typing.Mapping) -> None:
    """ConfigError unless the policy reads the world's camera and state, and nothing else
    the world cannot give, and writes actions."""
    missing = [k for k in (CAMERA_KEY, STATE_KEY) if k not in inputs]
    if missing or ACTION_KEY not in outputs:
        raise ConfigError(f'{folder}: the policy reads {sorted(inputs)} and writes '
                          f'{sorted(outputs)}; a vag_ros data set gives {CAMERA_KEY}, '
                          f'{STATE_KEY} and {ACTION_KEY}')
    extra = sorted(set(inputs) - {CAMERA_KEY, STATE_KEY})
    if extra:
        raise ConfigError(
            f'{folder}: the policy also reads {extra}, which the world does not give (the '
            'data set vag-ros synthesize writes carries VAG\'s video as '
            'observation.images.generated); train it on vag-ros export-lerobot of the '
            "synthesized episodes' bags, which holds the camera alone")


class LerobotPolicy:
    """A lerobot policy checkpoint as a step-by-step controller of the embedded world."""

    def __init__(self, path: typing.Union[str, Path], device: str = 'cpu'):
        folder = lerobot_policy_folder(path)
        if folder is None:
            raise CheckpointError(f'{path}: not a lerobot policy checkpoint (a folder with '
                                  f'config.json and {WEIGHTS}, or a lerobot-train output)')
        try:
            from lerobot.configs.policies import PreTrainedConfig
            from lerobot.policies.factory import get_policy_class, make_pre_post_processors
        except ImportError as exc:
            raise ConfigError(f'{path} is a lerobot policy but lerobot is not installed here '
                              f'({exc}); install the extra: make lerobot (or pip install -e '
                              "'.[lerobot]') and run .venv-lerobot/bin/vag-ros") from None
        if not (folder / PREPROCESSOR).is_file():
            raise CheckpointError(f'{folder}: no {PREPROCESSOR} (saved by lerobot >= 0.4); '
                                  'its normalization is unknown')
        self.folder = folder
        self.config = PreTrainedConfig.from_pretrained(folder)
        self.config.device = device
        features = self.config.input_features
        check_features(folder, features, self.config.output_features)
        self.image_shape = tuple(features[CAMERA_KEY].shape)       # (3, H, W)
        self.dof = int(features[STATE_KEY].shape[0])
        self.joint_names = _trained_joint_names(folder)
        policy_class = get_policy_class(self.config.type)
        self.policy = policy_class.from_pretrained(folder, config=self.config)
        self.policy.eval()
        self.preprocessor, self.postprocessor = make_pre_post_processors(
            self.config, pretrained_path=str(folder),
            preprocessor_overrides={'device_processor': {'device': device}})

    def describe(self) -> str:
        """The policy's type and how it acts."""
        steps = getattr(self.config, 'n_action_steps', None)
        return (f'lerobot {self.config.type} policy, closed loop, select_action every frame'
                + (f' ({steps} actions per predicted chunk)' if steps else ''))

    def check_world(self, world) -> None:
        """ConfigError unless the world's arm and camera are what the policy was trained on."""
        names = list(world.robot.joint_names)
        if self.dof != len(names) or (self.joint_names and self.joint_names != names):
            raise ConfigError(
                f'{self.folder}: trained on state {self.joint_names or self.dof} but the '
                f"world's arm has {names} (this replays in the embedded world)")
        frame = world.render()   # (H, W, 3)
        if self.image_shape != (3,) + frame.shape[:2]:
            raise ConfigError(f'{self.folder}: trained on {self.image_shape} images but the '
                              f'world renders {frame.shape}; evaluate with the sim config '
                              'the data set was recorded with')

    def reset(self) -> None:
        """Before an episode: empty the action queue (and any stateful processor)."""
        self.policy.reset()
        self.preprocessor.reset()
        self.postprocessor.reset()

    def act(self, frame, joints, instruction: str):
        """(H, W, 3) uint8 frame, (D,) joints -> (D,) next joint target."""
        import numpy as np
        import torch
        from lerobot.envs.utils import preprocess_observation
        observation = preprocess_observation({'pixels': {'camera': np.ascontiguousarray(frame)},
                                              'agent_pos': np.asarray(joints, np.float32)})
        observation['task'] = [instruction]
        with torch.inference_mode():
            action = self.policy.select_action(self.preprocessor(observation))
        return self.postprocessor(action).to('cpu').numpy()[0].astype(np.float64)   # (D,)
