"""One pipeline factory: ``load_pipeline(backend, checkpoint, engine_dir, device)``.

Every caller (the generator node, ``vag-ros generate``, ``synthesize``, ``bench``) gets its
GenerationPipeline here, as lerobot's ``make_policy``: torch runs the checkpoint
(``VagPipeline``), onnxruntime and tensorrt run an engine folder checked against the
checkpoint when one is named (``open_engine``). All of them return the same
``GenerationResult`` from ``generate``.
"""

from pathlib import Path
import typing

from vag_ros.engines.backends import check_backend_sources

PathLike = typing.Union[str, Path, None]


def load_pipeline(backend: str, checkpoint: PathLike = None, engine_dir: PathLike = None,
                  device: typing.Optional[str] = None, **engine_options):
    """The pipeline of ``backend``; EngineError / CheckpointError say what is missing.

    ``engine_options`` go to ``open_engine`` (precision, threads, graphs, cuda_graph...).
    """
    check_backend_sources(backend, checkpoint, engine_dir)
    if backend == 'torch':
        from vag_ros.model.pipeline import VagPipeline
        return VagPipeline.from_checkpoint(checkpoint, device or 'cpu')
    from vag_ros.engines.engine_pipeline import open_engine
    return open_engine(engine_dir, backend, checkpoint=checkpoint or None, device=device,
                       **engine_options)
