"""Engine manifest: what an engine folder was made from, checked before anything loads.

``manifest.json`` records the checkpoint hash, the model config, the I/O contract, the graph
files with their sizes and hashes, the precision, opset, tool versions and date, and per
TensorRT plan set the TensorRT version and GPU it was built on. Every check fails with an
``EngineError`` that says how to fix it; nothing is rebuilt or re-exported behind the
user's back.
"""

import datetime
import hashlib
import json
import os
from pathlib import Path
import platform
import typing

from vag_ros.checksums import sha256_file
from vag_ros.engines.io_contract import EngineContract
from vag_ros.errors import EngineError

MANIFEST = 'manifest.json'
ROBOT_FILE = 'robot.urdf'  # the robot the engine's actions drive, copied from the checkpoint
FORMAT = 'vag_ros.engine'
VERSION = 2  # 2: the manifest carries the sha256 of its own content ('digest')
# files above this size are checked by size at load (hashing GBs each start is too slow);
# ``verify_files(full=True)`` hashes them all
HASH_LIMIT = 512 * 2 ** 20


def checkpoint_files(checkpoint: typing.Union[str, Path]) -> typing.List[Path]:
    """The files that define a checkpoint: config.yaml, its robot.urdf and every top-level
    .safetensors."""
    from vag_ros.model.checkpoint import CONFIG, ROBOT, WEIGHTS
    directory = Path(checkpoint)
    if not (directory / WEIGHTS).is_file() or not (directory / CONFIG).is_file():
        raise EngineError(f'checkpoint {directory}: needs {WEIGHTS} and {CONFIG}')
    robot = [directory / ROBOT] if (directory / ROBOT).is_file() else []
    return sorted([directory / CONFIG, *robot, *directory.glob('*.safetensors')],
                  key=lambda p: p.name)


def checkpoint_hash(checkpoint: typing.Union[str, Path]) -> typing.Dict[str, typing.Any]:
    """{'sha256': over the files in name order, 'files': {name: sha256}}."""
    files = {p.name: sha256_file(p) for p in checkpoint_files(checkpoint)}
    h = hashlib.sha256()
    for name, digest in files.items():
        h.update(f'{name}\0{digest}\n'.encode())
    return {'sha256': h.hexdigest(), 'files': files}


