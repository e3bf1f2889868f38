"""The data baselines of the downstream study, made by `vag-ros synthesize` itself: rollouts of
the action-only (no-bridge) model kept by the same replay filter, and the two-stage generator
(VAG's video, joints read off it by the inverse-dynamics model)."""

import json
from pathlib import Path

import numpy as np
import pytest

from test_synthesize import CHECKPOINT, KEEP_REPLAYED, synthesize  # noqa: I100
from vag_ros.datasets.lerobot_reader import read_dataset
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.model.checkpoint import checkpoint_robot
from vag_ros.model.inverse_dynamics import InverseDynamicsModel
from vag_ros.model.pipeline import VagPipeline
from vag_ros.model.two_stage import smooth_labels, TwoStagePipeline
from vag_ros.robot.description import load_robot_description
from vag_ros.sim.config import load_sim_config
from vag_ros.sim.scenes import world_specs, WorldScenes
from vag_ros.sim.world import World

NO_BRIDGE = CHECKPOINT / 'baselines' / 'no_bridge'
INVERSE = CHECKPOINT / 'baselines' / 'inverse_dynamics'
SEED = 200000


def rows(out: Path):
    return json.loads((out / 'scores.json').read_text())['episodes']


def first_scene():
    """The first frame, state and instruction synthesize's scene 0 gets."""
    config = load_sim_config(None)
    world = World(config, robot=load_robot_description(config.urdf_path))
    try:
        return WorldScenes(world, 'train').load(world_specs(1, SEED, 'all')[0])
    finally:
        world.close()


def test_action_only_rollouts_are_replayed_kept_and_have_no_video(tmp_path):
    out = tmp_path / 'no_bridge'
    result = synthesize(out, '--checkpoint', str(NO_BRIDGE), '--scenes', '3',
                        '--keep', KEEP_REPLAYED)
    assert 'scenes (3 new' in result.stdout
    records = rows(out)
    assert len(records) == 3
    for row in records:
        assert row['generated_bag'] is None and row['consistency_psnr'] is None
        assert row['replay_success'] is not None
        assert (row['bag'] is not None) == row['kept']
    assert not (out / 'generated').exists() or not any((out / 'generated').iterdir())
    kept = [r for r in records if r['kept']]
    assert kept, 'the keep-all filter kept no replayed rollout'
    episode = read_episode(out / kept[0]['bag'])
    assert episode.metadata.source == 'replayed' and len(episode.frames) == len(episode.actions)
    dataset = read_dataset(out / 'lerobot', decode_videos=False)
    assert len(dataset.episodes) == len(kept)
    assert all('generated' not in key for key in dataset.video_keys)


def test_an_action_only_checkpoint_cannot_synthesize_from_first_frames(tmp_path):
    frames = tmp_path / 'frames.yaml'
    frames.write_text('[]\n')
    result = synthesize(tmp_path / 'out', '--checkpoint', str(NO_BRIDGE), '--first-frames',
                        str(frames), check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert "mode 'action_no_bridge'" in result.stderr
    assert 'first frames need video and joints' in result.stderr
    assert not (tmp_path / 'out').exists()


def test_two_stage_labels_vag_video_with_the_inverse_dynamics_model(tmp_path):
    out = tmp_path / 'two_stage'
    synthesize(out, '--scenes', '1', '--label-video', str(INVERSE), '--keep', KEEP_REPLAYED)
    row = rows(out)[0]
    executed = read_episode(out / row['bag'])
    generated = read_episode(out / row['generated_bag'])
    # the same generation in this process: VAG's video, then the reader's joints
    scene = first_scene()
    vag = VagPipeline.from_checkpoint(CHECKPOINT)
    inverse = InverseDynamicsModel.load(INVERSE)
    two_stage = TwoStagePipeline(vag, inverse, checkpoint_robot(CHECKPOINT).joint_names,
                                 smoothing=3)   # synthesize's default
    labelled = two_stage.generate(scene.first_frame, scene.instruction, SEED, state=scene.state)
    own = vag.generate(scene.first_frame, scene.instruction, SEED, state=scene.state)
    np.testing.assert_array_equal(labelled.video, own.video)   # the same video ...
    np.testing.assert_allclose(executed.actions, labelled.actions, atol=1e-6)  # its labels
    np.testing.assert_allclose(generated.joints, labelled.actions, atol=1e-6)
    assert np.abs(labelled.actions - own.actions).max() > 1e-3   # ... not VAG's joints
    np.testing.assert_allclose(labelled.actions[0], scene.state, atol=1e-5)  # anchored
    assert 'label' in labelled.timings


def test_label_smoothing_is_a_centred_moving_average_with_held_ends():
    joints = np.array([[0.0], [3.0], [0.0], [3.0], [6.0]])   # (T, D)
    np.testing.assert_allclose(smooth_labels(joints, 3)[:, 0], [1, 1, 2, 3, 5])
    assert smooth_labels(joints, 1) is joints
    from vag_ros.model.pipeline import GenerationError
    with pytest.raises(GenerationError, match='must be odd'):
        smooth_labels(joints, 4)


def test_two_stage_refuses_a_reader_of_other_joints():
    vag = VagPipeline.from_checkpoint(CHECKPOINT)
    inverse = InverseDynamicsModel.load(INVERSE)
    from vag_ros.model.pipeline import GenerationError
    with pytest.raises(GenerationError, match='inverse dynamics reads'):
        TwoStagePipeline(vag, inverse, ('a', 'b'))


def test_synthesize_label_video_needs_an_inverse_dynamics_folder(tmp_path):
    result = synthesize(tmp_path / 'out', '--scenes', '1', '--label-video',
                        str(tmp_path / 'absent'), check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert 'inverse-dynamics checkpoint folder not found' in result.stderr
    assert not (tmp_path / 'out').exists()
