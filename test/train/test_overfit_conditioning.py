"""End to end through the conditioning path: a micro VAG overfit on two instructions in one
scene reproduces each expert trajectory and goes to whichever block the instruction names.

Real world (MuJoCo experts), real bags, the real trainer, the real MiniLM text encoder and
the generation pipeline with the measured state; no shortcut between them.
"""

import dataclasses
import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import micro_model  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vag_ros.episodes.bag_writer import write_episode  # noqa: E402
from vag_ros.model.pipeline import VagPipeline  # noqa: E402
from vag_ros.sim.config import SimConfig  # noqa: E402
from vag_ros.sim.tasks import instruction_naming  # noqa: E402
from vag_ros.sim.world import World  # noqa: E402
from vag_ros.train import trainer  # noqa: E402
from vag_ros.eval.evaluate import _Targets  # noqa: E402
from vag_ros.train.train_config import TrainConfig  # noqa: E402

FRAMES = 40  # the world's episode length


@pytest.fixture(scope='module')
def two_instructions(tmp_path_factory):
    """One touch scene, two episodes: the expert touching block A, then block B."""
    world = World(SimConfig(width=32, height=32))
    try:
        task = world.make_task('touch', 21)
        other = task.colours[1]
        tasks = [task, dataclasses.replace(task, target=other,
                                           instruction=instruction_naming(task, other))]
        episodes = [world.run_expert(t) for t in tasks]
    finally:
        world.close()
    folder = tmp_path_factory.mktemp('bags')
    for k, episode in enumerate(episodes):
        assert episode.metadata.success
        write_episode(episode, folder, name=f'ep_{k}')
    return folder, tasks, episodes


def test_overfit_micro_model_follows_the_named_block(two_instructions, tmp_path):
    folder, tasks, episodes = two_instructions
    config = micro_model.micro_config('joint', frames=FRAMES, num_steps=10)
    # the micro video branch, the tiny preset's action U-Net (the micro one fits too slowly)
    config = dataclasses.replace(
        config, text=dataclasses.replace(config.text, kind='minilm', embed_dim=384,
                                         max_length=16),
        action=dataclasses.replace(config.action, down_dims=(64, 128), n_groups=8,
                                   timestep_embed_dim=64, observation_dim=64),
        loss=dataclasses.replace(config.loss, text_dropout=0.0)).validate()
    train = TrainConfig(steps=600, batch_size=2, lr=1e-3, warmup_steps=10, ema_decay=0.9,
                        log_every=100, save_every=600)
    trainer.train(config, train, folder, tmp_path / 'ckpt', progress=False)
    pipe = VagPipeline.from_checkpoint(tmp_path / 'ckpt')
    world = World(SimConfig(width=32, height=32))
    try:
        targets = _Targets(world.robot, tasks[0])
        for task, episode in zip(tasks, episodes):
            result = pipe.generate(episode.frames[0], task.instruction, seed=0,
                                   state=episode.joints[0])
            # it starts where the arm is and reproduces the expert it saw
            np.testing.assert_allclose(result.actions[0], episode.joints[0], atol=1e-5)
            error = np.linalg.norm(result.actions - episode.actions, axis=1).mean()
            assert error < 0.1, (task.target, error)
            # and ends at the block the instruction names, not at the other one
            assert targets.nearest(result.actions) == task.target, task.instruction
    finally:
        world.close()
