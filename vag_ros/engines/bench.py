"""Benchmark engine pipelines side by side in one process, interleaved, medians reported.

Per backend: the denoising step, the step's action branch + bridge alone (its share of the
step), whole episodes (text, encode, denoise loop, decode), memory (process RSS on the CPU,
device memory in use on a GPU: what loading added, and the peak during an episode above
the level before it), and, with a FLOP count from the
torch step, achieved TFLOP/s against the GPU's bf16 peak. Rounds rotate the backend order
so that none always runs first.
"""

import datetime
import os
from pathlib import Path
import platform
import statistics
import threading
import time
import typing

import numpy as np
import torch

from vag_ros.engines import io_contract as io
from vag_ros.model.sampler import SynchronizedEuler

# dense (no sparsity) bf16 tensor-core peaks in TFLOP/s, by device-name fragment; the first
# match wins, so the specific names come first
BF16_PEAK_TFLOPS = (
    ('H100 PCIe', 756.0), ('H100 NVL', 835.0), ('H100', 989.4), ('H200', 989.4),
    ('GH200', 989.4), ('B200', 2250.0), ('A100', 312.0), ('L40S', 362.0), ('L40', 181.0),
    ('L4', 121.0), ('A10', 125.0), ('RTX 6000 Ada', 364.2), ('RTX 4090', 165.2),
)


def bf16_peak_tflops(device_name: str) -> typing.Optional[float]:
    """Known dense bf16 peak of a GPU by name, or None."""
    for fragment, peak in BF16_PEAK_TFLOPS:
        if fragment in device_name:
            return peak
    return None


def _rss_bytes() -> int:
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError):  # not Linux: the lifetime peak is the best there is
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """Peak memory in use while the block runs, above what was in use before it.

    CPU: process RSS sampled every ``period`` s. CUDA: device memory in use (driver view,
    so TensorRT's and onnxruntime's allocations count too) sampled the same way, after
    torch's cache is emptied; torch's caching allocator keeps an earlier episode's blocks
    reserved, so without that the driver sees no increase. torch's own allocation peak
    (``max_memory_allocated``) is a second lower bound; the larger of the two is reported.
    """

    def __init__(self, device: torch.device, period: float = 0.002):
        self.device, self.period = torch.device(device), period
        self.peak = self.base = 0
        self.allocated_base = 0
        self._stop = threading.Event()

    @property
    def _cuda(self) -> bool:
        return self.device.type == 'cuda'

    def _used(self) -> int:
        if self._cuda:
            free, total = torch.cuda.mem_get_info(self.device)
            return total - free
        return _rss_bytes()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._used())
            self._stop.wait(self.period)

    def __enter__(self):
        if self._cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.allocated_base = torch.cuda.memory_allocated(self.device)
        self.base = self.peak = self._used()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used())

    @property
    def increase_mb(self) -> float:
        increase = self.peak - self.base
        if self._cuda:
            allocated = torch.cuda.max_memory_allocated(self.device) - self.allocated_base
            increase = max(increase, allocated)
        return increase / 2 ** 20


def memory_in_use_mb(device) -> float:
    """Process RSS (CPU) or device memory in use (CUDA), MiB."""
    return PeakMemory(device)._used() / 2 ** 20


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> typing.Tuple[float, typing.Any]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def _stats(values: typing.Sequence[float], scale: float = 1.0) -> typing.Optional[dict]:
    if not values:
        return None
    v = [x * scale for x in values]
    return {'median': statistics.median(v), 'min': min(v), 'max': max(v), 'n': len(v)}


def step_flops(pipeline, feeds: typing.Mapping[str, torch.Tensor]) -> typing.Optional[int]:
    """FLOPs of one step counted by torch's FlopCounterMode (torch pipelines only)."""
    runtime = pipeline.step
    module = getattr(runtime, 'module', None)
    if module is None:
        return None
    from torch.utils.flop_counter import FlopCounterMode
    args = [torch.as_tensor(feeds[s.name]).to(runtime.device, io.TORCH_DTYPES[s.dtype])
            for s in runtime.contract.inputs]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*args)
    return int(counter.get_total_flops())


