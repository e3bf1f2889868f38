"""The recorder's episodes without ROS: open, superseded, executing, due, closed."""

import json

import numpy as np
import pytest

from ros_free import ros_modules_imported_by
from vag_ros.episodes.episode_lifecycle import EpisodeLifecycle, MOTION_GRACE_S, trim
from vag_ros.errors import VagError
from vag_ros.ros.configs import RecorderNodeConfig, REPLAY_TERMINAL_STATES

NAMES = ('a', 'b')
TIMES = np.arange(5) / 10.0          # (T,) 10 Hz
POSITIONS = np.zeros((5, 2))         # (T, D)


def lifecycle(**config):
    return EpisodeLifecycle(RecorderNodeConfig(**config), REPLAY_TERMINAL_STATES)


def state(name, stamp, **details):
    """A replay state as the replay node publishes it."""
    return json.dumps(dict(details, state=name, episode_stamp_ns=stamp, message=''))


def test_the_lifecycle_imports_no_ros():
    assert ros_modules_imported_by('vag_ros.episodes.episode_lifecycle') == []


def test_an_episode_opens_and_a_new_trajectory_supersedes_the_unexecuted_one():
    book = lifecycle()
    assert book.open_episode(1.0, 10, NAMES, TIMES, POSITIONS) == []
    first = book.open[10]
    assert (first.state, first.rate, first.opened_at, first.names) == ('predicted', 10.0, 1.0,
                                                                       NAMES)
    assert book.open_episode(2.0, 20, NAMES, TIMES, POSITIONS) == [first]
    assert list(book.open) == [20] and first.execution == ''
    book.replay_state(3.0, state('moving', 20, duration_s=1.0), 5)
    assert book.open_episode(4.0, 30, NAMES, TIMES, POSITIONS) == []  # 20 executes: kept
    assert list(book.open) == [20, 30] and book.recording is book.open[20]


@pytest.mark.parametrize('times', [TIMES[:1], np.array([0.0, 0.0, 0.1])])
def test_a_trajectory_without_a_frame_rate_opens_nothing(times):
    book = lifecycle()
    book.open_episode(1.0, 10, NAMES, TIMES, POSITIONS)
    with pytest.raises(VagError, match='>= 2 increasing points'):
        book.open_episode(2.0, 20, NAMES, times, POSITIONS[:len(times)])
    assert list(book.open) == [10]  # not superseded


def test_annotations_go_to_the_episode_they_name_or_the_next_one():
    book = lifecycle()
    assert book.annotate(json.dumps({'task': 'pick', 'seed': 3})) == ''
    assert book.annotate(json.dumps({'episode_stamp_ns': 20, 'success': True})) == ''
    book.open_episode(1.0, 10, NAMES, TIMES, POSITIONS)
    assert book.open[10].annotation == {'task': 'pick', 'seed': 3}
    assert book.next_annotation == {}
    assert book.annotate(json.dumps({'episode_stamp_ns': 10, 'seed': 4})) == ''
    assert book.open[10].annotation == {'task': 'pick', 'seed': 4}
    book.open_episode(2.0, 20, NAMES, TIMES, POSITIONS)
    assert book.open[20].annotation == {'success': True}  # given before it opened


def test_malformed_annotations_are_rejected_with_the_reason():
    book = lifecycle()
    assert book.annotate('[1, 2]') == ("recorder: annotation '[1, 2]' is not a JSON object: "
                                       'expected a JSON object')
    assert book.annotate('{oops').startswith("recorder: annotation '{oops' is not a JSON "
                                             'object: Expecting property name')
    for stamp in ('12', True, 1.5):
        assert book.annotate(json.dumps({'episode_stamp_ns': stamp, 'task': 'x'})) == (
            f'recorder: annotation episode_stamp_ns {stamp!r} is not an integer')
    assert book.next_annotation == {} and book.annotations == {}


