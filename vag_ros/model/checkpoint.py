"""Checkpoints: ``model.safetensors`` (weights + action stats + fitted codec tensors) beside
``config.yaml``.

Never pickle: weights are safetensors, the config YAML, extra metadata JSON inside the
safetensors header.
"""

import dataclasses
import json
import os
from pathlib import Path
import typing

import torch
import yaml

from vag_ros.checksums import read_checksums, SUMS, verify_file, write_checksums
from vag_ros.errors import CheckpointError, ConfigError, read_utf8
from vag_ros.model.config import config_from_dict, VagConfig
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.vag import VagModel


WEIGHTS = 'model.safetensors'
CONFIG = 'config.yaml'
ROBOT = 'robot.urdf'  # the URDF of the robot the model was trained for
NORM_PREFIX = 'action_norm.'
CODEC_PREFIX = 'codec.'  # tensors of a fitted codec (pca), none for patch/wan
FORMAT = 'vag_ros.v1'


@dataclasses.dataclass
class Checkpoint:
    """What ``load_checkpoint`` returns."""

    model: VagModel
    config: VagConfig
    normalizer: ActionNormalizer
    extra: dict
    codec_tensors: typing.Dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


def save_checkpoint(directory: typing.Union[str, Path], model: VagModel, config: VagConfig,
                    normalizer: ActionNormalizer, extra: typing.Optional[dict] = None,
                    codec: typing.Optional[torch.nn.Module] = None,
                    robot=None) -> Path:
    """Write weights, stats, codec state, config and (``robot``, a RobotDescription) the
    robot's URDF into ``directory`` (created)."""
    from safetensors.torch import save_file
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = [WEIGHTS, CONFIG]
    if robot is not None:
        if config.mode != 'video_only' and robot.dof != config.action.dim:
            raise CheckpointError(f'robot {robot.name} has {robot.dof} joints but the model '
                                  f'config has action.dim={config.action.dim}')
        extra = {**(extra or {}), 'robot': robot.identity()}
    tensors = {k: v.detach().to('cpu').contiguous().clone() if _shares(v) else
               v.detach().to('cpu').contiguous() for k, v in model.state_dict().items()}
    for key, value in normalizer.to_tensors(NORM_PREFIX).items():
        if key in tensors:
            raise CheckpointError(f'model tensor name {key!r} collides with the action stats')
        tensors[key] = value.contiguous()
    if codec is not None:
        for key, value in codec.state_dict().items():
            tensors[CODEC_PREFIX + key] = value.detach().to('cpu').contiguous().clone()
    metadata = {'format': FORMAT, 'extra': json.dumps(extra or {}, sort_keys=True)}
    tmp = directory / (WEIGHTS + '.tmp')
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, directory / WEIGHTS)  # never leave a half-written weights file
    (directory / CONFIG).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    if robot is not None:
        (directory / ROBOT).write_text(robot.urdf)
        names.append(ROBOT)
    write_checksums(directory, names)  # verified at every load
    return directory


def checkpoint_robot(directory: typing.Union[str, Path], urdf=None):
    """The RobotDescription a checkpoint was trained for: its ``robot.urdf`` (checked
    against SHA256SUMS). ``urdf`` (a path) may name the same robot's URDF (same name and
    joints: e.g. a file with the lab's own, tighter limits), which is then used; a URDF of
    another robot is refused naming both. A checkpoint that records no robot (trained
    before checkpoints carried one) needs ``urdf``."""
    from vag_ros.robot.description import (
        check_same_robot, load_robot_description, parse_robot_description)
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f'checkpoint folder not found: {directory}')
    if not (directory / CONFIG).is_file():
        raise CheckpointError(f'{directory} is not a checkpoint (no config.yaml): give the '
                              'folder vag-ros train wrote')
    path = directory / ROBOT
    given = load_robot_description(urdf) if urdf else None
    if not path.is_file():
        if given is None:
            raise CheckpointError(
                f'{directory} records no robot (no {ROBOT}: trained before checkpoints '
                'carried their robot); pass --urdf (launch: robot_description:=) with the URDF '
                'of the arm it was trained for')
        robot = given
    else:
        if not verify_file(path, 'checkpoint robot URDF'):
            where = (f'not recorded in {directory / SUMS}' if (directory / SUMS).is_file()
                     else f'{directory} has no {SUMS} (deleted, or copied without it)')
            raise CheckpointError(f'{path}: {where}; it cannot be trusted to say which arm the '
                                  'model drives: restore the checkpoint folder whole')
        try:
            robot = parse_robot_description(
                read_utf8(path, 'checkpoint robot URDF', CheckpointError), path)
        except ConfigError as exc:
            raise CheckpointError(f'{path}: {exc}') from None
        if given is not None:
            check_same_robot(robot, given, f'checkpoint {directory}', f'URDF {urdf}')
            robot = given
    config = read_config(directory)
    if config.mode != 'video_only' and robot.dof != config.action.dim:
        raise CheckpointError(f'{directory}: action.dim={config.action.dim} but robot '
                              f'{robot.name} has {robot.dof} joints {list(robot.joint_names)}')
    return robot


