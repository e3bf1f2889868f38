"""Bad input on the data paths is refused before any work, with one line that names the file
and the key, exit code 2 and no traceback; nothing is written (issue "Bad input refused on
the data paths"). One test per class of fault; cases are examples of the class."""

from pathlib import Path

import pytest
import yaml

from lab_bags import write_lab_recording  # noqa: I100
from vag_ros.cli import main
from vag_ros.errors import ConfigError, VagError
from vag_ros.ingest.contract import contract_from_dict, load_contract
from vag_ros.robot.description import load_robot_description
from vag_ros.synth.scenes import first_frame_specs

NAMES = load_robot_description().joint_names


@pytest.mark.parametrize('data, key', [
    ({'fps': 'ten'}, 'fps'),
    ({'fps': [10]}, 'fps'),
    ({'fps': True}, 'fps'),
    ({'alignment': {'tolerance_s': '0.1s'}}, 'alignment.tolerance_s'),
    ({'episodes': {'idle_s': None}}, 'episodes.idle_s'),
    ({'instruction': {'text': 42}}, 'instruction.text'),
    ({'camera': {'topic': ['/a']}}, 'camera.topic'),
    ({'camera': {'tpye': 'image'}}, 'camera'),                 # a typo'd key
    ({'alignment': {'mode': 'asof', 'tolerance': 0.1}}, 'alignment'),
    ({'action': {'topics': {'topic': '/cmd'}}}, 'action.topics'),
    ({'state': [{'topic': 5}]}, 'state[0].topic'),
    ({'state': [{'topic': '/joint_states', 'scale': '1'}]}, 'state[0].scale'),
    ({'state': [{'topic': '/joint_states', 'scale': False}]}, 'state[0].scale'),
])
def test_a_contract_value_of_the_wrong_type_or_an_unknown_key_is_named(data, key):
    with pytest.raises(ConfigError) as caught:
        contract_from_dict(data, NAMES)
    assert str(caught.value).startswith(f'{key}=') or f'{key}=' in str(caught.value)


def test_ingest_refuses_a_bad_contract_before_reading_a_bag(tmp_path, capsys):
    contract = tmp_path / 'contract.yaml'
    contract.write_text('fps: 10\nalignment:\n  tolerance_s: 0.1s\n')
    out = tmp_path / 'episodes'
    write_lab_recording(tmp_path / 'bags' / 'session', 0, 'wipe the table', duration=1.0)
    assert main(['ingest', '--bags', str(tmp_path / 'bags'), '--out', str(out),
                 '--contract', str(contract), '--quiet']) == 2
    err = capsys.readouterr().err
    assert 'alignment.tolerance_s' in err and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_files_that_are_not_utf8_are_refused_by_name(tmp_path):
    contract = tmp_path / 'contract.yaml'
    contract.write_bytes(b'camera:\n  topic: /cam\xe9ra\n')      # Latin-1, not UTF-8
    with pytest.raises(ConfigError, match=r'contract.yaml is not UTF-8'):
        load_contract(contract, NAMES)
    scenes = tmp_path / 'scenes.yaml'
    scenes.write_bytes(b'- {image: a.png, state: [0], instruction: "pr\xe9sent"}\n')
    with pytest.raises(VagError, match=r'scenes.yaml: the first-frames list is not UTF-8'):
        first_frame_specs(scenes, len(NAMES))


def test_bench_ingest_checks_its_outputs_before_the_benchmark(tmp_path, capsys):
    args = ['bench', 'ingest', '--minutes', '0.02', '--width', '32', '--height', '24']
    assert main(args + ['--json', str(tmp_path)]) == 2                   # a folder
    assert '--json' in capsys.readouterr().err
    out = tmp_path / 'work'
    assert main(args + ['--out', str(out)]) == 0
    kept = sorted(p.relative_to(out) for p in out.rglob('*'))
    assert main(args + ['--out', str(out)]) == 2                          # run twice
    err = capsys.readouterr().err
    assert 'not empty' in err and 'Traceback' not in err
    assert sorted(p.relative_to(out) for p in out.rglob('*')) == kept     # nothing lost


