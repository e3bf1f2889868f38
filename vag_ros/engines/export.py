"""Export a joint VAG checkpoint to an engine folder of ONNX graphs and a manifest.

    engines/<name>/
      manifest.json            checkpoint hash, config, contract, files, versions, plans
      denoise_step.onnx        video DiT (CFG pair) -> z0 -> 3D pooling -> U-Net, 2 velocities
      action_branch.onnx       the step's action part alone (benchmarks its share)
      latent_encoder.onnx      first frame -> latent (float32)
      latent_decoder.onnx      latents [+ first frame with a learned decoder] -> video (float32)
      text_cache.safetensors   embeddings of the instructions given at export (optional)

Graphs are traced with torch.onnx's TorchScript exporter at static shapes (batch 1), pass
``onnx.checker`` with full shape inference, must match the I/O contract tensor for tensor,
and (float32) must reproduce torch under onnxruntime before the manifest is written.
"""

import contextlib
import os
from pathlib import Path
import shutil
import typing
import warnings

import torch

from vag_ros.engines import io_contract as io
from vag_ros.engines.graphs import graph_modules, sample_inputs
from vag_ros.engines.manifest import (checkpoint_hash, file_entry, FORMAT, Manifest, MANIFEST,
                                      now, ROBOT_FILE, tool_versions, VERSION)
from vag_ros.engines.text_cache import FILE as TEXT_CACHE, write_text_cache
from vag_ros.errors import EngineError
from vag_ros.model.checkpoint import checkpoint_robot, read_config
from vag_ros.outputs import real_path

FILES = {io.STEP: 'denoise_step.onnx', io.ACTION: 'action_branch.onnx',
         io.ENCODER: 'latent_encoder.onnx', io.DECODER: 'latent_decoder.onnx'}
DEFAULT_OPSET = 17
EXPORT_DTYPES = ('float32', 'float16')
CFG_CHOICES = ('auto', 'on', 'off')
# protobuf cannot hold more than 2 GiB: larger graphs keep their weights in <file>.data
EXTERNAL_DATA_BYTES = 1_800_000_000
# float32 export check: max |onnxruntime - torch| <= ATOL + RTOL * max |torch|
VERIFY_ATOL, VERIFY_RTOL = 1e-4, 1e-4
ONNX_DTYPES = {1: 'float32', 10: 'float16', 16: 'bfloat16', 9: 'bool', 7: 'int64', 6: 'int32'}


def resolve_cfg(cfg: str, config) -> bool:
    """'auto' -> guided pair iff the config's guidance_scale != 1."""
    if cfg not in CFG_CHOICES:
        raise EngineError(f'cfg={cfg!r}: expected one of {CFG_CHOICES}')
    if cfg == 'auto':
        return config.sampler.guidance_scale != 1.0
    return cfg == 'on'


