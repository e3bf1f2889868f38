"""Messages judged on when they arrived, not on when the executor got to them.

rclpy's executor runs one callback at a time, ready timers before ready subscriptions. After
a process was starved of CPU, a check of "how old is the newest joint state (or frame)" in a
timer or another callback would see the last message *processed* while fresh ones wait on
the subscription (issue 29: a motion stopped as stale while the cell published at 100 Hz).
``subscribe_with_arrival`` hands a callback each message with its arrival time in the
middleware (the message info's receive time, on ``time.monotonic``'s clock), and
``take_waiting`` feeds the messages waiting on a subscription before such a check.
"""

import time
import typing

QUEUE_DEPTH = 10   # the most messages a check takes, so that a flood cannot hold it


def passes_message_info() -> bool:
    """Whether this rclpy hands a two-argument subscription callback the message info
    (Iron and later; Humble's calls every callback with the message alone)."""
    from rclpy.subscription import Subscription
    return hasattr(Subscription, 'CallbackType')


def arrived_at(info: typing.Optional[typing.Mapping], now: float) -> float:
    """Monotonic time [s] at which a message arrived: ``now`` less how long it waited since
    the middleware received it (``info['received_timestamp']``, system clock ns); ``now``
    when the middleware gives no receive time. Never later than ``now``."""
    received_ns = info.get('received_timestamp', 0) if info else 0
    if not received_ns:
        return now
    return now - max(time.time_ns() - received_ns, 0) * 1e-9


def subscribe_with_arrival(node, msg_type, topic: str,
                           callback: typing.Callable[[typing.Any, float], None],
                           depth: int = QUEUE_DEPTH):
    """``node``'s subscription whose ``callback(msg, arrived_s)`` gets each message's
    arrival time (``arrived_at``; where rclpy passes no message info, the time it ran)."""
    if passes_message_info():
        def on_message(msg, info):
            callback(msg, arrived_at(info, time.monotonic()))
    else:
        def on_message(msg):
            callback(msg, time.monotonic())
    return node.create_subscription(msg_type, topic, on_message, depth)


def take_waiting(subscription, callback: typing.Callable[[typing.Any, float], None],
                 limit: int = QUEUE_DEPTH) -> int:
    """Feed ``callback(msg, arrived_s)`` the messages that arrived on ``subscription`` but
    still wait for the executor, oldest first, at most ``limit``; how many. Call it on the
    executor's thread (the take is the one rclpy's executor makes)."""
    taken_count = 0
    with subscription.handle:
        for _ in range(limit):
            taken = subscription.handle.take_message(subscription.msg_type, subscription.raw)
            if taken is None:
                break
            msg, info = taken if isinstance(taken, tuple) else (taken, None)
            callback(msg, arrived_at(info, time.monotonic()))
            taken_count += 1
    return taken_count