def test_synthesize_checks_every_first_frame_entry_before_it_writes(tmp_path, capsys):
    """A frame too small for the model or an instruction it would read cut off: refused by
    entry, as generate refuses it, before --out exists (was: ran, exit 0, nothing kept)."""
    import numpy as np
    from PIL import Image
    checkpoint = Path(__file__).resolve().parents[2] / 'checkpoints' / 'tiny_demo'
    state = [0.0] * len(NAMES)
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(tmp_path / 'good.png')
    Image.fromarray(np.full((1, 1, 3), 90, np.uint8)).save(tmp_path / 'dot.png')
    for case, image, text, match in (
            ('small', 'dot.png', 'touch the red block', 'smaller than the model input'),
            ('long', 'good.png', ' '.join(['touch the red block'] * 20), 'tokens')):
        scenes = tmp_path / f'{case}.yaml'
        scenes.write_text(yaml.safe_dump([
            {'image': 'good.png', 'state': state, 'instruction': 'touch the red block'},
            {'image': image, 'state': state, 'instruction': text}]))
        out = tmp_path / f'out_{case}'
        assert main(['synthesize', '--checkpoint', str(checkpoint), '--first-frames',
                     str(scenes), '--out', str(out), '--quiet']) == 2
        err = capsys.readouterr().err
        assert 'entry 1' in err and match in err and not out.exists(), err


def test_joint_values_a_robot_cannot_have_are_refused(tmp_path, capsys):
    """Degrees read as radians (a contract scale of 57.3): the whole ingest is refused naming
    the joint and its limits, nothing is written; the same bags at scale 1 ingest."""
    from lab_bags import CAMERA
    write_lab_recording(tmp_path / 'bags' / 'session', 0, 'wipe the table')
    for scale, code in ((57.2958, 2), (1.0, 0)):
        contract = tmp_path / f'contract_{scale}.yaml'
        contract.write_text(yaml.safe_dump({'state': [{'topic': '/joint_states',
                                                       'scale': scale}]}))
        out = tmp_path / f'episodes_{scale}'
        assert main(['ingest', '--bags', str(tmp_path / 'bags'), '--out', str(out),
                     '--contract', str(contract), '--camera-topic', CAMERA,
                     '--instruction-topic', '/task', '--quiet']) == code
        err = capsys.readouterr().err
        if code:
            assert 'outside its URDF limits' in err and 'degrees' in err
            assert not out.exists() and 'Traceback' not in err
        else:
            assert out.is_dir(), err


def test_a_joint_state_naming_a_joint_twice_is_refused():
    from types import SimpleNamespace
    from vag_ros.errors import EpisodeError
    from vag_ros.ingest.streams import joint_values
    msg = SimpleNamespace(name=['joint1', 'joint2', 'joint1'], position=[0.1, 0.2, 0.3])
    with pytest.raises(EpisodeError, match=r"names \['joint1'\] more than once"):
        joint_values(msg, {'joint1': 'joint1', 'joint2': 'joint2'})
    msg.name = ['joint1', 'joint2', 'joint3']
    assert joint_values(msg, {'joint1': 'joint1'}) == {'joint1': 0.1}


def test_joint_stamps_that_step_back_are_refused(tmp_path, capsys):
    """A driver whose stamps step back 3 ms every other message (was: counted as out of
    order, ingested, exit 0): refused naming the bag, the topic, how many steps went back,
    by how much at most, and the fix; the same motion stamped in order ingests."""
    from lab_bags import CAMERA

    def ahead(t):   # every other message 13 ms ahead: 100 Hz, 3 ms back at the next
        return t + 0.013 * (round(t * 100) % 2 == 0)
    for clock, code in ((ahead, 2), (lambda t: t, 0)):
        bags = tmp_path / f'bags_{code}'
        write_lab_recording(bags / 'session', 0, 'wipe the table', state_clock=clock)
        out = tmp_path / f'episodes_{code}'
        assert main(['ingest', '--bags', str(bags), '--out', str(out), '--camera-topic',
                     CAMERA, '--instruction-topic', '/task', '--quiet']) == code
        err = capsys.readouterr().err
        if code:
            assert str(bags / 'session') in err and '/joint_states' in err, err
            assert 'step back 100 time(s)' in err and 'up to 3.000 ms' in err, err
            assert 'alignment.stamps: receive' in err and 'Traceback' not in err
            assert len(err.strip().splitlines()) == 1 and not out.exists()
        else:
            assert out.is_dir(), err


def test_two_bags_of_one_name_are_named_not_the_staging_folder(tmp_path, capsys):
    """Monday's and Tuesday's session/ would write the same episode names (was: refused after
    the first bag was read, naming the hidden staging folder): refused before any bag is
    read, naming both bags and the fix; one bag given twice likewise."""
    from lab_bags import CAMERA
    for day in ('mon', 'tue'):
        write_lab_recording(tmp_path / day / 'session', 0, 'wipe the table')
    out = tmp_path / 'episodes'
    base = ['ingest', '--out', str(out), '--camera-topic', CAMERA, '--instruction-topic',
            '/task', '--quiet', '--bags']
    for bags, words in (([tmp_path / 'mon', tmp_path / 'tue'],
                         [str(tmp_path / 'mon' / 'session'), str(tmp_path / 'tue' / 'session'),
                          'both named', 'rename one']),
                        ([tmp_path / 'mon', tmp_path / 'mon' / 'session'], ['given twice'])):
        assert main(base + [str(b) for b in bags]) == 2
        err = capsys.readouterr().err
        assert all(w in err for w in words) and '.partial' not in err, err
        assert len(err.strip().splitlines()) == 1 and not out.exists()