def export_engine(checkpoint: typing.Union[str, Path], out: typing.Union[str, Path], *,
                  cfg: str = 'auto', dtype: str = 'float32', opset: int = DEFAULT_OPSET,
                  instructions: typing.Sequence[str] = (), force: bool = False,
                  verify: bool = True, external_data: typing.Optional[bool] = None,
                  device: typing.Union[str, torch.device] = 'cpu',
                  log: typing.Callable[[str], None] = print, urdf=None) -> Manifest:
    """Write the engine folder ``out``; returns its manifest.

    ``out`` must be new, empty, or (with ``force``) an engine folder, which is replaced
    only once the new export is complete. ``device`` traces (and verifies) there: cuda for
    the paper-sized model, whose traced forward is too big for a CPU.
    """
    from vag_ros.model.pipeline import VagPipeline
    from vag_ros.model.text import NullTextEncoder
    checkpoint, out = Path(checkpoint), Path(out)
    if dtype not in EXPORT_DTYPES:
        raise EngineError(f'--dtype {dtype}: export writes {list(EXPORT_DTYPES)} graphs (the '
                          f'opsets <= 20 of the TorchScript exporter lack bfloat16 pooling); '
                          f'export float32 and build bf16 TensorRT plans from it')
    _check_out(out, force, checkpoint)
    digest = checkpoint_hash(checkpoint)  # before loading: the engine names what it read
    robot = checkpoint_robot(checkpoint, urdf)
    config = read_config(checkpoint)
    # the text model is loaded only to fill the text cache (T5-XXL is 19 GB in float32)
    null = NullTextEncoder(config.text.embed_dim, config.text.max_length)
    pipe = VagPipeline.from_checkpoint(checkpoint, device, text_encoder=null)
    contract = io.engine_contract(config, resolve_cfg(cfg, config), dtype)
    pipe.model.to(io.TORCH_DTYPES[dtype])  # the codec stays float32
    modules = graph_modules(pipe.model, pipe.codec, contract)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f'.{out.name}.export-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        graphs, verification = {}, {}
        for name in io.GRAPHS:
            graph = contract.graphs[name]
            log(f'export {name} -> {FILES[name]}')
            inputs = sample_inputs(graph, seed=len(graphs), device=device)
            path = tmp / FILES[name]
            data = export_graph(modules[name], inputs, graph, path, opset, external_data)
            check_graph(path, graph)
            entry = file_entry(path, tmp)
            entry['data'] = [file_entry(p, tmp) for p in data]
            graphs[name] = entry
            if verify:
                verification[name] = verify_graph(path, modules[name], inputs, graph, log)
                if verification[name] is not None:
                    log(f'  onnxruntime vs torch: max |diff| {verification[name]:.2e}')
        text = None
        if instructions:
            from vag_ros.model.text import build_text_encoder
            kept = write_text_cache(tmp / TEXT_CACHE, build_text_encoder(config.text),
                                    instructions)
            text = dict(file_entry(tmp / TEXT_CACHE, tmp), instructions=kept)
        normalizer = pipe.normalizer
        (tmp / ROBOT_FILE).write_text(robot.urdf)
        manifest = Manifest({
            'format': FORMAT, 'version': VERSION, 'name': out.name, 'created': now(),
            'checkpoint': {'path': str(checkpoint.resolve()), **digest},
            'config': config.to_dict(), 'contract': contract.to_dict(),
            'precision': dtype, 'opset': opset, 'exporter': 'torch.onnx (TorchScript)',
            'tools': tool_versions(), 'graphs': graphs, 'verification': verification,
            'text_cache': text,
            'robot': {**robot.identity(), 'file': file_entry(tmp / ROBOT_FILE, tmp)},
            'normalizer': {'kind': normalizer.kind, 'a': normalizer.a.tolist(),
                           'b': normalizer.b.tolist()},
            'plans': {}})
        manifest.write(tmp)
        _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    manifest.directory = out
    log(f'wrote {out} ({sum(_bytes(e) for e in graphs.values()) / 1e6:.1f} MB of graphs)')
    return manifest


def _bytes(entry: dict) -> int:
    return entry['bytes'] + sum(d['bytes'] for d in entry.get('data', []))


def _check_out(out: Path, force: bool, checkpoint: Path) -> None:
    if out.exists() and not out.is_dir():
        raise EngineError(f'--out {out} exists and is not a folder')
    target, source = real_path(out, '--out'), real_path(checkpoint, '--checkpoint')
    if target == source or target in source.parents:
        raise EngineError(f'--out {out} holds the checkpoint {checkpoint}; choose another '
                          f'--out (e.g. engines/{source.name})')
    if out.is_dir() and any(out.iterdir()):
        if not _is_engine(out):
            raise EngineError(f'--out {out} is a non-empty folder that holds no engine; '
                              f'refusing to write into it: choose another --out')
        if not force:
            raise EngineError(f'--out {out} already holds an engine; pass --force to replace '
                              f'it (its TensorRT plans go with it)')