def tool_versions() -> typing.Dict[str, str]:
    """Versions of what made an engine (absent packages are left out)."""
    from importlib import metadata
    out = {'python': platform.python_version()}
    for name in ('vag_ros', 'torch', 'onnx', 'onnxruntime', 'onnxruntime-gpu', 'diffusers',
                 'transformers', 'tensorrt'):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def now() -> str:
    """UTC time, ISO 8601, seconds."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def file_entry(path: Path, root: Path) -> dict:
    """{'file', 'bytes', 'sha256'} of a file inside the engine folder."""
    return {'file': str(path.relative_to(root)), 'bytes': path.stat().st_size,
            'sha256': sha256_file(path)}


class Manifest:
    """The parsed manifest; ``data`` is the JSON object, accessors check what they read."""

    def __init__(self, data: dict, directory: typing.Optional[Path] = None):
        self.data = data
        self.directory = directory

    @property
    def name(self) -> str:
        return self.data.get('name', '')

    @property
    def contract(self) -> EngineContract:
        return EngineContract.from_dict(self.data['contract'])

    @property
    def checkpoint_sha256(self) -> str:
        return self.data['checkpoint']['sha256']

    def config(self):
        """The VagConfig the engine was exported from."""
        from vag_ros.errors import ConfigError
        from vag_ros.model.config import config_from_dict
        try:
            return config_from_dict(self.data['config'])
        except ConfigError as exc:
            raise EngineError(f'{self._where()}: its model config no longer loads with this '
                              f'vag_ros ({exc}); re-export it with vag-ros export') from None

    def normalizer(self):
        """The action normalizer stored at export."""
        from vag_ros.model.normalization import ActionNormalizer
        n = self.data['normalizer']
        return ActionNormalizer(n['kind'], n['a'], n['b'])

    def graph_file(self, graph: str) -> Path:
        entry = self.data['graphs'].get(graph)
        if entry is None:
            raise EngineError(f'{self._where()}: has no {graph} graph; re-export it')
        return self.directory / entry['file']

    def plans(self) -> typing.Dict[str, dict]:
        return self.data.get('plans', {})

    def _where(self) -> str:
        return f'engine {self.directory}' if self.directory else 'engine'

    def write(self, directory: typing.Union[str, Path]) -> Path:
        """Write atomically (a manifest is never half-written), sealed by its digest."""
        path = Path(directory) / MANIFEST
        tmp = path.with_suffix('.json.tmp')
        self.data['digest'] = content_digest(self.data)
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False) + '\n')
        os.replace(tmp, path)
        return path


def content_digest(data: dict) -> str:
    """sha256 of a manifest's content (everything but the digest), canonical JSON."""
    body = {k: v for k, v in data.items() if k != 'digest'}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def read_manifest(directory: typing.Union[str, Path]) -> Manifest:
    """Read and check ``manifest.json``; EngineError naming the fix otherwise."""
    directory = Path(directory)
    if not directory.is_dir():
        raise EngineError(f'engine folder not found: {directory}; export one with vag-ros '
                          f'export --checkpoint <dir> --out {directory}')
    path = directory / MANIFEST
    if not path.is_file():
        if any(directory.iterdir()) and not any(directory.glob('*.onnx')):   # a data set...
            raise EngineError(f'{directory}: not an engine folder (no {MANIFEST}, no ONNX '
                              'graphs): give the folder vag-ros export --out wrote')
        raise EngineError(f'{directory}: no {MANIFEST} (an export that did not finish); '
                          f'export again with vag-ros export --out {directory} --force')
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EngineError(f'{path} is corrupt ({exc}); export again with vag-ros export '
                          f'--out {directory} --force') from None
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise EngineError(f'{path}: not a vag_ros engine manifest (format '
                          f'{data.get("format") if isinstance(data, dict) else None!r})')
    if data.get('version') != VERSION:
        raise EngineError(f'{path}: manifest version {data.get("version")!r}, this vag_ros '
                          f'reads version {VERSION}; export again with this vag_ros '
                          f'(vag-ros export --out {directory} --force)')
    missing = [k for k in ('checkpoint', 'config', 'contract', 'graphs', 'normalizer')
               if k not in data]
    if missing:
        raise EngineError(f'{path}: missing fields {missing}; export again')
    if data.get('digest') != content_digest(data):
        raise EngineError(f'{path} was modified after export (its content no longer matches '
                          'its digest): the normalizer, sampler and graphs it names decide '
                          'the outputs, so it is not used; export again with vag-ros export '
                          f'--out {directory} --force')
    return Manifest(data, directory)


def check_checkpoint(manifest: Manifest, checkpoint: typing.Union[str, Path]) -> None:
    """Refuse an engine exported from another checkpoint than ``checkpoint``, or whose
    model config or action normalizer differ from that checkpoint's."""
    ours = checkpoint_hash(checkpoint)
    recorded = manifest.data['checkpoint']
    if ours['sha256'] == recorded['sha256']:
        _check_against_checkpoint(manifest, checkpoint)
        return
    changed = sorted(k for k in set(ours['files']) | set(recorded.get('files', {}))
                     if ours['files'].get(k) != recorded.get('files', {}).get(k))
    raise EngineError(
        f'engine {manifest.directory} was exported from checkpoint {recorded.get("path")} '
        f'(sha256 {recorded["sha256"][:12]}), but {checkpoint} has sha256 '
        f'{ours["sha256"][:12]} ({", ".join(changed)} differ); re-export it: vag-ros export '
        f'--checkpoint {checkpoint} --out {manifest.directory} --force')


def _check_against_checkpoint(manifest: Manifest, checkpoint: typing.Union[str, Path]) -> None:
    """The manifest's config and normalizer must be the checkpoint's own."""
    import torch
    from vag_ros.model.checkpoint import NORM_PREFIX, read_config, read_weights
    from vag_ros.model.normalization import ActionNormalizer
    problems = []
    if manifest.config().to_dict() != read_config(checkpoint).to_dict():
        problems.append('model config (sampler, shapes)')
    tensors, _ = read_weights(checkpoint)
    stats = {k: v for k, v in tensors.items() if k.startswith(NORM_PREFIX)}
    ours, theirs = ActionNormalizer.from_tensors(stats, NORM_PREFIX), manifest.normalizer()
    if ours.kind != theirs.kind or not all(
            torch.allclose(torch.as_tensor(x, dtype=torch.float64),
                           torch.as_tensor(y, dtype=torch.float64), rtol=1e-6, atol=1e-9)
            for x, y in ((ours.a, theirs.a), (ours.b, theirs.b))):
        problems.append('action normalizer')
    if problems:
        raise EngineError(f'engine {manifest.directory}: its {" and ".join(problems)} differ '
                          f'from checkpoint {checkpoint}; export again: vag-ros export '
                          f'--checkpoint {checkpoint} --out {manifest.directory} --force')


