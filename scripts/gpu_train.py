"""Train a VAG preset on a GPU machine that has no bags, no ROS, no text encoder, no network.

``pack`` (here, beside the bags): every training window of a bag folder -> one xz-compressed
safetensors file: the clips (N, T, H, W, 3) and observation frames (N, S, S, 3) as uint8, the
states and absolute actions, and the text encoder's embeddings of each distinct instruction
(the GPU machine has no text-encoder weights). 900 episodes of the tiny preset: about 30 MB.

``train`` (there): the tiny recipe's three stages on the packed windows, each a
``vag_ros.train.trainer.train`` run: stage 1, the joint model (config/train_gpu.yaml, its steps
fitted into ``--stage1-seconds`` from the step time measured on a short probe run); stage 2, a
new action branch on the frozen video branch (config/train_tiny_action.yaml); stage 3, more of
it (config/train_tiny_action_more.yaml), instruction context off (the pack has no text
encoder to wrap instructions with). The checkpoint is ``<out>/final`` with the earlier
stages' loss logs beside its own, as in checkpoints/tiny_demo.

    python scripts/gpu_train.py pack --data data/train --out .gpu/train_pack.safetensors.xz
    python scripts/gpu_train.py train --pack .gpu/train_pack.safetensors.xz --preset small \\
        --out runs/gpu/small --device cuda --stage1-seconds 240
"""

import argparse
import dataclasses
import json
import lzma
from pathlib import Path
import shutil
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a bare checkout

from vag_ros.errors import EpisodeError  # noqa: E402
from vag_ros.model.config import load_model_config, preset_dir  # noqa: E402
from vag_ros.train.dataset import EpisodeDataset, Window  # noqa: E402

FORMAT = 'vag_ros.gpu_pack.v1'


class TableTextEncoder:
    """The embeddings of a fixed set of instructions, computed once by the real encoder."""

    def __init__(self, instructions, emb: torch.Tensor, mask: torch.Tensor):
        self.row = {text: k for k, text in enumerate(instructions)}
        self.emb, self.mask = emb, mask   # (U, L, E), (U, L)

    def encode(self, texts):
        missing = [t for t in texts if t not in self.row]
        if missing:
            raise EpisodeError(f'pack: no embedding for the instruction {missing[0]!r}')
        index = torch.tensor([self.row[t] for t in texts])
        return self.emb[index], self.mask[index]


def pack(data_dir: Path, out: Path, config) -> None:
    """Write the windows of the bags in ``data_dir`` for model ``config`` into ``out``."""
    from safetensors.torch import save

    from vag_ros.episodes.bag_reader import list_episode_bags
    from vag_ros.model.text import build_text_encoder
    from vag_ros.train.dataset import episodes_robot, named_windows
    from vag_ros.train.latent_cache import data_fingerprint
    bags = list_episode_bags(data_dir)
    if not bags:
        raise EpisodeError(f'{data_dir}: no episode bags')
    robot = episodes_robot(bags)
    names, windows = zip(*named_windows(config, bags))
    instructions = sorted({w.instruction for w in windows})
    emb, mask = build_text_encoder(config.text).encode(instructions)   # (U, L, E), (U, L)
    tensors = {
        'frames': torch.from_numpy(np.stack([w.frames for w in windows])),     # (N, T, H, W, 3)
        'observed': torch.from_numpy(np.stack([w.observed for w in windows])),  # (N, S, S, 3)
        'states': torch.stack([w.state for w in windows]),                     # (N, D)
        'actions': torch.stack([w.actions for w in windows]),                  # (N, T, D)
        'instruction': torch.tensor([instructions.index(w.instruction) for w in windows]),
        'text_emb': emb.float().contiguous(), 'text_mask': mask.to(torch.uint8)}
    meta = {'format': FORMAT, 'names': list(names), 'starts': [w.start for w in windows],
            'instructions': instructions, 'text': dataclasses.asdict(config.text),
            'data': data_fingerprint(bags), 'source': str(data_dir), 'robot_urdf': robot.urdf}
    blob = save(tensors, metadata={'pack': json.dumps(meta)})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + '.partial')
    tmp.write_bytes(lzma.compress(blob, preset=6))
    tmp.replace(out)
    print(f'packed {len(windows)} windows of {len(bags)} episodes, {len(instructions)} '
          f'instructions: {out} ({out.stat().st_size / 1e6:.1f} MB)')


