"""The runtime of one graph on the backend asked for (each backend imported only when
chosen: onnxruntime and TensorRT are optional)."""

import typing

import torch

from vag_ros.engines.backends import check_backend
from vag_ros.engines.io_contract import GraphContract
from vag_ros.engines.runtime import Runtime
from vag_ros.errors import EngineError


def create_runtime(backend: str, contract: GraphContract, *, path=None, module=None,
                   device: typing.Union[str, torch.device] = 'cpu', **options) -> Runtime:
    """Runtime of one graph: ``module`` for torch, an ONNX ``path`` for onnxruntime, a plan
    ``path`` for tensorrt; ``options`` go to the backend (threads, compile, cuda_graph)."""
    check_backend(backend)
    if backend == 'torch':
        if module is None:
            raise EngineError('the torch runtime runs a module built from the checkpoint')
        from vag_ros.engines.torch_runtime import TorchRuntime
        return TorchRuntime(module, contract, device, **options)
    if path is None:
        raise EngineError(f'the {backend} runtime needs a graph file')
    if backend == 'onnxruntime':
        from vag_ros.engines.onnxruntime_runtime import OnnxRuntimeRuntime
        return OnnxRuntimeRuntime(path, contract, device, **options)
    from vag_ros.engines.tensorrt_runtime import TensorRTRuntime
    return TensorRTRuntime(path, contract, device, **options)