D = len(NAMES)


@pytest.mark.parametrize('listing, message', [
    ([{'state': [0.1] * (D - 2)}], f'entry 0: state has {D - 2} values, expected {D} joint '
                                   f'positions {list(NAMES)}'),
    ({'joint_names': list(NAMES[::-1]), 'scenes': [{'state': [0.1] * (D + 1)}]},
     f'entry 0: state has {D + 1} values, expected {D} joint positions {list(NAMES[::-1])}'),
    ([{'state': [0.1] * (D - 1) + ['nan']}], f'has NaN or inf; expected {D} joint positions'),
    ([{'state': 'zero'}], f"state 'zero': expected {D} joint positions"),
])
def test_a_first_frame_state_of_the_wrong_length_says_what_it_needs(tmp_path, capsys,
                                                                    listing, message):
    """A state of 5 values for a 7-joint arm (was: 'state must be 7 finite joint positions,
    got 5', and 'got 7' for a NaN): the count it has, the count and the joint names (in the
    list's order) it needs; refused before the model loads and before --out exists."""
    import numpy as np
    from PIL import Image
    checkpoint = Path(__file__).resolve().parents[2] / 'checkpoints' / 'tiny_demo'
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(tmp_path / 'frame.png')
    entries = listing['scenes'] if isinstance(listing, dict) else listing
    for entry in entries:
        entry.update(image='frame.png', instruction='touch the red block')
    (tmp_path / 'scenes.yaml').write_text(yaml.safe_dump(listing))
    out = tmp_path / 'out'
    assert main(['synthesize', '--checkpoint', str(checkpoint), '--first-frames',
                 str(tmp_path / 'scenes.yaml'), '--out', str(out), '--quiet']) == 2
    err = capsys.readouterr().err
    assert message in err and 'Traceback' not in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_a_checkpoint_without_its_weights_is_told_missing_not_to_sha256sum(tmp_path, capsys):
    """A checkpoint copied without model.safetensors (was: 'record them: sha256sum
    model.safetensors config.yaml', of a file that is not there): the file is named missing,
    by generate, synthesize and the loader; with the files there, the sha256sum advice
    lists only those present."""
    import numpy as np
    from PIL import Image
    from vag_ros.errors import CheckpointError
    from vag_ros.model.checkpoint import load_checkpoint
    source = Path(__file__).resolve().parents[2] / 'checkpoints' / 'tiny_demo'
    checkpoint = tmp_path / 'copied'
    checkpoint.mkdir()
    for name in ('config.yaml', 'robot.urdf'):          # the weights never arrived
        (checkpoint / name).write_bytes((source / name).read_bytes())
    sums = [line for line in (source / 'SHA256SUMS').read_text().splitlines()
            if line.endswith(('config.yaml', 'robot.urdf'))]
    (checkpoint / 'SHA256SUMS').write_text('\n'.join(sums) + '\n')
    Image.fromarray(np.full((128, 128, 3), 90, np.uint8)).save(tmp_path / 'frame.png')
    state = ','.join(['0'] * len(NAMES))
    for command in (['generate', '--image', str(tmp_path / 'frame.png'), '--state', state,
                     '--instruction', 'touch the red block', '--out', str(tmp_path / 'g')],
                    ['synthesize', '--scenes', '1', '--out', str(tmp_path / 's'), '--quiet']):
        assert main(command[:1] + ['--checkpoint', str(checkpoint)] + command[1:]) == 2
        err = capsys.readouterr().err
        assert 'model.safetensors missing' in err and 'sha256sum' not in err, err
        assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    assert not (tmp_path / 'g').exists() and not (tmp_path / 's').exists()
    with pytest.raises(CheckpointError, match='model.safetensors missing') as caught:
        load_checkpoint(checkpoint)
    assert 'sha256sum' not in str(caught.value)
    (checkpoint / 'model.safetensors').write_bytes((source / 'model.safetensors').read_bytes())
    (checkpoint / 'SHA256SUMS').unlink()
    with pytest.raises(CheckpointError, match='sha256sum model.safetensors config.yaml '
                                              'robot.urdf > SHA256SUMS'):
        load_checkpoint(checkpoint)
