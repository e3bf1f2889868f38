"""Where the arm and the named block are in the ground-truth frames: the world's geom
segmentation of the expert's run, as each model pixel's share of the region."""

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
    mode = 'area' if inside.shape[1] >= height and inside.shape[2] >= width else 'bilinear'
    return F.interpolate(x, size=(height, width), mode=mode)[:, 0].numpy()


def expert_regions(world, task, actions: np.ndarray, height: int, width: int
                   ) -> typing.Dict[str, np.ndarray]:
    """{'arm', 'target_block'}: (T, height, width) weights of the expert's frames, from a
    segmentation-only replay of its ``actions`` (the world is deterministic, so the geoms
    are where the expert's frames show them)."""
    replay = world.replay(task, actions, render=False, segments=True)
    scene = world.scene
    block = scene.block_geoms[scene.colours.index(task.target)]
    return {'arm': region_weights(replay.segments, scene.arm_geoms, height, width),
            'target_block': region_weights(replay.segments, (block,), height, width)}
