"""TensorRT where it exists: the import, the GPU identity and the dtype names.

TensorRT is imported only here and only when asked for; elsewhere it fails with a message
that says what to install or which backend to use instead.
"""

import typing

import torch

from vag_ros.errors import EngineError

MIN_MAJOR = 10


def import_tensorrt():
    """The ``tensorrt`` module (10+), or EngineError saying how to get it."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as exc:  # OSError: bindings present, libnvinfer missing
        raise EngineError(
            f'TensorRT is not available here ({type(exc).__name__}: {exc}). The tensorrt '
            f'backend and vag-ros build-engine need TensorRT {MIN_MAJOR}+ with its Python '
            f'bindings on a machine with an NVIDIA GPU (pip install tensorrt from NVIDIA\'s '
            f'index, or the TensorRT tar/deb packages); meanwhile use backend onnxruntime or '
            f'torch') from None
    version = getattr(trt, '__version__', '0')
    try:
        major = int(version.split('.')[0])
    except ValueError:
        major = 0
    if major < MIN_MAJOR:
        raise EngineError(f'TensorRT {version} is installed; vag_ros needs TensorRT '
                          f'{MIN_MAJOR}+ (named tensors, execute_async_v3)')
    return trt


def gpu_info(device: typing.Union[str, torch.device, None] = None) -> typing.Dict[str, str]:
    """{'name', 'compute_capability', 'memory_gib'} of a CUDA device; EngineError if none."""
    if not torch.cuda.is_available():
        raise EngineError('TensorRT needs a CUDA GPU, and torch sees none here (a CUDA build '
                          'of torch and an NVIDIA driver are needed); use backend onnxruntime '
                          'or torch on the CPU')
    device = torch.device(device or 'cuda')
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {'name': props.name, 'compute_capability': f'{props.major}.{props.minor}',
            'memory_gib': f'{props.total_memory / 2 ** 30:.1f}'}


def dtype_names(trt) -> typing.Dict[typing.Any, str]:
    """TensorRT DataType -> contract dtype name (those TensorRT has)."""
    names = {'FLOAT': 'float32', 'HALF': 'float16', 'BF16': 'bfloat16', 'BOOL': 'bool',
             'INT32': 'int32', 'INT64': 'int64', 'INT8': 'int8', 'UINT8': 'uint8',
             'FP8': 'float8_e4m3fn'}
    return {getattr(trt.DataType, k): v for k, v in names.items() if hasattr(trt.DataType, k)}
