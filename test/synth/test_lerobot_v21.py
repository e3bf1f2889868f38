"""vag-ros export-lerobot --format v2.1: the LeRobot v2.1 layout openpi reads, with its norm
stats, read back by the v2.1 specification from real expert bags."""

import json
import os
from pathlib import Path
import subprocess

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from test_lerobot_dataset import JOINTS, make_episode  # noqa: I100
from vag_ros.cli import main
from vag_ros.datasets import lerobot_v21 as v21
from vag_ros.datasets.lerobot_v21_reader import read_dataset
from vag_ros.datasets.openpi_norm_stats import chunk_weights, HISTOGRAM_BINS
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.errors import EpisodeError
from vag_ros.eval.metrics import psnr
from vag_ros.synth.export import dataset_writer

ROOT = Path(__file__).resolve().parents[2]
CAMERA = 'observation.images.camera'
REPO_ID = 'local/vag_ros'   # openpi finds a set at $HF_LEROBOT_HOME/<repo_id>
HORIZON = 50                # pi0's action chunk: most chunks run past an episode's end


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    out = tmp_path_factory.mktemp('v21') / 'bags'
    assert main(['sim-record', '--episodes', '2', '--out', str(out), '--seed', '700']) == 0
    return out


@pytest.fixture(scope='module')
def home(bags):
    """$HF_LEROBOT_HOME holding the v2.1 export of ``bags`` as REPO_ID."""
    home = bags.parent / 'lerobot_home'
    assert main(['export-lerobot', '--episodes', str(bags), '--out', str(home / REPO_ID),
                 '--format', 'v2.1', '--openpi-action-horizon', str(HORIZON)]) == 0
    return home


