"""The LeRobot v3 writer, reader and merge on their own (no model)."""

import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from vag_ros.datasets import lerobot_v3 as v3
from vag_ros.datasets.lerobot_reader import read_dataset
from vag_ros.datasets.merge import merge_datasets
from vag_ros.errors import EpisodeError
from vag_ros.eval.metrics import psnr

ROOT = Path(__file__).resolve().parents[2]
JOINTS = ('j1', 'j2', 'j3')


def smooth_frames(length: int, height: int, width: int, shift: int) -> np.ndarray:
    """(T, H, W, 3) gradients that move: codec-friendly, and each frame differs."""
    y, x = np.mgrid[0:height, 0:width]
    frames = [np.stack([(x * 2 + 5 * t + shift) % 256, (y * 2 + 3 * t) % 256,
                        np.full_like(x, (40 * shift) % 256)], -1)
              for t in range(length)]
    return np.asarray(frames, np.uint8)


def make_episode(k: int, length: int = 12) -> v3.DatasetEpisode:
    rng = np.random.default_rng(k)
    return v3.DatasetEpisode(
        task=f'touch the {("red", "blue")[k % 2]} block', state=rng.normal(size=(length, 3)),
        action=rng.normal(size=(length, 3)),
        videos={'camera': smooth_frames(length, 48, 64, k),
                'generated': smooth_frames(length, 32, 32, k + 7)},
        metadata={'scene': k, 'seed': 100 + k, 'psnr': 20.0 + k, 'ok': k % 2 == 0,
                  'missing': None})


def write(root: Path, indices) -> Path:
    cameras = {'camera': (48, 64), 'generated': (32, 32)}
    writer = v3.LeRobotWriter(root, 10, JOINTS, 'test_arm', cameras)
    for k in indices:
        writer.add(make_episode(k, 10 + k))
    return writer.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_round_trip_keeps_every_value(tmp_path):
    root = write(tmp_path / 'ds', range(3))
    assert [p.name for p in tmp_path.iterdir()] == ['ds']  # no staging left
    assert root.stat().st_mode & 0o777 == 0o777 & ~_umask()  # readable as any mkdir'd one
    data = read_dataset(root)
    assert [e.index for e in data.episodes] == [0, 1, 2]
    assert data.info['total_frames'] == 10 + 11 + 12 and data.info['fps'] == 10
    assert data.info['features']['observation.state']['names'] == list(JOINTS)
    assert set(data.tasks.values()) == {'touch the red block', 'touch the blue block'}
    for k, episode in enumerate(data.episodes):
        expected = make_episode(k, 10 + k)
        assert episode.task == expected.task
        np.testing.assert_array_equal(episode.state, expected.state.astype(np.float32))
        np.testing.assert_array_equal(episode.action, expected.action.astype(np.float32))
        np.testing.assert_allclose(episode.timestamps, np.arange(10 + k) / 10, atol=1e-6)
        for camera in ('camera', 'generated'):
            frames = episode.videos['observation.images.' + camera]
            assert frames.shape == expected.videos[camera].shape
            assert psnr(frames, expected.videos[camera]) > 30  # lossy AV1, but the same video
        assert episode.metadata == {'scene': k, 'seed': 100 + k, 'psnr': 20.0 + k,
                                    'ok': k % 2 == 0, 'missing': None}
    stats = data.stats['action']
    everything = np.concatenate([make_episode(k, 10 + k).action for k in range(3)])
    np.testing.assert_allclose(stats['mean'], everything.mean(0), atol=1e-6)
    np.testing.assert_allclose(stats['std'], everything.std(0), atol=1e-6)
    assert stats['count'] == [len(everything)]
    for key, q in zip(v3.QUANTILE_KEYS, v3.QUANTILES):  # count-weighted, as LeRobot pools them
        pooled = sum(len(make_episode(k, 10 + k).action) * np.quantile(
            make_episode(k, 10 + k).action.astype(np.float32), q, axis=0) for k in range(3))
        np.testing.assert_allclose(stats[key], pooled / len(everything), atol=1e-5)
    assert np.all(np.asarray(data.stats['observation.images.camera']['q99'])
                  >= np.asarray(data.stats['observation.images.camera']['q01']))


