"""Requests and their results between clients and the nodes (pure: no rclpy here).

A request is a std_msgs/String on /vag/instruction: plain text, or a JSON object
``{"instruction": ..., "request_id": ...}`` when the client wants to name it. Each request
gets an id (the client's, else ``<generator>-req-<n>``) and every step of its life is one
JSON ``RequestResult`` on /vag/request_result (std_msgs/String): the generator says
``accepted`` / ``rejected`` / ``generated`` / ``failed``, the replay node says
``validated`` / ``rejected`` / ``dry_run`` / ``moving`` / ``done`` / ``stopped`` /
``cancelled`` / ``shutdown`` for the episode the request produced. /vag/status is for
people; this topic is for programs.
"""

import dataclasses
import json

from vag_ros.errors import VagError

REQUEST_RESULT_TOPIC = '/vag/request_result'
MAX_REQUEST_ID_LENGTH = 128


class RequestError(VagError):
    """A request message that cannot be read."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One generation request as a client sent it."""

    instruction: str
    request_id: str = ''  # '' = the generator names it


@dataclasses.dataclass(frozen=True)
class RequestResult:
    """One step of a request's life, from the node that took it."""

    request_id: str
    state: str                 # accepted | rejected | generated | failed | validated | ...
    node: str                  # the node reporting
    reason: str = ''           # why, for rejected / failed / stopped
    episode_id: str = ''       # the generator's episode, e.g. vag_generator-<stamp>
    episode_stamp_ns: int = 0  # the episode's identity on every topic (frame 0's stamp)
    instruction: str = ''      # generator results: the request's text
    details: dict = dataclasses.field(default_factory=dict)  # seed, frames, fps, timings...

    def to_json(self) -> str:
        """The message text."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> 'RequestResult':
        """Parse a message; RequestError if it is not one."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError('expected a JSON object')
            known = {f.name for f in dataclasses.fields(cls)}
            result = cls(**{k: v for k, v in data.items() if k in known})
            for name in ('request_id', 'state', 'node', 'reason', 'episode_id',
                         'instruction'):
                if not isinstance(getattr(result, name), str):
                    raise TypeError(f'{name} must be a string')
            if isinstance(result.episode_stamp_ns, bool) or \
                    not isinstance(result.episode_stamp_ns, int):
                raise TypeError('episode_stamp_ns must be an integer')
            if not isinstance(result.details, dict):
                raise TypeError('details must be an object')
        except (ValueError, TypeError) as exc:
            raise RequestError(f'request result {text[:80]!r}: {exc}') from None
        return result


def parse_request(text: str) -> Request:
    """A /vag/instruction message: plain text, or JSON with instruction and request_id."""
    if not isinstance(text, str):
        raise RequestError(f'request must be text, got {type(text).__name__}')
    if not text.lstrip().startswith('{'):
        return Request(text)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RequestError(f'request looks like JSON but is not: {exc}') from None
    if not isinstance(data, dict) or not isinstance(data.get('instruction'), str):
        raise RequestError('a JSON request needs "instruction" (a string) and may have '
                           '"request_id"')
    request_id = data.get('request_id', '')
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool) \
            or len(str(request_id)) > MAX_REQUEST_ID_LENGTH:
        raise RequestError(f'request_id {request_id!r}: expected a string or integer of at '
                           f'most {MAX_REQUEST_ID_LENGTH} characters')
    unknown = sorted(set(data) - {'instruction', 'request_id'})
    if unknown:
        raise RequestError(f'unknown request field(s) {unknown}; expected "instruction" and '
                           '"request_id"')
    return Request(data['instruction'], str(request_id))
