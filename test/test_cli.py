"""The ``vag-ros`` command end to end: sim-record writes bags both readers agree on."""

import os
import subprocess
import sys

import numpy as np
import pytest

from child_signals import default_signals  # noqa: I100
from vag_ros.cli import main
from vag_ros.episodes.bag_reader import list_episode_bags, read_episode, read_episode_mcap


def test_sim_record_writes_bags_that_two_readers_read_back(tmp_path, capsys):
    out = tmp_path / 'episodes'
    assert main(['sim-record', '--episodes', '3', '--out', str(out), '--seed', '5',
                 '--quiet']) == 0
    assert 'wrote 3/3 episode bags' in capsys.readouterr().out
    bags = list_episode_bags(out)
    assert [b.name for b in bags] == [
        'pick_seed000007', 'push_seed000006', 'touch_seed000005']
    for bag in bags:
        episode, second = read_episode(bag), read_episode_mcap(bag)
        meta = episode.metadata
        assert meta.source == 'expert' and meta.frame_rate == 10.0
        assert meta.task == bag.name.split('_')[0] and meta.seed == int(bag.name[-6:])
        assert meta.success is True and meta.robot and len(meta.joint_names) == 7
        assert meta.instruction and meta == second.metadata
        t = episode.num_steps
        assert episode.frames.shape == (t, 128, 128, 3) and episode.frames.dtype == np.uint8
        assert episode.joints.shape == episode.actions.shape == (t, 7)
        np.testing.assert_array_equal(episode.frames, second.frames)
        np.testing.assert_array_equal(episode.actions, second.actions)
        assert episode.frames.std() > 0


def test_sim_record_refuses_existing_bags_before_simulating(tmp_path, capsys):
    out = tmp_path / 'episodes'
    (out / 'touch_seed000000').mkdir(parents=True)
    assert main(['sim-record', '--episodes', '2', '--out', str(out), '--quiet']) == 2
    assert 'refusing to overwrite' in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ['touch_seed000000']


@pytest.mark.parametrize('args, message', [
    (['--task', 'fly'], "unknown task 'fly'"),
    (['--out', '/dev/null/sub'], 'cannot create output folder'),
    (['--config', '/nonexistent.yaml'], 'config file not found'),
])
def test_sim_record_bad_input_exits_2_with_a_message(tmp_path, capsys, args, message):
    argv = ['sim-record', '--episodes', '1', '--out', str(tmp_path / 'o'), '--quiet'] + args
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'o').exists() or not any((tmp_path / 'o').iterdir())


def test_wrong_image_size_in_config_is_refused(tmp_path, capsys):
    config = tmp_path / 'sim.yaml'
    config.write_text('width: -64\n')
    assert main(['sim-record', '--episodes', '1', '--out', str(tmp_path / 'o'),
                 '--config', str(config), '--quiet']) == 2
    assert 'width' in capsys.readouterr().err


@pytest.mark.parametrize('args', [['--episodes', '0'], ['--seed', '-1'], ['--seed', 'x']])
def test_argument_errors_exit_non_zero(tmp_path, args):
    argv = [sys.executable, '-m', 'vag_ros.cli', 'sim-record', '--out', str(tmp_path)]
    if '--episodes' not in args:
        argv += ['--episodes', '1']
    result = subprocess.run(argv + args, capture_output=True, text=True)
    assert result.returncode == 2 and 'error' in result.stderr


