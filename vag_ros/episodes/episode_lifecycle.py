"""Which generated episodes the recorder holds open, which one is executing, when each closes.

An episode (identity: the stamp of its predicted frame 0, ns) opens when its trajectory
arrives, superseding the ones nobody executed. The replay's states move it: ``moving``
makes it the one recording (/joint_states and camera frames), until ``settle_s`` after a
terminal state or, without one, the motion's duration + ``settle_s`` + ``MOTION_GRACE_S``
(a replay that died) or ``max_execution_s``. Unexecuted, it closes after
``execution_wait_s``, or ``rejected_wait_s`` after the replay rejected it. Annotations (task,
seed, success...) go to the episode they name, or to the next one. A closed episode leaves
the book; the recorder writes it. Times are passed in (monotonic s); no ROS here.
"""

import dataclasses
import json
import math
import typing

import numpy as np

from vag_ros.errors import VagError

# an executing episode ends this long after its motion should have (no end state came) [s]
MOTION_GRACE_S = 2.0


@dataclasses.dataclass
class OpenEpisode:
    """An open episode, touched only by the executor's callbacks."""

    stamp_ns: int
    names: typing.Tuple[str, ...]
    positions: np.ndarray          # (T, D) predicted, robot order of ``names``
    rate: float                    # [Hz]
    opened_at: float               # monotonic [s]
    annotation: dict = dataclasses.field(default_factory=dict)
    state: str = 'predicted'       # predicted | executing | ended
    started_at: float = 0.0        # monotonic [s] of 'moving'; 0: never executed
    deadline: float = math.inf     # monotonic [s]: stop recording an unfinished motion
    rejected_at: float = math.inf  # monotonic [s] of the replay's newest rejection
    ended_at: float = 0.0
    execution: str = ''            # the replay's terminal state, e.g. done / stopped
    joints: list = dataclasses.field(default_factory=list)   # [(stamp ns, (D,))]
    camera: list = dataclasses.field(default_factory=list)   # [camera messages]
    replay_states: list = dataclasses.field(default_factory=list)  # [(stamp ns, json)]


