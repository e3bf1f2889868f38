"""The TensorRT backend (10+): named tensors, preallocated device buffers, execute_async_v3,
and the enqueue captured once in a CUDA graph and replayed every step.

Shapes are static per engine (the contract's profile opt), so every buffer is allocated
once with torch on the GPU and bound by address; ``infer`` copies the feeds in, replays,
and returns copies of the outputs.
"""

from pathlib import Path
import typing
import warnings

import torch

from vag_ros.engines.io_contract import GraphContract, TORCH_DTYPES
from vag_ros.engines.runtime import Runtime
from vag_ros.engines.tensorrt_support import dtype_names, import_tensorrt
from vag_ros.errors import EngineError


class TensorRTRuntime(Runtime):
    """Runs one serialized TensorRT plan on a CUDA device."""

    backend = 'tensorrt'

    def __init__(self, path: typing.Union[str, Path], contract: GraphContract,
                 device: typing.Union[str, torch.device] = 'cuda', cuda_graph: bool = True):
        super().__init__(contract, device)
        trt = import_tensorrt()
        if self.device.type != 'cuda' or not torch.cuda.is_available():
            raise EngineError(f'the tensorrt backend runs on a CUDA device, not {self.device}')
        self.path = Path(path)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise EngineError(f'TensorRT cannot deserialize {self.path} (corrupt, or built by '
                              f'another TensorRT); rebuild it with vag-ros build-engine')
        self.engine = engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if (sorted(inputs), sorted(outputs)) != (sorted(contract.input_names),
                                                 sorted(contract.output_names)):
            raise EngineError(f'{self.path}: plan tensors {inputs} -> {outputs} do not match '
                              f'the contract {list(contract.input_names)} -> '
                              f'{list(contract.output_names)}; rebuild it')
        self.context = engine.create_execution_context()
        self.stream = torch.cuda.Stream(self.device)
        shapes = contract.shapes('opt')
        types = dtype_names(trt)
        self.buffers: typing.Dict[str, torch.Tensor] = {}
        for name in inputs:
            self.context.set_input_shape(name, shapes[name])
        for name in names:
            dtype = types.get(engine.get_tensor_dtype(name))
            if dtype not in TORCH_DTYPES:
                raise EngineError(f'{self.path}: tensor {name} has TensorRT dtype '
                                  f'{engine.get_tensor_dtype(name)}, not one of the contract')
            shape = tuple(self.context.get_tensor_shape(name))
            if shape != shapes[name]:
                raise EngineError(f'{self.path}: tensor {name} has shape {shape}, the contract '
                                  f'says {shapes[name]}; rebuild the plan')
            self.buffers[name] = torch.empty(shape, dtype=TORCH_DTYPES[dtype], device=self.device)
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.use_graph = cuda_graph
        self.graph: typing.Optional[torch.cuda.CUDAGraph] = None

    def _enqueue(self) -> None:
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise EngineError(f'TensorRT execute_async_v3 failed on {self.path.name}')

    def _run(self, feeds):
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            for name in self.contract.input_names:
                buffer = self.buffers[name]
                buffer.copy_(torch.as_tensor(feeds[name]).to(buffer.device, buffer.dtype),
                             non_blocking=True)
            if self.graph is not None:
                self.graph.replay()
            else:
                self._enqueue()
            out = {n: self.buffers[n].clone() for n in self.contract.output_names}
        torch.cuda.current_stream(self.device).wait_stream(self.stream)
        if self.use_graph and self.graph is None:
            self._capture()  # after one plain run, which does TensorRT's lazy setup
        return out

    def _capture(self) -> None:
        """Capture the enqueue in a CUDA graph; fall back to plain enqueues if it fails."""
        graph = torch.cuda.CUDAGraph()
        try:
            self.stream.synchronize()
            with torch.cuda.graph(graph, stream=self.stream):
                self._enqueue()
            self.graph = graph
        except (RuntimeError, EngineError) as exc:
            self.use_graph = False
            warnings.warn(f'{self.path.name}: CUDA graph capture failed ({exc}); running '
                          f'plain enqueues')

    def describe(self) -> str:
        return f'tensorrt{" + CUDA graph" if self.use_graph else ""} ({self.device})'

    def close(self) -> None:
        self.graph = None
        self.buffers = {}
        self.context = None
        self.engine = None
