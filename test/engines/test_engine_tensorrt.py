"""Everything around TensorRT, which cannot be installed here: the build against a stand-in
``tensorrt`` module that records the TensorRT 10 Python API calls, and the refusals."""

import importlib.util
import json
import shutil
import sys
import types

import pytest
import torch

from vag_ros.cli import main
from vag_ros.engines import build as build_module
from vag_ros.engines import io_contract as io
from vag_ros.engines import tensorrt_support
from vag_ros.engines.build import build_engine, plan_name
from vag_ros.engines.engine_pipeline import open_engine
from vag_ros.engines.export import export_engine, onnx_io
from vag_ros.engines.manifest import read_manifest
from vag_ros.errors import EngineError

HAS_TENSORRT = importlib.util.find_spec('tensorrt') is not None
GPU = {'name': 'NVIDIA H100 80GB HBM3', 'compute_capability': '9.0', 'memory_gib': '79.1'}


def fake_tensorrt(version='10.13.0', weak_flags=True, parse_ok=True):
    """A stand-in for the parts of the TensorRT 10 Python API that build.py uses."""
    trt = types.ModuleType('tensorrt')
    trt.__version__ = version
    trt.calls = []

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape = name, shape

    class Network:
        def __init__(self, flags):
            self.flags, self.inputs, self.outputs = flags, [], []
            self.num_inputs = self.num_outputs = 0

        def get_input(self, i):
            return self.inputs[i]

        def get_output(self, i):
            return self.outputs[i]

    class OnnxParser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network, logger):
            self.network = network

        def parse_from_file(self, path):
            if not parse_ok:
                return False
            inputs, outputs = onnx_io(path)
            n = self.network
            n.inputs = [Tensor(name, shape) for name, _, shape in inputs]
            n.outputs = [Tensor(name, shape) for name, _, shape in outputs]
            n.num_inputs, n.num_outputs = len(n.inputs), len(n.outputs)
            n.path = path
            return True

        def get_error(self, i):
            return 'In node 3 (Conv): unsupported'

    class Cache:
        def __init__(self, data):
            self.data = bytes(data)

        def serialize(self):
            return self.data + b'+'

    class Config:
        def __init__(self):
            self.flags, self.pools, self.profiles, self.progress_monitor = [], {}, [], None

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def set_flag(self, flag):
            self.flags.append(flag)

        def add_optimization_profile(self, profile):
            self.profiles.append(profile)

        def create_timing_cache(self, data):
            return Cache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            assert ignore_mismatch is False
            self.cache = cache
            return True

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return types.SimpleNamespace(set_shape=lambda *a: None)

        def build_serialized_network(self, network, config):
            monitor = config.progress_monitor
            monitor.phase_start('Building engine', None, 2)
            for step in range(2):
                assert monitor.step_complete('Building engine', step) is True
            monitor.phase_finish('Building engine')
            trt.calls.append({'onnx': network.path, 'flags': network.flags,
                              'builder_flags': list(config.flags), 'pools': config.pools})
            return memoryview(json.dumps(trt.calls[-1]).encode())

    class IProgressMonitor:
        def __init__(self):
            pass

    flags = {'FP16': 'FP16', 'BF16': 'BF16'} if weak_flags else {}
    trt.Logger, trt.OnnxParser, trt.Builder, trt.IProgressMonitor = (
        Logger, OnnxParser, Builder, IProgressMonitor)
    trt.BuilderFlag = types.SimpleNamespace(**flags)
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE='WORKSPACE')
    return trt


@pytest.fixture
def copy(engine, tmp_path):
    return shutil.copytree(engine, tmp_path / 'engine')


@pytest.fixture
def with_trt(monkeypatch):
    def install(**kwargs):
        trt = fake_tensorrt(**kwargs)
        monkeypatch.setitem(sys.modules, 'tensorrt', trt)
        monkeypatch.setattr(build_module, 'gpu_info', lambda device=None: dict(GPU))
        monkeypatch.setattr(tensorrt_support, 'gpu_info', lambda device=None: dict(GPU))
        return trt
    return install


