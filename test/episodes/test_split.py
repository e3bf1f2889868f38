"""vag-ros split: episode bags of a lab's own arm into train/ and held_out/."""

import json

from lab_bags import LAB_JOINTS, lab_bags

from vag_ros.cli import main
from vag_ros.episodes.bag_reader import list_episode_bags, read_episode


def split(episodes, out, *extra):
    return main(['split', '--episodes', str(episodes), '--out', str(out), *extra])


def test_a_seeded_split_into_train_and_held_out_leaves_the_originals(tmp_path, capsys):
    bags = lab_bags(tmp_path / 'lab', 5)
    before = {p: p.read_bytes() for p in bags.rglob('*') if p.is_file()}
    out = tmp_path / 'split'
    assert split(bags, out, '--held-out', '0.4', '--seed', '3') == 0
    assert 'in ' + str(out) + '/held_out (hardlink)' in capsys.readouterr().out
    record = json.loads((out / 'split.json').read_text())
    train = [b.name for b in list_episode_bags(out / 'train')]
    held = [b.name for b in list_episode_bags(out / 'held_out')]
    assert (record['train'], record['held_out']) == (train, held)
    assert len(held) == 2 and sorted(train + held) == [f'session{k}_ep000' for k in range(5)]
    assert record['seed'] == 3 and record['files'] == 'hardlink'
    assert record['episodes'] == str(bags.resolve())
    # the originals are where they were, byte for byte; the split's files share them
    assert {p: p.read_bytes() for p in bags.rglob('*') if p.is_file()} == before
    for name in held:
        for original in (bags / name).iterdir():
            assert (out / 'held_out' / name / original.name).stat().st_ino == \
                original.stat().st_ino
        episode = read_episode(out / 'held_out' / name)
        assert episode.metadata.joint_names == LAB_JOINTS
    # the same seed, the same split, whatever the folder; copies on request
    assert split(bags, tmp_path / 'again', '--held-out', '2', '--seed', '3', '--copy') == 0
    again = json.loads((tmp_path / 'again' / 'split.json').read_text())
    assert (again['train'], again['held_out'], again['files']) == (train, held, 'copy')
    copied = next((tmp_path / 'again' / 'held_out' / held[0]).glob('*.mcap'))
    assert copied.stat().st_ino != next((bags / held[0]).glob('*.mcap')).stat().st_ino
    chosen = set()
    for seed in range(6):
        assert split(bags, tmp_path / f'seed{seed}', '--held-out', '1', '--seed',
                     str(seed)) == 0
        chosen.add(tuple(json.loads((tmp_path / f'seed{seed}' / 'split.json').read_text())[
            'held_out']))
    assert len(chosen) > 1  # the seed chooses


def test_split_refusals(tmp_path, capsys):
    bags = lab_bags(tmp_path / 'lab', 3)
    out = tmp_path / 'split'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    assert split(bags, out, '--held-out', '1') == 2
    assert 'exists and is not empty' in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ['notes.txt']
    for amount in ('3', '0.9'):  # nothing left to train on
        assert split(bags, tmp_path / 'all', '--held-out', amount) == 2
        assert 'train and held_out each need at least one' in capsys.readouterr().err
    assert not (tmp_path / 'all').exists()
    assert split(tmp_path / 'lab' / 'session0_ep000', tmp_path / 'x', '--held-out', '1') == 2
    assert 'no episode bag' in capsys.readouterr().err
    for amount in ('0', '1.0', '-1', 'half'):
        try:
            split(bags, tmp_path / 'y', '--held-out', amount)
        except SystemExit as exc:
            assert exc.code == 2
        assert 'expected a count >= 1 or a fraction in (0, 1)' in capsys.readouterr().err
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert split(bags, empty, '--held-out', '0.5') == 0  # an empty folder is fine: 2 of 3
    assert len(list_episode_bags(empty / 'held_out')) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]  # no staging left
