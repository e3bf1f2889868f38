"""Issue 29, tried again as a new user would: each class of fault a sweep of new bad inputs
found is refused with one line naming the file or option and the fix, exit code 2, no
traceback, and nothing wrong or half-written left behind. Real bags, real checkpoint
files, real file systems; one test per class, its cases examples of the class."""

import os
from pathlib import Path
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from lab_bags import lab_bags  # noqa: I100
from vag_ros.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / 'checkpoints' / 'tiny_demo'
URDF = ROOT / 'config' / 'robot' / 'vag_arm.urdf'


@pytest.fixture(scope='module')
def sim_bags(tmp_path_factory) -> Path:
    """Two episode bags of the embedded world (its arm, as the checkpoint's)."""
    out = tmp_path_factory.mktemp('sim') / 'bags'
    assert main(['sim-record', '--episodes', '2', '--seed', '1000', '--out', str(out),
                 '--quiet']) == 0
    return out


def refused(capsys, argv, *words) -> str:
    """Run ``vag-ros argv``: exit 2 and one error line on stderr (after argparse's usage)
    holding ``words``; that line."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:   # argparse: usage, then the error line
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err, err
    err = err.strip().splitlines()[-1]
    assert err.startswith('vag-ros ') and ': error: ' in err, err
    for word in words:
        assert str(word) in err, err
    return err


def checkpoint_copy(folder: Path) -> Path:
    """The committed checkpoint's own files (no baselines, no eval), copied to damage."""
    folder.mkdir(parents=True)
    for name in ('SHA256SUMS', 'config.yaml', 'model.safetensors', 'robot.urdf'):
        shutil.copy2(CHECKPOINT / name, folder / name)
    return folder


def test_text_files_that_are_not_utf8_empty_or_cut_are_named(tmp_path, capsys):
    """A bag's metadata.yaml, a checkpoint's SHA256SUMS, config.yaml or robot.urdf, a
    --urdf or --sim-config that is not UTF-8, is a folder, is empty or is cut short (was: a
    UnicodeDecodeError or IsADirectoryError traceback, or a repr such as
    TypeError("'NoneType' object is not subscriptable") / <yaml.error.Mark object>)."""
    bags = lab_bags(tmp_path / 'bags', 1)
    meta = bags / 'session0_ep000' / 'metadata.yaml'
    text = meta.read_bytes()
    args = ['first-frames', '--episodes', bags, '--out', tmp_path / 'frames']
    for content, words in ((b'x: \xe9\n', ('metadata.yaml', 'not UTF-8')),
                           (b'', ('metadata.yaml is empty', 'reindex')),
                           (text[:200], ('metadata.yaml', 'not valid YAML', 'at line'))):
        meta.write_bytes(content)
        err = refused(capsys, args, *words)
        assert 'Mark object' not in err and 'NoneType' not in err
    assert not (tmp_path / 'frames').exists()

    generate = ['generate', '--episode', ROOT / 'test' / 'no_such_bag', '--instruction',
                'pick up the red block', '--out', tmp_path / 'gen']
    sums = checkpoint_copy(tmp_path / 'sums')
    (sums / 'SHA256SUMS').write_bytes(b'\xff\xfe garbage\n')
    refused(capsys, generate + ['--checkpoint', sums], 'SHA256SUMS', 'not UTF-8')
    config = checkpoint_copy(tmp_path / 'config')
    (config / 'config.yaml').write_bytes(b'mode: \xe9\n')
    lines = (config / 'SHA256SUMS').read_text().splitlines()
    (config / 'SHA256SUMS').write_text(''.join(f'{line}\n' for line in lines
                                               if not line.endswith('config.yaml')))
    refused(capsys, generate + ['--checkpoint', config], 'config.yaml', 'not UTF-8')
    latin = tmp_path / 'arm.urdf'
    latin.write_bytes(URDF.read_bytes().replace(b'vag_arm', b'vag_\xe9arm', 1))
    for urdf, words in ((latin, ('arm.urdf', 'not UTF-8')), (tmp_path, ('Is a directory',))):
        refused(capsys, generate + ['--checkpoint', CHECKPOINT, '--urdf', urdf], *words)
    refused(capsys, ['synthesize', '--checkpoint', CHECKPOINT, '--out', tmp_path / 'synth',
                     '--scenes', '1', '--sim-config', tmp_path], 'cannot read config file',
            'Is a directory')
    none = checkpoint_copy(tmp_path / 'nosums')
    (none / 'SHA256SUMS').unlink()
    refused(capsys, generate + ['--checkpoint', none], 'has no SHA256SUMS')
    assert not (tmp_path / 'gen').exists() and not (tmp_path / 'synth').exists()