def bench_state(config) -> np.ndarray:
    """(D,) joint state given to state-conditioned models in benchmarks (all zeros: any
    finite state costs the same)."""
    return np.zeros(config.action.dim, dtype=np.float64)


class _Case:
    """One backend's fixed inputs for the step and action-branch timings."""

    def __init__(self, pipeline, frame: np.ndarray, instruction: str, seed: int):
        from vag_ros.model.pipeline import frame_to_tensor
        from vag_ros.model.vag import Observation
        self.pipe = pipeline
        cfg = pipeline.config
        vc, sc, ac = cfg.video, cfg.sampler, cfg.action
        emb, mask = pipeline.text.encode(instruction)  # (1, L, E), (1, L)
        x = frame_to_tensor(frame, vc.height, vc.width, pipeline.resize)  # (1, 3, 1, H, W)
        first = pipeline.runtimes[io.ENCODER].infer({'frame': x})['first_latent']
        dev, dtype = pipeline.device, pipeline.dtype
        oh, ow = cfg.observation_hw
        observation = Observation(frame_to_tensor(frame, oh, ow, pipeline.resize)[:, :, 0],
                                  emb, mask, torch.as_tensor(bench_state(cfg))[None])
        fixed = pipeline.step_feeds(first, observation, sc.guidance_scale)
        gen = torch.Generator().manual_seed(seed)
        c, tl, h, w = vc.latent_shape
        x_t = torch.randn((1, c, tl, h, w), generator=gen).to(dev, dtype)
        a_t = torch.randn((1, ac.horizon, ac.dim), generator=gen).to(dev, dtype)
        t0 = SynchronizedEuler(cfg).timesteps()[1]  # the first step's t
        t = torch.full((1,), t0, device=dev, dtype=dtype)
        self.step = {**fixed, 'x_t': x_t, 'a_t': a_t, 't': t}
        self.action = None
        if io.ACTION in pipeline.runtimes:
            v = pipeline.step.infer(self.step)['v_video']
            names = pipeline.runtimes[io.ACTION].contract.input_names
            self.action = {n: v if n == 'v_video' else self.step[n] for n in names}


def run_bench(pipelines: typing.Mapping[str, typing.Any], frame: np.ndarray,
              instruction: str, *, rounds: int = 5, warmup: int = 1, step_calls: int = 3,
              num_steps: typing.Union[int, None, typing.Mapping[str, typing.Optional[int]]]
              = None, seed: int = 0,
              peak_tflops: typing.Optional[float] = None,
              loaded_mb: typing.Optional[typing.Mapping[str, float]] = None,
              log: typing.Callable[[str], None] = print) -> dict:
    """Measure every pipeline, interleaved; -> a JSON-ready report.

    ``loaded_mb``: memory each pipeline added when it was loaded, measured by the caller.
    ``num_steps``: denoising steps of every pipeline, or per label (None: its sampler's).
    """
    labels = list(pipelines)
    cases = {k: _Case(p, frame, instruction, seed) for k, p in pipelines.items()}
    flops = None
    for label in labels:
        flops = step_flops(pipelines[label], cases[label].step)
        if flops is not None:
            break
    steps: dict = {k: [] for k in labels}
    actions: dict = {k: [] for k in labels}
    episodes: dict = {k: [] for k in labels}
    memory: dict = {k: [] for k in labels}
    for r in range(warmup + rounds):
        keep = r >= warmup
        order = labels[r % len(labels):] + labels[:r % len(labels)]
        for label in order:
            case, pipe = cases[label], pipelines[label]
            for _ in range(step_calls):
                dt, _ = _timed(lambda: pipe.step.infer(case.step), pipe.device)
                if keep:
                    steps[label].append(dt)
                if case.action is not None:
                    dt, _ = _timed(lambda: pipe.runtimes[io.ACTION].infer(case.action),
                                   pipe.device)
                    if keep:
                        actions[label].append(dt)
        for label in order:
            pipe = pipelines[label]
            with PeakMemory(pipe.device) as mem:
                result = pipe.generate(frame, instruction, seed=seed,
                                       num_steps=_steps_of(num_steps, label),
                                       state=bench_state(pipe.config))
            if keep:
                episodes[label].append(result.timings)
                memory[label].append(mem.increase_mb)
        log(f'round {r + 1}/{warmup + rounds}{" (warm-up)" if not keep else ""}: ' + ', '.join(
            f'{k} {episodes[k][-1]["total"]:.2f} s' if episodes[k] else k for k in labels))
    report = _report(pipelines, labels, steps, actions, episodes, memory, flops, rounds,
                     warmup, step_calls, num_steps, peak_tflops)
    for label in labels:
        report['backends'][label]['loaded_mb'] = (loaded_mb or {}).get(label)
    return report


