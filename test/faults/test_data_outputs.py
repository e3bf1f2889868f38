"""Data sets that cannot disagree with their own tables (issue "Bad input refused on the data
paths", class 5): a re-run never drops what exists, one episode is never in a data set twice,
a resume removes every partial a killed run left. Real synthesize runs, real bags."""

import shutil

from lab_bags import lab_bags  # noqa: I100
from vag_ros.cli import main
from vag_ros.datasets.lerobot_reader import read_dataset


def test_one_bag_exported_twice_under_two_names_is_refused(tmp_path, capsys):
    """A bag copied under a second name (was: two identical episodes in the data set, exit
    0): refused naming both bags, by merge-datasets' duplicate key (task, states, actions
    and seed), before the data set exists."""
    episodes = lab_bags(tmp_path / 'episodes', 2)
    shutil.copytree(episodes / 'session1_ep000', episodes / 'session1_ep000_copy')
    out = tmp_path / 'lerobot'
    assert main(['export-lerobot', '--episodes', str(episodes), '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert 'session1_ep000_copy' in err and str(episodes / 'session1_ep000') in err, err
    assert 'the same episode' in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith('.')]
    shutil.rmtree(episodes / 'session1_ep000_copy')
    assert main(['export-lerobot', '--episodes', str(episodes), '--out', str(out)]) == 0
    assert len(read_dataset(out, decode_videos=False).episodes) == 2
