"""Where the arm and the named block are in the ground-truth frames: the world's geom
segmentation of the expert's run, as each model pixel's share of the region.

The arm's region at frame t is where its moving links are at t or were at the first frame
(the fixed base left out): a video that leaves the arm where it started, or shows it only
faintly where it went, is scored on both places."""

import typing

import numpy as np

REGIONS = ('arm', 'target_block')


def region_weights(segments: np.ndarray, geoms: typing.Sequence[int], height: int,
                   width: int) -> np.ndarray:
    """(T, H, W) geom ids -> (T, height, width) float32 in [0, 1]: the share of each model
    pixel covered by ``geoms`` (area averaging, the frames' own resize rule)."""
    import torch
    import torch.nn.functional as F
    inside = np.isin(segments, np.asarray(geoms, dtype=np.int64)).astype(np.float32)
    if inside.shape[1:] == (height, width):
        return inside
    x = torch.from_numpy(inside)[:, None]                        # (T, 1, H, W)
    if inside.shape[1] >= height and inside.shape[2] >= width:  # as frame_geometry resizes
        x = F.interpolate(x, size=(height, width), mode='area')
    else:
        x = F.interpolate(x, size=(height, width), mode='bilinear', align_corners=False,
                          antialias=True)
    return x[:, 0].clamp(0.0, 1.0).numpy()


def moving_arm_geoms(world) -> typing.Tuple[int, ...]:
    """The arm's geoms that move: those not welded to the world (its fixed base is)."""
    model = world.model
    return tuple(g for g in world.scene.arm_geoms
                 if model.body_weldid[model.geom_bodyid[g]] != 0)


def expert_regions(world, task, actions: np.ndarray, height: int, width: int
                   ) -> typing.Dict[str, np.ndarray]:
    """{'arm', 'target_block'}: (T, height, width) weights of the expert's frames, from a
    segmentation-only replay of its ``actions`` (the world is deterministic, so the geoms
    are where the expert's frames show them). 'arm': the moving links at t or at the first
    frame."""
    replay = world.replay(task, actions, render=False, segments=True)
    scene = world.scene
    block = scene.block_geoms[scene.colours.index(task.target)]
    arm = region_weights(replay.segments, moving_arm_geoms(world), height, width)
    return {'arm': np.maximum(arm, arm[:1]),
            'target_block': region_weights(replay.segments, (block,), height, width)}