def _steps_of(num_steps, label: str) -> typing.Optional[int]:
    """The steps ``label`` runs at: one count for all, or the mapping's."""
    if isinstance(num_steps, typing.Mapping):
        return num_steps.get(label)
    return num_steps


def machine() -> dict:
    """Where the numbers came from."""
    cpu = platform.processor()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info = {'cpu': cpu, 'cpu_count': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
            'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS'), 'torch': torch.__version__,
            'gpu': None}
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    try:
        import onnxruntime
        info['onnxruntime'] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def _report(pipelines, labels, steps, actions, episodes, memory, flops, rounds, warmup,
            step_calls, num_steps, peak_tflops) -> dict:
    first = pipelines[labels[0]]
    cfg = first.config
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    peak = peak_tflops or (bf16_peak_tflops(gpu) if gpu else None)
    out = {'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
           'machine': machine(),
           'model': {'name': cfg.name, 'latent_shape': list(cfg.video.latent_shape),
                     'frames': cfg.video.frames, 'size': [cfg.video.height, cfg.video.width],
                     'action': [cfg.action.horizon, cfg.action.dim], 'cfg': first.contract.cfg,
                     'dtype': first.contract.dtype,
                     'num_steps': _steps_of(num_steps, labels[0]) or cfg.sampler.num_steps,
                     'step_gflop': flops / 1e9 if flops else None},
           'settings': {'rounds': rounds, 'warmup_rounds': warmup, 'step_calls': step_calls,
                        'order': 'rotated every round', 'statistic': 'median'},
           'backends': {}}
    for label in labels:
        pipe = pipelines[label]
        step = _stats(steps[label], 1e3)
        action = _stats(actions[label], 1e3)
        stages = {k: statistics.median(e[k] for e in episodes[label])
                  for k in ('text', 'encode', 'denoise', 'decode', 'total')}
        row = {'runtime': pipe.describe(),
               'num_steps': _steps_of(num_steps, label) or pipe.config.sampler.num_steps,
               'step_ms': step, 'action_branch_ms': action,
               'action_share': action['median'] / step['median'] if action else None,
               'episode_s': _stats([e['total'] for e in episodes[label]]),
               'stages_s': stages,
               'episode_peak_mb': statistics.median(memory[label]),
               'memory': 'device memory in use' if pipe.device.type == 'cuda'
               else 'process RSS',
               'memory_note': 'episode_peak_mb: peak during an episode above the level '
               'before it; loaded_mb: increase when the pipeline was loaded'}
        if flops:
            row['tflops'] = flops / (step['median'] / 1e3) / 1e12
            if peak:
                row['bf16_peak_tflops'] = peak
                row['peak_fraction'] = row['tflops'] / peak
        out['backends'][label] = row
    base = out['backends'][labels[0]]['step_ms']['median']
    base_episode = out['backends'][labels[0]]['episode_s']['median']
    for label in labels:
        row = out['backends'][label]
        row['step_speedup_vs_' + labels[0]] = base / row['step_ms']['median']
        row['episode_time_vs_' + labels[0]] = row['episode_s']['median'] / base_episode
    return out