def test_withhold_actions_refuses_a_keep_list_that_names_nothing(tmp_path, capsys):
    """--keep a folder that holds no bag (the first-frames PNG folder, a typo'd parent) or
    an empty name list (was: exit 0, every action withheld, 0 kept, as if --keep were
    absent); nothing written."""
    bags = lab_bags(tmp_path / 'bags', 2)
    pictures = tmp_path / 'pictures'
    pictures.mkdir()
    (pictures / 'a.png').write_bytes(b'')
    empty = tmp_path / 'keep.txt'
    empty.write_text('\n \n')
    out = tmp_path / 'marked'
    for keep, words in ((pictures, ('no episode bag', '--keep')),
                        (empty, ('names no bag', 'keep.txt'))):
        refused(capsys, ['withhold-actions', '--episodes', bags, '--out', out, '--keep', keep],
                *words)
        assert not out.exists()
    assert main(['withhold-actions', '--episodes', str(bags), '--out', str(out), '--keep',
                 str(bags)]) == 0


@pytest.mark.parametrize('argv, words', [
    (['bench', 'storage', '--quality', '1000'], ('--quality', '1 to 100')),
    (['bench', 'storage', '--width', '1000000', '--height', '1000000'], ('--width', '8192')),
    (['bench', 'storage', '--frames', '100000000', '--width', '640'], ('--frames', 'memory')),
    (['bench', 'ingest', '--width', '100000', '--height', '100000'], ('--width', '8192')),
    (['bench', 'generation', '--preset', 'tiny', '--threads', '100000'], ('--threads', 'CPUs')),
    (['synthesize', '--checkpoint', CHECKPOINT, '--label-video',
      CHECKPOINT / 'baselines' / 'inverse_dynamics', '--label-smoothing', '0'], ('positive',)),
    (['synthesize', '--checkpoint', CHECKPOINT, '--label-video',
      CHECKPOINT / 'baselines' / 'inverse_dynamics', '--label-smoothing', '41'],
     ('--label-smoothing 41', 'video.frames')),
    (['synthesize', '--checkpoint', CHECKPOINT, '--label-smoothing', '5'],
     ('--label-smoothing', 'give --label-video')),
    (['train-decoder', '--checkpoint', CHECKPOINT, '--data', ROOT, '--width', '100000'],
     ('--width', '4096')),
    (['train-inverse-dynamics', '--data', ROOT, '--height', '100000'], ('--height', '1024')),
    (['train-inverse-dynamics', '--data', ROOT, '--lr', 'inf'], ('--lr', 'finite')),
    (['eval-policy', '--checkpoint', CHECKPOINT, '--episodes', '1', '--closed-loop',
      '--execute', '100000'], ('--execute 100000', 'action.horizon')),
])
def test_a_numeric_option_out_of_its_range_is_refused_before_work(
        argv, words, tmp_path, capsys):
    """Values the commands took and crashed on or misreported (was: a MemoryError
    traceback for a 1000000 px camera or 100000 refiner channels, SIGSEGV for 100000
    torch threads, exit 0 with JPEG quality 1000 or --lr inf, label smoothing 0 or past the
    clip, --label-smoothing silently ignored without --label-video, and an eval JSON that
    says 100000 targets were executed per 40-target chunk); nothing is written."""
    out = tmp_path / 'out'
    extra = {'synthesize': ['--out', out, '--scenes', '1', '--quiet'],
             'train-decoder': ['--out', out], 'train-inverse-dynamics': ['--out', out],
             'eval-policy': ['--json', out / 'eval.json', '--quiet']}.get(argv[0], [])
    refused(capsys, argv + extra, *words)
    assert not out.exists()


def test_a_symbolic_link_loop_or_a_dead_link_as_a_path_is_named(sim_bags, tmp_path, capsys):
    """--episodes, a shard, --out or --json that is a loop of links, or --out a link to
    nothing (was: RuntimeError 'Symlink loop' / FileExistsError / ELOOP tracebacks from
    export-lerobot, merge-datasets, export, train, eval-policy, generate); nothing made."""
    bags = lab_bags(tmp_path / 'bags', 2)
    loop, back, dead = tmp_path / 'loop', tmp_path / 'back', tmp_path / 'dead'
    loop.symlink_to(back)
    back.symlink_to(loop)
    dead.symlink_to(tmp_path / 'nowhere' / 'run')
    out, train = tmp_path / 'out', ['train', '--config', 'tiny', '--data', sim_bags,
                                    '--steps', '2', '--out']
    for argv in (['export-lerobot', '--episodes', loop, '--out', out],
                 ['export-lerobot', '--episodes', bags, '--out', loop],
                 ['merge-datasets', loop, '--out', out],
                 ['export', '--checkpoint', CHECKPOINT, '--out', loop],
                 train + [loop],
                 ['eval-policy', '--checkpoint', CHECKPOINT, '--episodes', '1', '--json',
                  loop]):
        refused(capsys, argv, 'a loop of symbolic links', loop)
    for argv in (train + [dead],
                 ['generate', '--checkpoint', CHECKPOINT, '--image', ROOT / 'no.png',
                  '--instruction', 'pick', '--out', dead],
                 ['first-frames', '--episodes', bags, '--out', dead]):
        refused(capsys, argv, 'symbolic link to', 'does not exist')
    assert not out.exists() and not (tmp_path / 'nowhere').exists()


