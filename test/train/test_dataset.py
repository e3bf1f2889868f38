"""EpisodeDataset: resize, frame-count check, normalization, precomputed latents, errors."""

import shutil

import numpy as np
import pytest
import torch

from train_helpers import micro_config, write_bags
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.errors import EpisodeError, VagError
from vag_ros.frame_geometry import resize_frames
from vag_ros.train.dataset import episode_windows, EpisodeDataset


def test_resize_frames_shapes_dtype_and_constant_images():
    frames = np.full((2, 48, 64, 3), 200, np.uint8)
    small = resize_frames(frames, 32, 32)
    assert small.shape == (2, 32, 32, 3) and small.dtype == np.uint8
    assert np.all(small == 200)
    assert resize_frames(frames, 96, 80).shape == (2, 96, 80, 3)
    assert resize_frames(frames, 48, 64) is frames
    with pytest.raises(EpisodeError, match='uint8'):
        resize_frames(frames.astype(np.float32), 32, 32)


def test_area_resize_averages_blocks():
    frames = np.zeros((1, 4, 4, 3), np.uint8)
    frames[0, :2, :2] = 100  # top-left 2x2 block
    out = resize_frames(frames, 2, 2)
    assert out[0, 0, 0, 0] == 100 and out[0, 1, 1, 0] == 0


def test_dataset_items_normalization_and_latents(bag_dir):
    cfg = micro_config()
    ds = EpisodeDataset(cfg, bag_dir)
    assert len(ds) == 3
    lat, emb, mask, act, frame, state = ds[0]
    assert tuple(lat.shape) == cfg.video.latent_shape
    assert emb.shape == (cfg.text.max_length, cfg.text.embed_dim) and mask.shape == (4,)
    assert act.shape == (cfg.video.frames, cfg.action.dim)
    assert ds.actions.min() >= -1 - 1e-5 and ds.actions.max() <= 1 + 1e-5  # minmax fit
    assert ds.actions.amin((0, 1)).allclose(torch.full((7,), -1.0), atol=1e-5)
    # the observation: the first frame at the observation size, the first measured joints
    from vag_ros.episodes.bag_reader import read_episode
    episode = read_episode(ds.bags[0])
    assert frame.shape == (3, *cfg.observation_hw) and -1 <= frame.min() <= frame.max() <= 1
    np.testing.assert_allclose(state.numpy(), episode.joints[0], atol=1e-6)
    # the actions are the offsets from that state, normalized
    offsets = ds.normalizer.denormalize(act) + state
    np.testing.assert_allclose(offsets.numpy(), episode.actions, atol=1e-4)
    # the pca codec was fitted on these frames, and the latents are its encoding of them
    assert ds.codec.fitted and ds.codec.latent_channels == cfg.video.latent_channels
    frames = resize_frames(episode.frames, 32, 32)
    want = torch.from_numpy(frames).float().permute(3, 0, 1, 2) / 127.5 - 1  # (3, T, H, W)
    assert torch.allclose(ds.codec.encode(want[None])[0], lat, atol=1e-4)
    b = ds.batch(torch.tensor([2, 0]))
    assert b[0].shape[0] == 2 and torch.equal(b[3][1], ds.actions[0])
    assert len(b) == 6 and b[4].shape == (2, 3, *cfg.observation_hw) and b[5].shape == (2, 7)


def test_dataset_rejects_wrong_frame_count(bag_dir):
    with pytest.raises(EpisodeError, match=r'ep_000.*6 frames|video.frames=6'):
        EpisodeDataset(micro_config(frames=6), bag_dir)


def test_dataset_errors_name_the_path(tmp_path, bag_dir):
    with pytest.raises(EpisodeError, match='does not exist'):
        EpisodeDataset(micro_config(), tmp_path / 'missing')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(EpisodeError, match='no episode bags'):
        EpisodeDataset(micro_config(), tmp_path / 'empty')
    bad = tmp_path / 'bad'
    shutil.copytree(bag_dir, bad)
    mcap = next((bad / 'ep_001').glob('*.mcap'))
    mcap.write_bytes(mcap.read_bytes()[:200])  # truncated
    with pytest.raises(VagError, match='ep_001'):
        EpisodeDataset(micro_config(), bad)


def test_dataset_reuses_a_given_normalizer(tmp_path):
    from vag_ros.model.normalization import ActionNormalizer
    folder = write_bags(tmp_path / 'b', count=2)
    norm = ActionNormalizer.identity(7)
    ds = EpisodeDataset(micro_config(), folder, normalizer=norm)
    assert ds.normalizer is norm


def test_window_starts_cover_every_frame():
    from vag_ros.train.dataset import window_starts
    assert window_starts(4, 4, 4) == [0]
    assert window_starts(10, 4, 4) == [0, 4, 6]
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(9, 4, 1) == [0, 1, 2, 3, 4, 5]


