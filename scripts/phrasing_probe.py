"""Replay success of a checkpoint when its instruction is wrapped in clauses it never trained on.

The same scenes (seeds from 300000, outside training and `vag-ros eval`) are asked each task
in its plain wording and inside wrappers that change no task. The world's training templates
and the context augmentation's lists (vag_ros/train/instruction_context.py) contain none of
them; the last, "with the closed gripper, ...", is the clause of a held-out template.

    python scripts/phrasing_probe.py checkpoints/tiny_demo --scenes 8
"""

import argparse
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vag_ros.model.pipeline import VagPipeline  # noqa: E402
from vag_ros.sim.config import load_sim_config  # noqa: E402
from vag_ros.sim.tasks import DIRECTION_PHRASES  # noqa: E402
from vag_ros.sim.world import World  # noqa: E402
from vag_ros.eval.metrics import rate  # noqa: E402

CORES = {'touch': 'touch the {c} cube', 'push': 'push the {c} cube {d}',
         'pick': 'pick up the {c} cube'}
WRAPPERS = ('{core}', 'hey there, {core}', '{core}, if you can', 'without waiting, {core}',
            'the arm should {core}', 'using your hand, {core}',
            'with the closed gripper, {core}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--scenes', type=int, default=8, help='scenes per task family')
    parser.add_argument('--seed-start', type=int, default=300000)
    args = parser.parse_args(argv)
    pipes = {c: VagPipeline.from_checkpoint(c, 'cpu') for c in args.checkpoints}
    world = World(load_sim_config(None))
    hits = {(c, w): [] for c in pipes for w in WRAPPERS}
    try:
        for k in range(args.scenes * len(CORES)):
            family = tuple(CORES)[k % len(CORES)]
            seed = args.seed_start + k
            task = world.make_task(family, seed, 'train')
            expert = world.run_expert(task, render=True)
            direction = DIRECTION_PHRASES.get(task.direction, ('',))[0]
            core = CORES[family].format(c=task.target, d=direction)
            for name, pipe in pipes.items():
                for wrapper in WRAPPERS:
                    out = pipe.generate(expert.frames[0], wrapper.format(core=core), seed,
                                        state=expert.joints[0])
                    replayed = world.replay(task, out.actions, render=False)
                    hits[name, wrapper].append(replayed.success)
    finally:
        world.close()
    print(f'| wording ({args.scenes} scenes per family) | '
          + ' | '.join(str(c) for c in pipes) + ' |')
    print('| --- |' + ' ---: |' * len(pipes))
    for wrapper in WRAPPERS:
        cells = []
        for name in pipes:
            r = rate(hits[name, wrapper])
            cells.append(f'{r["successes"]}/{r["n"]}')
        print(f'| {wrapper} | ' + ' | '.join(cells) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
