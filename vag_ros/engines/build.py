"""Build TensorRT plans from an engine folder's ONNX graphs (TensorRT 10+ Python builder).

One plan per graph, ``<graph>.<precision>.plan``, with a timing cache kept in the folder
(per TensorRT version and GPU), progress printed while TensorRT works (builds take
minutes), and the TensorRT version and GPU recorded in the manifest, which the loader
checks. Precision: a graph exported in the wanted dtype (fp32, fp16) builds strongly typed
(TensorRT 10 and 11); a float32 graph builds fp16/bf16 with TensorRT 10's builder flags
where they still exist (bf16 graphs cannot be exported at the exporter's opsets); fp8 needs
a graph quantized with Q/DQ nodes (NVIDIA ModelOpt).
"""

import time
import typing

from vag_ros.engines import io_contract as io
from vag_ros.engines.manifest import (file_entry, graph_entries, now, read_manifest,
                                      verify_files)
from vag_ros.engines.tensorrt_support import gpu_info, import_tensorrt
from vag_ros.errors import EngineError

PRECISIONS = ('fp32', 'fp16', 'bf16', 'fp8')
DTYPE_OF = {'fp32': 'float32', 'fp16': 'float16', 'bf16': 'bfloat16', 'fp8': None}
FLAG_OF = {'fp16': 'FP16', 'bf16': 'BF16'}
PLAN_GRAPHS = (io.STEP, io.ENCODER, io.DECODER, io.ACTION)
FP8_ONNX_TYPES = (17, 18, 19, 20)  # TensorProto.FLOAT8E4M3FN ... FLOAT8E5M2FNUZ


def plan_name(graph: str, precision: str) -> str:
    return f'{graph}.{precision}.plan'


def has_fp8_qdq(path) -> bool:
    """True if the ONNX graph carries FP8 Quantize/DequantizeLinear nodes (ModelOpt)."""
    import onnx
    model = onnx.load(str(path), load_external_data=False)
    if not any(n.op_type in ('QuantizeLinear', 'DequantizeLinear') for n in model.graph.node):
        return False
    return any(t.data_type in FP8_ONNX_TYPES for t in model.graph.initializer) or any(
        a.name == 'output_dtype' and a.i in FP8_ONNX_TYPES
        for n in model.graph.node for a in n.attribute)


def build_mode(trt, graph: io.GraphContract, precision: str, onnx_path) -> typing.Tuple[bool, str]:
    """(strongly typed, builder flag name or '') for one graph, or EngineError saying why not."""
    graph_dtype = next((s.dtype for s in graph.inputs if s.dtype in io.FLOAT_DTYPES),
                       'float32')
    want = DTYPE_OF[precision]
    weak_flag = FLAG_OF.get(precision, '')
    weak_ok = bool(weak_flag) and hasattr(trt.BuilderFlag, weak_flag)
    if precision == 'fp8':
        if has_fp8_qdq(onnx_path):
            return True, ''
        if graph.name in (io.ENCODER, io.DECODER):
            return True, ''  # the codec stays as exported
        raise EngineError(f'--precision fp8: {onnx_path.name} has no FP8 Q/DQ nodes. TensorRT '
                          f'builds FP8 only from explicitly quantized graphs: quantize it with '
                          f'NVIDIA ModelOpt (modelopt.onnx.quantization, fp8) into the engine '
                          f'folder, or build bf16')
    if graph_dtype == want:
        return True, ''
    if weak_ok:
        return False, weak_flag
    if graph.name in (io.ENCODER, io.DECODER):
        return True, ''  # codec graphs are float32 by design
    how = (f'export a {want} engine (vag-ros export --dtype {want})' if want == 'float16'
           else f'convert the graphs to {want} with NVIDIA ModelOpt AutoCast, or build fp16 '
           f'from a vag-ros export --dtype float16 engine')
    raise EngineError(f'--precision {precision}: {onnx_path.name} is {graph_dtype} and '
                      f'TensorRT {trt.__version__} has no BuilderFlag.{weak_flag or "?"} (weak '
                      f'typing is gone); {how}')


