"""onnxruntime's idle intra-op threads spinning or not, side by side, as the generator runs.

Each call generates an episode from a world scene with a new instruction (so the MiniLM text
encoder runs in torch between the onnxruntime sessions, as it does for a lab's operator),
alternating a pipeline whose pools spin with one whose pools do not (the default), on the
engine of each checkpoint (exported to ``runs/engines`` once). Prints the median episode time
and its stages per checkpoint and setting.

    python scripts/ort_spinning_check.py checkpoints/tiny_few_step checkpoints/tiny_demo \
        --calls 12 --threads 0
"""

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--calls', type=int, default=12, help='episodes per setting')
    parser.add_argument('--threads', type=int, default=0, help='intra-op threads (0: default)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed episodes per setting')
    args = parser.parse_args()

    from vag_ros.engines.engine_cache import ensure_engine
    from vag_ros.engines.engine_pipeline import open_engine
    from vag_ros.sim.world import World

    world = World()
    task = world.make_task('pick', 100000)
    world.reset(task)
    frame, state = world.render(), world.joints()  # (H, W, 3) uint8, (D,)
    stages = ('text', 'encode', 'denoise', 'decode', 'total')
    for checkpoint in args.checkpoints:
        engine = ensure_engine(checkpoint, 'runs/engines')
        pipes = {spin: open_engine(engine, 'onnxruntime', checkpoint=checkpoint,
                                   threads=args.threads, spinning=spin)
                 for spin in (True, False)}
        times = {spin: [] for spin in pipes}
        for call in range(args.warmup + args.calls):
            for spin, pipe in pipes.items():
                words = f'{task.instruction} (call {call}, {"spinning" if spin else "idle"})'
                result = pipe.generate(frame, words, seed=call, state=state)
                if call >= args.warmup:
                    times[spin].append([result.timings[k] for k in stages])
        for spin, rows in times.items():
            median = np.median(np.asarray(rows), axis=0)
            split = ' / '.join(f'{v:.3f}' for v in median[:-1])
            print(f'{checkpoint}: threads {args.threads}, spinning {"on " if spin else "off"}: '
                  f'episode median {median[-1]:.3f} s (text / encode / denoise / decode '
                  f'{split} s) over {len(rows)} calls')


if __name__ == '__main__':
    main()