def run_limited(argv, max_file_bytes: int) -> subprocess.CompletedProcess:
    """vag-ros ``argv`` in a process whose files cannot grow past ``max_file_bytes`` (as
    on a full disk, writes fail mid-run: EFBIG; no root or small file system needed)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return subprocess.run([sys.executable, '-m', 'vag_ros.cli', *map(str, argv)],
                          preexec_fn=limit, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1', SVT_LOG='1'))


def test_a_write_the_disk_refuses_mid_run_is_one_line_and_leaves_nothing(sim_bags, tmp_path):
    """Writes that fail once the work has begun, as on a full disk (was: ENOSPC tracebacks
    from pyarrow, PyAV and shutil in export-lerobot, merge-datasets, split --copy and
    first-frames, and from eval-policy a traceback and an empty --json file left behind;
    generate and sim-record left their new --out folder): exit 2, one line naming the file
    and the fix, no output and no hidden partial left."""
    out = tmp_path / 'out'
    cases = [(['split', '--episodes', sim_bags, '--held-out', '1', '--copy', '--out', out],
              100_000, '.mcap'),
             (['export-lerobot', '--episodes', sim_bags, '--out', out], 20_000, '.mp4'),
             (['eval-policy', '--checkpoint', CHECKPOINT, '--episodes', '1', '--quiet',
               '--json', out / 'eval.json'], 100, 'eval.json'),
             (['generate', '--checkpoint', CHECKPOINT, '--episode', next(sim_bags.iterdir()),
               '--instruction', 'pick up the red block', '--sampling-steps', '1', '--out',
               out / 'generated'], 100_000, 'File too large'),
             (['sim-record', '--episodes', '1', '--quiet', '--out', out / 'bags'], 100_000,
              'File too large')]
    for argv, limit, word in cases:
        result = run_limited(argv, limit)
        assert result.returncode == 2, result.stderr[-3000:]
        assert 'Traceback' not in result.stderr, result.stderr[-3000:]
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith(f'vag-ros {argv[0]}: error: ') and word in line, line
        assert not out.exists() and not list(tmp_path.iterdir()), list(tmp_path.iterdir())


def test_messages_say_what_is_wrong_and_do_not_advise_harm(sim_bags, tmp_path, capsys):
    """A LeRobot data set given as --engine (was: 'export again with vag-ros export --out
    <the data set> --force'), a synthesis that keeps no episode (was: 'dataset: None')."""
    data = tmp_path / 'lerobot'
    assert main(['export-lerobot', '--episodes', str(sim_bags), '--out', str(data)]) == 0
    capsys.readouterr()
    err = refused(capsys, ['generate', '--checkpoint', CHECKPOINT, '--backend', 'onnxruntime',
                           '--engine', data, '--episode', next(sim_bags.iterdir()),
                           '--instruction', 'pick', '--out', tmp_path / 'gen'],
                  'not an engine folder', 'vag-ros export')
    assert '--force' not in err
    out = tmp_path / 'synth'
    assert main(['synthesize', '--checkpoint', str(CHECKPOINT), '--out', str(out), '--scenes',
                 '1', '--quiet', '--keep', 'tracking_error_max<=-1']) == 0
    printed = capsys.readouterr().out
    assert 'dataset: none written: no episode was kept' in printed and 'None' not in printed


def test_a_training_that_diverges_saves_no_model(sim_bags, tmp_path, capsys):
    """train-inverse-dynamics whose loss turns NaN (was: exit 0, a model of NaN weights
    saved, 'loss=nan' in a progress bar): refused naming the step and --lr, nothing saved,
    as train and train-decoder refuse it."""
    out = tmp_path / 'inverse_dynamics'
    refused(capsys, ['train-inverse-dynamics', '--data', sim_bags, '--out', out, '--steps',
                     '2', '--lr', '1e30', '--quiet'], 'diverged at step', 'lower --lr')
    assert not out.exists()