def format_table(report: dict) -> str:
    """Markdown table of a report."""
    lines = ['| backend | runtime | step ms | action+bridge share | steps | episode s | text / '
             'encode / denoise / decode s | loaded + episode peak MB | TFLOP/s |',
             '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |']
    for label, row in report['backends'].items():
        s = row['stages_s']
        share = f'{row["action_share"]:.1%}' if row['action_share'] is not None else '-'
        tflops = f'{row["tflops"]:.3g}' if row.get('tflops') else '-'
        if row.get('peak_fraction'):
            tflops += f' ({row["peak_fraction"]:.0%} of {row["bf16_peak_tflops"]:.0f})'
        loaded = row.get('loaded_mb')
        memory = (f'{loaded:.0f} + ' if loaded is not None else '') + \
            f'{row["episode_peak_mb"]:.0f}'
        lines.append(
            f'| {label} | {row["runtime"]} | {row["step_ms"]["median"]:.2f} | {share} | '
            f'{row.get("num_steps", "-")} | '
            f'{row["episode_s"]["median"]:.3f} | {s["text"]:.3f} / {s["encode"]:.3f} / '
            f'{s["denoise"]:.3f} / {s["decode"]:.3f} | {memory} | {tflops} |')
    return '\n'.join(lines)


def preset_pipeline(preset: str, *, device='cpu', dtype: str = 'float32', compile: bool = False,
                    seed: int = 0, guidance_scale: typing.Optional[float] = None):
    """Torch pipeline of a model preset with random weights (no checkpoint needed).

    The Wan codec without a local folder is diffusers' AutoencoderKLWan with its default
    (Wan 2.1) sizes and random weights; a codec that needs fitting (pca) is fitted on noise;
    a T5 without a folder is replaced by zero embeddings of the right shape, so ``text``
    timings then exclude the text model.
    """
    import dataclasses

    from vag_ros.engines.engine_pipeline import pipeline_from_modules
    from vag_ros.engines.text_cache import TextSource
    from vag_ros.errors import EngineError, VagError
    from vag_ros.model.codecs import build_codec, WanCodec
    from vag_ros.model.config import load_model_config
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.text import build_text_encoder, NullTextEncoder
    from vag_ros.model.vag import VagModel
    config = load_model_config(preset)
    if config.mode != 'joint':
        config = dataclasses.replace(config, mode='joint')
    if guidance_scale is not None:  # 1: the step without the guidance pair (no CFG)
        config = dataclasses.replace(config, sampler=dataclasses.replace(
            config.sampler, guidance_scale=guidance_scale))
    torch.manual_seed(seed)
    with torch.device(device):
        model = VagModel(config)
    codec_config = config.video.codec
    if codec_config.kind == 'wan' and not codec_config.path:
        from diffusers import AutoencoderKLWan
        with torch.device(device):
            codec = WanCodec(AutoencoderKLWan())
        codec.vae.to(io.TORCH_DTYPES[dtype])
    else:
        try:
            codec = build_codec(codec_config, config.video.latent_channels)
        except VagError as exc:
            raise EngineError(f'preset {preset}: cannot build its codec ({exc}); benchmark '
                              f'a checkpoint instead (--checkpoint)') from None
        if not getattr(codec, 'fitted', True) and hasattr(codec, 'fit'):
            # a fitted codec (pca) costs the same fitted on noise: random weights throughout
            gen = torch.Generator().manual_seed(seed)
            v = config.video
            codec.fit([torch.rand(1, 3, 2, v.height, v.width, generator=gen) * 2 - 1])
    tc = config.text
    if tc.kind == 't5' and not tc.path:
        encoder = NullTextEncoder(tc.embed_dim, tc.max_length)
    else:
        encoder = build_text_encoder(tc)
    return pipeline_from_modules(model, codec, ActionNormalizer.identity(config.action.dim),
                                 device=device, dtype=dtype, compile=compile,
                                 text=TextSource(tc, encoder=encoder))
