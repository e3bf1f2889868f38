"""vag-ros export: a joint VAG checkpoint -> an engine folder of ONNX graphs + manifest.

Writes denoise_step.onnx (video DiT with the CFG pair, clean-latent estimate, 3D pooling
bridge, action U-Net: both velocities), action_branch.onnx, latent_encoder.onnx,
latent_decoder.onnx, an optional text cache of the given instructions and manifest.json
(checkpoint hash, config, I/O contract, precision, opset, tool versions, date). Each graph
passes onnx.checker with shape inference and, in float32, reproduces torch under
onnxruntime before the manifest is written.
"""

import argparse

from vag_ros.commands.arguments import add_urdf_argument, torch_device

HELP = 'export a VAG checkpoint to ONNX graphs and an engine manifest'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True, help='joint VAG checkpoint folder')
    parser.add_argument('--out', required=True, help='engine folder, e.g. engines/<name>')
    parser.add_argument('--cfg', default='auto', choices=('auto', 'on', 'off'),
                        help='export the classifier-free-guidance pair (auto: when the '
                        "checkpoint's guidance_scale != 1)")
    parser.add_argument('--dtype', default='float32', choices=('float32', 'float16'),
                        help='step precision (float32 runs everywhere and builds fp16/bf16 '
                        'plans on TensorRT 10; float16 builds strongly typed fp16 plans); the '
                        'codec stays float32')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument('--instruction', action='append', default=[],
                        help='instruction to embed into the text cache (repeatable)')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='trace (and verify) on this torch device; cuda for paper-sized '
                        'models (default cpu)')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip running each float32 graph under onnxruntime against torch')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing engine folder (and its TensorRT plans)')
    add_urdf_argument(parser)


def run(args: argparse.Namespace) -> int:
    from vag_ros.engines.export import export_engine

    manifest = export_engine(args.checkpoint, args.out, cfg=args.cfg, dtype=args.dtype,
                             opset=args.opset, instructions=args.instruction,
                             force=args.force, verify=not args.no_verify,
                             device=args.device, urdf=args.urdf)
    contract = manifest.contract
    print(f'engine:     {manifest.directory}')
    print(f'checkpoint: {manifest.checkpoint_sha256[:16]} ({args.checkpoint})')
    print(f'step:       {contract.dtype}, CFG pair {"on" if contract.cfg else "off"}, opset '
          f'{args.opset}')
    print(f'next:       vag-ros build-engine {manifest.directory} --precision bf16 (TensorRT), '
          f'or run it with backend onnxruntime')
    return 0
