"""A lab's own arm, end to end, as a new user takes the path: its bags (its own recorder,
joint names, wrist camera and robot_description) -> ingest -> train -> generate ->
first-frames -> synthesize -> export. Every output carries the lab's joint names; the
package's arm is never applied to that checkpoint, and giving it is refused."""

import json
from pathlib import Path

from lab_bags import CAMERA, LAB_URDF, write_lab_recording
import pytest
import yaml

from vag_ros.cli import main
from vag_ros.episodes.bag_reader import list_episode_bags, read_episode, read_metadata
from vag_ros.robot.description import load_robot_description

PACKAGE_URDF = Path(__file__).resolve().parents[1] / 'config' / 'robot' / 'vag_arm.urdf'


@pytest.fixture(scope='module')
def lab_run(tmp_path_factory):
    """bags -> ingest -> train (2 steps): the folders of each stage."""
    import micro_model
    root = tmp_path_factory.mktemp('lab')
    bags = root / 'bags'
    bags.mkdir()
    for k, text in enumerate(('put the cup on the tray', 'open the drawer',
                              'wipe the table')):
        write_lab_recording(bags / f'session_{k}', k, text)
    episodes = root / 'episodes'
    assert main(['ingest', '--bags', str(bags), '--out', str(episodes), '--camera-topic',
                 CAMERA, '--instruction-topic', '/task', '--quiet']) == 0
    model_yaml = root / 'micro.yaml'
    model_yaml.write_text(yaml.safe_dump(micro_model.micro_config(num_steps=2).to_dict()))
    train_yaml = root / 'train.yaml'
    train_yaml.write_text(yaml.safe_dump({'steps': 2, 'batch_size': 2, 'warmup_steps': 0}))
    checkpoint = root / 'checkpoint'
    assert main(['train', '--config', str(model_yaml), '--data', str(episodes), '--out',
                 str(checkpoint), '--train-config', str(train_yaml), '--quiet']) == 0
    return root, episodes, checkpoint


def test_ingest_takes_the_robot_from_the_bags_robot_description(lab_run):
    _, episodes, _ = lab_run
    bags = list_episode_bags(episodes)
    assert len(bags) == 3
    for bag in bags:
        meta = read_metadata(bag)
        assert meta.robot == 'lab_arm' and meta.joint_names[0] == 'shoulder_pan_joint'
        assert meta.robot_urdf == LAB_URDF.read_text()
    episode = read_episode(bags[0])
    assert episode.joints.shape[1] == 6


def test_training_records_the_lab_arm(lab_run):
    from vag_ros.model.checkpoint import checkpoint_robot, read_config
    _, _, checkpoint = lab_run
    robot = checkpoint_robot(checkpoint)
    assert robot.name == 'lab_arm' and robot.dof == 6
    assert read_config(checkpoint).action.dim == 6
    assert (checkpoint / 'robot.urdf').read_text() == LAB_URDF.read_text()


def test_generate_writes_the_lab_joint_names_and_refuses_the_package_arm(lab_run, capsys):
    root, episodes, checkpoint = lab_run
    episode = list_episode_bags(episodes)[0]
    out = root / 'generated'
    assert main(['generate', '--checkpoint', str(checkpoint), '--episode', str(episode),
                 '--instruction', 'open the drawer', '--out', str(out)]) == 0
    generated = read_episode(out / 'generated_seed000000')
    assert generated.metadata.joint_names == load_robot_description(LAB_URDF).joint_names
    assert generated.metadata.robot_urdf == LAB_URDF.read_text()
    capsys.readouterr()
    assert main(['generate', '--checkpoint', str(checkpoint), '--episode', str(episode),
                 '--instruction', 'open the drawer', '--out', str(root / 'refused'),
                 '--urdf', str(PACKAGE_URDF)]) != 0
    err = capsys.readouterr().err
    assert "robot 'vag_arm'" in err and "robot 'lab_arm'" in err
    assert main(['generate', '--checkpoint', str(checkpoint), '--image', str(LAB_URDF),
                 '--state', '0,-0.3,2.0,0,1.44,0,0.02', '--instruction', 'x',
                 '--out', str(root / 'refused2')]) != 0


def test_engines_carry_the_lab_arm(lab_run):
    from vag_ros.engines.manifest import engine_robot, read_manifest
    root, _, checkpoint = lab_run
    engine = root / 'engine'
    assert main(['export', '--checkpoint', str(checkpoint), '--out', str(engine),
                 '--no-verify']) == 0
    manifest = read_manifest(engine)
    assert manifest.data['robot']['joint_names'][-1] == 'gripper_finger_joint'
    assert engine_robot(manifest).name == 'lab_arm'