def _shares(t: torch.Tensor) -> bool:
    """Tell views that safetensors would refuse (storage larger than the tensor)."""
    return t.untyped_storage().nbytes() != t.numel() * t.element_size()


def read_config(directory: typing.Union[str, Path]) -> VagConfig:
    """Read the VagConfig stored in a checkpoint folder."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise CheckpointError(f'checkpoint config missing: {path}')
    verify_file(path, 'checkpoint config')
    try:
        data = yaml.safe_load(read_utf8(path, 'checkpoint config', CheckpointError))
        return config_from_dict(data or {})
    except yaml.YAMLError as exc:
        raise CheckpointError(f'checkpoint config {path} is not valid YAML: {exc}') from None
    except ConfigError as exc:
        raise CheckpointError(f'checkpoint config {path}: {exc}') from None


def read_safetensors(path: typing.Union[str, Path], fmt: typing.Optional[str] = None,
                     what: str = 'checkpoint weights'
                     ) -> typing.Tuple[typing.Dict[str, torch.Tensor], typing.Dict[str, str]]:
    """(tensors, metadata) of one safetensors file, never unpickled.

    CheckpointError when it is missing, corrupt (or differs from the SHA256SUMS beside
    it), or (with ``fmt``) of another format.
    """
    from safetensors import safe_open
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'{what} missing: {path}')
    verify_file(path, what)
    try:
        with safe_open(str(path), framework='pt', device='cpu') as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError and OSError
        raise CheckpointError(f'{what} {path} are corrupt or truncated: {exc}') from None
    if fmt is not None and metadata.get('format') != fmt:
        raise CheckpointError(
            f'{path}: format {metadata.get("format")!r} is not a {fmt} checkpoint')
    return tensors, metadata


def read_weights(directory: typing.Union[str, Path]
                 ) -> typing.Tuple[typing.Dict[str, torch.Tensor], typing.Dict[str, str]]:
    """(tensors, metadata) from ``model.safetensors``; CheckpointError if missing/corrupt."""
    return read_safetensors(Path(directory) / WEIGHTS, FORMAT)


def check_checkpoint_files(directory: typing.Union[str, Path]) -> Path:
    """``directory`` when its weights and config are there and recorded in its SHA256SUMS;
    CheckpointError otherwise, naming a file that is absent as absent (a sha256sum of files
    that are not there helps nobody), else how to record the files that are."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f'checkpoint folder not found: {directory}')
    absent = [name for name in (WEIGHTS, CONFIG) if not (directory / name).is_file()]
    if absent:
        has = sorted(p.name for p in directory.iterdir())
        raise CheckpointError(
            f'{directory}: {" and ".join(absent)} missing (the folder has '
            f'{", ".join(has[:8]) or "nothing"}{"..." if len(has) > 8 else ""}): not a '
            'complete checkpoint; give the folder vag-ros train wrote, or copy the missing '
            'file(s) back into it')
    if not {WEIGHTS, CONFIG} <= set(read_checksums(directory)):
        present = ' '.join(n for n in (WEIGHTS, CONFIG, ROBOT) if (directory / n).is_file())
        raise CheckpointError(
            f'{directory}: no {SUMS} record of {WEIGHTS} and {CONFIG}, so they cannot be '
            'verified before they drive a robot; if you trust the files, record them: cd '
            f'{directory} && sha256sum {present} > {SUMS}')
    return directory


