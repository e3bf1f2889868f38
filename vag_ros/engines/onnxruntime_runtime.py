"""The onnxruntime backend: one InferenceSession per graph, CPU or CUDA provider."""

from pathlib import Path
import typing

import numpy as np
import torch

from vag_ros.engines.io_contract import GraphContract
from vag_ros.engines.runtime import Runtime
from vag_ros.errors import EngineError


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise EngineError('onnxruntime is not installed: pip install onnxruntime (CPU) or '
                          'onnxruntime-gpu (CUDA)') from None
    return onnxruntime


def providers_for(device: torch.device, available: typing.Sequence[str]) -> list:
    """Execution providers for a torch device; EngineError if its provider is missing."""
    if device.type == 'cpu':
        return ['CPUExecutionProvider']
    if device.type == 'cuda':
        if 'CUDAExecutionProvider' not in available:
            raise EngineError(f'device {device}: onnxruntime has no CUDAExecutionProvider '
                              f'here (available: {list(available)}); install onnxruntime-gpu '
                              f'or use device cpu')
        return [('CUDAExecutionProvider', {'device_id': device.index or 0}),
                'CPUExecutionProvider']
    raise EngineError(f'device {device}: onnxruntime runs on cpu or cuda')


class OnnxRuntimeRuntime(Runtime):
    """Runs an exported ONNX graph; host numpy in and out, outputs moved to ``device``.

    ``threads``: intra-op threads (0: onnxruntime's choice, one per physical core).
    ``spinning``: let idle intra-op threads busy-wait for the next operator. Off by default:
    an engine runs one session per graph, each with its own pool, beside torch work (the text
    encoder, the sampler) and the ROS executor; pools that spin take the cores those need
    (measured in docs/few_step.md, ``scripts/ort_spinning_check.py``).
    """

    backend = 'onnxruntime'

    def __init__(self, path: typing.Union[str, Path], contract: GraphContract,
                 device: typing.Union[str, torch.device] = 'cpu', threads: int = 0,
                 spinning: bool = False):
        super().__init__(contract, device)
        ort = import_onnxruntime()
        bad = [s.name for s in contract.inputs if s.dtype == 'bfloat16']
        if bad:
            raise EngineError(f'{path}: inputs {bad} are bfloat16, which onnxruntime does not '
                              f'run; export a float32 engine for onnxruntime (--dtype float32)')
        self.path = Path(path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads)
        options.add_session_config_entry('session.intra_op.allow_spinning',
                                         '1' if spinning else '0')
        options.log_severity_level = 3  # errors only; failures raise below
        providers = providers_for(self.device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile
            raise EngineError(f'onnxruntime cannot load {self.path} ({type(exc).__name__}: '
                              f'{exc}); export the engine again') from None
        names = ([i.name for i in self.session.get_inputs()],
                 [o.name for o in self.session.get_outputs()])
        if names != (list(contract.input_names), list(contract.output_names)):
            raise EngineError(f'{self.path}: graph tensors {names} do not match the contract '
                              f'{list(contract.input_names)} -> {list(contract.output_names)}; '
                              f'export the engine again')
        self.providers = self.session.get_providers()

    def _run(self, feeds):
        arrays = {n: _numpy(feeds[n]) for n in self.contract.input_names}
        try:
            out = self.session.run(list(self.contract.output_names), arrays)
        except Exception as exc:
            raise EngineError(f'onnxruntime failed on {self.contract.name}: {exc}') from None
        return {n: torch.from_numpy(o).to(self.device)
                for n, o in zip(self.contract.output_names, out)}

    def describe(self) -> str:
        return f'onnxruntime ({self.providers[0]})'


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(value)
