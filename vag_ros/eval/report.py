"""The evaluation report: a markdown table of the methods and action-curve plots."""

from pathlib import Path
import typing

import numpy as np

from vag_ros.media import plot_action_curves

METHOD_LABELS = {
    'vag': 'VAG (joint)',
    'teacher': 'teacher (VAG it was distilled from, own steps)',
    'two_stage': 'two-stage (video -> inverse dynamics)',
    'two_stage_true_video': 'two-stage on the true video (the reader\'s ceiling)',
    'no_bridge': 'no bridge (action only)',
    'scene_blind': 'scene-blind (task mean motion)',
}
COLUMNS = (  # (key, header, format)
    ('action_ed', 'action ED ↓', '{:.3f}'),
    ('action_sr', 'action SR ↑', '{:.0%}'),
    ('replay_success', 'replay SR [95% CI] ↑', '{:.0%}'),
    ('wrong_target', 'wrong target ↓', '{:.0%}'),
    ('counterfactual', 'follows other object ↑', '{:.0%}'),
    ('start_error', 'max start error', '{:.3f}'),
    ('consistency_psnr', 'consistency PSNR [dB] ↑', '{:.2f}'),
    ('video_psnr', 'video PSNR [dB] ↑', '{:.2f}'),
    ('video_ssim', 'video SSIM ↑', '{:.3f}'),
)
VIDEO_COLUMNS = (  # the video where it matters, on the predicted frames
    ('predicted_psnr', 'whole-frame PSNR [dB] ↑', '{:.2f}'),
    ('arm_psnr', 'arm PSNR [dB] ↑', '{:.2f}'),
    ('arm_ssim', 'arm SSIM ↑', '{:.3f}'),
    ('target_block_psnr', 'named block PSNR [dB] ↑', '{:.2f}'),
    ('arm_sharpness', 'arm sharpness (1 = truth)', '{:.2f}'),
    ('video_sharpness', 'whole-frame sharpness (1 = truth)', '{:.2f}'),
)
INTERVALS = ('replay_success',)  # rates whose interval is printed in the main table


def _cell(value, fmt: str) -> str:
    if value is None:
        return '–'
    return fmt.format(value)


def _rate_cell(values: typing.Mapping[str, typing.Any], key: str, fmt: str) -> str:
    cell = _cell(values.get(key), fmt)
    count = values.get(key + '_count')
    interval = values.get(key + '_interval')
    if count and values.get(key) is not None:
        cell += f' ({count[0]}/{count[1]})'
    if key in INTERVALS and interval and interval[0] is not None:
        cell += f' [{interval[0]:.0%}, {interval[1]:.0%}]'
    return cell


def _outcome(rate: typing.Mapping[str, typing.Any]) -> str:
    """metrics.rate's dict -> '67% (33/49) [53%, 79%]'."""
    low, high = rate['interval']
    return (f'{_cell(rate["rate"], "{:.0%}")} ({rate["successes"]}/{rate["n"]})'
            + (f' [{low:.0%}, {high:.0%}]' if low is not None else ''))


def method_table(methods: typing.Mapping[str, typing.Mapping[str, typing.Any]],
                 columns=COLUMNS) -> str:
    """Markdown table: one row per method, one column per metric."""
    lines = ['| method | ' + ' | '.join(c[1] for c in columns) + ' |',
             '| --- |' + ' ---: |' * len(columns)]
    for name, values in methods.items():
        cells = [_rate_cell(values, key, fmt) for key, _, fmt in columns]
        lines.append(f'| {METHOD_LABELS.get(name, name)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def joint_error_table(methods: typing.Mapping[str, typing.Mapping[str, typing.Any]],
                      joint_names: typing.Sequence[str]) -> str:
    """Markdown table of the per-joint mean |pred - expert| at the first and last step."""
    lines = ['| method | step | ' + ' | '.join(joint_names) + ' |',
             '| --- | --- |' + ' ---: |' * len(joint_names)]
    for name, values in methods.items():
        for key, label in (('first_step_error', 'first'), ('last_step_error', 'last'),
                           ('raw_start_error', 'first vs state, before anchoring')):
            errors = values.get(key)
            if errors:
                cells = ' | '.join(f'{v:.3f}' for v in errors)
                lines.append(f'| {METHOD_LABELS.get(name, name)} | {label} | {cells} |')
    return '\n'.join(lines)


def video_table(methods: typing.Mapping[str, typing.Mapping[str, typing.Any]]) -> str:
    """Markdown table of the video metrics of the methods that make a video."""
    return method_table({k: v for k, v in methods.items() if v.get('video_psnr') is not None},
                        VIDEO_COLUMNS)


def reader_line(methods: typing.Mapping[str, typing.Mapping[str, typing.Any]]
                ) -> typing.Optional[str]:
    """The inverse-dynamics reader on the generated video against on the true video."""
    made, true = methods.get('two_stage'), methods.get('two_stage_true_video')
    if not made or not true or not true.get('replay_success'):
        return None
    ratio = made['replay_success'] / true['replay_success']
    return (f'The inverse-dynamics reader on the generated video: replay success '
            f'{_rate_cell(made, "replay_success", "{:.0%}")}; on the true video (its '
            f'ceiling): {_rate_cell(true, "replay_success", "{:.0%}")}; ratio {ratio:.2f}.')