def test_the_replay_s_states_move_the_episode_and_are_kept():
    book = lifecycle(settle_s=0.5)
    book.open_episode(1.0, 10, NAMES, TIMES, POSITIONS)
    episode = book.open[10]
    assert book.replay_state(2.0, state('validated', 10), 111) == ''
    assert episode.state == 'predicted' and book.recording is None
    assert book.replay_state(3.0, state('moving', 10, duration_s=4.0), 222) == ''
    assert (episode.state, episode.started_at, book.recording) == ('executing', 3.0, episode)
    assert episode.deadline == 3.0 + 4.0 + 0.5 + MOTION_GRACE_S
    assert book.replay_state(5.0, state('done', 10), 333) == ''
    assert (episode.state, episode.ended_at, episode.execution) == ('ended', 5.0, 'done')
    assert book.replay_state(5.1, state('stopped', 10), 444) == ''
    assert episode.execution == 'done'  # the first terminal state counts
    assert [s for s, _ in episode.replay_states] == [111, 222, 333, 444]
    assert json.loads(episode.replay_states[1][1])['duration_s'] == 4.0
    assert book.replay_state(6.0, state('moving', 99), 555) == ''  # not an open episode
    assert book.replay_state(6.0, '{"state": "done"}', 0) == (
        'recorder: replay state \'{"state": "done"}\' is not {"state", "episode_stamp_ns"}')


@pytest.mark.parametrize('states, open_until, execution', [
    ([], 10.0, ''),                                                   # never executed
    ([(1.0, 'rejected', {})], 4.0, 'rejected'),                       # rejected_wait_s
    ([(1.0, 'moving', {'duration_s': 1.0}), (2.0, 'done', {})], 2.5, 'done'),  # settle_s
    ([(1.0, 'moving', {'duration_s': 1.0})], 1.0 + 1.0 + 0.5 + MOTION_GRACE_S,
     'unfinished'),                                                   # no end state came
    ([(1.0, 'moving', {})], 21.0, 'unfinished'),                      # max_execution_s
])
def test_an_episode_closes_when_its_time_is_up(states, open_until, execution):
    book = lifecycle(settle_s=0.5, execution_wait_s=10.0, rejected_wait_s=3.0,
                     max_execution_s=20.0)
    book.open_episode(0.0, 1, NAMES, TIMES, POSITIONS)
    for at, name, details in states:
        book.replay_state(at, state(name, 1, **details), 0)
    assert book.due(open_until - 0.01) == [] and list(book.open) == [1]
    closed = book.due(open_until)
    assert [(e.stamp_ns, e.execution) for e in closed] == [(1, execution)]
    assert book.open == {} and book.recording is None


def test_a_rejected_episode_may_still_execute():
    book = lifecycle(rejected_wait_s=3.0)
    book.open_episode(0.0, 7, NAMES, TIMES, POSITIONS)
    book.replay_state(1.0, state('rejected', 7), 0)
    assert book.open[7].execution == 'rejected' and book.due(3.9) == []
    book.replay_state(2.0, state('moving', 7, duration_s=1.0), 0)  # validated again
    assert book.due(4.0) == [] and book.recording is book.open[7]


def test_closing_all_marks_a_motion_cut_short():
    book = lifecycle()
    book.open_episode(0.0, 1, NAMES, TIMES, POSITIONS)
    book.replay_state(1.0, state('moving', 1, duration_s=5.0), 0)
    book.open_episode(2.0, 2, NAMES, TIMES, POSITIONS)
    closed = book.close_all()
    assert [(e.stamp_ns, e.execution) for e in closed] == [(1, 'interrupted'), (2, '')]
    assert book.open == {} and book.recording is None


def test_only_the_executing_episode_records_and_within_bounds():
    book = lifecycle(max_buffered_frames=2)
    book.record_joint_state(1, np.zeros(2))
    book.record_camera('frame')
    book.open_episode(0.0, 1, NAMES, TIMES, POSITIONS)
    book.record_camera('frame')
    episode = book.open[1]
    assert episode.joints == [] and episode.camera == []  # not executing
    book.replay_state(1.0, state('moving', 1), 0)
    for k in range(300):
        book.record_joint_state(k, np.full(2, k))
        book.record_camera(f'frame {k}')
    assert [s for s, _ in episode.joints] == list(range(200))  # 100 x max_buffered_frames
    assert episode.camera == ['frame 0', 'frame 1']


def test_annotations_for_episodes_not_open_yet_are_bounded():
    book = lifecycle()
    for stamp in range(1, 71):
        book.annotate(json.dumps({'episode_stamp_ns': stamp, 'seed': stamp}))
    assert list(book.annotations) == list(range(7, 71))  # the newest 64


def test_trim_keeps_the_newest():
    mapping = {k: k for k in range(70)}
    trim(mapping)
    assert list(mapping) == list(range(6, 70))
