"""The arm's and the named block's pixels from the world's segmentation."""

import numpy as np

from vag_ros.sim.config import SimConfig
from vag_ros.sim.world import World
from vag_ros.eval.evaluate import region_video_metrics
from vag_ros.eval.regions import expert_regions, moving_arm_geoms, region_weights


def test_region_weights_are_area_shares():
    segments = np.full((1, 4, 4), -1, np.int32)
    segments[0, :2, :2] = 7                # one quarter, the top-left model pixel of 2x2
    segments[0, 2, 2] = 7                  # a quarter of the bottom-right one
    weights = region_weights(segments, (7,), 2, 2)
    assert weights.shape == (1, 2, 2)
    np.testing.assert_allclose(weights[0], [[1.0, 0.0], [0.0, 0.25]])
    assert region_weights(segments, (3,), 4, 4).sum() == 0.0


def test_segments_show_the_arm_and_the_named_block_where_the_frames_do():
    world = World(SimConfig(episode_steps=12))
    try:
        task = world.make_task('push', 11)
        expert = world.run_expert(task)
        again = world.replay(task, expert.actions, render=False, segments=True)
        assert again.segments.shape == expert.frames.shape[:3]
        scene = world.scene
        block = scene.block_geoms[scene.colours.index(task.target)]
        arm = np.isin(again.segments, scene.arm_geoms)
        assert arm[0].sum() > 50 and (again.segments == block)[0].sum() > 4
        # the named block's pixels carry its colour in the rendered frame
        rgba = world.model.geom_rgba[block][:3] * 255
        pixels = expert.frames[0][again.segments[0] == block].astype(float)
        others = expert.frames[0][again.segments[0] != block].astype(float)
        dist = lambda p: np.abs(p - rgba).sum(axis=-1).mean()  # noqa: E731
        assert dist(pixels) < dist(others)
        regions = expert_regions(world, task, expert.actions, 32, 32)
        assert set(regions) == {'arm', 'target_block'}
        assert regions['arm'].shape == (12, 32, 32)
        assert 0.0 <= regions['arm'].min() and regions['arm'].max() <= 1.0
        # the arm moves, so its region changes over the episode, and it keeps the pixels the
        # arm started on; the fixed base is not in it
        assert not np.array_equal(regions['arm'][0], regions['arm'][-1])
        assert np.all(regions['arm'] >= regions['arm'][:1] - 1e-6)
        moving = moving_arm_geoms(world)
        base = world.model.body('base_link').id
        assert moving and set(moving) < set(scene.arm_geoms)
        assert all(world.model.geom_bodyid[g] != base for g in moving)
    finally:
        world.close()


def test_region_video_metrics_on_the_truth_and_on_a_still_clip():
    world = World(SimConfig(episode_steps=12))
    try:
        task = world.make_task('pick', 12)
        expert = world.run_expert(task)
        regions = expert_regions(world, task, expert.actions, *expert.frames.shape[1:3])
    finally:
        world.close()
    truth = expert.frames
    same = region_video_metrics(truth, truth, regions)
    assert same['arm_psnr'] == 100.0 and same['target_block_psnr'] == 100.0
    assert same['arm_sharpness'] == 1.0 and same['video_sharpness'] == 1.0
    still = np.repeat(truth[:1], len(truth), axis=0)  # the arm never moves
    held = region_video_metrics(still, truth, regions)
    from vag_ros.eval.metrics import psnr
    # the error of a still clip is where the arm went: worse there than over the frame
    assert held['arm_psnr'] < psnr(still[1:], truth[1:])