@pytest.mark.parametrize('change, message', [
    (lambda e: setattr(e, 'state', e.state * np.nan), 'NaN'),
    (lambda e: setattr(e, 'action', e.action[:, :2]), 'expected'),
    (lambda e: e.videos.pop('generated'), 'cameras'),
    (lambda e: e.videos.update(camera=e.videos['camera'][:, :, :63]), 'camera'),
    (lambda e: setattr(e, 'task', '  '), 'empty'),
    (lambda e: e.metadata.update(bad=[1, 2]), 'metadata'),
])
def test_writer_refuses_bad_episodes(tmp_path, change, message):
    writer = v3.LeRobotWriter(tmp_path / 'ds', 10, JOINTS, 'arm', {'camera': (48, 64),
                                                                   'generated': (32, 32)})
    episode = make_episode(0)
    change(episode)
    with pytest.raises(EpisodeError, match=message):
        writer.add(episode)


def test_writer_refuses_to_overwrite_and_odd_rates(tmp_path):
    write(tmp_path / 'ds', [0])
    with pytest.raises(EpisodeError, match='already exists'):
        v3.LeRobotWriter(tmp_path / 'ds', 10, JOINTS, 'arm', {})
    with pytest.raises(EpisodeError, match='integer'):
        v3.LeRobotWriter(tmp_path / 'other', 12.5, JOINTS, 'arm', {})


def test_reader_finds_broken_references(tmp_path):
    root = write(tmp_path / 'ds', range(2))
    info = json.loads((root / v3.INFO_PATH).read_text())
    info['total_frames'] += 1
    (root / v3.INFO_PATH).write_text(json.dumps(info))
    with pytest.raises(EpisodeError, match='totals'):
        read_dataset(root)
    root = write(tmp_path / 'ds2', range(2))
    next((root / 'videos' / 'observation.images.camera').rglob('file-001.mp4')).unlink()
    with pytest.raises(EpisodeError, match='missing'):
        read_dataset(root)


def test_merge_orders_by_scene_and_refuses_overlap(tmp_path):
    single = read_dataset(write(tmp_path / 'single', range(4)))
    odd = write(tmp_path / 'odd', [1, 3])
    even = write(tmp_path / 'even', [0, 2])
    merged = read_dataset(merge_datasets([odd, even], tmp_path / 'merged'))
    assert len(merged.episodes) == 4
    for a, b in zip(single.episodes, merged.episodes):
        assert (a.task, a.metadata) == (b.task, b.metadata)
        np.testing.assert_array_equal(a.state, b.state)
        np.testing.assert_array_equal(a.action, b.action)
        for key in a.videos:
            np.testing.assert_array_equal(a.videos[key], b.videos[key])
    assert merged.stats['action']['count'] == single.stats['action']['count']
    np.testing.assert_allclose(merged.stats['action']['mean'], single.stats['action']['mean'])
    with pytest.raises(EpisodeError, match='same scene'):
        merge_datasets([odd, odd], tmp_path / 'twice')
    # two separate runs, each numbering its scenes from 0 (other seeds): appended in turn
    other = tmp_path / 'other_run'
    cameras = {'camera': (48, 64), 'generated': (32, 32)}
    writer = v3.LeRobotWriter(other, 10, JOINTS, 'test_arm', cameras)
    for k in (1, 3):
        episode = make_episode(k, 10 + k)
        episode.metadata.update(seed=900 + k)
        writer.add(episode)
    writer.close()
    both = read_dataset(merge_datasets([odd, other], tmp_path / 'both'))
    assert [(e.metadata['scene'], e.metadata['seed']) for e in both.episodes] == \
        [(1, 101), (3, 103), (1, 901), (3, 903)]
    # --overwrite replaces a data set, never a folder that is not one (the inputs' parent)
    with pytest.raises(EpisodeError, match='not a LeRobot data set'):
        merge_datasets([odd, even], tmp_path, overwrite=True)
    assert odd.is_dir() and even.is_dir()
    from vag_ros.cli import main
    assert main(['merge-datasets', str(odd), str(even), '--out', str(tmp_path),
                 '--overwrite']) == 2