def load_pack(path: Path, config):
    """(named windows, text encoder, metadata) of a pack, checked against the model config."""
    from safetensors.torch import load
    try:
        blob = lzma.decompress(path.read_bytes())
        header = json.loads(blob[8:8 + struct.unpack('<Q', blob[:8])[0]])
        meta = json.loads(header['__metadata__']['pack'])
        t = load(blob)
        n = t['frames'].shape[0]
        names, starts, instructions = meta['names'], meta['starts'], meta['instructions']
        text, emb, mask = meta['text'], t['text_emb'], t['text_mask'].bool()
        parts = (t['observed'], t['states'], t['actions'], t['instruction'])
    except Exception as exc:  # noqa: B902 - a torn, foreign or incomplete file: one message
        raise EpisodeError(f'{path}: unreadable training pack: {type(exc).__name__}: '
                           f'{exc}') from None
    if meta.get('format') != FORMAT:
        raise EpisodeError(f'{path}: not a {FORMAT} pack')
    if text != dataclasses.asdict(config.text):
        raise EpisodeError(f'{path}: packed with another text config than {config.name}\'s')
    observed, states, actions, index = parts
    frames = t['frames'].numpy()
    video, action = config.video, config.action
    if frames.shape[1:4] != (video.frames, video.height, video.width) or \
            tuple(observed.shape[1:3]) != tuple(config.observation_hw) or \
            tuple(actions.shape[1:]) != (action.horizon, action.dim):
        raise EpisodeError(f'{path}: clips {frames.shape[1:4]} / observation '
                           f'{tuple(observed.shape[1:3])} / actions {tuple(actions.shape[1:])} '
                           f'do not fit the {config.name} preset')
    if not (len(names) == len(starts) == len(observed) == len(states) == len(actions)
            == len(index) == n) or n == 0 or int(index.max()) >= len(instructions) or \
            len(emb) != len(instructions):
        raise EpisodeError(f'{path}: inconsistent training pack ({n} clips, {len(names)} '
                           f'names, {len(instructions)} instructions)')
    observed = observed.numpy()
    named = [(name, Window(start, frames[k], observed[k], states[k], actions[k],
                           instructions[int(index[k])]))
             for k, (name, start) in enumerate(zip(names, starts))]
    return named, TableTextEncoder(instructions, emb, mask), meta


