"""Generation through an engine: VagPipeline.generate with the graphs run by one runtime.

The same sampler as ``VagModel.sample`` (``vag_ros.model.sampler.SynchronizedEuler``: seeded
noise, timesteps, Euler updates); only the step, the encoder and the decoder go through a
runtime, so every backend returns the same ``GenerationResult``.
"""

from pathlib import Path
import typing

import torch

from vag_ros.engines import io_contract as io
from vag_ros.engines.manifest import (check_checkpoint, check_plan_environment,
                                      graph_entries, Manifest, read_manifest, verify_files)
from vag_ros.engines.backends import check_backend
from vag_ros.engines.runtime import Runtime
from vag_ros.engines.runtime_factory import create_runtime
from vag_ros.engines.text_cache import read_text_cache, TextSource
from vag_ros.errors import EngineError
from vag_ros.model.pipeline import GenerationPipeline
from vag_ros.model.sampler import SynchronizedEuler

RUN_GRAPHS = (io.STEP, io.ENCODER, io.DECODER)
# plan sets tried in this order when several are built and none is asked for
PRECISION_PREFERENCE = ('bf16', 'fp16', 'fp8', 'fp32')


class EnginePipeline(GenerationPipeline):
    """Text source + encoder/step/decoder runtimes + action de-normalization."""

    def __init__(self, config, runtimes: typing.Mapping[str, Runtime], normalizer,
                 text: TextSource, contract: io.EngineContract, resize: bool = True,
                 manifest: typing.Optional[Manifest] = None):
        missing = [g for g in RUN_GRAPHS if g not in runtimes]
        if missing:
            raise EngineError(f'engine pipeline needs runtimes for {missing}')
        self.config, self.contract, self.normalizer = config, contract, normalizer
        self.runtimes = dict(runtimes)
        self.text, self.resize, self.manifest = text, resize, manifest
        self.step = self.runtimes[io.STEP]
        self.device = self.step.device
        self.dtype = io.TORCH_DTYPES[contract.dtype]
        self.backend = self.step.backend

    def describe(self) -> str:
        return self.step.describe()

    def instruction_tokens(self, instruction: str) -> typing.Optional[int]:
        """Tokens under the text encoder (None for instructions in the engine's cache)."""
        return self.text.token_count(instruction)

    def encode_text(self, instruction: str) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        """-> text embeddings (1, L, E) and mask (1, L): the engine's cache or the encoder."""
        return self.text.encode(instruction)

    def encode_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """(1, 3, 1, H, W) in [-1, 1] -> first latent (1, C, 1, h, w) by the encoder graph."""
        return self.runtimes[io.ENCODER].infer({'frame': frame})['first_latent']

    def denoise(self, first_latent, observation, num_steps, guidance_scale, seed: int,
                callback):
        """-> latents (1, C, T', h, w), normalized actions (1, T, D), by the step graph."""
        return self.sample(first_latent, observation, num_steps, guidance_scale, seed, callback)

    def decode(self, latents: torch.Tensor, first_frame: torch.Tensor) -> torch.Tensor:
        """(1, C, T', h, w) and the given frame (1, 3, 1, H, W) -> video (3, T, H, W) in
        [-1, 1] by the decoder graph (which reads the frame when its codec has a refiner)."""
        decoder = self.runtimes[io.DECODER]
        feeds = {'latents': latents.float()}
        if 'frame' in decoder.contract.input_names:
            feeds['frame'] = first_frame.float()
        return decoder.infer(feeds)['video'][0]

    def step_feeds(self, first_latent: torch.Tensor, observation,
                   guidance: float) -> typing.Dict[str, torch.Tensor]:
        """The step inputs that stay fixed over an episode."""
        dev, dtype = self.device, self.dtype
        names = self.step.contract.input_names
        feeds = {'first_latent': first_latent.to(dev, dtype),
                 'text_emb': observation.text_emb.to(dev, dtype)}
        if 'text_mask' in names:
            feeds['text_mask'] = observation.text_mask.to(dev, torch.bool)
        if 'observation_frame' in names:
            feeds['observation_frame'] = observation.frame.to(dev, dtype)
        if 'state' in names:
            feeds['state'] = observation.state.to(dev, dtype)
        if self.contract.cfg:
            feeds['null_emb'] = torch.zeros_like(feeds['text_emb'])
            feeds['guidance'] = torch.tensor([guidance], device=dev, dtype=dtype)
        elif guidance != 1.0:
            raise EngineError(f'guidance {guidance}: this engine was exported without the '
                              f'classifier-free-guidance pair (guidance 1 only); export it '
                              f'again with --cfg on')
        return feeds

    def sample(self, first_latent: torch.Tensor, observation,
               num_steps: typing.Optional[int] = None,
               guidance_scale: typing.Optional[float] = None, seed: int = 0,
               callback: typing.Optional[typing.Callable[[int, int], None]] = None):
        """The shared sampler over the step graph: -> latents (1, C, T', h, w), actions
        (1, T, D)."""
        sampler = SynchronizedEuler(self.config)
        num_steps, guidance = sampler.settings(num_steps, guidance_scale)
        feeds = self.step_feeds(first_latent, observation, guidance)
        generator = torch.Generator().manual_seed(seed)
        x, a = sampler.noise(feeds['first_latent'], generator)

        def step(x_t, a_t, t):
            out = self.step.infer({**feeds, 'x_t': x_t, 'a_t': a_t, 't': t})
            return out['v_video'], out['v_action']
        return sampler.run(step, x, a, num_steps, callback)

    def close(self) -> None:
        for runtime in self.runtimes.values():
            runtime.close()