def phrasing_table(pairs: typing.Mapping[str, typing.Any]) -> str:
    """Markdown table: per task, VAG's replay success on the scenes' own instructions
    against a held-out phrasing and typos of the same scenes."""
    kinds = list(pairs)
    lines = ['| task | episodes | templated | ' + ' | '.join(
                 f'{k} | {k} − templated | {k} wrong target' for k in kinds) + ' |',
             '| --- | ---: | ---: |' + ' ---: | ---: | ---: |' * len(kinds)]
    for name in pairs[kinds[0]]:
        first = pairs[kinds[0]][name]
        cells = [str(first['episodes']), _outcome(first['templated'])]
        for kind in kinds:
            row = pairs[kind][name]
            cells += [_outcome(row[kind]), f'{row["difference"] * 100:+.0f} pts',
                      _outcome(row['wrong_target'])]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def render_report(results: typing.Mapping[str, typing.Any]) -> str:
    """The whole report as markdown."""
    info = results.get('config', {})
    seeds = results.get('seeds', [])
    parts = [
        '# VAG evaluation', '',
        f'{results["episodes"]} held-out episodes of the embedded world, seeds '
        f'{seeds[0] if seeds else "-"}..{seeds[-1] if seeds else "-"} '
        f'(training data uses seeds < 100000), tasks: {info.get("tasks", "all")}.', '',
        method_table(results['methods']), '',
    ]
    if info.get('teacher'):
        parts += [f'VAG samples in {info.get("vag_steps")} steps; the teacher row is '
                  f'{info["teacher"]} at its own {info.get("teacher_steps")} steps, on the '
                  f'same scenes and seeds.', '']
    if any(v.get('video_psnr') is not None for v in results['methods'].values()):
        parts += ['## The video where it matters', '',
                  'On the predicted frames (1..T-1): the arm\'s and the named block\'s pixels '
                  'in the ground truth (the simulator\'s segmentation, as each pixel\'s share '
                  'of the region), and the gradient energy against the truth\'s.', '',
                  video_table(results['methods']), '']
        reader = reader_line(results['methods'])
        if reader:
            parts += [reader, '']
    note = info.get('two_stage_video')
    if note:
        parts += [f'Two-stage video: {note}', '']
    refs = results.get('video_references') or {}
    if refs:
        parts += [f'Video references (ground truth against itself, no model): the first '
                  f'frame held still for the whole clip, PSNR '
                  f'{_cell(refs.get("held_first_frame_psnr"), "{:.2f}")} dB, SSIM '
                  f'{_cell(refs.get("held_first_frame_ssim"), "{:.3f}")}; the codec\'s own '
                  f'reconstruction, PSNR {_cell(refs.get("codec_psnr"), "{:.2f}")} dB.'
                  + (f' On the arm: held first frame '
                     f'{_cell(refs.get("held_first_frame_arm_psnr"), "{:.2f}")} dB, codec '
                     f'{_cell(refs.get("codec_arm_psnr"), "{:.2f}")} dB.'
                     if 'codec_arm_psnr' in refs else ''), '']
    expert = results.get('expert_success')
    if expert is not None:
        parts += [f'Scripted expert (ground truth) replay success: {expert:.0%}.', '']
    for split, per in results.get('per_template_split', {}).items():
        label = 'held-out' if split == 'held_out' else 'training'
        parts += [f'## Instructions from {label} templates ({per.get("episodes", 0)} '
                  f'episodes)', '', method_table(per['methods']), '']
    pairs = results.get('template_pairs')
    if pairs:
        held, trained = pairs['held_out_template'], pairs['training_template']
        parts += [f'Paired on the same {pairs["episodes"]} scenes, VAG\'s replay success with '
                  f'the held-out template {_outcome(held)} against '
                  f'{_outcome(trained)} with a training template '
                  f'({pairs["difference"] * 100:+.0f} points; only the training template '
                  f'succeeded in {pairs["only_training_template_succeeded"]}, only the '
                  f'held-out one in {pairs["only_held_out_template_succeeded"]}).', '']
    said = results.get('phrasing_pairs')
    if said:
        parts += ['## Instructions as people say them', '',
                  "VAG's replay success on the same scenes: each scene's own instruction "
                  '(templated), a held-out phrasing (verbs, direction phrases and word '
                  'orders no template uses; config/eval_phrasings.yaml) and the own '
                  'instruction with typos.', '', phrasing_table(said), '']
    for family, per in results.get('per_task', {}).items():
        parts += [f'## {family} ({per.get("episodes", 0)} episodes)', '',
                  method_table(per['methods']), '']
        if any(v.get('video_psnr') is not None for v in per['methods'].values()):
            parts += [video_table(per['methods']), '']
    names = info.get('joint_names')
    if names:
        parts += ['## Per-joint error at the first and last step', '',
                  joint_error_table(results['methods'], names), '']
    parts += ['## Definitions', '']
    parts += [f'- `{k}`: {v}' for k, v in results.get('definitions', {}).items()]
    timings = results.get('timings', {})
    if timings:
        parts += ['', '## Timings (seconds)', '']
        parts += [f'- {k}: {v:.2f}' for k, v in timings.items()]
    plots = results.get('plots', [])
    if plots:
        parts += ['', '## Action curves', '']
        parts += [f'![{Path(p).stem}]({p})' for p in plots]
    return '\n'.join(parts) + '\n'


def write_report(results: typing.Mapping[str, typing.Any], path) -> Path:
    """Write ``render_report(results)`` to ``path``."""
    path = Path(path)
    path.write_text(render_report(results), encoding='utf-8')
    return path


def plot_episode(path, ground_truth: np.ndarray, predictions: typing.Mapping[str, np.ndarray],
                 fps: float, joint_names: typing.Sequence[str], title: str) -> Path:
    """Action curves of one episode: ground truth (T, D) and each method's (T, D)."""
    curves = {'ground truth': ground_truth}
    curves.update({METHOD_LABELS.get(k, k).split(' (')[0]: v for k, v in predictions.items()})
    return plot_action_curves(curves, path, fps=fps, joint_names=joint_names, title=title)