def test_eval_and_the_demo_refuse_a_lab_checkpoint_naming_both(lab_run, capsys):
    """They replay in the embedded world, whose arm is not the lab's."""
    root, _, checkpoint = lab_run
    for command in (['eval-policy', '--checkpoint', str(checkpoint), '--episodes', '1',
                     '--json', str(root / 'policy.json')],
                    ['eval', '--checkpoint', str(checkpoint), '--episodes', '1',
                     '--json', str(root / 'eval.json')],
                    ['demo', '--checkpoint', str(checkpoint), '--instructions', '1',
                     '--out', str(root / 'demo')]):
        capsys.readouterr()
        assert main(command) != 0
        err = capsys.readouterr().err
        assert "robot 'lab_arm'" in err and "robot 'vag_arm'" in err, err


def test_first_frames_synthesize_and_export_keep_the_lab_joint_names(lab_run):
    """The lab's own first frames (made by vag-ros first-frames from its episodes) ->
    synthesize (validated against the lab arm's limits, not replayed) -> LeRobot data set
    and an export of the generated bags: the lab's joint names throughout."""
    from vag_ros.datasets.lerobot_reader import read_dataset
    root, episodes, checkpoint = lab_run
    names = list(load_robot_description(LAB_URDF).joint_names)
    frames = root / 'first_frames'
    assert main(['first-frames', '--episodes', str(episodes), '--out', str(frames)]) == 0
    listing = yaml.safe_load((frames / 'scenes.yaml').read_text())
    assert listing['joint_names'] == names
    synth = root / 'synth'
    assert main(['synthesize', '--checkpoint', str(checkpoint), '--first-frames',
                 str(frames), '--out', str(synth), '--keep-invalid', '--quiet']) == 0
    generated = list_episode_bags(synth / 'bags')   # first frames: generated, not replayed
    assert len(generated) == 3
    scores = json.loads((synth / 'scores.json').read_text())['episodes']
    # a random model's joints: judged against the lab arm's own URDF limits
    errors = [s['validation_error'] for s in scores if not s['valid']]
    assert all(any(f"'{n}'" in e for n in names) and "'joint1'" not in e for e in errors)
    for bag in generated:
        meta = read_metadata(bag)
        assert list(meta.joint_names) == names and meta.robot == 'lab_arm'
    info = read_dataset(synth / 'lerobot').info
    assert info['robot_type'] == 'lab_arm'
    assert info['features']['action']['names'] == names
    exported = root / 'exported'
    assert main(['export-lerobot', '--episodes', str(synth / 'bags'), '--out',
                 str(exported)]) == 0
    assert read_dataset(exported).info['features']['observation.state']['names'] == names


def test_refusals_before_any_work_leave_nothing(lab_run, capsys):
    """A safety file that does not fit the lab arm (the package arm's 7 per-joint values, a
    joint the lab arm lacks), first frames of another arm, a missing checkpoint: one line
    each, before anything is generated, and no --out left behind."""
    root, _, checkpoint = lab_run
    listing = root / 'first_frames'
    if not listing.exists():
        assert main(['first-frames', '--episodes', str(lab_run[1]), '--out',
                     str(listing)]) == 0
    cases = {'max_acceleration: [2, 2, 2, 3, 3, 3, 0.5]\n': 'expected one number or 6',
             'max_acceleration: {default: 2.0, joint6: 3.0}\n': "['joint6'] are not joints"}
    for k, (text, message) in enumerate(cases.items()):
        safety = root / f'safety_{k}.yaml'
        safety.write_text(text)
        out = root / f'refused_synth_{k}'
        capsys.readouterr()
        assert main(['synthesize', '--checkpoint', str(checkpoint), '--first-frames',
                     str(listing), '--out', str(out), '--safety-file', str(safety),
                     '--quiet']) == 2
        err = capsys.readouterr().err
        assert message in err and str(safety) in err and len(err.strip().splitlines()) == 1
        assert not out.exists()
    assert main(['generate', '--checkpoint', str(root / 'nothere'), '--image', str(LAB_URDF),
                 '--instruction', 'x', '--out', str(root / 'g')]) == 2
    assert 'checkpoint folder not found' in capsys.readouterr().err