def pipeline_from_checkpoint(checkpoint: typing.Union[str, Path], *, device='cpu',
                             dtype: str = 'float32', cfg: str = 'auto', compile: bool = False,
                             resize: bool = True, contract=None) -> EnginePipeline:
    """Torch runtimes over a checkpoint's modules (no export needed)."""
    from vag_ros.model.pipeline import VagPipeline
    pipe = VagPipeline.from_checkpoint(checkpoint, device)
    return pipeline_from_modules(pipe.model, pipe.codec, pipe.normalizer, device=device,
                                 dtype=dtype, cfg=cfg, compile=compile, resize=resize,
                                 text=TextSource(pipe.config.text, encoder=pipe.text_encoder),
                                 contract=contract)


def pipeline_from_modules(model, codec, normalizer, *, device='cpu', dtype: str = 'float32',
                          cfg: str = 'auto', compile: bool = False, resize: bool = True,
                          text: typing.Optional[TextSource] = None,
                          contract=None) -> EnginePipeline:
    """Torch runtimes over a VagModel and codec (random-weight presets, tests)."""
    from vag_ros.engines.export import resolve_cfg
    from vag_ros.engines.graphs import graph_modules
    config = model.config
    contract = contract or io.engine_contract(config, resolve_cfg(cfg, config), dtype)
    model.to(device, io.TORCH_DTYPES[contract.dtype])
    codec.to(device)
    modules = graph_modules(model, codec, contract)
    runtimes = {g: create_runtime('torch', contract.graphs[g], module=modules[g], device=device,
                                  compile=compile and g in (io.STEP, io.ACTION))
                for g in io.GRAPHS}
    return EnginePipeline(config, runtimes, normalizer, text or TextSource(config.text),
                          contract, resize)


def open_engine(engine_dir: typing.Union[str, Path, None], backend: str = 'onnxruntime', *,
                checkpoint: typing.Union[str, Path, None] = None, device=None,
                precision: typing.Optional[str] = None, threads: int = 0,
                compile: bool = False, cuda_graph: bool = True, strict_text: bool = False,
                resize: bool = True, graphs: typing.Sequence[str] = RUN_GRAPHS,
                spinning: bool = False) -> EnginePipeline:
    """Load an engine folder for ``backend``, refusing any mismatch with a way to fix it.

    onnxruntime and tensorrt run the folder's graphs (``checkpoint``, when given, must be the
    one it was exported from); torch runs the checkpoint's modules (``checkpoint`` needed).
    ``threads`` and ``spinning``: onnxruntime's intra-op pools (see OnnxRuntimeRuntime).
    """
    check_backend(backend)
    if backend == 'torch':
        if checkpoint is None:
            raise EngineError('backend torch runs the checkpoint itself: give its folder')
        contract = None
        if engine_dir is not None:
            manifest = read_manifest(engine_dir)
            check_checkpoint(manifest, checkpoint)
            contract = manifest.contract
        return pipeline_from_checkpoint(checkpoint, device=device or 'cpu', compile=compile,
                                        resize=resize, contract=contract)
    if engine_dir is None:
        raise EngineError(f'backend {backend} needs an engine folder: export one with vag-ros '
                          f'export --checkpoint <dir> --out engines/<name>')
    manifest = read_manifest(engine_dir)
    if checkpoint is not None:
        check_checkpoint(manifest, checkpoint)
    config, contract = manifest.config(), manifest.contract
    runtimes = {}
    if backend == 'onnxruntime':
        verify_files(manifest, graph_entries(manifest, graphs))
        for g in graphs:
            runtimes[g] = create_runtime('onnxruntime', contract.graphs[g],
                                         path=manifest.graph_file(g), device=device or 'cpu',
                                         threads=threads, spinning=spinning)
    else:
        from vag_ros.engines.tensorrt_support import gpu_info, import_tensorrt
        trt = import_tensorrt()
        device = torch.device(device or 'cuda')
        if device.type != 'cuda':
            raise EngineError(f'backend tensorrt runs on a GPU, not device {device}: set the '
                              f'device to cuda (or cuda:N)')
        gpu = gpu_info(device)
        precision = precision or _pick_precision(manifest)
        entry = check_plan_environment(manifest, precision, trt.__version__, gpu)
        verify_files(manifest, [entry['graphs'][g] for g in graphs if g in entry['graphs']])
        for g in graphs:
            if g not in entry['graphs']:
                raise EngineError(f'engine {engine_dir}: no {precision} plan for {g}; rebuild: '
                                  f'vag-ros build-engine {engine_dir} --precision {precision} '
                                  f'--force')
            runtimes[g] = create_runtime('tensorrt', contract.graphs[g],
                                         path=manifest.directory / entry['graphs'][g]['file'],
                                         device=device, cuda_graph=cuda_graph)
    text_entry = manifest.data.get('text_cache')
    cache = {}
    if text_entry:
        verify_files(manifest, [text_entry])
        cache = read_text_cache(manifest.directory / text_entry['file'])
    return EnginePipeline(config, runtimes, manifest.normalizer(),
                          TextSource(config.text, cache, strict_text), contract, resize,
                          manifest)


def _pick_precision(manifest: Manifest) -> str:
    built = manifest.plans()
    for precision in PRECISION_PREFERENCE:
        if precision in built:
            return precision
    raise EngineError(f'engine {manifest.directory} has no TensorRT plans; build them: '
                      f'vag-ros build-engine {manifest.directory} --precision bf16')
