"""Episodes whose actions are withheld: their video trains, their actions do not."""

import json

import numpy as np
import pytest
import torch
from train_helpers import micro_config, write_bags

from vag_ros.cli import main
from vag_ros.episodes.bag_reader import list_episode_bags, read_episode, read_metadata
from vag_ros.model.vag import split_labels
from vag_ros.train import trainer
from vag_ros.train.dataset import EpisodeDataset


def test_a_withheld_window_adds_no_action_loss():
    actions = torch.randn(3, 5, 7)
    mask, clean = split_labels(actions)
    assert mask is None and clean is actions          # all labelled: as before
    actions[1] = float('nan')
    mask, clean = split_labels(actions)
    assert mask[:, 0, 0].tolist() == [True, False, True] and torch.isfinite(clean).all()


def test_withhold_actions_then_train_video_on_all_actions_on_the_kept(tmp_path, capsys):
    bags = write_bags(tmp_path / 'bags', count=4)
    keep = tmp_path / 'keep.txt'
    keep.write_text('ep_000\nep_002\n')
    out = tmp_path / 'marked'
    assert main(['withhold-actions', '--episodes', str(bags), '--out', str(out),
                 '--keep', str(keep)]) == 0
    assert '2 episodes keep their actions, 2 are video only' in capsys.readouterr().out
    assert json.loads((out / 'withheld.json').read_text())['withheld'] == ['ep_001', 'ep_003']
    assert read_metadata(out / 'ep_001').extra['actions'] == 'withheld'
    assert 'actions' not in read_metadata(out / 'ep_000').extra
    np.testing.assert_array_equal(read_episode(out / 'ep_001').frames,
                                  read_episode(bags / 'ep_001').frames)
    assert len(list_episode_bags(bags)) == 4 and 'actions' not in read_metadata(
        bags / 'ep_001').extra                           # the originals are untouched
    config = micro_config()
    marked = EpisodeDataset(config, out)
    withheld = [k for k, (name, _) in enumerate(marked.windows) if name in ('ep_001', 'ep_003')]
    assert torch.isnan(marked.actions[withheld]).all()
    assert torch.isfinite(marked.actions[[0, 2]]).all()
    # the action statistics are the labelled episodes' alone
    alone = tmp_path / 'alone'
    write_bags(alone, count=4)
    for name in ('ep_001', 'ep_003'):
        import shutil
        shutil.rmtree(alone / name)
    assert torch.allclose(marked.normalizer.a, EpisodeDataset(config, alone).normalizer.a)
    from vag_ros.train.train_config import TrainConfig
    result = trainer.train(config, TrainConfig(steps=2, batch_size=4, warmup_steps=0,
                                               log_every=1, save_every=2),
                           out, tmp_path / 'run', progress=False, dataset=marked)
    assert np.isfinite(result.loss)
    # refused: names not in the folder; every episode withheld for a model with actions
    assert main(['withhold-actions', '--episodes', str(bags), '--out', str(tmp_path / 'x'),
                 '--keep', str(tmp_path / 'keep_unknown.txt')]) == 2
    none = tmp_path / 'none'
    assert main(['withhold-actions', '--episodes', str(bags), '--out', str(none)]) == 0
    with pytest.raises(Exception, match='every episode\'s actions are withheld'):
        EpisodeDataset(config, none)