def load_checkpoint(directory: typing.Union[str, Path],
                    device: typing.Union[str, torch.device] = 'cpu',
                    config: typing.Optional[VagConfig] = None) -> Checkpoint:
    """Rebuild the model from ``config.yaml`` (or ``config``) and load its weights strictly."""
    directory = check_checkpoint_files(directory)
    config = config or read_config(directory)
    tensors, metadata = read_weights(directory)
    # weights may be stored in half precision (vag-ros pack-demo); compute in float32
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    stats = {k: tensors.pop(k) for k in list(tensors) if k.startswith(NORM_PREFIX)}
    codec_tensors = {k[len(CODEC_PREFIX):]: tensors.pop(k) for k in list(tensors)
                     if k.startswith(CODEC_PREFIX)}
    normalizer = ActionNormalizer.from_tensors(stats, NORM_PREFIX)
    if config.mode != 'video_only' and normalizer.dim != config.action.dim:
        raise CheckpointError(f'{directory}: action stats have {normalizer.dim} dims, '
                              f'config action.dim={config.action.dim}')
    with torch.device('meta'):
        model = VagModel(config)
    check_state_dict(model, tensors, str(directory / WEIGHTS))
    model.load_state_dict(tensors, strict=True, assign=True)
    model.to(device).eval()
    try:
        extra = json.loads(metadata.get('extra', '{}'))
    except json.JSONDecodeError:
        raise CheckpointError(f'{directory / WEIGHTS}: extra metadata is not JSON') from None
    return Checkpoint(model, config, normalizer, extra, codec_tensors)


def checkpoint_codec(checkpoint: Checkpoint, where: str = 'checkpoint'):
    """The codec its config names, with the fitted tensors the checkpoint carries."""
    return build_saved_codec(checkpoint.config, checkpoint.codec_tensors, where)


def read_codec(directory: typing.Union[str, Path], config: VagConfig):
    """The codec of a checkpoint folder, without building its model (training resume)."""
    tensors, _ = read_weights(directory)
    codec_tensors = {k[len(CODEC_PREFIX):]: v.float() for k, v in tensors.items()
                     if k.startswith(CODEC_PREFIX)}
    return build_saved_codec(config, codec_tensors, str(directory))


def build_saved_codec(config: VagConfig, tensors: typing.Mapping[str, torch.Tensor],
                      where: str):
    """build_codec for ``config``, then load ``tensors`` (codec.* without the prefix)."""
    from vag_ros.model.codecs import build_codec
    video = config.video
    codec = build_codec(video.codec, video.latent_channels)
    if tensors:
        check_state_dict(codec, tensors, f'{where} (codec.* tensors)')
        codec.load_state_dict(tensors, strict=True)
    elif not getattr(codec, 'fitted', True):
        raise CheckpointError(f'{where}: its config uses the {video.codec.kind} codec, but '
                              'the weights file has no codec.* tensors (a fitted codec is '
                              'saved with the model; retrain or re-save the checkpoint)')
    return codec


def same_codec(codec: torch.nn.Module, checkpoint: Checkpoint) -> bool:
    """True when ``codec`` holds exactly the fitted tensors ``checkpoint`` carries."""
    state = codec.state_dict()
    tensors = checkpoint.codec_tensors
    if not tensors:
        return True
    return set(state) == set(tensors) and all(
        torch.equal(state[k].cpu().float(), tensors[k].float()) for k in tensors)


def check_state_dict(model: torch.nn.Module, tensors: typing.Mapping[str, torch.Tensor],
                     where: str) -> None:
    """Raise CheckpointError naming missing, unexpected or mis-shaped tensors."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    problems = []
    if missing:
        problems.append(f'missing tensors {missing[:5]}{" ..." if len(missing) > 5 else ""}')
    if unexpected:
        problems.append(
            f'unexpected tensors {unexpected[:5]}{" ..." if len(unexpected) > 5 else ""}')
    for key in sorted(set(expected) & set(tensors)):
        if tuple(expected[key].shape) != tuple(tensors[key].shape):
            problems.append(f'tensor {key!r} has shape {tuple(tensors[key].shape)} in the file '
                            f'but {tuple(expected[key].shape)} in the model')
    if problems:
        raise CheckpointError(f'{where} does not match its config: ' + '; '.join(problems[:6]))
