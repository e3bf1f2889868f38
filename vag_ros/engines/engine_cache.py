"""A float32 engine per checkpoint in a cache folder, exported once and said so.

The demo runs the faster CPU backend (onnxruntime, see docs/engines.md); it needs
an engine, which this exports the first time into ``<root>/<checkpoint>-<hash>`` and reuses
after. The folder name carries the checkpoint hash, and loading checks the manifest against
the checkpoint again, so a changed checkpoint gets a new folder, never a stale engine.
"""

from pathlib import Path
import typing

from vag_ros.engines.manifest import checkpoint_hash

MANIFEST = 'manifest.json'


def cached_engine_dir(checkpoint: typing.Union[str, Path],
                      root: typing.Union[str, Path]) -> Path:
    """Where the engine of ``checkpoint`` lives under ``root``."""
    digest = checkpoint_hash(checkpoint)['sha256'][:12]
    return Path(root) / f'{Path(checkpoint).resolve().name}-{digest}'


def ensure_engine(checkpoint: typing.Union[str, Path], root: typing.Union[str, Path],
                  log: typing.Callable[[str], None] = print) -> Path:
    """The cached engine folder of ``checkpoint``, exporting it first if there is none."""
    from vag_ros.engines.manifest import read_manifest
    from vag_ros.errors import EngineError
    out = cached_engine_dir(checkpoint, root)
    stale = ''
    if (out / MANIFEST).is_file():
        try:
            read_manifest(out)
            log(f'engine: {out} (exported earlier from {checkpoint})')
            return out
        except EngineError as exc:  # an older format or a damaged cache: export again
            stale = f' again ({exc})'
    from vag_ros.engines.export import export_engine
    log(f'engine: exporting {checkpoint} to {out} once (ONNX, float32){stale}')
    export_engine(checkpoint, out, log=lambda line: None, force=bool(stale))
    return out
