"""The backends that run a checkpoint, named once (no torch import: nodes' configs use it)."""

from vag_ros.errors import EngineError

BACKENDS = ('torch', 'onnxruntime', 'tensorrt')
ENGINE_BACKENDS = ('onnxruntime', 'tensorrt')  # run an engine folder (vag-ros export)


def check_backend(backend: str) -> str:
    """``backend`` if it is one of BACKENDS; EngineError otherwise."""
    if backend not in BACKENDS:
        raise EngineError(f'backend {backend!r}: expected one of {list(BACKENDS)}')
    return backend


def check_backend_sources(backend: str, checkpoint, engine_dir,
                          engine_name: str = 'engine_dir',
                          checkpoint_name: str = 'checkpoint') -> None:
    """Refuse a backend without what it runs, and an engine folder the backend ignores.

    ``engine_name`` / ``checkpoint_name``: how the caller's user names them (--engine,
    engine_dir; --checkpoint, checkpoint).
    """
    check_backend(backend)
    if backend in ENGINE_BACKENDS and not engine_dir:
        raise EngineError(
            f'backend {backend} runs an engine folder: set {engine_name} (vag-ros export '
            f'--checkpoint '
            f'{checkpoint or "<dir>"} --out engines/<name>'
            f'{"; then vag-ros build-engine" if backend == "tensorrt" else ""}), or use '
            'backend torch')
    if backend == 'torch' and not checkpoint:
        raise EngineError(f'backend torch runs a checkpoint: set {checkpoint_name} to its '
                          'folder (model.safetensors + config.yaml)')
    if backend == 'torch' and engine_dir:
        raise EngineError(f'{engine_name} is for backend onnxruntime or tensorrt; backend '
                          f'torch runs the checkpoint itself: drop {engine_name} or pick an '
                          'engine backend')
