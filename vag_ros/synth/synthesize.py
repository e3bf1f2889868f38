"""``vag-ros synthesize``: scenes -> generated, validated, replayed, scored episodes.

Per scene: generate video + joints from the first frame, the measured state and the
instruction; validate the joints as the replay node would (``config/safety.yaml`` unless
another safety file is given); replay them in the world when the scene is the world's; score
(replay success, consistency PSNR of the generated video against the render of the replayed
joints, tracking error, validation); write the executed episode and the generated one as
bags; append the scores to ``scores.jsonl``. At the end the score table is written
(``scores.csv``, ``scores.json``, with ``kept`` by the ``--keep`` rules) and the kept episodes
become a LeRobot data set (``lerobot/``: v3.0, or the v2.1 openpi reads).

Re-running with the same output skips the scenes already in ``scores.jsonl``; a different
checkpoint, backend, engine, sampler steps, safety file or scene source is refused. The
tables and the data set hold every finished scene of the output, also those of an earlier
run with more scenes (a re-run never drops what exists). Under
``torchrun`` rank r of w takes scenes r, r + w, ... into ``shard-r-of-w/``;
``vag-ros merge-datasets`` joins the shards' data sets.
"""

import csv
import dataclasses
import json
import os
from pathlib import Path
import shutil
import time
import typing

import numpy as np

from vag_ros.datasets.video_files import DEFAULT_CODEC
from vag_ros.errors import VagError
from vag_ros.model.action_space import StateError
from vag_ros.model.pipeline import GenerationError
from vag_ros.outputs import remove_stale_partials
from vag_ros.eval.replay import replay_and_score
from vag_ros.synth import keep_rules, scoring
from vag_ros.sim.scenes import Scene, SceneSpec

IDENTITY_FILE = 'synthesis.json'
SCORES_JSONL = 'scores.jsonl'
BAGS = 'bags'
GENERATED = 'generated'
DATASET = 'lerobot'
STAGES = ('generation_s', 'validation_s', 'replay_s', 'scoring_s', 'writing_s')
TABLE_FIELDS = (
    'scene', 'name', 'task', 'seed', 'instruction', 'kept', 'valid', 'replay_success',
    'consistency_psnr', 'tracking_error_mean', 'tracking_error_max', 'time_scale',
    'lead_in_s', 'raw_start_error_max', 'validation_error', *STAGES, 'bag', 'generated_bag')


class SynthesisError(VagError):
    """A synthesis output that cannot be (re)used as asked."""


@dataclasses.dataclass
class Synthesis:
    """Everything one run needs besides its scenes."""

    out: Path                   # this rank's folder
    checkpoint: str             # its path, recorded in every episode
    identity: dict              # what the outputs depend on; refused when it changes
    pipeline: typing.Any        # GenerationPipeline (torch or engine)
    robot: typing.Any           # RobotDescription
    safety: typing.Any          # SafetyConfig
    rules: typing.Tuple[keep_rules.KeepRule, ...]
    loader: typing.Any          # WorldScenes or FrameScenes
    world: typing.Any = None    # vag_ros.sim.world.World for world scenes
    num_steps: typing.Optional[int] = None
    guidance_scale: typing.Optional[float] = None
    export_generated: bool = True
    codec: str = DEFAULT_CODEC
    make_writer: typing.Optional[typing.Callable] = None  # export.dataset_writer; None: v3.0


