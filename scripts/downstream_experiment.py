"""Does synthetic data help a policy? The downstream experiment of `vag-ros synthesize`.

Trains the project's action-only policy (the no-bridge model, replayed open loop from the
first frame) on K expert episodes, and on the same K plus the first M synthesized episodes
that the --keep filter kept, with the same recipe; then scores both with `vag-ros
eval-policy` on held-out seeds. Every step is a vag-ros command, printed before it runs.

    python scripts/downstream_experiment.py --expert data/train --synth runs/synth600 \
        --k 50 --m 300 --out runs/downstream
"""

import argparse
import json
from pathlib import Path
import shlex
import subprocess
import sys

VAG = str(Path(sys.executable).parent / 'vag-ros')


def run(*command: str) -> None:
    print('+', ' '.join(shlex.quote(c) for c in command), flush=True)
    subprocess.run(command, check=True)


def link_bags(folder: Path, bags) -> None:
    folder.mkdir(parents=True)
    for bag in bags:
        (folder / bag.name).symlink_to(bag.resolve(), target_is_directory=True)


def expert_bags(expert: Path, k: int, seed: int):
    """The expert bags of seeds seed .. seed + k - 1 (task families in turn)."""
    wanted = {f'seed{s:06d}' for s in range(seed, seed + k)}
    bags = sorted(p for p in expert.iterdir() if p.name.split('_')[-1] in wanted)
    if len(bags) != k:
        raise SystemExit(f'{expert}: found {len(bags)} of the {k} expert seeds from {seed}')
    return bags


def kept_bags(synth: Path, m: int):
    """The first m kept synthesized (executed) bags, in scene order, from every shard."""
    rows = []
    for table in sorted(synth.glob('**/scores.json')):
        rows += [(r['scene'], table.parent / r['bag'])
                 for r in json.loads(table.read_text())['episodes'] if r['kept']]
    rows.sort()
    if len(rows) < m:
        raise SystemExit(f'{synth}: only {len(rows)} kept episodes, {m} asked')
    return [bag for _, bag in rows[:m]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--expert', required=True, help='folder of expert episode bags')
    parser.add_argument('--expert-seed', type=int, default=1000)
    parser.add_argument('--synth', required=True, help='vag-ros synthesize output')
    parser.add_argument('--k', type=int, default=50)
    parser.add_argument('--m', type=int, default=300)
    parser.add_argument('--episodes', type=int, default=99, help='held-out seeds to score')
    parser.add_argument('--train-config', default='config/train_tiny_no_bridge.yaml')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    out = Path(args.out)
    expert = expert_bags(Path(args.expert), args.k, args.expert_seed)
    synthetic = kept_bags(Path(args.synth), args.m)
    link_bags(out / 'data_expert', expert)
    link_bags(out / 'data_mixed', expert + synthetic)
    results = {}
    for name in ('expert', 'mixed'):
        run(VAG, 'train', '--config', 'tiny', '--mode', 'action_no_bridge', '--quiet',
            '--train-config', args.train_config, '--data', str(out / f'data_{name}'),
            '--out', str(out / f'policy_{name}'))
        run(VAG, 'eval-policy', '--checkpoint', str(out / f'policy_{name}'), '--quiet',
            '--episodes', str(args.episodes), '--json', str(out / f'eval_{name}.json'))
        results[name] = json.loads((out / f'eval_{name}.json').read_text())
    summary = {'k': args.k, 'm': args.m, 'train_config': args.train_config,
               'synth': args.synth, **{n: {'all': r['replay_success'], **r['per_task']}
                                       for n, r in results.items()}}
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    print(json.dumps(summary, indent=2))


if __name__ == '__main__':
    main()
