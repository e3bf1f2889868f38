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


def pipeline_robot(checkpoint: PathLike = None, engine_dir: PathLike = None,
                   urdf: PathLike = None):
    """The RobotDescription the model drives: the checkpoint's robot.urdf when a checkpoint
    is named (an engine from it carries the same, its hash covers the file), else the
    engine's. ``urdf`` may name the same robot's file; another robot's is refused."""
    if checkpoint:
        from vag_ros.model.checkpoint import checkpoint_robot
        return checkpoint_robot(checkpoint, urdf or None)
    from vag_ros.engines.manifest import engine_robot, read_manifest
    return engine_robot(read_manifest(engine_dir), urdf or None)
