"""Is VAG worth it? The downstream study: closed-loop policies trained with and without VAG's
synthetic episodes, scored on held-out seeds of the embedded world.

Rows (each a policy of config/model_policy.yaml trained with one recipe, run receding-horizon):
  expert K            K scripted-expert episodes (seeds 1000.., task families in turn)
  + vag M (replayed)  the same K plus the first M episodes `vag-ros synthesize` kept
                      (valid, replay_success) from --generator, observed as executed: the
                      replay's camera and measured joints (what the recorder gets on an arm)
  + vag M (video)     the same K plus those M episodes as generated: VAG's video as the
                      camera and its joints (no robot needed: the paper's case)
  + no-bridge M       the same K plus M rollouts of the action-only (no-bridge) model,
                      replayed and kept by the same filter (--baselines-k)
  + two-stage M       the same K plus M episodes of the two-stage generator (VAG's video,
                      joints read off it by the inverse-dynamics model, as DreamGen),
                      replayed and kept by the same filter (--baselines-k)
  expert N (check)    the learner on N expert episodes alone (--learner-check, default 900,
                      as many as trained the generator): is the learner strong enough for
                      the curve to mean anything?

Resumable: every stage skips what is complete (a recorded pool, a synthesis run, a trained
policy, an evaluation), and a training cut short resumes. Each generator synthesizes scenes
until M are kept (its keep rate is in the table). Every command is printed before it
runs. Writes <out>/study.json, <out>/study.md (table, Wilson 95% intervals, per task) and
<out>/success_vs_k.png.

    python scripts/downstream_study.py --out runs/study --k 25 50 100 --m 300
"""

import argparse
import json
from pathlib import Path
import shlex
import subprocess
import sys
import time

VAG = str(Path(sys.executable).parent / 'vag-ros')
ROOT = Path(__file__).resolve().parents[1]
EXPERT_SEED, SYNTH_SEED, EVAL_SEED = 1000, 200000, 100000   # disjoint seed ranges


