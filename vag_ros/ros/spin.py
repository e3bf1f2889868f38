"""The ``main()`` of every node: init, build, spin until a signal, stop, clean shutdown.

rclpy's own signal handlers shut the context down the moment SIGINT or SIGTERM arrives, so
a node could no longer publish its stop (the replay's hold) on the way out. Here the
handlers only ask the spin loop to end; the node's ``stop`` runs while the context is still
valid, then the node is destroyed and the context shut down. An exception escaping a
callback takes the same path (the stop first), then exits 1 with the traceback.
"""

import signal
import sys
import threading
import time
import traceback
import typing

import rclpy
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from vag_ros.errors import VagError

SPIN_PERIOD_S = 0.1  # how often the loop looks at the stop flag [s]
STOP_SPIN_S = 2.0    # longest wait for a stop request's answer on the way out [s]
FLUSH_S = 1.0        # longest wait, all publishers together, for their last messages [s]


def spin_until(executor, predicate: typing.Callable[[], bool], timeout: float = 10.0,
               period: float = 0.02) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout`` s pass; the last answer."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        executor.spin_once(timeout_sec=period)
    return bool(predicate())


def spin_for(executor, seconds: float) -> None:
    """Spin ``executor`` for ``seconds``."""
    spin_until(executor, lambda: False, seconds)


def flush_publishers(node, timeout_s: float = FLUSH_S) -> bool:
    """Wait until reliable subscribers acknowledged every publisher's messages (the last
    state, e.g. 'shutdown'), at most ``timeout_s`` in all; True when all were.

    A node that exits right after publishing can otherwise take its last message with it.
    """
    end = time.monotonic() + timeout_s
    acked = True
    for publisher in list(node.publishers):
        left = end - time.monotonic()
        if left <= 0:
            return False
        acked = publisher.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))) and acked
    return acked


def run_node(node_class: typing.Callable, args=None,
             start: typing.Optional[typing.Callable] = None,
             stop: typing.Optional[typing.Callable] = None) -> None:
    """Spin one node; a configuration error at construction exits with code 2."""
    stopping = threading.Event()
    previous = {}
    # SIGHUP: the terminal or ssh session that started the node went away, unless nohup
    # ignores it on purpose (SIGINT is handled even where a shell's background job ignores it)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if number != signal.SIGHUP or signal.getsignal(number) is not signal.SIG_IGN:
            previous[number] = signal.signal(number, lambda *_: stopping.set())
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = node_class()
    except VagError as exc:
        print(f'{node_class.__name__}: {exc}', file=sys.stderr)
        rclpy.try_shutdown()
        raise SystemExit(2)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    code = 0
    try:
        if start is not None:
            start(node)
        while not stopping.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_PERIOD_S)
    except KeyboardInterrupt:
        pass
    except Exception:  # the stop still goes out; then the traceback and exit 1
        traceback.print_exc()
        code = 1
    finally:
        try:
            if stop is not None:
                stop(node)
                # a stop that is a request (an action goal or cancel) needs its answer
                stopping_node = getattr(node, 'stopping', lambda: False)
                spin_until(executor, lambda: not stopping_node(), STOP_SPIN_S, period=0.05)
            flush_publishers(node)
        finally:
            executor.remove_node(node)
            node.destroy_node()
            executor.shutdown()
            rclpy.try_shutdown()
            for number, handler in previous.items():
                signal.signal(number, handler)
    if code:
        raise SystemExit(code)
