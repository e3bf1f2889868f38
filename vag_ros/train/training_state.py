"""Resumable training state: raw weights, optimizer, EMA, step and RNG.

Stored as ``training_state/state.safetensors`` (tensors) + ``state.json`` (the rest); never
pickle. Written to a temporary folder and swapped in, so a crash leaves the last good state.
"""

import json
import os
from pathlib import Path
import shutil
import typing

import torch

from vag_ros.checksums import read_checksums, verify_file, write_checksums
from vag_ros.errors import CheckpointError

STATE_DIR = 'training_state'
TENSORS = 'state.safetensors'
META = 'state.json'


def _complete(d: Path) -> bool:
    """A state folder whose files are all there and match their SHA256SUMS (written last)."""
    if not ((d / TENSORS).is_file() and (d / META).is_file() and read_checksums(d)):
        return False
    try:
        return all(verify_file(d / name, 'training state') for name in (TENSORS, META))
    except CheckpointError:
        return False


def state_dir(out_dir: typing.Union[str, Path]) -> typing.Optional[Path]:
    """The folder to resume from: training_state/, or after a crash between the renames of
    ``save_training_state`` the newest complete one (the new .tmp, else the previous .old);
    None when there is none. Nothing is renamed here (every distributed rank reads)."""
    out_dir = Path(out_dir)
    final = out_dir / STATE_DIR
    if (final / TENSORS).is_file() and (final / META).is_file():
        return final
    for candidate in (out_dir / (STATE_DIR + '.tmp'), out_dir / (STATE_DIR + '.old')):
        if candidate.is_dir() and _complete(candidate):
            return candidate
    return None


def has_state(out_dir: typing.Union[str, Path]) -> bool:
    """Tell whether ``out_dir`` holds a complete training state to resume from."""
    return state_dir(out_dir) is not None


def _contiguous(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to('cpu').contiguous().clone()


def save_training_state(out_dir: typing.Union[str, Path], model: torch.nn.Module,
                        optimizer: torch.optim.Optimizer, ema_state: typing.Mapping,
                        step: int, meta: dict) -> Path:
    """Write the state of ``step`` under out_dir/training_state (atomically swapped in)."""
    from safetensors.torch import save_file
    out_dir = Path(out_dir)
    tensors = {f'model.{k}': _contiguous(v) for k, v in model.state_dict().items()}
    tensors.update({f'ema.{k}': _contiguous(v) for k, v in ema_state.items()})
    opt = optimizer.state_dict()
    for index, state in opt['state'].items():
        for key, value in state.items():
            if not torch.is_tensor(value):
                value = torch.tensor(value)
            tensors[f'optim.{index}.{key}'] = _contiguous(value)
    tensors['rng.cpu'] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors['rng.cuda'] = torch.cuda.get_rng_state()
    data = dict(meta, step=step, param_groups=opt['param_groups'])
    tmp = out_dir / (STATE_DIR + '.tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / TENSORS))
    (tmp / META).write_text(json.dumps(data, indent=1, sort_keys=True))
    for name in (TENSORS, META):  # on disk before the record that says they are complete
        with open(tmp / name, 'rb') as f:
            os.fsync(f.fileno())
    write_checksums(tmp, [TENSORS, META])
    final, old = out_dir / STATE_DIR, out_dir / (STATE_DIR + '.old')
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_training_state(out_dir: typing.Union[str, Path]
                        ) -> typing.Tuple[typing.Dict[str, torch.Tensor], dict]:
    """(tensors, meta) of out_dir/training_state; CheckpointError when missing or corrupt."""
    from safetensors.torch import load_file
    d = state_dir(out_dir)
    if d is None:
        raise CheckpointError(f'{Path(out_dir) / STATE_DIR}: no training state to resume from')
    for name in (TENSORS, META):
        verify_file(d / name, 'training state')
    try:
        tensors = load_file(str(d / TENSORS))
        meta = json.loads((d / META).read_text())
    except Exception as exc:  # noqa: B902 - safetensors/JSON errors mean a corrupt state
        raise CheckpointError(f'{d}: corrupt training state: {exc}') from None
    return tensors, meta


def restore_training_state(tensors: typing.Mapping[str, torch.Tensor], meta: dict,
                           model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                           ema) -> int:
    """Load weights, optimizer, EMA and RNG into the given objects; return the step."""
    def part(prefix):
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    try:
        model.load_state_dict(part('model.'), strict=True)
        ema.load_state_dict(part('ema.'))
        state: typing.Dict[int, dict] = {}
        for key, value in part('optim.').items():
            index, name = key.split('.', 1)
            state.setdefault(int(index), {})[name] = value
        groups = meta['param_groups']
        for g in groups:
            if 'betas' in g:
                g['betas'] = tuple(g['betas'])
        optimizer.load_state_dict({'state': state, 'param_groups': groups})
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(f'training state does not match the model: {exc}') from None
    torch.set_rng_state(tensors['rng.cpu'])
    if 'rng.cuda' in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors['rng.cuda'])
    return int(meta['step'])
