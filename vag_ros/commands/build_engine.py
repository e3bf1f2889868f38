"""vag-ros build-engine: TensorRT plans for an exported engine folder (TensorRT 10+).

Builds one plan per graph with TensorRT's Python builder on this machine's GPU, keeps a
timing cache in the folder, prints progress (builds take minutes) and records the TensorRT
version and GPU in the manifest. Plans already built at that precision are kept unless
--force; loading refuses plans from another TensorRT or GPU instead of rebuilding them.
"""

import argparse

from vag_ros.commands.arguments import positive_float

HELP = 'build TensorRT plans for an engine folder (needs TensorRT and an NVIDIA GPU)'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('engine', help='engine folder written by vag-ros export')
    parser.add_argument('--precision', required=True, choices=('fp32', 'fp16', 'bf16', 'fp8'),
                        help='plan precision (fp8 needs a Q/DQ-quantized graph)')
    parser.add_argument('--workspace-gib', type=positive_float, default=None,
                        help='builder workspace limit in GiB (default: TensorRT decides)')
    parser.add_argument('--timing-cache', default=None,
                        help='timing cache file name in the engine folder (default per '
                        'TensorRT version and GPU)')
    parser.add_argument('--force', action='store_true', help='rebuild existing plans')


def run(args: argparse.Namespace) -> int:
    from vag_ros.engines.build import build_engine

    manifest = build_engine(args.engine, args.precision, workspace_gib=args.workspace_gib,
                            timing_cache=args.timing_cache, force=args.force)
    entry = manifest.plans()[args.precision]
    print(f'plans:  {", ".join(g["file"] for g in entry["graphs"].values())}')
    print(f'built:  TensorRT {entry["tensorrt"]} on {entry["gpu"]["name"]}')
    return 0