def jsonl(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def columns(path: Path):
    """Every column of a parquet file, vectors stacked: name -> (T,) or (T, D)."""
    table = pq.read_table(path)
    return {k: np.stack(table.column(k).to_numpy(zero_copy_only=False))
            for k in table.column_names}


def action_chunks(action: np.ndarray, horizon: int) -> np.ndarray:
    """(T * horizon, D): each frame's next ``horizon`` actions, the last one repeated past the
    end (lerobot's delta_timestamps padding, which openpi's norm stats see)."""
    length = len(action)
    rows = np.minimum(np.arange(length)[:, None] + np.arange(horizon), length - 1)
    return action[rows].reshape(-1, action.shape[1])


def test_export_of_expert_bags_reads_back_by_the_v21_specification(bags, home):
    root = home / REPO_ID
    info = json.loads((root / 'meta' / 'info.json').read_text())
    assert (info['codebase_version'], info['chunks_size'], info['total_chunks']) == \
        ('v2.1', 1000, 1)
    assert info['data_path'] == \
        'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
    assert info['video_path'] == \
        'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'
    recorded = [read_episode(b) for b in sorted(bags.iterdir())]
    episodes = jsonl(root / 'meta' / 'episodes.jsonl')
    tasks = {r['task_index']: r['task'] for r in jsonl(root / 'meta' / 'tasks.jsonl')}
    stats = {r['episode_index']: r['stats']
             for r in jsonl(root / 'meta' / 'episodes_stats.jsonl')}
    assert [e['episode_index'] for e in episodes] == sorted(stats) == [0, 1]
    assert info['total_frames'] == sum(e['length'] for e in episodes) == \
        sum(r.num_steps for r in recorded)
    assert info['total_videos'] == 2 and info['splits'] == {'train': '0:2'}
    start, states, chunks = 0, [], []
    for episode, bag in zip(episodes, recorded):
        k, length = episode['episode_index'], episode['length']
        data = columns(root / info['data_path'].format(episode_chunk=0, episode_index=k))
        assert length == bag.num_steps and len(data['index']) == length
        np.testing.assert_array_equal(data['index'], np.arange(start, start + length))
        np.testing.assert_array_equal(data['frame_index'], np.arange(length))
        assert set(data['episode_index']) == {k}
        np.testing.assert_allclose(data['timestamp'], np.arange(length) / info['fps'],
                                   atol=1e-6)
        assert {tasks[t] for t in data['task_index']} == set(episode['tasks']) == \
            {bag.metadata.instruction}
        np.testing.assert_array_equal(data['observation.state'], bag.joints.astype(np.float32))
        np.testing.assert_array_equal(data['action'], bag.actions.astype(np.float32))
        for key, values in data.items():   # each column's stats, recomputed from the file
            values = values.reshape(length, -1).astype(np.float64)
            for name, expected in (('min', values.min(0)), ('max', values.max(0)),
                                   ('mean', values.mean(0)), ('std', values.std(0))):
                np.testing.assert_allclose(stats[k][key][name], expected, atol=1e-9)
            assert stats[k][key]['count'] == [length]
        image = stats[k][CAMERA]           # per channel in [0, 1], shaped (3, 1, 1)
        pixels = bag.frames.reshape(-1, 3) / 255.0
        np.testing.assert_allclose(np.asarray(image['mean']).reshape(3), pixels.mean(0))
        np.testing.assert_allclose(np.asarray(image['std']).reshape(3), pixels.std(0))
        assert np.asarray(image['min']).shape == (3, 1, 1)
        video = root / info['video_path'].format(episode_chunk=0, video_key=CAMERA,
                                                 episode_index=k)
        with av.open(str(video)) as container:
            assert sum(1 for _ in container.decode(video=0)) == length
        states.append(data['observation.state'])
        chunks.append(action_chunks(data['action'], HORIZON))
        start += length
    pooled = json.loads((root / 'meta' / 'stats.json').read_text())['observation.state']
    everything = np.concatenate(states).astype(np.float64)
    np.testing.assert_allclose(pooled['mean'], everything.mean(0), atol=1e-9)
    np.testing.assert_allclose(pooled['std'], everything.std(0), atol=1e-9)
    # openpi's norm stats: state over frames, actions over the chunks its loader hands it
    norm = json.loads((root / 'meta' / 'norm_stats.json').read_text())['norm_stats']
    assert sorted(norm) == ['actions', 'state']
    for key, values in (('state', everything), ('actions', np.concatenate(chunks))):
        values = values.astype(np.float64)
        np.testing.assert_allclose(norm[key]['mean'], values.mean(0), atol=1e-9)
        np.testing.assert_allclose(norm[key]['std'], values.std(0), atol=1e-9)
        bin_width = (values.max(0) - values.min(0)) / HISTOGRAM_BINS + 1e-9
        for name, q in (('q01', 0.01), ('q99', 0.99)):   # the histogram's bin of that sample
            exact = np.quantile(values, q, axis=0, method='inverted_cdf')
            assert np.all(np.abs(np.asarray(norm[key][name]) - exact) <= bin_width), key
    # the package's own v2.1 reader agrees and decodes the same video
    data = read_dataset(root)
    assert [e.metadata['source'] for e in data.episodes] == ['expert', 'expert']
    for episode, bag in zip(data.episodes, recorded):
        assert psnr(episode.videos[CAMERA], bag.frames) > 30
    np.testing.assert_allclose(data.norm_stats['state']['mean'], everything.mean(0))


def test_export_refuses_an_unknown_format_and_a_non_empty_out(bags, tmp_path, capsys,
                                                              monkeypatch):
    export = ['export-lerobot', '--episodes', str(bags), '--out']
    with pytest.raises(SystemExit) as exit_:
        main([*export, str(tmp_path / 'x'), '--format', 'v2.0'])
    assert exit_.value.code == 2 and "invalid choice: 'v2.0'" in capsys.readouterr().err
    with pytest.raises(EpisodeError, match="format 'v2.0'"):
        dataset_writer('v2.0')
    assert main([*export, str(tmp_path / 'x'), '--openpi-action-horizon', '5']) == 2  # v3.0
    assert 'only a --format v2.1' in capsys.readouterr().err
    busy = tmp_path / 'busy'
    busy.mkdir()
    (busy / 'notes.txt').write_text('mine')
    for extra in ([], ['--overwrite']):   # not a data set: never replaced
        assert main([*export, str(busy), '--format', 'v2.1', *extra]) == 2
    assert 'is not a LeRobot data set' in capsys.readouterr().err
    assert [p.name for p in busy.iterdir()] == ['notes.txt']
    # synthesize: shards of v2.1 sets would not merge; refused before anything is written
    monkeypatch.setenv('WORLD_SIZE', '2')
    assert main(['synthesize', '--checkpoint', str(ROOT / 'checkpoints' / 'tiny_demo'),
                 '--scenes', '1', '--out', str(tmp_path / 'synth'), '--format', 'v2.1']) == 2
    assert 'under torchrun' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['busy']


def test_the_reader_names_what_breaks_the_specification(tmp_path):
    def write(root):
        cameras = {'camera': (48, 64), 'generated': (32, 32)}
        writer = v21.LeRobotV21Writer(root, 10, JOINTS, 'test_arm', cameras)
        for k in range(3):
            writer.add(make_episode(k, 10 + k))
        return writer.close()

    def damage(name, change, message):
        root = write(tmp_path / name)
        change(root)
        with pytest.raises(EpisodeError, match=message):
            read_dataset(root, decode_videos=False)

    root = write(tmp_path / 'ds')
    assert [e.index for e in read_dataset(root).episodes] == [0, 1, 2]
    damage('video', lambda r: (r / v21.VIDEO_PATH.format(
        episode_chunk=0, video_key=CAMERA, episode_index=1)).unlink(), 'video .* missing')
    damage('stray', lambda r: (r / 'data' / 'chunk-000' / 'episode_000003.parquet').write_bytes(
        b''), 'files no episode names')

    def longer(r):
        rows = jsonl(r / v21.EPISODES_PATH)
        rows[2]['length'] += 1
        (r / v21.EPISODES_PATH).write_text(''.join(json.dumps(e) + '\n' for e in rows))
    damage('length', longer, 'total_frames')


def test_chunk_weights_count_every_chunk_lerobot_pads():
    for length, horizon in ((1, 10), (3, 2), (7, 7), (12, 5), (5, 50)):
        counts = np.bincount(np.minimum(np.arange(length)[:, None] + np.arange(horizon),
                                        length - 1).ravel(), minlength=length)
        np.testing.assert_array_equal(chunk_weights(length, horizon), counts)


@pytest.mark.skipif(not os.environ.get('VAG_LEROBOT_V21_PYTHON'),
                    reason='set VAG_LEROBOT_V21_PYTHON to a python with lerobot==0.3.3 (codebase '
                           'v2.1) installed (it cannot be installed beside torch 2.13)')
def test_lerobot_v21_itself_loads_it_as_openpi_does(home):
    env = dict(os.environ, HF_LEROBOT_HOME=str(home), HF_HUB_OFFLINE='1')
    out = subprocess.run([os.environ['VAG_LEROBOT_V21_PYTHON'],
                          str(ROOT / 'scripts' / 'lerobot_v21_read_check.py'), REPO_ID,
                          str(HORIZON)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    ours = read_dataset(home / REPO_ID)
    assert theirs['codebase_version'] == 'v2.1' and theirs['num_episodes'] == 2
    assert theirs['num_frames'] == ours.info['total_frames']
    frames = theirs['frames']
    mine = [(e, t) for e in ours.episodes for t in range(len(e.state))]
    for frame, (episode, t) in zip(frames, mine):
        assert frame['episode_index'] == episode.index and frame['prompt'] == episode.task
        np.testing.assert_allclose(frame['state'], episode.state[t], atol=1e-6)
        np.testing.assert_allclose(frame['actions'], action_chunks(episode.action[t:], HORIZON)[
            :HORIZON], atol=1e-6)
        np.testing.assert_allclose(frame['videos'][CAMERA],
                                   episode.videos[CAMERA][t].mean() / 255, atol=2e-3)
    # our norm stats are those of the samples lerobot's loader hands openpi
    loaded = np.concatenate([np.asarray(f['actions']) for f in frames])   # (N * H, D)
    np.testing.assert_allclose(ours.norm_stats['actions']['mean'], loaded.mean(0), atol=1e-6)
    np.testing.assert_allclose(ours.norm_stats['actions']['std'], loaded.std(0), atol=1e-6)