def dist_info() -> typing.Tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) otherwise."""
    return int(os.environ.get('RANK', '0')), int(os.environ.get('WORLD_SIZE', '1'))


def rank_folder(out: Path, rank: int, world_size: int) -> Path:
    """``out`` itself for one process, ``out/shard-<r>-of-<w>`` under torchrun."""
    if world_size == 1:
        return out
    return out / f'shard-{rank:03d}-of-{world_size:03d}'


def check_identity(out: Path, identity: dict) -> None:
    """Record ``identity`` in a new output; refuse an output made with another one."""
    path = out / IDENTITY_FILE
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except ValueError:
            raise SynthesisError(f'{path}: unreadable; this folder cannot be resumed') from None
        changed = sorted(k for k in set(recorded) | set(identity)
                         if recorded.get(k) != identity.get(k))
        scores = out / SCORES_JSONL
        if changed and not (scores.is_file() and scores.read_text().strip()):
            changed = []  # nothing was made with the old settings: take the new ones
            path.write_text(json.dumps(identity, indent=2) + '\n')
        if changed:
            first = changed[0]
            raise SynthesisError(
                f'{out} holds episodes made with another {", ".join(changed)} '
                f'({first}: {recorded.get(first)!r} there, {identity.get(first)!r} now); '
                'one output never mixes them: choose another --out')
        return
    if (out / SCORES_JSONL).exists():
        raise SynthesisError(f'{out}: has scores but no {IDENTITY_FILE}; choose another --out')
    path.write_text(json.dumps(identity, indent=2) + '\n')


def load_records(out: Path) -> typing.Dict[int, dict]:
    """Finished scenes by index, from scores.jsonl (a torn last line is dropped)."""
    path = out / SCORES_JSONL
    if not path.is_file():
        return {}
    records = {}
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # killed while appending: that scene is redone
                print(f'warning: {path}: dropping a torn last line')
                _rewrite(path, lines[:-1])
                break
            raise SynthesisError(f'{path}: line {number} is not JSON; fix or remove it')
        records[int(record['scene'])] = record
    return records


def _rewrite(path: Path, lines: typing.Sequence[str]) -> None:
    tmp = path.with_suffix('.tmp')
    tmp.write_text(''.join(line + '\n' for line in lines))
    os.replace(tmp, path)


def _append(path: Path, record: dict) -> None:
    with open(path, 'a', encoding='utf-8') as f:
        f.write(json.dumps(record, allow_nan=False) + '\n')
        f.flush()
        os.fsync(f.fileno())


def _finite(value):
    return None if value is None or not np.isfinite(value) else float(value)


def run_scene(run: Synthesis, scene: Scene) -> dict:
    """Generate, validate, replay, score and write one scene; its record."""
    from vag_ros.episodes.bag_writer import write_episode
    from vag_ros.episodes.episode import Episode, EpisodeMetadata
    spec, robot = scene.spec, run.robot
    record = {'scene': spec.index, 'name': spec.name, 'task': spec.family, 'seed': spec.seed,
              'instruction': scene.instruction}
    t0 = time.perf_counter()
    try:
        result = run.pipeline.generate(scene.first_frame, scene.instruction, spec.seed,
                                       run.num_steps, run.guidance_scale, state=scene.state)
    except (GenerationError, StateError) as exc:  # this scene's input: noted, skipped
        # (a backend's own failure, EngineError, is not the scene's: it ends the run, so
        # a resume retries every scene after it)
        return _failed(record, f'generation failed: {exc}', time.perf_counter() - t0)
    actions = result.actions.astype(np.float64)  # (T, D) joint units
    if not np.all(np.isfinite(actions)) or not np.all(np.isfinite(result.video)):
        return _failed(record, 'generation failed: NaN or inf in the generated joints or '
                       'video', time.perf_counter() - t0)
    record['generation_s'] = time.perf_counter() - t0
    record['raw_start_error_max'] = (None if result.raw_start_error is None else
                                     _finite(np.max(result.raw_start_error)))

    t0 = time.perf_counter()
    record.update(scoring.validate(actions, scene.state, result.fps, robot, run.safety))
    record['validation_s'] = time.perf_counter() - t0

    score = None
    t0 = time.perf_counter()
    record.update({'replay_success': None, 'consistency_psnr': None,
                   'tracking_error_mean': None, 'tracking_error_max': None})
    video = result.video if len(result.video) else None   # None: an action-only model
    if scene.task is not None:   # replayed, judged, the video scored against its render
        score = replay_and_score(run.world, scene.task, actions, video, render=True)
        record.update({'replay_success': score.success,
                       'consistency_psnr': score.consistency_psnr})
        if score.error is not None:   # NaN joints and the like: not replayable, noted
            record['replay_error'] = score.error
    record['replay_s'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    replay = None if score is None else score.replay
    if replay is not None:
        mean, peak = scoring.tracking_errors(actions, replay.joints,
                                             scoring.arm_indices(robot))
        record.update({'tracking_error_mean': mean, 'tracking_error_max': peak})
    record['scoring_s'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    scores = {k: record[k] for k in keep_rules.SCORES}
    extra = {'scene': spec.index, 'scores': scores, 'checkpoint': run.checkpoint,
             'checkpoint_sha256': run.identity['checkpoint_sha256'],
             'state': [float(v) for v in scene.state]}
    if scene.task is not None:
        extra.update({'target': scene.task.target, 'templates': scene.task.templates,
                      'objects': [list(o) for o in scene.task.objects]})

    def metadata(source, success):
        return EpisodeMetadata(task=spec.family, seed=spec.seed, success=success,
                               robot=robot.name, joint_names=tuple(robot.joint_names),
                               frame_rate=float(result.fps), source=source,
                               instruction=scene.instruction, extra=extra,
                               robot_urdf=robot.urdf)

    generated = None if video is None else Episode(
        frames=video, joints=actions, actions=actions.copy(),
        metadata=metadata('generated', bool(record['replay_success'])))
    if replay is not None:
        executed = Episode(frames=replay.frames, joints=replay.joints, actions=actions,
                           metadata=metadata('replayed', bool(replay.success)))
        record['bag'] = str(write_episode(executed, run.out / BAGS, spec.name)
                            .relative_to(run.out))
        record['generated_bag'] = None if generated is None else str(
            write_episode(generated, run.out / GENERATED, spec.name).relative_to(run.out))
    elif generated is None:   # an action-only model's trajectory the world refused
        record['bag'] = record['generated_bag'] = None
    else:  # a lab's frame: the generated episode is all there is
        record['bag'] = str(write_episode(generated, run.out / BAGS, spec.name)
                            .relative_to(run.out))
        record['generated_bag'] = None
    record['writing_s'] = time.perf_counter() - t0
    return record


def _failed(record: dict, error: str, generation_s: float) -> dict:
    """The record of a scene that produced no episode (kept by no rule)."""
    record.update({'valid': False, 'validation_error': error, 'time_scale': None,
                   'lead_in_s': None, 'raw_start_error_max': None, 'replay_success': None,
                   'consistency_psnr': None, 'tracking_error_mean': None,
                   'tracking_error_max': None, 'generation_s': generation_s,
                   'validation_s': 0.0, 'replay_s': 0.0, 'scoring_s': 0.0, 'writing_s': 0.0,
                   'bag': None, 'generated_bag': None})
    return record


def _clear_leftovers(out: Path, name: str) -> None:
    """Remove our own bags of a scene that has no score (an interrupted run): finished
    ones, and the hidden partial ones of a run killed while writing them (SIGKILL)."""
    for folder in (BAGS, GENERATED):
        leftover = out / folder / name
        if leftover.exists():
            print(f'note: removing {leftover}: written by an interrupted run, redone now')
            shutil.rmtree(leftover)
        for partial in remove_stale_partials(out / folder, name):
            print(f'note: removed {partial}: a bag an interrupted run was writing')


def synthesize(run: Synthesis, specs: typing.Sequence[SceneSpec], progress: bool = True
               ) -> dict:
    """Run every scene of ``specs`` not yet finished in ``run.out``; the summary."""
    from tqdm import tqdm
    records = load_records(run.out)
    for name in (DATASET, f'{DATASET}.old'):   # of an export that was killed
        remove_stale_partials(run.out, name)    # (the data set is written again below)
    todo = [s for s in specs if s.index not in records]
    start = time.perf_counter()
    bar = tqdm(todo, desc='synthesize', unit='scene', disable=not progress)
    done = 0
    stage = {k: 0.0 for k in STAGES}
    for spec in bar:
        _clear_leftovers(run.out, spec.name)
        record = run_scene(run, run.loader.load(spec))
        _append(run.out / SCORES_JSONL, record)
        records[spec.index] = record
        done += 1
        for key in STAGES:
            stage[key] += record[key]
        bar.set_postfix(kept=sum(keep_rules.kept(r, run.rules) for r in records.values()))
    synth_s = time.perf_counter() - start
    # every finished scene, also those an earlier run with more --scenes made: the tables
    # and the data set never drop what scores.jsonl and the bags hold
    earlier = sorted(set(records) - {s.index for s in specs})
    if earlier:
        print(f'note: {len(earlier)} scene(s) an earlier run finished beyond the ones asked '
              f'for now (scenes {earlier[0]}..{earlier[-1]}) stay in the tables and the data '
              'set; a new --out starts afresh')
    rows = [records[k] for k in sorted(records)]
    t0 = time.perf_counter()
    table = write_tables(run.out, rows, run.rules)
    kept_rows = [r for r in rows if r['kept']]
    dataset = None
    if kept_rows:
        from vag_ros.synth.export import dataset_writer as export_writer, export_records
        dataset = export_records(run.out, kept_rows, run.out / DATASET, run.robot,
                                 run.export_generated, run.codec,
                                 run.make_writer or export_writer())
    elif (run.out / DATASET).exists():  # it would contradict the table: set aside, kept
        aside = run.out / f'{DATASET}.superseded-{time.strftime("%Y%m%d-%H%M%S")}'
        (run.out / DATASET).rename(aside)
        print(f'warning: no episode passed the --keep rules; the previous data set is now '
              f'{aside}')
    export_s = time.perf_counter() - t0
    return {'scenes': len(rows), 'new': done, 'skipped': len(rows) - done,
            'kept': len(kept_rows), 'rules': [str(r) for r in run.rules],
            'time_scale': time_scale_spread(kept_rows),
            'seconds': synth_s, 'export_s': export_s, 'stage_s': stage,
            'table': [str(p) for p in table], 'dataset': None if dataset is None else
            str(dataset), 'out': str(run.out)}


def time_scale_spread(rows: typing.Sequence[dict]) -> dict:
    """{'min', 'median', 'max'} of the rows' time_scale (the slow-down the arm needs; None
    without any) and 'unknown': how many have none (failed validation)."""
    scales = [r['time_scale'] for r in rows if r.get('time_scale') is not None]
    spread = {k: None for k in ('min', 'median', 'max')}
    if scales:
        spread = {'min': float(np.min(scales)), 'median': float(np.median(scales)),
                  'max': float(np.max(scales))}
    return dict(spread, unknown=len(rows) - len(scales))


def write_tables(out: Path, rows: typing.Sequence[dict],
                 rules: typing.Sequence[keep_rules.KeepRule]) -> typing.Tuple[Path, Path]:
    """scores.csv and scores.json of every scene, ``kept`` by ``rules``."""
    for row in rows:
        row['kept'] = row.get('bag') is not None and keep_rules.kept(row, rules)
    json_path = out / 'scores.json'
    json_path.write_text(json.dumps({'rules': [str(r) for r in rules], 'episodes': rows},
                                    indent=2, allow_nan=False) + '\n')
    csv_path = out / 'scores.csv'
    with open(csv_path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=TABLE_FIELDS, extrasaction='ignore')
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in TABLE_FIELDS})
    return csv_path, json_path
