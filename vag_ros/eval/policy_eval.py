"""Replay success of one checkpoint's actions (a policy) on held-out world seeds.

For a policy trained on expert and/or synthesized episodes (the downstream experiment of
data synthesis). Open loop: the checkpoint generates the episode's joints once, from the
seeded scene's first frame, the measured state and the instruction, and the world replays
them. Closed loop (``execute``): receding horizon, as Diffusion Policy and ACT are run: the
first ``execute`` joint targets of each predicted chunk are executed, then the world is
observed again (camera frame, measured joints) and the next chunk predicted, for the
world's ``episode_steps``. A lerobot policy checkpoint (``lerobot-train``'s output) runs
closed loop as lerobot runs it (``vag_ros.eval.lerobot_policy``). Rates carry Wilson 95%
intervals, overall and per task family.
"""

import dataclasses
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
    from vag_ros.sim.config import load_sim_config, SimConfig
    from vag_ros.sim.world import World
    from vag_ros.sim.scenes import WorldScenes, world_specs
    from vag_ros.errors import ConfigError, SimError
    from vag_ros.eval.lerobot_policy import lerobot_policy_folder

    specs = world_specs(episodes, seed_start, tasks)  # checks tasks before anything loads
    if not isinstance(sim_config, SimConfig):
        sim_config = load_sim_config(sim_config)
    if loop not in ('auto', 'open', 'closed'):
        raise ConfigError(f"loop={loop!r}: expected 'auto', 'open' or 'closed'")
    if lerobot_policy_folder(checkpoint) is not None:
        plans = _lerobot_plans(checkpoint, loop, execute, device)
    else:
        plans = _vag_plans(checkpoint, sim_config, loop, execute, num_steps, device)
    execute = plans.execute
    world = World(sim_config)
    scenes = WorldScenes(world)
    records = []
    start = time.perf_counter()
    try:
        plans.check_world(world)
        for spec in tqdm(specs, desc='eval-policy', unit='episode', disable=not progress):
            scene = scenes.load(spec)
            record = {'task': spec.family, 'seed': spec.seed,
                      'instruction': scene.instruction}
            try:
                plan = plans.for_episode(scene, spec)
                if execute is None:   # open loop: one plan from the first frame, replayed
                    actions = plan(scene.first_frame, scene.state, 0)   # (T, D)
                    success = replay_and_score(world, scene.task, actions).success
                else:
                    rollout = rollout_closed_loop(world, plan, execute,
                                                  sim_config.episode_steps)
                    success = rollout['success']
                    record[plans.calls] = rollout['chunks']
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
            'loop': plans.describe,
            'per_task': per_task, 'seconds': time.perf_counter() - start,
            'per_episode': records}


@dataclasses.dataclass(frozen=True)
class Plans:
    """How one policy plans the episodes: ``for_episode(scene, spec)`` -> ``plan(frame,
    joints, k)`` -> (N, D) joint targets, of which ``execute`` are executed per call (None:
    open loop, one plan replayed whole)."""

    for_episode: typing.Callable
    describe: str
    execute: typing.Optional[int]
    check_world: typing.Callable = lambda world: None   # ConfigError if it cannot run there
    calls: str = 'chunks'   # what a plan call is, in the per-episode records


def _vag_plans(checkpoint, sim_config, loop: str, execute, num_steps, device) -> Plans:
    """The plans of a vag_ros checkpoint."""
    from vag_ros.errors import ConfigError
    from vag_ros.eval.evaluate import check_world_robot
    from vag_ros.model.pipeline import VagPipeline
    check_world_robot(sim_config, ((checkpoint, 'checkpoint'),))
    pipe = VagPipeline.from_checkpoint(checkpoint, device)
    if pipe.config.mode == 'video_only':
        raise ConfigError(f'{checkpoint}: a video-only checkpoint has no actions to replay')
    own = pipe.config.action.execute_steps
    if loop == 'open' or (loop == 'auto' and not own):
        execute = None
    else:
        execute = execute or own or 8
        if execute > pipe.config.action.horizon:   # the rest would never exist
            raise ConfigError(f'--execute {execute}: more targets than the '
                              f'{pipe.config.action.horizon} each predicted chunk holds '
                              f'({checkpoint}: action.horizon); give 1 to '
                              f'{pipe.config.action.horizon}')

    def episode_plan(scene, spec):
        def plan(frame, joints, k):   # -> (N, D) joint targets
            seed = spec.seed if execute is None else spec.seed * 1000 + k
            return pipe.generate(frame, scene.instruction, seed, num_steps,
                                 state=joints).actions
        return plan
    describe = 'open loop' if execute is None else \
        f'closed loop, {execute} targets executed per chunk'
    return Plans(episode_plan, describe, execute)


def _lerobot_plans(checkpoint, loop: str, execute, device) -> Plans:
    """The plans of a lerobot policy: one target per frame, as lerobot runs it."""
    from vag_ros.errors import ConfigError
    from vag_ros.eval.lerobot_policy import LerobotPolicy
    if loop == 'open':
        raise ConfigError(f'{checkpoint}: a lerobot policy runs closed loop only (as '
                          'lerobot runs it); leave out --open-loop')
    if execute is not None:
        raise ConfigError(f'{checkpoint}: --execute is for vag_ros checkpoints; a lerobot '
                          "policy executes its own n_action_steps per chunk")
    policy = LerobotPolicy(checkpoint, device)

    def episode_plan(scene, spec):
        policy.reset()
        return lambda frame, joints, k: policy.act(frame, joints, scene.instruction)[None]
    return Plans(episode_plan, policy.describe(), 1, policy.check_world,
                 'select_action_calls')   # one per frame; chunks are lerobot's own