def _is_engine(folder: Path) -> bool:
    """Whether ``folder`` holds a vag_ros engine manifest (not just any manifest.json)."""
    import json
    try:
        return json.loads((folder / MANIFEST).read_text()).get('format') == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished export into place, then drop the engine it replaces."""
    old = None
    if out.exists():
        old = out.parent / f'.{out.name}.old-{os.getpid()}'
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_graph(module: torch.nn.Module, inputs: typing.Mapping[str, torch.Tensor],
                 graph: io.GraphContract, path: Path, opset: int = DEFAULT_OPSET,
                 external_data: typing.Optional[bool] = None) -> typing.List[Path]:
    """Trace ``module`` to ``path`` with the contract's names; returns external data files."""
    import onnx
    scratch = path.parent / f'{path.stem}.scratch'
    scratch.mkdir()
    try:
        args = tuple(inputs[n] for n in graph.input_names)
        with torch.no_grad(), warnings.catch_warnings(), _exportable_ops(opset):
            warnings.simplefilter('ignore')  # tracer warnings on shape-only Python branches
            torch.onnx.export(module, args, str(scratch / path.name), dynamo=False,
                              input_names=list(graph.input_names),
                              output_names=list(graph.output_names), opset_version=opset,
                              do_constant_folding=True)
        files = list(scratch.iterdir())
        size = sum(p.stat().st_size for p in files)
        external = size > EXTERNAL_DATA_BYTES if external_data is None else external_data
        model = onnx.load(str(scratch / path.name), load_external_data=external)
        _stamp_output_shapes(model, graph)
        if len(files) == 1 and not external:
            onnx.save_model(model, str(path))
            return []
        # one .data file beside the graph instead of one file per tensor
        data = path.name + '.data'
        onnx.save_model(model, str(path), save_as_external_data=True,
                        all_tensors_to_one_file=True, location=data, size_threshold=0)
        return [path.parent / data] if (path.parent / data).is_file() else []  # no weights
    except EngineError:
        raise
    except Exception as exc:  # the exporter raises many types; say which graph failed
        raise EngineError(f'exporting {graph.name} to ONNX failed: {type(exc).__name__}: '
                          f'{exc}') from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def pool_matrix(size: int, out: int) -> torch.Tensor:
    """(out, size) averaging weights of adaptive average pooling along one axis."""
    m = torch.zeros(out, size, dtype=torch.float64)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)  # floor, ceil
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


_SCALAR_TYPES = {'Float': torch.float32, 'Half': torch.float16, 'BFloat16': torch.bfloat16,
                 'Double': torch.float64}


def _adaptive_avg_pool2d(g, x, output_size):
    """ONNX for any adaptive_avg_pool2d at static sizes: P_h @ x @ P_w^T (exact).

    The stock symbolic refuses output sizes that do not divide the input (the observation
    encoder pools 27x48 to 4x4 at the paper's resolution).
    """
    from torch.onnx import symbolic_helper
    sizes = symbolic_helper._get_tensor_sizes(x)
    out = symbolic_helper._parse_arg(output_size, 'is')
    if sizes is None or any(not isinstance(s, int) for s in sizes[-2:]):
        raise EngineError('adaptive_avg_pool2d export needs static input sizes')
    dtype = _SCALAR_TYPES[x.type().scalarType()]
    ph = pool_matrix(sizes[-2], out[0]).to(dtype)  # (oh, H)
    pw = pool_matrix(sizes[-1], out[1]).t().contiguous().to(dtype)  # (W, ow)
    y = g.op('MatMul', g.op('Constant', value_t=ph), x)  # (B, C, oh, W)
    return g.op('MatMul', y, g.op('Constant', value_t=pw))  # (B, C, oh, ow)


def _floor_divide(g, a, b):
    """Python floor division; the stock symbolic truncates, so a traced shape expression like
    the bridge's ``-(-C'' // C')`` repeat count came out 1 instead of 2."""
    from torch.onnx import symbolic_helper, symbolic_opset9
    if symbolic_helper._is_fp(a) or symbolic_helper._is_fp(b):
        return g.op('Floor', symbolic_opset9.true_divide(g, a, b))
    rem = g.op('Mod', a, b, fmod_i=0)  # integer Mod takes the divisor's sign, as Python's %
    return g.op('Div', g.op('Sub', a, rem), b)  # exact, so Div's truncation is a floor


_SYMBOLICS = {'aten::adaptive_avg_pool2d': _adaptive_avg_pool2d,
              'aten::floor_divide': _floor_divide}