@pytest.mark.parametrize('number', ['SIGTERM', 'SIGHUP'])
def test_a_signal_mid_write_leaves_no_partial_bag(tmp_path, number):
    """SIGTERM and SIGHUP (a closed terminal) are handled as Ctrl-C: the bag being written
    is removed, finished ones stay, exit code 128 + the signal's number."""
    import signal
    import time
    number = getattr(signal, number)
    child = '''
import sys, time
from vag_ros.episodes import bag_writer
add = bag_writer.EpisodeBagWriter.add_frame
def slow_add(self, *args, **kwargs):
    print('writing', flush=True)
    time.sleep(0.2)  # a slow disk: the signal lands inside a bag write
    return add(self, *args, **kwargs)
bag_writer.EpisodeBagWriter.add_frame = slow_add
from vag_ros import cli
sys.exit(cli.main(sys.argv[1:]))
'''
    out = tmp_path / 'bags'
    process = subprocess.Popen(
        [sys.executable, '-c', child, 'sim-record', '--episodes', '3', '--out', str(out),
         '--task', 'touch', '--quiet'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=default_signals())
    assert process.stdout.readline().strip() == 'writing'
    time.sleep(0.3)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + number, stderr
    assert 'terminated' in stderr and 'Traceback' not in stderr
    # the folder the run made goes too when no bag was finished in it
    assert not out.exists() or [p.name for p in out.iterdir() if '.partial-' in p.name] == []


def test_nohup_keeps_a_command_alive_through_a_hangup(tmp_path):
    """`nohup vag-ros ... &` ignores SIGHUP on purpose: the command keeps it ignored and
    finishes (logging out of ssh does not end a training run)."""
    child = '''
import os, signal, sys
from vag_ros import cli
from vag_ros.commands import params
def run(args):
    os.kill(os.getpid(), signal.SIGHUP)
    print('finished', flush=True)
    return 0
params.run = run
sys.exit(cli.main(['params']))
'''
    result = subprocess.run(['nohup', sys.executable, '-c', child], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0 and 'finished' in result.stdout, result.stderr


def test_a_schedule_beyond_any_run_is_refused_at_once(tmp_path, capsys):
    for command in (['sim-record', '--out', str(tmp_path)],
                    ['eval', '--checkpoint', str(tmp_path), '--json', str(tmp_path / 'e.json')]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, '--episodes', '10000000000'])
        assert exit_info.value.code == 2
        assert 'more than the 1,000,000 allowed' in capsys.readouterr().err


def test_eval_refuses_unwritable_outputs_before_loading_anything(tmp_path, capsys,
                                                                 monkeypatch):
    import functools

    import vag_ros.eval.evaluate as evaluate

    @functools.wraps(evaluate.evaluate)  # its signature: eval's options default to it
    def boom(*args, **kwargs):
        raise AssertionError('the evaluation started before its outputs were checked')
    monkeypatch.setattr(evaluate, 'evaluate', boom)
    (tmp_path / 'plots').write_text('a file where plots/ goes')
    assert main(['eval', '--checkpoint', str(tmp_path), '--episodes', '1', '--json',
                 str(tmp_path / 'eval.json')]) == 2
    assert 'plots folder' in capsys.readouterr().err
    (tmp_path / 'eval.json').mkdir()
    assert main(['eval', '--checkpoint', str(tmp_path), '--episodes', '1', '--json',
                 str(tmp_path / 'eval.json')]) == 2
    assert 'is a folder' in capsys.readouterr().err


def test_building_every_subcommand_imports_no_torch():
    """vag-ros builds all its subcommands at start: their defaults come from torch-free
    modules, so `vag-ros params` or `--help` does not wait for torch."""
    code = ('import sys; from vag_ros.cli import build_parser; build_parser(); '
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True, env=env)
    assert result.stdout.strip() == '[]'


def test_options_default_to_what_the_code_they_feed_does():
    """No second copy of a default in argparse: each option below defaults to the default of
    the keyword or dataclass field its command passes it to, so a change there is followed."""
    import dataclasses
    import inspect

    from vag_ros.cli import build_parser
    from vag_ros.episodes.camera_storage import storage_bench
    from vag_ros.eval.evaluate import evaluate
    from vag_ros.eval.policy_eval import evaluate_policy
    from vag_ros.ingest.synthetic import write_synthetic_bag
    from vag_ros.synth.export import export_folder
    from vag_ros.synth.synthesize import Synthesis
    from vag_ros.train.decoder_training import train_decoder
    from vag_ros.train.demo_checkpoint import pack_demo_checkpoint
    from vag_ros.train.inverse_dynamics import train_inverse_dynamics

    def keywords(function, *names, **renamed):
        """{option dest: default} of ``function``'s keywords ``names`` (dest=keyword)."""
        defaults = {n: p.default for n, p in inspect.signature(function).parameters.items()}
        return {**{n: defaults[n] for n in names},
                **{dest: defaults[n] for dest, n in renamed.items()}}

    synthesis = {f.name: f.default for f in dataclasses.fields(Synthesis)}
    cases = [  # (command line, {option dest: the default of what it feeds})
        (['train-inverse-dynamics', '--data', 'd', '--out', 'o'],
         keywords(train_inverse_dynamics, 'steps', 'height', 'width', 'batch_size', 'lr',
                  'seed')),
        (['train-decoder', '--checkpoint', 'c', '--data', 'd', '--out', 'o'],
         dataclasses.asdict(keywords(train_decoder, 'config')['config'])),
        (['eval', '--checkpoint', 'c', '--episodes', '1', '--json', 'j'],
         keywords(evaluate, 'seed_start', 'held_out_every', task='tasks',
                  plots='plot_episodes')),
        (['eval-policy', '--checkpoint', 'c', '--episodes', '1', '--json', 'j'],
         keywords(evaluate_policy, 'seed_start', 'loop', task='tasks')),
        (['synthesize', '--checkpoint', 'c', '--out', 'o'], {'codec': synthesis['codec']}),
        (['export-lerobot', '--episodes', 'e', '--out', 'o'], keywords(export_folder, 'codec')),
        (['pack-demo', '--vag', 'v', '--no-bridge', 'n', '--inverse-dynamics', 'i', '--out',
          'o'], keywords(pack_demo_checkpoint, 'dtype')),
        (['bench', 'storage'], keywords(storage_bench, 'repeats')),
        (['bench', 'ingest'], keywords(write_synthetic_bag, 'minutes', 'width', 'height')),
    ]
    parser = build_parser()
    for argv, want in cases:
        args = vars(parser.parse_args(argv))
        assert {dest: args[dest] for dest in want} == want, argv[:2]