def test_build_writes_plans_timing_cache_and_records_tensorrt_and_gpu(copy, with_trt):
    trt = with_trt()
    lines = []
    manifest = build_engine(copy, 'bf16', workspace_gib=2, log=lines.append)
    entry = manifest.plans()['bf16']
    assert entry['tensorrt'] == '10.13.0' and entry['gpu'] == GPU
    assert set(entry['graphs']) == set(io.GRAPHS)
    for graph, plan in entry['graphs'].items():
        assert plan['file'] == plan_name(graph, 'bf16') and (copy / plan['file']).is_file()
        assert plan['typing'] == 'weak+BF16'  # float32 graphs, TensorRT 10's flag
    assert read_manifest(copy).plans() == manifest.plans()  # written to disk
    assert (copy / entry['timing_cache']).read_bytes() == b'+'
    assert all(c['builder_flags'] == ['BF16'] and c['flags'] == 0 for c in trt.calls)
    assert trt.calls[0]['pools'] == {'WORKSPACE': 2 * 2 ** 30}
    text = '\n'.join(lines)
    assert 'this takes minutes' in text and 'denoise_step: Building engine (2 steps)' in text
    assert 'denoise_step: Building engine 1/2' in text and 'manifest updated' in text
    with pytest.raises(EngineError, match='already has bf16 plans.*--force'):
        build_engine(copy, 'bf16', log=lines.append)
    build_engine(copy, 'bf16', force=True, log=lines.append)
    assert (copy / entry['timing_cache']).read_bytes() == b'++'  # the cache was reused
    assert any(line.startswith('timing cache:') for line in lines)


def test_float16_export_builds_strongly_typed(checkpoint, tmp_path, with_trt):
    trt = with_trt(weak_flags=False)  # as TensorRT 11: no weak typing
    export_engine(checkpoint, tmp_path / 'fp16', dtype='float16', log=lambda m: None)
    manifest = build_engine(tmp_path / 'fp16', 'fp16', log=lambda m: None)
    assert {p['typing'] for p in manifest.plans()['fp16']['graphs'].values()} == {'strong'}
    assert all(c['flags'] == 2 and c['builder_flags'] == [] for c in trt.calls)


def test_precisions_tensorrt_cannot_build_are_refused(copy, with_trt):
    with_trt(weak_flags=False)
    with pytest.raises(EngineError, match='no BuilderFlag.BF16.*ModelOpt AutoCast'):
        build_engine(copy, 'bf16', log=lambda m: None)
    with pytest.raises(EngineError, match='no FP8 Q/DQ nodes.*ModelOpt'):
        build_engine(copy, 'fp8', log=lambda m: None)
    with pytest.raises(EngineError, match="--precision 'int4'"):
        build_engine(copy, 'int4', log=lambda m: None)
    assert read_manifest(copy).plans() == {}  # nothing half-recorded


def test_parse_errors_are_reported(copy, with_trt):
    with_trt(parse_ok=False)
    with pytest.raises(EngineError, match='TensorRT cannot parse denoise_step.onnx: In node 3'):
        build_engine(copy, 'fp32', log=lambda m: None)


def test_loading_checks_plans_before_touching_the_gpu(copy, with_trt):
    with_trt()
    build_engine(copy, 'bf16', log=lambda m: None)
    with_trt(version='10.14.1')
    with pytest.raises(EngineError, match=r'built for TensorRT 10.13.0 \(installed: 10.14.1\)'):
        open_engine(copy, 'tensorrt')
    with pytest.raises(EngineError, match="no TensorRT plans for precision 'fp16'"):
        open_engine(copy, 'tensorrt', precision='fp16')
    with pytest.raises(EngineError, match='runs on a GPU, not device cpu: set the device to '
                       'cuda'):
        open_engine(copy, 'tensorrt', device='cpu')


def test_old_tensorrt_and_missing_cuda_are_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tensorrt', fake_tensorrt(version='8.6.1'))
    with pytest.raises(EngineError, match='TensorRT 8.6.1 is installed; vag_ros needs '
                       'TensorRT 10'):
        tensorrt_support.import_tensorrt()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(EngineError, match='TensorRT needs a CUDA GPU'):
        tensorrt_support.gpu_info()


@pytest.mark.skipif(HAS_TENSORRT, reason='TensorRT is installed here')
def test_build_engine_cli_without_tensorrt(engine, capsys):
    assert main(['build-engine', str(engine), '--precision', 'bf16']) == 2
    err = capsys.readouterr().err
    assert 'TensorRT is not available here' in err and 'use backend onnxruntime' in err
