"""Replay success of one checkpoint's actions (a policy) on held-out world seeds.

For a policy trained on expert and/or synthesized episodes (the downstream experiment of
data synthesis). Open loop: the checkpoint generates the episode's joints once, from the
seeded scene's first frame, the measured state and the instruction, and the world replays
them. Closed loop (``execute``): receding horizon, as Diffusion Policy and ACT are run: the
first ``execute`` joint targets of each predicted chunk are executed, then the world is
observed again (camera frame, measured joints) and the next chunk predicted, for the
world's ``episode_steps``. Rates carry Wilson 95% intervals, overall and per task family.
"""

from pathlib import Path
import time
import typing

from vag_ros.eval import metrics
from vag_ros.eval.replay import replay_and_score
from vag_ros.eval.evaluate import DEFAULT_SEED_START


def rollout_closed_loop(world, plan: typing.Callable, execute: int, steps: int) -> dict:
    """Run the world's current task receding-horizon: ``plan(frame (H, W, 3) uint8, joints
    (D,), k)`` -> (N, D) joint targets, of which the first ``execute`` are held one frame
    period each, then observe again; ``steps`` frame periods in all. The task must have
    been reset. {'success', 'joints' (steps, D), 'chunks'}."""
    import numpy as np

    from vag_ros.errors import ConfigError
    if execute < 1 or steps < 1:
        raise ConfigError(f'execute={execute}, steps={steps}: both must be >= 1')
    joints = np.zeros((steps, world.dof))   # (T, D) measured before each step
    k = chunks = 0
    while k < steps:
        chunk = world.check_actions(plan(world.render(), world.joints(), k))   # (N, D)
        chunks += 1
        for action in chunk[:min(execute, steps - k)]:
            joints[k] = world.joints()
            world.step(action)
            k += 1
    return {'success': bool(world.success()), 'joints': joints, 'chunks': chunks}


def evaluate_policy(checkpoint: typing.Union[str, Path], episodes: int,
                    seed_start: int = DEFAULT_SEED_START, tasks: str = 'all',
                    sim_config=None, num_steps: typing.Optional[int] = None,
                    device: str = 'cpu', progress: bool = True, loop: str = 'auto',
                    execute: typing.Optional[int] = None) -> dict:
    """Replay success of ``checkpoint`` on ``episodes`` seeds from ``seed_start``. ``loop``:
    'open', 'closed' (executing ``execute`` targets of each chunk: by default the
    checkpoint's action.execute_steps, else 8) or 'auto' (closed when the checkpoint is a
    receding-horizon policy, action.execute_steps > 0)."""
    from tqdm import tqdm
    from vag_ros.model.pipeline import VagPipeline
    from vag_ros.sim.config import load_sim_config, SimConfig
    from vag_ros.sim.world import World
    from vag_ros.sim.scenes import WorldScenes, world_specs
    from vag_ros.errors import ConfigError, SimError

    specs = world_specs(episodes, seed_start, tasks)  # checks tasks before anything loads
    if not isinstance(sim_config, SimConfig):
        sim_config = load_sim_config(sim_config)
    from vag_ros.eval.evaluate import check_world_robot
    check_world_robot(sim_config, ((checkpoint, 'checkpoint'),))
    pipe = VagPipeline.from_checkpoint(checkpoint, device)
    if pipe.config.mode == 'video_only':
        raise ConfigError(f'{checkpoint}: a video-only checkpoint has no actions to replay')
    if loop not in ('auto', 'open', 'closed'):
        raise ConfigError(f"loop={loop!r}: expected 'auto', 'open' or 'closed'")
    own = pipe.config.action.execute_steps
    if loop == 'open' or (loop == 'auto' and not own):
        execute = None
    else:
        execute = execute or own or 8
    world = World(sim_config)
    scenes = WorldScenes(world)
    records = []
    start = time.perf_counter()
    try:
        for spec in tqdm(specs, desc='eval-policy', unit='episode', disable=not progress):
            scene = scenes.load(spec)
            record = {'task': spec.family, 'seed': spec.seed,
                      'instruction': scene.instruction}
            try:
                if execute is None:
                    actions = pipe.generate(scene.first_frame, scene.instruction, spec.seed,
                                            num_steps, state=scene.state).actions  # (T, D)
                    success = replay_and_score(world, scene.task, actions).success
                else:
                    def plan(frame, joints, k, spec=spec, scene=scene):
                        return pipe.generate(frame, scene.instruction, spec.seed * 1000 + k,
                                             num_steps, state=joints).actions   # (N, D)
                    rollout = rollout_closed_loop(world, plan, execute,
                                                  sim_config.episode_steps)
                    success, record['chunks'] = rollout['success'], rollout['chunks']
            except SimError:  # NaN joints and the like: a failed episode
                success = False
            records.append({**record, 'success': success})
    finally:
        world.close()
    per_task = {family: metrics.rate([r['success'] for r in records if r['task'] == family])
                for family in dict.fromkeys(r['task'] for r in records)}
    overall = metrics.rate([r['success'] for r in records])
    return {'checkpoint': str(checkpoint), 'episodes': len(records),
            'seed_start': seed_start, 'replay_success': overall,
            'loop': 'open loop' if execute is None else
            f'closed loop, {execute} targets executed per chunk',
            'per_task': per_task, 'seconds': time.perf_counter() - start,
            'per_episode': records}