@contextlib.contextmanager
def _exportable_ops(opset: int):
    """Our symbolics for the ops the TorchScript exporter gets wrong, during one export."""
    for name, fn in _SYMBOLICS.items():
        torch.onnx.register_custom_op_symbolic(name, fn, opset)
    try:
        yield
    finally:
        for name in _SYMBOLICS:
            torch.onnx.unregister_custom_op_symbolic(name, opset)


def _stamp_output_shapes(model, graph: io.GraphContract) -> None:
    """Declare the contract's static output shapes where the tracer left symbolic dims
    (the U-Net's length arithmetic); the checker and the run against torch then test them."""
    shapes = graph.shapes('opt')
    for value in model.graph.output:
        dims = value.type.tensor_type.shape.dim
        want = shapes[value.name]
        if len(dims) != len(want):
            raise EngineError(f'{graph.name}: output {value.name} has rank {len(dims)}, the '
                              f'contract says {want}')
        for d, n in zip(dims, want):
            d.Clear()
            d.dim_value = n


def onnx_io(path: Path) -> typing.Tuple[list, list]:
    """[(name, dtype, shape)] of the graph inputs and outputs, without the weights."""
    import onnx
    model = onnx.load(str(path), load_external_data=False)

    def describe(values):
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = tuple(d.dim_value if d.HasField('dim_value') else d.dim_param
                         for d in t.shape.dim)
            out.append((v.name, ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), dims))
        return out

    return describe(model.graph.input), describe(model.graph.output)


def check_graph(path: Path, graph: io.GraphContract) -> None:
    """onnx.checker with full shape inference, then the graph's I/O against the contract."""
    import onnx
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # ValidationError, InferenceError
        raise EngineError(f'{path.name} fails onnx.checker: {exc}') from None
    inputs, outputs = onnx_io(path)
    shapes = graph.shapes('opt')
    want_in = [(s.name, s.dtype, shapes[s.name]) for s in graph.inputs]
    want_out = [(s.name, s.dtype, shapes[s.name]) for s in graph.outputs]
    if inputs != want_in or outputs != want_out:
        raise EngineError(f'{path.name} does not match the I/O contract of {graph.name}: '
                          f'graph inputs {inputs}, outputs {outputs}; contract inputs '
                          f'{want_in}, outputs {want_out}')


def verify_graph(path: Path, module: torch.nn.Module, inputs: typing.Mapping[str, torch.Tensor],
                 graph: io.GraphContract, log: typing.Callable[[str], None] = print
                 ) -> typing.Optional[float]:
    """Max |onnxruntime - torch| over the outputs; None for non-float32 graphs."""
    if any(s.dtype not in ('float32', 'bool') for s in graph.inputs):
        return None  # onnxruntime's CPU kernels are float32; TensorRT checks the rest
    from vag_ros.engines.onnxruntime_runtime import import_onnxruntime, OnnxRuntimeRuntime
    from vag_ros.engines.torch_runtime import TorchRuntime
    source = next(iter(inputs.values())).device  # where the module lives
    device = source
    if device.type == 'cuda' and \
            'CUDAExecutionProvider' not in import_onnxruntime().get_available_providers():
        log(f'  verifying {graph.name} on the CPU (no onnxruntime CUDA provider here)')
        device = torch.device('cpu')
    got = OnnxRuntimeRuntime(path, graph, device).infer(inputs)
    want = TorchRuntime(module, graph, source).infer(inputs)
    worst = 0.0
    for name in graph.output_names:
        ref = want[name].float().cpu()
        if tuple(got[name].shape) != tuple(ref.shape):
            raise EngineError(f'{path.name}: output {name} has shape {tuple(got[name].shape)} '
                              f'under onnxruntime, {tuple(ref.shape)} under torch')
        err = float((got[name].float().cpu() - ref).abs().max())
        bound = VERIFY_ATOL + VERIFY_RTOL * float(ref.abs().max())
        if not err <= bound:  # also catches NaN
            raise EngineError(f'{path.name}: onnxruntime and torch disagree on {name} '
                              f'(max |diff| {err:.3g} > {bound:.3g}); not writing an engine '
                              f'that computes something else than the checkpoint')
        worst = max(worst, err)
    return worst
