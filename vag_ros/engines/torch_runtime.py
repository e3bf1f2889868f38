"""The torch backend: the graph modules run eagerly or through ``torch.compile``."""

import typing

import torch

from vag_ros.engines.io_contract import GraphContract, TORCH_DTYPES
from vag_ros.engines.runtime import Runtime


class TorchRuntime(Runtime):
    """Runs a module of ``vag_ros.engines.graphs`` (positional inputs in contract order)."""

    backend = 'torch'

    def __init__(self, module: torch.nn.Module, contract: GraphContract,
                 device: typing.Union[str, torch.device] = 'cpu', compile: bool = False,
                 compile_mode: typing.Optional[str] = None):
        super().__init__(contract, device)
        self.module = module.to(self.device).eval()
        self.compiled = compile
        self.fn = torch.compile(self.module, mode=compile_mode) if compile else self.module

    def _run(self, feeds):
        args = []
        for spec in self.contract.inputs:
            value = torch.as_tensor(feeds[spec.name])
            args.append(value.to(self.device, TORCH_DTYPES[spec.dtype]))
        with torch.no_grad():
            out = self.fn(*args)
        if isinstance(out, torch.Tensor):
            out = (out,)
        return dict(zip(self.contract.output_names, out))

    def describe(self) -> str:
        return f'torch{" compile" if self.compiled else " eager"} ({self.device})'
