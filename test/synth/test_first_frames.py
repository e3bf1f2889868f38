"""vag-ros first-frames: a lab's episode bags -> the list synthesize --first-frames reads."""

import json
import os
from pathlib import Path
import subprocess
import sys

from lab_bags import LAB_JOINTS, lab_bags, lab_episode
import numpy as np
from PIL import Image
import pytest
import yaml

from vag_ros.cli import main
from vag_ros.episodes.bag_reader import read_episode
from vag_ros.episodes.bag_writer import write_episode
from vag_ros.errors import VagError
from vag_ros.synth.scenes import first_frame_specs

ROOT = Path(__file__).resolve().parents[2]


def first_frames(episodes, out, *extra):
    return main(['first-frames', '--episodes', str(episodes), '--out', str(out), *extra])


def test_first_frames_of_episodes_read_back_as_synthesize_reads_them(tmp_path, capsys):
    bags = lab_bags(tmp_path / 'lab', 3, steps=5)
    out = tmp_path / 'frames'
    assert first_frames(bags, out, '--frame', '2', '--seed', '40') == 0
    assert '3 first frames (frame 2)' in capsys.readouterr().out
    listing = yaml.safe_load((out / 'scenes.yaml').read_text())
    assert listing['joint_names'] == list(LAB_JOINTS)
    specs = first_frame_specs(out, len(LAB_JOINTS), LAB_JOINTS)   # the folder, as synthesize
    assert [s.seed for s in specs] == [40, 41, 42]
    for k, spec in enumerate(specs):
        episode = read_episode(bags / f'session{k}_ep000')
        assert spec.instruction == episode.metadata.instruction == f'task {k}'
        np.testing.assert_array_equal(spec.state, episode.joints[2])
        np.testing.assert_array_equal(np.asarray(Image.open(spec.image)), episode.frames[2])
    # a robot that names the same joints in another order gets its own order
    robot_order = tuple(reversed(LAB_JOINTS))
    reordered = first_frame_specs(out / 'scenes.yaml', len(LAB_JOINTS), robot_order)
    np.testing.assert_array_equal(reordered[0].state, specs[0].state[::-1])
    # another robot's joints, or another count, are refused naming the list
    with pytest.raises(VagError, match='are not the robot'):
        first_frame_specs(out, len(LAB_JOINTS), ('a', 'b', 'c', 'd', 'e'))
    with pytest.raises(VagError, match='the robot has 7 joints'):
        first_frame_specs(out, 7)
    # lists written by hand before joint_names existed still read
    (tmp_path / 'old.yaml').write_text(yaml.safe_dump(
        [{'image': 'frames/session0_ep000.png', 'state': specs[0].state,
          'instruction': 'x'}]))
    assert first_frame_specs(tmp_path / 'old.yaml', 5, LAB_JOINTS)[0].state == specs[0].state


def test_first_frames_refusals(tmp_path, capsys):
    bags = lab_bags(tmp_path / 'lab', 2, steps=3)
    assert first_frames(bags, tmp_path / 'late', '--frame', '3') == 2
    assert 'frame 3: the episode has 3 frames' in capsys.readouterr().err
    assert not (tmp_path / 'late').exists()
    other = ('joint_a', 'joint_b', 'joint_c', 'joint_d', 'joint_e')
    write_episode(lab_episode(7, joint_names=other), bags, 'zz_other_arm')
    assert first_frames(bags, tmp_path / 'mixed') == 2
    err = capsys.readouterr().err
    assert 'zz_other_arm' in err and 'session0_ep000' in err and 'one robot' in err
    (tmp_path / 'full').mkdir()
    (tmp_path / 'full' / 'keep.txt').write_text('mine')
    assert first_frames(tmp_path / 'lab', tmp_path / 'full') == 2
    assert 'exists and is not empty' in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]  # no staging left


def test_synthesize_generates_from_the_written_list(tmp_path):
    """Episodes whose metadata names the package robot's joints in another order: the list
    says so, and synthesize puts each state in the robot's order before generating."""
    from vag_ros.robot.description import load_robot_description
    robot = load_robot_description()
    order = tuple(reversed(robot.joint_names))
    middle = (robot.lower + robot.upper) / 2                  # (D,) robot order
    for k in range(2):
        episode = lab_episode(k, steps=2, frame_rate=10.0, joint_names=order,
                              size=(64, 64))
        episode.joints[:] = episode.actions[:] = middle[::-1] + 0.01 * k   # (T, D) its order
        write_episode(episode, tmp_path / 'lab', f'session{k}_ep000')
    assert first_frames(tmp_path / 'lab', tmp_path / 'frames') == 0
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / 'vag-ros'), 'synthesize', '--checkpoint',
         str(ROOT / 'checkpoints' / 'tiny_demo'), '--first-frames', str(tmp_path / 'frames'),
         '--out', str(tmp_path / 'synth'), '--quiet'],
        capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / 'synth' / 'scores.json').read_text())['episodes']
    assert [r['seed'] for r in rows] == [0, 1]
    assert [r['instruction'] for r in rows] == ['task 0', 'task 1']
    generated = read_episode(tmp_path / 'synth' / rows[1]['bag'])
    np.testing.assert_allclose(generated.metadata.extra['state'], middle + 0.01)