def test_the_users_folders_beside_the_data_set_are_never_touched(tmp_path):
    """`mv ds ds.old` is a common backup and `ds.partial` may be anyone's: the writer stages
    and swaps through hidden names of its own; a failed write leaves nothing behind."""
    for name in ('ds.old', 'ds.partial'):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'KEEP.txt').write_text('mine')
    write(tmp_path / 'ds', [0])
    cameras = {'camera': (48, 64), 'generated': (32, 32)}
    writer = v3.LeRobotWriter(tmp_path / 'ds', 10, JOINTS, 'test_arm', cameras, overwrite=True)
    writer.add(make_episode(1))
    writer.close()
    failed = v3.LeRobotWriter(tmp_path / 'ds', 10, JOINTS, 'test_arm', cameras, overwrite=True)
    failed.add(make_episode(2))
    failed.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ds', 'ds.old', 'ds.partial']
    # a run killed mid-write (its process gone) leaves a staging folder: the next one clears it
    dead = tmp_path / '.ds.partial-999999999-deadbeef'
    dead.mkdir()
    v3.LeRobotWriter(tmp_path / 'ds', 10, JOINTS, 'test_arm', cameras, overwrite=True).abort()
    assert not dead.exists()
    assert (tmp_path / 'ds.old' / 'KEEP.txt').read_text() == 'mine'
    assert (tmp_path / 'ds.partial' / 'KEEP.txt').read_text() == 'mine'
    assert [e.metadata['scene'] for e in read_dataset(tmp_path / 'ds').episodes] == [1]


def test_image_stats_frame_by_frame_match_the_whole_video_at_once():
    """The stats are computed frame by frame (a long video never becomes one float copy)
    and equal the direct computation on the whole video."""
    frames = np.random.default_rng(0).integers(0, 256, (7, 40, 50, 3), dtype=np.uint8)
    stats = v3.video_stats(frames)
    chw = frames.astype(np.float64) / 255.0  # (T, H, W, 3)
    for key, expected in (('mean', chw.mean((0, 1, 2))), ('std', chw.std((0, 1, 2))),
                          ('min', chw.min((0, 1, 2))), ('max', chw.max((0, 1, 2)))):
        np.testing.assert_allclose(np.asarray(stats[key]).reshape(3), expected, atol=1e-12)
    assert stats['count'] == [7]


# lerobot 0.4.4: this interpreter where the lerobot extra is installed (make lerobot), or
# another one named by VAG_LEROBOT_PYTHON
LEROBOT_PYTHON = os.environ.get('VAG_LEROBOT_PYTHON') or (
    sys.executable if importlib.util.find_spec('lerobot') else None)


@pytest.mark.skipif(not LEROBOT_PYTHON,
                    reason='lerobot is not installed here (make lerobot, then run this file '
                           'with .venv-lerobot/bin/python), nor named by VAG_LEROBOT_PYTHON')
def test_lerobot_itself_reads_the_data_set(tmp_path):
    root = write(tmp_path / 'ds', range(3))
    ours = read_dataset(root)
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    out = subprocess.run([LEROBOT_PYTHON,
                          str(ROOT / 'scripts' / 'lerobot_read_check.py'), str(root)],
                         capture_output=True, text=True, env=env, check=True).stdout
    theirs = json.loads(out.strip().splitlines()[-1])
    assert theirs['fps'] == 10 and theirs['num_frames'] == ours.info['total_frames']
    for mine, their in zip(ours.episodes, theirs['episodes']):
        assert their['task'] == mine.task
        np.testing.assert_allclose(their['state'], mine.state, atol=1e-6)
        np.testing.assert_allclose(their['action'], mine.action, atol=1e-6)
        for key, frames in mine.videos.items():  # same decoded pixels (means in [0, 1])
            np.testing.assert_allclose(their['videos'][key], frames.mean((1, 2, 3)) / 255,
                                       atol=2e-3)


def test_merge_refuses_the_same_content_under_another_id_and_a_damaged_video(tmp_path):
    """A second run with the same checkpoint and seeds (new episode ids, same task, states,
    actions and seed) is a duplicate; a video that does not decode is not copied on."""
    first = write(tmp_path / 'first', [0, 1])
    again = tmp_path / 'again'
    writer = v3.LeRobotWriter(again, 10, JOINTS, 'test_arm',
                              {'camera': (48, 64), 'generated': (32, 32)})
    for k in (0, 1):
        episode = make_episode(k, 10 + k)
        episode.metadata.update(scene=k + 10)          # another run's numbering
        writer.add(episode)
    writer.close()
    with pytest.raises(EpisodeError, match='repeats an episode'):
        merge_datasets([first, again], tmp_path / 'merged')
    assert not (tmp_path / 'merged').exists()
    damaged = write(tmp_path / 'damaged', [2, 3])
    video = read_dataset(damaged, decode_videos=False).episodes[1].video_files[
        v3.IMAGE_PREFIX + 'camera']
    data = video.read_bytes()
    video.write_bytes(data[:len(data) // 2])          # a truncated copy
    with pytest.raises(EpisodeError, match=video.name):
        merge_datasets([first, damaged], tmp_path / 'merged2')
    assert not (tmp_path / 'merged2').exists()