def run(*command: str) -> None:
    print('+', ' '.join(shlex.quote(str(c)) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True)


def link_bags(folder: Path, bags) -> Path:
    """A folder of links to ``bags`` (made once; training reads it as a bag folder)."""
    if folder.is_dir():
        return folder
    partial = folder.with_name(folder.name + '.partial')
    partial.mkdir(parents=True, exist_ok=True)
    for bag in bags:
        link = partial / bag.name
        if not link.exists():
            link.symlink_to(Path(bag).resolve(), target_is_directory=True)
    partial.rename(folder)
    return folder


def expert_pool(out: Path, count: int) -> Path:
    """``count`` expert episodes from EXPERT_SEED (a larger K later records a larger pool;
    the world is deterministic, so its first episodes are the smaller pool's)."""
    pool = out / f'expert_{count}'
    if not pool.is_dir():
        tmp = out / f'expert_{count}.partial'
        if tmp.exists():
            subprocess.run(['rm', '-rf', str(tmp)], check=True)
        run(VAG, 'sim-record', '--episodes', count, '--seed', EXPERT_SEED, '--out', tmp,
            '--quiet')
        tmp.rename(pool)
    return pool


def expert_bags(pool: Path, k: int):
    """The bags of seeds EXPERT_SEED .. + k - 1 (task families in turn)."""
    wanted = {f'seed{s:06d}' for s in range(EXPERT_SEED, EXPERT_SEED + k)}
    bags = sorted(p for p in pool.iterdir() if p.name.split('_')[-1] in wanted)
    if len(bags) != k:
        raise SystemExit(f'{pool}: {len(bags)} of the {k} expert seeds from {EXPERT_SEED}')
    return bags


def synthesized(out: Path, folder: str, generator: str, m: int, scenes: int,
                max_scenes: int, *options: str):
    """(replayed bags, generated bags, kept/scenes) of the first ``m`` kept scenes of
    ``generator`` (synthesize ``options``) in ``out/folder``, in scene order. Scenes grow
    (from ``scenes``, up to ``max_scenes``) until ``m`` are kept: every generator adds the
    same M, whatever its keep rate."""
    synth = out / folder
    while True:
        if scored_scenes(synth) < scenes:   # resumes: scenes already scored are skipped
            run(VAG, 'synthesize', '--checkpoint', generator, '--scenes', scenes, '--seed',
                SYNTH_SEED, '--out', synth, '--quiet', *options)
        episodes = json.loads((synth / 'scores.json').read_text())['episodes']
        rows = sorted((r for r in episodes if r['kept']), key=lambda r: r['scene'])
        if len(rows) >= m:
            break
        if scenes >= max_scenes:
            raise SystemExit(f'{synth}: {len(rows)} kept of {scenes} scenes, {m} wanted: '
                             'raise --max-scenes')
        scenes = min(max_scenes, int(scenes * m / max(len(rows), 1) * 1.15) + 1)
    keep = {'kept': len(rows), 'scenes': len(episodes)}
    rows = rows[:m]
    return ([synth / r['bag'] for r in rows],
            [synth / r['generated_bag'] for r in rows if r['generated_bag']], keep)


def scored_scenes(synth: Path) -> int:
    """Scenes in a finished synthesis table (0 before the first run ends)."""
    table = synth / 'scores.json'
    return len(json.loads(table.read_text())['episodes']) if table.is_file() else 0


def trained(out: Path, name: str, data: Path, args) -> Path:
    policy = out / 'policies' / name
    if (policy / 'done').is_file():
        return policy
    resume = ['--resume'] if (policy / 'training_state').is_dir() else []
    if policy.exists() and not resume:
        subprocess.run(['rm', '-rf', str(policy)], check=True)   # killed before its first save
    run(VAG, 'train', '--config', args.model_config, '--train-config', args.train_config,
        '--data', data, '--out', policy, '--seed', args.train_seed, '--quiet', *resume)
    (policy / 'done').write_text(time.strftime('%Y-%m-%d %H:%M:%S\n'))
    return policy


def evaluated(out: Path, name: str, policy: Path, episodes: int) -> dict:
    result = out / 'eval' / f'{name}.json'
    if not result.is_file():
        result.parent.mkdir(parents=True, exist_ok=True)
        run(VAG, 'eval-policy', '--checkpoint', policy, '--episodes', episodes,
            '--seed-start', EVAL_SEED, '--closed-loop', '--json', result, '--quiet')
    return json.loads(result.read_text())


def percent(rate) -> str:
    if rate is None:
        return '-'
    low, high = rate['interval']
    return (f'{100 * rate["rate"]:.0f}% ({rate["successes"]}/{rate["n"]}) '
            f'[{100 * low:.0f}, {100 * high:.0f}]')


def report(out: Path, rows: list, args) -> None:
    families = ('touch', 'push', 'pick')
    lines = ['| training data | K | all | ' + ' | '.join(families) + ' | synthetic kept |',
             '| --- | ---: | ---: | ' + ' | '.join('---:' for _ in families) + ' | ---: |']
    for row in rows:
        result, keep = row['result'], row.get('keep')
        kept = f'{keep["kept"]} of {keep["scenes"]} scenes' if keep else '-'
        lines.append(f'| {row["label"]} | {row["k"]} | {percent(result["replay_success"])} | '
                     + ' | '.join(percent(result['per_task'].get(f)) for f in families)
                     + f' | {kept} |')
    (out / 'study.md').write_text('\n'.join(lines) + '\n')
    (out / 'study.json').write_text(json.dumps(
        {'args': vars(args), 'rows': [{k: v for k, v in r.items() if k != 'result'}
                                      | {'replay_success': r['result']['replay_success'],
                                         'per_task': r['result']['per_task']}
                                      for r in rows]}, indent=2) + '\n')
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(6, 4), dpi=120)
    axes = figure.add_subplot()
    curve = [r for r in rows if r['series'] != 'learner check']
    for row in rows:
        if row['series'] == 'learner check':   # a level, not a point of the K curve
            axes.axhline(100 * row['result']['replay_success']['rate'], color='gray',
                         linestyle='--', label=row['label'])
    for label in dict.fromkeys(r['series'] for r in curve):
        points = sorted((r['k'], r['result']['replay_success']) for r in curve
                        if r['series'] == label)
        ks = [k for k, _ in points]
        axes.errorbar(ks, [100 * p['rate'] for _, p in points],
                      yerr=[[100 * (p['rate'] - p['interval'][0]) for _, p in points],
                            [100 * (p['interval'][1] - p['rate']) for _, p in points]],
                      marker='o', capsize=3, label=label)
    axes.set_xticks(sorted({r['k'] for r in curve}))
    axes.set_xlabel('K expert episodes')
    axes.set_ylabel(f'closed-loop success, {args.episodes} held-out seeds [%]')
    axes.set_ylim(0, 100)
    axes.legend()
    FigureCanvasAgg(figure).print_png(str(out / 'success_vs_k.png'))
    print('\n'.join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--k', type=int, nargs='+', default=[25, 50, 100])
    parser.add_argument('--m', type=int, default=300, help='synthetic episodes added')
    parser.add_argument('--scenes', type=int, default=600,
                        help='scenes synthesized to keep M (about half are kept)')
    parser.add_argument('--generator', default=str(ROOT / 'checkpoints' / 'tiny_demo'),
                        help='VAG checkpoint that synthesizes (default: the demo, trained on '
                             '900 expert episodes: the paper\'s setting)')
    parser.add_argument('--video-k', type=int, nargs='*', default=[50],
                        help='K values that also get the generated-video row')
    parser.add_argument('--episodes', type=int, default=99, help='held-out seeds per row')
    parser.add_argument('--model-config', default=str(ROOT / 'config' / 'model_policy.yaml'))
    parser.add_argument('--train-config', default=str(ROOT / 'config' / 'train_policy.yaml'))
    parser.add_argument('--train-seed', type=int, default=2)
    parser.add_argument('--keep', action='append', default=None, metavar='RULE',
                        help="synthesize's keep rules for every generator (default its own: "
                             'valid, replay_success)')
    parser.add_argument('--max-scenes', type=int, default=3000,
                        help='scenes a generator may synthesize to keep M')
    parser.add_argument('--baselines-k', type=int, nargs='*', default=[50],
                        help='K values that also get the data baselines: the same M from '
                             'no-bridge rollouts and from the two-stage generator, kept by '
                             'the same filter')
    parser.add_argument('--learner-check', type=int, default=900,
                        help='expert episodes of the learner check row (0: none)')
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    pool = expert_pool(out, max(args.k))
    keep_rules = [f'--keep={rule}' for rule in args.keep or ()]
    replayed, generated, keep = synthesized(out, 'synth', args.generator, args.m, args.scenes,
                                            args.max_scenes, *keep_rules)
    generator = Path(args.generator)
    baselines = (   # VAG's data's obvious alternatives, the same M of each, the same filter
        ('no_bridge_replayed', 'no-bridge rollouts', 'synth_no_bridge',
         generator / 'baselines' / 'no_bridge', ()),
        ('two_stage_replayed', 'two-stage', 'synth_two_stage', generator,
         ('--label-video', str(generator / 'baselines' / 'inverse_dynamics'))))
    rows = []
    for k in sorted(args.k):
        expert = expert_bags(pool, k)
        # (label, series, () -> (bags, keep)): a baseline is synthesized when its row comes
        sets = [('expert K', 'expert', lambda e=expert: (e, None)),
                (f'expert K + VAG {args.m} (replayed)', 'vag_replayed',
                 lambda e=expert: (e + replayed, keep))]
        if k in args.video_k:
            sets.append((f'expert K + VAG {args.m} (generated video)', 'vag_video',
                         lambda e=expert: (e + generated, keep)))
        if k in args.baselines_k:
            for series, what, folder, checkpoint, options in baselines:
                def baseline(e=expert, folder=folder, checkpoint=checkpoint, options=options):
                    bags, _, kept = synthesized(out, folder, str(checkpoint), args.m,
                                                args.scenes, args.max_scenes, *options,
                                                *keep_rules)
                    return e + bags, kept
                sets.append((f'expert K + {what} {args.m} (replayed)', series, baseline))
        for label, series, make in sets:
            bags, kept = make()
            name = f'k{k}_{series}'
            data = link_bags(out / 'data' / name, bags)
            policy = trained(out, name, data, args)
            rows.append({'label': label, 'series': label, 'k': k, 'name': name,
                         'keep': kept, 'result': evaluated(out, name, policy, args.episodes)})
            report(out, rows, args)
    if args.learner_check:
        n = args.learner_check
        name = f'k{n}_expert'
        bags = expert_bags(expert_pool(out, n), n)
        policy = trained(out, name, link_bags(out / 'data' / name, bags), args)
        rows.append({'label': f'expert {n} (learner check)', 'series': 'learner check',
                     'k': n, 'name': name, 'result': evaluated(out, name, policy,
                                                               args.episodes)})
        report(out, rows, args)
    print(f'study: {out / "study.md"}, {out / "success_vs_k.png"} '
          f'({(time.time() - start) / 60:.1f} min this run)')


if __name__ == '__main__':
    main()
