"""/vag/status: one DiagnosticStatus per node with state, progress, timings, last error."""

import typing

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from vag_ros.episodes.topics import STATUS_TOPIC
from vag_ros.ros.qos import LATCHED

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


class StatusPublisher:
    """Publish a node's state on /vag/status; remembers the last error until cleared."""

    def __init__(self, node, hardware_id: str = 'vag_ros', topic: str = STATUS_TOPIC,
                 lifecycle: bool = False):
        create = node.create_lifecycle_publisher if lifecycle else node.create_publisher
        self._node = node
        self._publisher = create(DiagnosticArray, topic, LATCHED)   # late joiners: latest
        self.name = node.get_fully_qualified_name()
        self.hardware_id = hardware_id
        self.state = 'starting'
        self.last_error = ''

    def publish(self, state: str, message: str = '', level: bytes = OK,
                progress: typing.Optional[float] = None,
                timings: typing.Optional[typing.Mapping[str, float]] = None,
                error: typing.Optional[str] = None, **values) -> DiagnosticArray:
        """Publish one status; ``error`` (also logged) becomes the remembered last error."""
        self.state = state
        if error:
            self.last_error = error
            if level == OK:
                level = ERROR
            # separate call sites: rclpy fixes a call site's severity on first use
            if level == ERROR:
                self._node.get_logger().error(error)
            else:
                self._node.get_logger().warning(error)
        pairs = [('state', state), ('last_error', self.last_error)]
        if progress is not None:
            pairs.append(('progress', f'{progress:.3f}'))
        for key, seconds in (timings or {}).items():
            pairs.append((f'timing.{key}_s', f'{seconds:.4f}'))
        pairs += [(k, str(v)) for k, v in values.items()]
        status = DiagnosticStatus(
            level=level, name=self.name, message=message or error or state,
            hardware_id=self.hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in pairs])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(msg)
        return msg

    def error(self, state: str, error: str, **values) -> DiagnosticArray:
        """Publish an ERROR status carrying ``error``."""
        return self.publish(state, level=ERROR, error=error, **values)

    def warn(self, state: str, error: str, **values) -> DiagnosticArray:
        """Publish a WARN status (a rejected request: the node keeps running)."""
        return self.publish(state, level=WARN, error=error, **values)


def status_values(status: DiagnosticStatus) -> typing.Dict[str, str]:
    """{key: value} of one DiagnosticStatus, plus its 'message' and 'level'."""
    values = {kv.key: kv.value for kv in status.values}
    values['message'] = status.message
    level = status.level
    values['level'] = str(level[0] if isinstance(level, (bytes, bytearray)) else level)
    return values
