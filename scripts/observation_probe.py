"""Supervised probe of the action branch's observation encoder, without the flow model.

The encoder (first frame, instruction, state) and its waypoint head regress the 4 action
waypoints of each training window, as the waypoint loss does in stage 2's warm-up; the last
episodes of the pack are held out. For each variant of the encoder (model-config fields of
``action:``) it prints, per joint, the correlation between the guessed and the true final
waypoint and the RMS error in joint units on the held-out episodes. Variants share the data,
the split, the seed and the steps, and run one after the other in one process.

    python scripts/observation_probe.py --pack .gpu/train_pack.safetensors.xz \\
        --variant base: --variant local8:local_features=8 --steps 600
"""

import argparse
import dataclasses
import json
from pathlib import Path
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_train import load_pack  # noqa: E402  (the pack reader, one copy)


def parse_variant(text: str):
    """'name:field=value,field=value' -> (name, {field: value})."""
    name, _, fields = text.partition(':')
    changes = {}
    for item in filter(None, fields.split(',')):
        key, _, value = item.partition('=')
        changes[key] = json.loads(value) if value[:1] in '0123456789-[{"' else value
    return name, changes


def tensors(config, named, text_encoder):
    """Frames (N, 3, S, S) in [-1, 1], text (N, L, E) + mask, states (N, D), normalized
    actions (N, T, D), the normalizer, and the episode name of each window."""
    from vag_ros.frame_geometry import frames_to_video
    from vag_ros.train.dataset import fit_normalizer, normalize_actions
    windows = [w for _, w in named]
    frames = frames_to_video(np.stack([w.observed for w in windows])).transpose(0, 1)
    emb, mask = text_encoder.encode([w.instruction for w in windows])
    states = torch.stack([w.state for w in windows]).float()
    actions = torch.stack([w.actions for w in windows]).float()
    normalizer = fit_normalizer(config, actions, states)
    return (frames, emb, mask, states, normalize_actions(config, actions, states, normalizer),
            normalizer, [name for name, _ in named])


def probe(config, data, train, test, steps, batch, lr, seed):
    """Train encoder + waypoint head on ``train`` rows; -> per-joint r and RMS error [joint
    units] of the final waypoint on ``test`` rows, the last loss and the seconds."""
    from vag_ros.model.vag import VagModel, waypoint_index
    frames, emb, mask, states, actions, normalizer, _ = data
    torch.manual_seed(seed)
    model = VagModel(dataclasses.replace(config, mode='action_no_bridge'))
    encoder, head = model.observation, model.waypoints
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    loss = torch.tensor(float('nan'))  # steps = 0: the untrained encoder
    for _ in range(steps):
        rows = train[torch.randint(len(train), (batch,), generator=g)]
        loss = model.waypoint_loss(encoder(frames[rows], emb[rows], mask[rows], states[rows]),
                                   actions[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        feats = encoder(frames[test], emb[test], mask[test], states[test])
        guess = head(feats).view(len(test), -1, config.action.dim)[:, -1]  # (N, D) final
    horizon = actions.shape[1]
    last = waypoint_index(horizon)[-1]
    full = actions[test].clone()
    full[:, last] = guess
    from vag_ros.model import action_space
    absolute = action_space.from_model(full, states[test], normalizer,
                                       config.action.state_conditioning)[:, last]
    truth = action_space.from_model(actions[test], states[test], normalizer,
                                    config.action.state_conditioning)[:, last]
    r = [float(np.corrcoef(absolute[:, j], truth[:, j])[0, 1]) for j in range(truth.shape[1])]
    rms = ((absolute - truth) ** 2).mean(0).sqrt().tolist()
    return r, rms, float(loss.detach()), seconds


def main(argv=None) -> int:
    from vag_ros.model.config import load_model_config
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pack', type=Path, required=True)
    parser.add_argument('--config', default='tiny')
    parser.add_argument('--variant', action='append', required=True,
                        help="name:field=value,...  (fields of the model config's action:)")
    parser.add_argument('--held-out', type=int, default=100, help='episodes held out')
    parser.add_argument('--steps', type=int, default=600)
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--lr', type=float, default=3e-3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', type=Path)
    args = parser.parse_args(argv)
    base = load_model_config(args.config)
    named, text_encoder, _ = load_pack(args.pack, base)
    data = tensors(base, named, text_encoder)
    names = data[-1]
    held = set(sorted(set(names))[-args.held_out:])
    test = torch.tensor([k for k, n in enumerate(names) if n in held])
    train = torch.tensor([k for k, n in enumerate(names) if n not in held])
    print(f'{len(train)} training windows, {len(test)} held-out ({len(held)} episodes)')
    results = {}
    for text in args.variant:
        name, changes = parse_variant(text)
        config = dataclasses.replace(
            base, action=dataclasses.replace(base.action, **changes)).validate()
        r, rms, loss, seconds = probe(config, data, train, test, args.steps, args.batch,
                                      args.lr, args.seed)
        results[name] = {'changes': changes, 'final_r': r, 'final_rms': rms, 'loss': loss,
                         'seconds': round(seconds, 1)}
        print(f'{name:12s} loss {loss:.4f} {seconds:.0f} s  r ' +
              ' '.join(f'{v:.2f}' for v in r) + '  rms ' + ' '.join(f'{v:.3f}' for v in rms),
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