def build_engine(engine_dir, precision: str, *, workspace_gib: typing.Optional[float] = None,
                 timing_cache: typing.Optional[str] = None, force: bool = False,
                 graphs: typing.Sequence[str] = PLAN_GRAPHS,
                 log: typing.Callable[[str], None] = print):
    """Build the plans of ``engine_dir`` at ``precision``; returns the updated manifest."""
    if precision not in PRECISIONS:
        raise EngineError(f'--precision {precision!r}: expected one of {list(PRECISIONS)}')
    manifest = read_manifest(engine_dir)
    root = manifest.directory
    if precision in manifest.plans() and not force:
        old = manifest.plans()[precision]
        raise EngineError(f'engine {root} already has {precision} plans (TensorRT '
                          f'{old.get("tensorrt")}, {old.get("gpu", {}).get("name")}); pass '
                          f'--force to rebuild them')
    verify_files(manifest, graph_entries(manifest, graphs), full=True)
    trt = import_tensorrt()
    gpu = gpu_info()
    contract = manifest.contract
    modes = {g: build_mode(trt, contract.graphs[g], precision, manifest.graph_file(g))
             for g in graphs}
    cache_path = root / (timing_cache or f'timing.{trt.__version__}.'
                         f'sm{gpu["compute_capability"].replace(".", "")}.cache')
    log(f'building {len(graphs)} {precision} plans with TensorRT {trt.__version__} on '
        f'{gpu["name"]} (sm {gpu["compute_capability"]}); this takes minutes, progress below')
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    cache_config = builder.create_builder_config()
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b''
    cache = cache_config.create_timing_cache(cache_bytes)
    if cache_bytes:
        log(f'timing cache: {cache_path.name} ({len(cache_bytes)} bytes)')
    entries, start = {}, time.monotonic()
    for g in graphs:
        strong, flag = modes[g]
        plan = _build_plan(trt, builder, logger, manifest.graph_file(g), contract.graphs[g],
                           strong, flag, cache, workspace_gib, log)
        path = root / plan_name(g, precision)
        tmp = path.with_suffix('.plan.tmp')
        tmp.write_bytes(plan)
        tmp.replace(path)
        entries[g] = file_entry(path, root)
        entries[g]['typing'] = 'strong' if strong else f'weak+{flag}'
    cache_path.write_bytes(bytes(memoryview(cache.serialize())))
    manifest.data.setdefault('plans', {})[precision] = {
        'tensorrt': trt.__version__, 'gpu': gpu, 'built': now(),
        'build_s': round(time.monotonic() - start, 1), 'timing_cache': cache_path.name,
        'workspace_gib': workspace_gib, 'graphs': entries}
    manifest.write(root)
    log(f'built {precision} plans in {time.monotonic() - start:.0f} s; manifest updated')
    return manifest


def _build_plan(trt, builder, logger, onnx_path, graph: io.GraphContract, strong: bool,
                flag: str, cache, workspace_gib, log) -> bytes:
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strong else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineError(f'TensorRT cannot parse {onnx_path.name}: {"; ".join(errors[:5])}')
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i).name for i in range(network.num_outputs)]
    if ([t.name for t in inputs], outputs) != (list(graph.input_names),
                                               list(graph.output_names)):
        raise EngineError(f'{onnx_path.name}: network tensors {[t.name for t in inputs]} -> '
                          f'{outputs} do not match the contract; export the engine again')
    config = builder.create_builder_config()
    if workspace_gib:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2 ** 30))
    if flag:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if any(d < 0 for t in inputs for d in tuple(t.shape)):  # dynamic dims need a profile
        profile = builder.create_optimization_profile()
        for name in graph.input_names:
            profile.set_shape(name, *graph.profile_shapes(name))
        config.add_optimization_profile(profile)
    config.set_timing_cache(cache, False)  # ignore_mismatch=False: never use a foreign cache
    monitor = _progress_monitor(trt, graph.name, log)
    if monitor is not None:
        config.progress_monitor = monitor
    log(f'{graph.name}: building ({"strongly typed" if strong else "flag " + flag})')
    start = time.monotonic()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f'TensorRT failed to build {onnx_path.name} (see its log above)')
    log(f'{graph.name}: built in {time.monotonic() - start:.0f} s')
    return bytes(memoryview(plan))


def _progress_monitor(trt, graph: str, log, every_s: float = 2.0):
    """A trt.IProgressMonitor printing phases and at most one step line per ``every_s``."""
    base = getattr(trt, 'IProgressMonitor', None)
    if base is None:
        return None

    class Progress(base):
        def __init__(self):
            base.__init__(self)
            self.steps: typing.Dict[str, int] = {}
            self.last = 0.0
            self.start = time.monotonic()

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.steps[phase_name] = num_steps
            if parent_phase is None:
                log(f'{graph}: {phase_name} ({num_steps} steps)')

        def step_complete(self, phase_name, step):
            now_s = time.monotonic()
            if now_s - self.last >= every_s:
                self.last = now_s
                log(f'{graph}: {phase_name} {step + 1}/{self.steps.get(phase_name, "?")} '
                    f'({now_s - self.start:.0f} s)')
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            self.steps.pop(phase_name, None)

    return Progress()