def test_long_episodes_give_windows_conditioned_on_their_own_first_frame(tmp_path):
    from vag_ros.episodes.bag_writer import write_episode
    from vag_ros.episodes.episode import Episode, EpisodeMetadata
    rng = np.random.default_rng(1)
    for k, length in enumerate((4, 7, 10)):  # mixed lengths, a clip is 4 frames
        joints = np.cumsum(rng.normal(0, 0.01, (length, 7)), axis=0)
        meta = EpisodeMetadata(task='teleop', seed=k, success=True, robot='vag_arm',
                               joint_names=tuple(f'j{i}' for i in range(7)), frame_rate=10.0,
                               source='teleop', instruction=f'task {k}')  # no URDF: fine here
        write_episode(Episode(rng.integers(0, 255, (length, 32, 32, 3), dtype=np.uint8),
                              joints, joints + 0.01, meta), tmp_path, name=f'ep{k}')
    ds = EpisodeDataset(micro_config(frames=4), tmp_path, window_stride=3)
    assert ds.windows == [('ep0', 0), ('ep1', 0), ('ep1', 3), ('ep2', 0), ('ep2', 3),
                          ('ep2', 6)]
    episode = read_episode(tmp_path / 'ep2')
    k = ds.windows.index(('ep2', 3))
    assert torch.allclose(ds.states[k], torch.as_tensor(episode.joints[3], dtype=torch.float32))
    assert ds.instructions[k] == 'task 2'
    with pytest.raises(EpisodeError, match=r'ep0.*4 frames.*shorter than one clip'):
        EpisodeDataset(micro_config(frames=6), tmp_path)


def test_the_latent_cache_gives_the_in_memory_batches_and_refuses_when_stale(tmp_path,
                                                                             bag_dir):
    from vag_ros.episodes.bag_reader import list_episode_bags
    from vag_ros.train.latent_cache import build_latent_cache, CachedEpisodeDataset
    config = micro_config()
    bags = list_episode_bags(bag_dir)
    memory = EpisodeDataset(config, bag_dir)
    cache = build_latent_cache(config, bags, tmp_path / 'cache', shard_windows=2)
    cached = CachedEpisodeDataset(cache, config, bags, verify=True)
    assert len(cached) == len(memory) and len(list(cache.glob('shard_*'))) >= 2
    index = torch.tensor([len(memory) - 1, 0, 1])
    for a, b in zip(memory.batch(index), cached.batch(index)):
        torch.testing.assert_close(a, b)
    assert torch.equal(cached.normalizer.a, memory.normalizer.a)
    # a stale cache is refused: another stride, or the data changed
    with pytest.raises(EpisodeError, match=r"stale latent cache.*'window_stride'"):
        CachedEpisodeDataset(cache, config, bags, window_stride=1)
    with pytest.raises(EpisodeError, match=r"stale latent cache.*'data'"):
        CachedEpisodeDataset(cache, config, bags[1:])
    with pytest.raises(EpisodeError, match='not empty'):
        build_latent_cache(config, bags, cache)


def test_a_receding_horizon_policy_trains_on_windows_from_every_frame(tmp_path):
    """action.execute_steps > 0: windows start at every frame (window_stride 1), and past
    the episode's end they hold its last frame, joints and action (the arm at its goal)."""
    import dataclasses

    from vag_ros.episodes.bag_writer import write_episode
    from train_helpers import make_episode
    episode = make_episode(0, frames=6)
    write_episode(episode, tmp_path, name='ep')
    config = micro_config(frames=4)
    policy = dataclasses.replace(config, mode='action_no_bridge', action=dataclasses.replace(
        config.action, execute_steps=2))
    windows = episode_windows(policy, tmp_path / 'ep', window_stride=1)
    assert [w.start for w in windows] == [0, 1, 2, 3, 4, 5]
    last = windows[-1]
    expected = np.repeat(episode.actions[-1:], 4, axis=0)
    np.testing.assert_allclose(last.actions.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(last.state.numpy(), episode.joints[-1], rtol=1e-6)
    np.testing.assert_allclose(windows[3].actions.numpy()[:3], episode.actions[3:], rtol=1e-6)
    assert [w.start for w in episode_windows(config, tmp_path / 'ep', 1)] == [0, 1, 2]
    with pytest.raises(Exception, match='execute_steps'):
        dataclasses.replace(policy.action, execute_steps=5).validate()


def test_action_only_dataset_keeps_no_latents_and_one_embedding_per_instruction(bag_dir):
    """Without a video branch no clip is encoded (the 900-episode policy run held 36k
    encoded windows); each distinct instruction's embedding is held once, whatever the
    mode, and every item reads the embedding of its own instruction."""
    import dataclasses
    from vag_ros.model.text import build_text_encoder
    from vag_ros.train.dataset import encode_instructions
    cfg = dataclasses.replace(micro_config(), mode='action_no_bridge')
    ds = EpisodeDataset(cfg, bag_dir)
    joint = EpisodeDataset(micro_config(), bag_dir)
    assert ds.latents.stride(0) == 0 and ds.latents.shape[1:] == cfg.video.latent_shape
    assert joint.latents.stride(0) > 0 and not torch.equal(joint.latents[0], ds.latents[0])
    assert ds.codec.fitted   # saved with the checkpoint as before
    assert len(ds.distinct_text_emb) == len(set(ds.instructions)) == 2 < len(ds)
    emb, mask = encode_instructions(build_text_encoder(cfg.text), ds.instructions)
    for item in range(len(ds)):
        lat, e, m, *_ = ds[item]
        assert torch.equal(e, emb[item]) and torch.equal(m, mask[item])
        assert torch.count_nonzero(lat) == 0
