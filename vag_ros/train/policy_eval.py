"""Open-loop replay success of one checkpoint's actions on held-out world seeds.

For a policy trained on expert and/or synthesized episodes (the downstream experiment of
data synthesis): each episode renders the seeded scene's first frame, the checkpoint
generates its joints from that frame, the measured state and the instruction, and the world
replays them open loop. Rates carry Wilson 95% intervals, overall and per task family.
"""

from pathlib import Path
import time
import typing

from vag_ros.train import metrics
from vag_ros.train.evaluate import DEFAULT_SEED_START


def evaluate_policy(checkpoint: typing.Union[str, Path], episodes: int,
                    seed_start: int = DEFAULT_SEED_START, tasks: str = 'all',
                    sim_config=None, num_steps: typing.Optional[int] = None,
                    device: str = 'cpu', progress: bool = True) -> dict:
    """Replay success of ``checkpoint`` on ``episodes`` seeds from ``seed_start``."""
    from tqdm import tqdm
    from vag_ros.model.pipeline import VagPipeline
    from vag_ros.sim.config import load_sim_config, SimConfig
    from vag_ros.sim.world import World
    from vag_ros.synth.scenes import WorldScenes, world_specs
    from vag_ros.errors import ConfigError, SimError

    specs = world_specs(episodes, seed_start, tasks)  # checks tasks before anything loads
    if not isinstance(sim_config, SimConfig):
        sim_config = load_sim_config(sim_config)
    from vag_ros.train.evaluate import check_world_robot
    check_world_robot(sim_config, ((checkpoint, 'checkpoint'),))
    pipe = VagPipeline.from_checkpoint(checkpoint, device)
    if pipe.config.mode == 'video_only':
        raise ConfigError(f'{checkpoint}: a video-only checkpoint has no actions to replay')
    world = World(sim_config)
    scenes = WorldScenes(world)
    records = []
    start = time.perf_counter()
    try:
        for spec in tqdm(specs, desc='eval-policy', unit='episode', disable=not progress):
            scene = scenes.load(spec)
            actions = pipe.generate(scene.first_frame, scene.instruction, spec.seed,
                                    num_steps, state=scene.state).actions  # (T, D)
            try:
                success = bool(world.replay(scene.task, actions, render=False).success)
            except SimError:  # NaN joints and the like: a failed episode
                success = False
            records.append({'task': spec.family, 'seed': spec.seed,
                            'instruction': scene.instruction, 'success': success})
    finally:
        world.close()
    per_task = {family: metrics.rate([r['success'] for r in records if r['task'] == family])
                for family in dict.fromkeys(r['task'] for r in records)}
    overall = metrics.rate([r['success'] for r in records])
    return {'checkpoint': str(checkpoint), 'episodes': len(records),
            'seed_start': seed_start, 'replay_success': overall,
            'per_task': per_task, 'seconds': time.perf_counter() - start,
            'per_episode': records}