def verify_files(manifest: Manifest, entries: typing.Iterable[dict], full: bool = False
                 ) -> None:
    """Check that each {'file', 'bytes', 'sha256'} entry is present and unchanged."""
    root = manifest.directory
    for entry in entries:
        path = root / entry['file']
        if not path.is_file():
            raise EngineError(f'engine {root}: {entry["file"]} is missing; export again '
                              f'(vag-ros export --out {root} --force)')
        size = path.stat().st_size
        if size != entry['bytes']:
            raise EngineError(f'engine {root}: {entry["file"]} has {size} bytes, the manifest '
                              f'says {entry["bytes"]} (truncated or replaced); export again')
        if (full or size <= HASH_LIMIT) and sha256_file(path) != entry['sha256']:
            raise EngineError(f'engine {root}: {entry["file"]} does not match its sha256 in '
                              f'the manifest (corrupt or modified); export again')


def graph_entries(manifest: Manifest, graphs: typing.Iterable[str]) -> typing.List[dict]:
    """The file entries (graph + external data) of the named ONNX graphs."""
    out = []
    for graph in graphs:
        entry = manifest.data['graphs'].get(graph)
        if entry is None:
            raise EngineError(f'engine {manifest.directory}: no {graph} graph; export again')
        out.append(entry)
        out.extend(entry.get('data', []))
    return out


def engine_robot(manifest: Manifest, urdf=None):
    """The RobotDescription the engine was exported for (its robot.urdf, checked against the
    manifest); ``urdf`` may name the same robot's file, another robot's is refused."""
    from vag_ros.errors import ConfigError
    from vag_ros.robot.description import (
        check_same_robot, load_robot_description, parse_robot_description)
    entry = manifest.data.get('robot')
    if entry is None:
        raise EngineError(f'{manifest._where()} records no robot (exported before engines '
                          'carried one); export it again: vag-ros export --checkpoint <dir> '
                          f'--out {manifest.directory} --force')
    verify_files(manifest, [entry['file']])
    path = manifest.directory / entry['file']['file']
    try:
        robot = parse_robot_description(path.read_text(), path)
    except ConfigError as exc:
        raise EngineError(f'{path}: {exc}') from None
    if urdf:
        given = load_robot_description(urdf)
        check_same_robot(robot, given, manifest._where(), f'URDF {urdf}')
        return given
    return robot


def check_plan_environment(manifest: Manifest, precision: str, tensorrt_version: str,
                           gpu: typing.Mapping[str, str]) -> dict:
    """The plan set for ``precision``, refused unless built with this TensorRT on this GPU."""
    plans = manifest.plans()
    where = manifest.directory
    if precision not in plans:
        built = sorted(plans) or 'none'
        raise EngineError(f'engine {where}: no TensorRT plans for precision {precision!r} '
                          f'(built: {built}); build them: vag-ros build-engine {where} '
                          f'--precision {precision}')
    entry = plans[precision]
    problems = []
    if entry.get('tensorrt') != tensorrt_version:
        problems.append(f'TensorRT {entry.get("tensorrt")} (installed: {tensorrt_version})')
    want = entry.get('gpu', {})
    for key in ('name', 'compute_capability'):
        if want.get(key) != gpu.get(key):
            problems.append(f'GPU {key} {want.get(key)!r} (this GPU: {gpu.get(key)!r})')
    if problems:
        raise EngineError(f'engine {where}: the {precision} plans were built for '
                          f'{"; ".join(problems)}. TensorRT plans only load on the TensorRT '
                          f'version and GPU they were built with; rebuild them here: vag-ros '
                          f'build-engine {where} --precision {precision} --force')
    return entry