class EpisodeLifecycle:
    """The recorder's open episodes, from trajectory to close; no ROS here.

    ``config``: the RecorderNodeConfig fields settle_s, execution_wait_s, rejected_wait_s,
    max_execution_s and max_buffered_frames; ``terminal_states``: the replay states after
    which no more motion follows for an episode.
    """

    def __init__(self, config, terminal_states: typing.Collection[str]):
        self.config = config
        self.terminal_states = tuple(terminal_states)
        self.open: typing.Dict[int, OpenEpisode] = {}
        self.recording: typing.Optional[OpenEpisode] = None  # executing or settling
        self.next_annotation: dict = {}
        self.annotations: typing.Dict[int, dict] = {}   # by stamp, before the episode

    def open_episode(self, now: float, stamp: int, names: typing.Sequence[str],
                     times: np.ndarray, positions: np.ndarray) -> typing.List[OpenEpisode]:
        """The trajectory (times (T,), positions (T, D)) of episode ``stamp`` arrived: open
        it; the episodes it supersedes (predicted, never executed) are closed and returned.
        VagError (nothing changes) when it gives no frame rate."""
        if len(times) < 2 or times[1] <= times[0]:
            raise VagError('trajectory needs >= 2 increasing points to give a frame rate')
        superseded = [e for e in self.open.values() if e.state == 'predicted']
        for other in superseded:
            self.close(other)
        episode = OpenEpisode(stamp, tuple(names), positions, 1.0 / float(times[1] - times[0]),
                              now)
        episode.annotation.update(self.next_annotation)
        episode.annotation.update(self.annotations.pop(stamp, {}))
        self.next_annotation = {}
        self.open[stamp] = episode
        return superseded

    def annotate(self, text: str) -> str:
        """An annotation (JSON object; ``episode_stamp_ns`` names its episode, else the
        next one takes it); why it is rejected, or ''."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError('expected a JSON object')
        except ValueError as exc:
            return f'recorder: annotation {text[:80]!r} is not a JSON object: {exc}'
        stamp = data.pop('episode_stamp_ns', None)
        if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int)):
            return f'recorder: annotation episode_stamp_ns {stamp!r} is not an integer'
        if stamp is None:
            self.next_annotation.update(data)
        elif int(stamp) in self.open:
            self.open[int(stamp)].annotation.update(data)
        else:
            self.annotations.setdefault(int(stamp), {}).update(data)
            trim(self.annotations)
        return ''

    def replay_state(self, now: float, text: str, received_ns: int) -> str:
        """The replay's state (JSON ``{"state", "episode_stamp_ns", "duration_s"?}``),
        received at ``received_ns`` (the node's clock); why it is rejected, or ''."""
        try:
            data = json.loads(text)
            stamp, state = int(data['episode_stamp_ns']), str(data['state'])
        except (ValueError, KeyError, TypeError, OverflowError):
            return (f'recorder: replay state {text[:80]!r} is not '
                    '{"state", "episode_stamp_ns"}')
        episode = self.open.get(stamp)
        if episode is None:
            return ''
        episode.replay_states.append((received_ns, text))
        if state == 'moving' and episode.state == 'predicted':
            episode.state, episode.started_at = 'executing', now
            duration = data.get('duration_s')
            if isinstance(duration, (int, float)) and math.isfinite(duration):
                episode.deadline = now + duration + self.config.settle_s + MOTION_GRACE_S
            self.recording = episode
        elif state == 'rejected' and episode.state == 'predicted':
            # the operator may move the arm to the start and validate it again: the episode
            # stays open for rejected_wait_s (or until the next trajectory)
            episode.execution, episode.rejected_at = 'rejected', now
        elif state in self.terminal_states and episode.state != 'ended':
            episode.state, episode.ended_at, episode.execution = 'ended', now, state
        return ''

    def record_joint_state(self, stamp_ns: int, positions: np.ndarray) -> None:
        """Measured joints (D,) for the executing episode (a bounded number)."""
        episode = self.recording
        if episode is not None and len(episode.joints) < 100 * self.config.max_buffered_frames:
            episode.joints.append((stamp_ns, positions))

    def record_camera(self, msg) -> None:
        """A camera frame for the executing episode (a bounded number)."""
        episode = self.recording
        if episode is not None and len(episode.camera) < self.config.max_buffered_frames:
            episode.camera.append(msg)

    def due(self, now: float) -> typing.List[OpenEpisode]:
        """Close and return the episodes whose time is up: settled after their end, never
        executed (or rejected) for too long, or executing past their deadline
        (``execution`` 'unfinished')."""
        cfg, closed = self.config, []
        for episode in list(self.open.values()):
            if episode.state == 'ended' and now - episode.ended_at >= cfg.settle_s \
                    or episode.state == 'predicted' and (
                        now - episode.opened_at >= cfg.execution_wait_s
                        or now - episode.rejected_at >= cfg.rejected_wait_s):
                closed.append(episode)
            elif episode.state == 'executing' and (
                    now - episode.started_at >= cfg.max_execution_s
                    or now >= episode.deadline):
                episode.execution = 'unfinished'
                closed.append(episode)
            else:
                continue
            self.close(episode)
        return closed

    def close_all(self) -> typing.List[OpenEpisode]:
        """Close and return every open episode (shutdown); one cut mid-motion is
        ``execution`` 'interrupted'."""
        closed = list(self.open.values())
        for episode in closed:
            if episode.state == 'executing':  # cut mid-motion: not a finished execution
                episode.execution = 'interrupted'
            self.close(episode)
        return closed

    def close(self, episode: OpenEpisode) -> None:
        """The episode leaves the book (and stops recording)."""
        self.open.pop(episode.stamp_ns, None)
        if self.recording is episode:
            self.recording = None


def trim(mapping: dict, keep: int = 64) -> None:
    """Forget the oldest entries of an insertion-ordered dict."""
    for key in list(mapping)[:-keep]:
        del mapping[key]
