"""One runtime interface over every backend: ``infer(dict) -> dict`` of named tensors.

A runtime runs one graph of the I/O contract. Feeds (torch tensors or numpy arrays) are
checked against the contract before they reach the backend; outputs are torch tensors on
the runtime's device, named as in the contract.
"""

import typing

import torch

from vag_ros.engines.backends import check_backend
from vag_ros.engines.io_contract import GraphContract
from vag_ros.errors import EngineError


class Runtime:
    """Base of the backends; subclasses implement ``_run``."""

    backend = ''

    def __init__(self, contract: GraphContract, device: typing.Union[str, torch.device] = 'cpu'):
        self.contract = contract
        self.device = torch.device(device)

    def infer(self, feeds: typing.Mapping[str, typing.Any]) -> typing.Dict[str, torch.Tensor]:
        """Run the graph once: {input name: tensor} -> {output name: tensor}."""
        self.contract.check_feeds(feeds)
        return self._run(feeds)

    def _run(self, feeds: typing.Mapping[str, typing.Any]) -> typing.Dict[str, torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> str:
        return f'{self.backend} ({self.device})'

    def close(self) -> None:
        """Release backend resources (sessions, device buffers)."""


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