def _stage(model_config, train_yaml: str, out: Path, dataset, device, **kwargs):
    from vag_ros.train.train_config import load_train_config
    from vag_ros.train.trainer import train
    overrides = kwargs.pop('overrides', {})
    max_steps = kwargs.pop('max_steps', 0)
    cfg = dataclasses.replace(load_train_config(preset_dir() / train_yaml), **overrides)
    if cfg.window_stride:
        raise SystemExit(f'{train_yaml}: window_stride={cfg.window_stride}, but a pack\'s '
                         'windows are fixed when it is packed (stride 0)')
    if cfg.instruction_context:   # wrapped instructions need the text encoder, not here
        print(f'{train_yaml}: instruction_context off (the pack holds the embeddings of its '
              'own instructions only)', flush=True)
        cfg = dataclasses.replace(cfg, instruction_context=0.0)
    if max_steps:   # a smoke run: every stage cut short
        cfg = dataclasses.replace(cfg, steps=min(cfg.steps, max_steps), batch_size=min(
            cfg.batch_size, 4), warmup_steps=min(
            cfg.warmup_steps, max_steps // 4), observation_warmup_steps=min(
            cfg.observation_warmup_steps, max_steps // 2))
    start = time.time()
    result = train(model_config, cfg, dataset.data_dir, out, dataset=dataset, device=device,
                   progress=False, **kwargs)
    seconds = time.time() - start
    print(f'{out.name}: {result.step} steps of batch {cfg.batch_size} in {seconds:.0f} s '
          f'({result.seconds_per_step * 1e3:.1f} ms/step), last loss {result.loss:.4f}',
          flush=True)
    return {'steps': result.step, 'batch_size': cfg.batch_size, 'seconds': round(seconds, 1),
            'ms_per_step': round(result.seconds_per_step * 1e3, 2), 'loss': result.loss}


def _steady_ms_per_step(log: Path) -> float:
    """Median seconds per step of a loss log's intervals after the first (warm-up)."""
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return float(np.median([r['seconds_per_step'] for r in records[1:] or records])) * 1e3


def train_preset(pack_path: Path, preset: str, out: Path, device: str,
                 stage1_seconds: float, probe_steps: int = 60, max_steps: int = 0) -> dict:
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    config = load_model_config(preset)
    if out.exists():
        raise SystemExit(f'{out}: exists; give a new --out')
    t0 = time.time()
    named, text_encoder, meta = load_pack(pack_path, config)
    from vag_ros.robot.description import parse_robot_description
    if 'robot_urdf' not in meta:
        raise SystemExit(f'{pack_path}: packed before packs carried the robot; pack again')
    robot = parse_robot_description(meta['robot_urdf'])   # the checkpoints record it
    dataset = EpisodeDataset.from_windows(config, named, source=str(pack_path),
                                          text_encoder=text_encoder, device=device)
    del named   # views into the pack's frames: the dataset keeps its own latents
    dataset.codec.to('cpu')   # saved with the checkpoints; the trainer runs no codec
    report = {'preset': preset, 'device': str(device), 'windows': len(dataset),
              'pack_data': meta['data'], 'pack_source': meta['source'],
              'load_seconds': round(time.time() - t0, 1), 'torch': torch.__version__}
    if torch.cuda.is_available() and str(device).startswith('cuda'):
        report['gpu'] = torch.cuda.get_device_name()
    print(f'{preset}: {len(dataset)} windows ready in {report["load_seconds"]} s', flush=True)
    stage1 = {}
    if stage1_seconds > 0:   # stage 1's steps: what fits the budget at the probed step time
        probe = out / 'probe'
        _stage(config, 'train_gpu.yaml', probe, dataset, device, max_steps=max_steps, robot=robot,
               overrides={'steps': probe_steps, 'log_every': 5, 'save_every': 10 ** 9})
        ms = _steady_ms_per_step(probe / 'loss_log.jsonl')
        shutil.rmtree(probe)
        stage1 = {'steps': max(500, int(stage1_seconds * 1e3 / ms) // 50 * 50),
                  'save_every': 10 ** 9}
        report['probe_ms_per_step'] = round(ms, 2)
    report['stage1'] = _stage(config, 'train_gpu.yaml', out / 'stage1', dataset, device,
                              overrides=stage1, max_steps=max_steps, robot=robot)
    report['stage2'] = _stage(config, 'train_tiny_action.yaml', out / 'stage2', dataset,
                              device, init_video=out / 'stage1', max_steps=max_steps,
                              robot=robot)
    report['stage3'] = _stage(config, 'train_tiny_action_more.yaml', out / 'final', dataset,
                              device, init=out / 'stage2', max_steps=max_steps,
                              robot=robot)
    final = out / 'final'
    shutil.rmtree(final / 'training_state', ignore_errors=True)
    for stage in ('stage1', 'stage2'):
        shutil.copy(out / stage / 'loss_log.jsonl', final / f'loss_log_{stage}.jsonl')
    report['seconds'] = round(time.time() - t0, 1)
    (out / 'report.json').write_text(json.dumps(report, indent=1) + '\n')
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('pack', help='bag folder -> one compressed training pack')
    p.add_argument('--data', required=True, type=Path)
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--preset', default='tiny')
    t = sub.add_parser('train', help='the three training stages on a pack')
    t.add_argument('--pack', required=True, type=Path)
    t.add_argument('--preset', default='small')
    t.add_argument('--out', required=True, type=Path)
    t.add_argument('--device', default='cuda')
    t.add_argument('--stage1-seconds', type=float, default=0.0,
                   help="stage 1's time budget (0: train_gpu.yaml's steps)")
    t.add_argument('--max-steps', type=int, default=0,
                   help='cut every stage to this many steps (a smoke run; 0: off)')
    args = parser.parse_args(argv)
    if args.command == 'pack':
        pack(args.data, args.out, load_model_config(args.preset))
    else:
        report = train_preset(args.pack, args.preset, args.out, args.device,
                              args.stage1_seconds, max_steps=args.max_steps)
        print(json.dumps(report, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
