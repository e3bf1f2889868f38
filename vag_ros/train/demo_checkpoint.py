"""Pack trained checkpoints into the demo layout, with half-precision weights.

    <out>/                         the VAG checkpoint (model.safetensors + config.yaml)
    <out>/baselines/no_bridge/     the action U-Net without the bridge
    <out>/baselines/inverse_dynamics/  the two-stage baseline's second stage
    <out>/baselines/scene_blind/   each task's mean motion (optional)
    <out>/manifest.json            sources, sha256 of every file, storage dtype

Float weights are stored as float16 to fit the repository (loaders cast back to float32);
normalization statistics stay float32, since they map the model's output to joint units,
and so do fitted codec tensors (they map latents to pixels).
"""

import json
from pathlib import Path
import shutil
import typing

from vag_ros.checksums import read_checksums, write_checksums
from vag_ros.errors import CheckpointError

# kept at full precision: they map model outputs to joint units and latents to pixels
STATS_PREFIXES = ('action_norm.', 'joint_norm.', 'codec.', 'mean_offset.')
COPIED = ('config.yaml', 'robot.urdf', 'inverse_dynamics.json', 'loss_log.jsonl')
DTYPES = ('float16', 'bfloat16', 'float32')


def _convert(source: Path, target: Path, dtype: str) -> None:
    """Copy one safetensors file, casting float weights (not the stats) to ``dtype``."""
    import torch
    from safetensors.torch import save_file

    from vag_ros.model.checkpoint import read_safetensors
    tensors, metadata = read_safetensors(source)
    cast = getattr(torch, dtype)
    for key, value in tensors.items():
        if value.is_floating_point() and not key.startswith(STATS_PREFIXES):
            tensors[key] = value.to(cast).contiguous()
    save_file(tensors, str(target), metadata=metadata)


def pack_demo_checkpoint(vag_dir, no_bridge_dir, inverse_dynamics_dir, out_dir,
                         dtype: str = 'float16', scene_blind_dir=None) -> Path:
    """Assemble ``out_dir`` from three trained checkpoints; refuses to overwrite."""
    if dtype not in DTYPES:
        raise CheckpointError(f'dtype={dtype!r}: expected one of {DTYPES}')
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f'{out} exists and is not empty; refusing to overwrite')
    parts = {'.': Path(vag_dir), 'baselines/no_bridge': Path(no_bridge_dir),
             'baselines/inverse_dynamics': Path(inverse_dynamics_dir)}
    if scene_blind_dir is not None:
        parts['baselines/scene_blind'] = Path(scene_blind_dir)
    for where, source in parts.items():
        if not any(source.glob('*.safetensors')):
            raise CheckpointError(f'{source}: no *.safetensors weights for {where!r}')
    staging = out.with_name(f'.{out.name}.partial')
    shutil.rmtree(staging, ignore_errors=True)
    manifest: typing.Dict[str, typing.Any] = {'dtype': dtype, 'parts': {}}
    try:
        for where, source in parts.items():
            target = staging / where
            target.mkdir(parents=True, exist_ok=True)
            for weights in sorted(source.glob('*.safetensors')):
                _convert(weights, target / weights.name, dtype)
            for name in COPIED:
                if (source / name).is_file():
                    shutil.copy2(source / name, target / name)
            names = sorted(p.name for p in target.iterdir() if p.is_file())
            write_checksums(target, names)  # what every loader verifies
            manifest['parts'][where] = {
                'source': str(source), 'files': read_checksums(target)}
        (staging / 'manifest.json').write_text(json.dumps(manifest, indent=2) + '\n')
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
