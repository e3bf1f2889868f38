"""What the replay state machine decides, for the replay node to carry out, in order.

``vag_ros.robot.replay_state`` publishes and commands nothing itself: each of its steps
returns a list of these, which the node turns into a /vag/status entry (``Status``), a JSON
state on ``state_topic`` and a request result (``Report``), or a controller call
(``StartMotion``, ``SendStop``). A service's answer comes with them as an ``Outcome``. No ROS
here.
"""

import dataclasses
import typing

from vag_ros.robot.braking import Braking
from vag_ros.robot.interpolation import TrajectoryInterpolator

OK, WARN, ERROR = 'ok', 'warn', 'error'  # a Status's level


@dataclasses.dataclass(frozen=True)
class Status:
    """A /vag/status entry: ``text`` is the message (OK) or the error (WARN, ERROR)."""

    state: str
    text: str = ''
    level: str = OK
    progress: typing.Optional[float] = None  # OK only
    values: typing.Mapping[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Report:
    """The execution state of episode ``stamp`` (ns): ``state_topic`` and request result."""

    state: str
    message: str
    stamp: int
    details: typing.Mapping[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class StartMotion:
    """Hand the validated curve of episode ``stamp`` to the controller; start the motion's
    tick (and, streaming, the command stream)."""

    curve: TrajectoryInterpolator
    duration_s: float
    stamp: int


@dataclasses.dataclass(frozen=True)
class SendStop:
    """Send the braking to the controller, then wait briefly for its acknowledgement."""

    braking: Braking


Event = typing.Union[Status, Report, StartMotion, SendStop]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A service's answer (SetBool / Trigger ``success``, ``message``) and its events."""

    success: bool
    message: str
    events: typing.Tuple[Event, ...] = ()

    @property
    def started(self) -> bool:
        """True when the events start a motion."""
        return any(isinstance(e, StartMotion) for e in self.events)
