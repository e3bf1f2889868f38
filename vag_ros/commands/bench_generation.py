"""vag-ros bench generation: per-step and whole-episode latency of backends, side by side.

All backends load into one process and run interleaved (the order rotates every round);
the table and the JSON report medians: step latency, the action branch + bridge share of
the step, episode latency split into text / encode / denoise loop / decode, peak memory
and, where FLOPs can be counted, achieved TFLOP/s (against the GPU's bf16 peak on a GPU).
With --checkpoint and no --engine, onnxruntime runs a float32 engine exported to a
temporary folder first. --reference adds the same backends of a second checkpoint (e.g. the
35-step teacher of a few-step model), each at its own sampler steps, in the same rounds.
"""

import argparse

from vag_ros.commands.arguments import (add_sampling_steps_argument, non_negative,
                                        non_negative_float, positive, positive_float,
                                        thread_count, torch_device)

HELP = 'benchmark torch / torch.compile / onnxruntime / TensorRT on one model'
BENCH_BACKENDS = ('torch', 'torch-compile', 'onnxruntime', 'tensorrt')


def _backends(text: str):
    names = [n.strip() for n in text.split(',') if n.strip()]
    bad = [n for n in names if n not in BENCH_BACKENDS]
    if not names or bad or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f'expected a comma-separated list of distinct {list(BENCH_BACKENDS)}, got {text!r}')
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--checkpoint', help='joint VAG checkpoint folder')
    source.add_argument('--preset', help='model preset with random weights (tiny, small, paper)')
    parser.add_argument('--reference', default=None,
                        help='a second checkpoint, benchmarked with the same backends in the '
                             'same rounds (rows "<backend> (reference)"), e.g. the teacher of '
                             'a distilled --checkpoint')
    parser.add_argument('--reference-steps', type=positive, default=None,
                        help="the --reference's denoising steps (default its sampler's)")
    parser.add_argument('--backend', type=_backends, default=['torch', 'onnxruntime'],
                        help=f'comma-separated, from {", ".join(BENCH_BACKENDS)} (default '
                        'torch,onnxruntime)')
    parser.add_argument('--engine', default=None,
                        help='engine folder for onnxruntime / tensorrt (vag-ros export)')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='cpu or cuda[:i] (default cpu)')
    parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                        help='torch backends\' step dtype (default float32)')
    parser.add_argument('--precision', default=None, choices=('fp32', 'fp16', 'bf16', 'fp8'),
                        help='TensorRT plan set (default: the one built)')
    parser.add_argument('--rounds', type=positive, default=5, help='measured rounds')
    parser.add_argument('--warmup', type=non_negative, default=1, help='warm-up rounds')
    parser.add_argument('--step-calls', type=positive, default=3,
                        help='timed step calls per backend and round')
    add_sampling_steps_argument(parser)
    parser.add_argument('--threads', type=thread_count, default=0,
                        help='CPU threads for torch and onnxruntime (0: library default)')
    parser.add_argument('--ort-spinning', action='store_true',
                        help="let onnxruntime's idle intra-op threads busy-wait (off by "
                             'default)')
    parser.add_argument('--image', default=None, help='first frame (default: seeded noise)')
    parser.add_argument('--instruction', default='pick up the red block')
    parser.add_argument('--seed', type=non_negative, default=0)
    parser.add_argument('--peak-tflops', type=positive_float, default=None,
                        help='the GPU\'s bf16 peak, if not in the built-in table')
    parser.add_argument('--guidance-scale', type=non_negative_float, default=None,
                        help="--preset only: the sampler's guidance scale (1 = a step without "
                             "the classifier-free-guidance pair; default the preset's)")
    parser.add_argument('--json', default=None, help='write the report here')


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path
    import tempfile

    import numpy as np
    import torch

    from vag_ros.engines import io_contract as io
    from vag_ros.engines.bench import (format_table, memory_in_use_mb, preset_pipeline,
                                       run_bench)
    from vag_ros.engines.engine_pipeline import pipeline_from_checkpoint
    from vag_ros.engines.factory import load_pipeline
    from vag_ros.engines.export import export_engine
    from vag_ros.engines.manifest import read_manifest
    from vag_ros.errors import EngineError
    from vag_ros.outputs import writable_file, write_text_atomically

    if args.json:   # checked before the benchmark, not after it
        writable_file(args.json, '--json', create=False)
    if args.guidance_scale is not None and (
            not args.preset or any(b not in ('torch', 'torch-compile') for b in args.backend)):
        raise EngineError('--guidance-scale sets a --preset\'s sampler for torch and '
                          'torch-compile only (a checkpoint or an engine has its own; an '
                          'engine without the guidance pair cannot take another)')
    if args.threads:
        torch.set_num_threads(args.threads)
    engines = [b for b in args.backend if b in ('onnxruntime', 'tensorrt')]
    if args.reference and (not args.checkpoint or args.engine):
        raise EngineError('--reference compares two checkpoints: give --checkpoint (and no '
                          '--engine: both export their own)')
    if engines and not args.engine and not args.checkpoint:
        raise EngineError(f'backends {engines} run an engine folder: pass --engine, or '
                          f'--checkpoint to export one on the fly')
    with tempfile.TemporaryDirectory(prefix='vag-bench-') as tmp:
        import diffusers  # noqa: F401  libraries first, so loaded_mb is the pipeline's own
        if 'onnxruntime' in args.backend:
            import onnxruntime  # noqa: F401
        pipelines, loaded_mb = {}, {}
        # (checkpoint, engine, label suffix, steps)
        sources = [(args.checkpoint, args.engine, '', args.steps)]
        if args.reference:
            sources.append((args.reference, None, ' (reference)', args.reference_steps))
        steps = {}
        for k, (checkpoint, engine, suffix, num_steps) in enumerate(sources):
            if engines and engine is None:
                if 'tensorrt' in engines:
                    raise EngineError('tensorrt needs built plans: vag-ros export, vag-ros '
                                      'build-engine, then --engine <folder>')
                engine = str(Path(tmp) / f'engine{k}')
                print(f'exporting {checkpoint} to a temporary float32 engine for onnxruntime')
                export_engine(checkpoint, engine, log=lambda m: None)
            cfg = 'auto'
            if engine is not None:
                cfg = 'on' if read_manifest(engine).contract.cfg else 'off'
            for backend in args.backend:
                compile = backend == 'torch-compile'
                device = args.device
                if backend == 'tensorrt' and not device.startswith('cuda'):
                    device = 'cuda'
                measured = device if torch.cuda.is_available() else 'cpu'  # else the load fails
                before = memory_in_use_mb(measured)
                if backend in ('torch', 'torch-compile'):
                    if checkpoint:
                        pipe = pipeline_from_checkpoint(checkpoint, device=args.device,
                                                        dtype=args.dtype, cfg=cfg,
                                                        compile=compile)
                    else:
                        pipe = preset_pipeline(args.preset, device=args.device,
                                               dtype=args.dtype, compile=compile,
                                               seed=args.seed,
                                               guidance_scale=args.guidance_scale)
                else:
                    pipe = load_pipeline(backend, checkpoint, engine, device,
                                         precision=args.precision, threads=args.threads,
                                         graphs=io.GRAPHS, spinning=args.ort_spinning)
                pipelines[backend + suffix] = pipe
                steps[backend + suffix] = num_steps
                loaded_mb[backend + suffix] = memory_in_use_mb(measured) - before
        vc = next(iter(pipelines.values())).config.video
        if args.image:
            from vag_ros.media import load_image
            frame = load_image(args.image)
        else:
            rng = np.random.default_rng(args.seed)
            frame = rng.integers(0, 256, (vc.height, vc.width, 3), dtype=np.uint8)
        report = run_bench(pipelines, frame, args.instruction, rounds=args.rounds,
                           warmup=args.warmup, step_calls=args.step_calls,
                           num_steps=steps, seed=args.seed, peak_tflops=args.peak_tflops,
                           loaded_mb=loaded_mb)
    report['source'] = {'checkpoint': args.checkpoint, 'reference': args.reference,
                        'preset': args.preset,
                        'engine': args.engine, 'device': args.device, 'dtype': args.dtype,
                        'threads': args.threads, 'ort_spinning': args.ort_spinning,
                        'guidance_scale': args.guidance_scale,
                        'reference_steps': args.reference_steps}
    print(format_table(report))
    if args.json:
        path = write_text_atomically(args.json, json.dumps(report, indent=2) + '\n')
        print(f'json: {path}')
    return 0
