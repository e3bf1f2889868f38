"""Bars of closed-loop success per row and task family, with Wilson 95% intervals, from
`vag-ros eval-policy --json` files: the downstream study's rows at one K side by side.

    python scripts/plot_study_rows.py --out docs/downstream_study_baselines.png \
        'expert 50=runs/study8k/eval/k50_expert.json' \
        'expert 50 + VAG 300=runs/study8k/eval/k50_vag_replayed.json'
"""

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('rows', nargs='+', help='LABEL=EVAL_JSON, in the order to draw')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--title', default='closed-loop success, K = 50')
    args = parser.parse_args()
    rows = []
    for item in args.rows:
        label, sep, path = item.partition('=')
        if not sep:
            raise SystemExit(f'{item!r}: expected LABEL=EVAL_JSON')
        rows.append((label, json.loads(Path(path).read_text())))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    groups = ['all', 'touch', 'push', 'pick']
    figure = Figure(figsize=(7, 4), dpi=120)
    axes = figure.add_subplot()
    width = 0.8 / len(rows)
    for i, (label, result) in enumerate(rows):
        rates = [result['replay_success']] + [result['per_task'][g] for g in groups[1:]]
        xs = [g + (i - (len(rows) - 1) / 2) * width for g in range(len(groups))]
        axes.bar(xs, [100 * r['rate'] for r in rates], width, label=label,
                 yerr=[[100 * (r['rate'] - r['interval'][0]) for r in rates],
                       [100 * (r['interval'][1] - r['rate']) for r in rates]], capsize=2)
    first = rows[0][1]
    counts = [first['episodes']] + [first['per_task'][g]['n'] for g in groups[1:]]
    axes.set_xticks(range(len(groups)), [f'{g} (n={n})' for g, n in zip(groups, counts)])
    axes.set_ylabel('success [%], Wilson 95%')
    axes.set_ylim(0, 100)
    axes.set_title(args.title)
    axes.legend(fontsize=8)
    FigureCanvasAgg(figure).print_png(args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
