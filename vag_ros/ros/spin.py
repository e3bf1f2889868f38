"""The ``main()`` of every node: init, build, spin until Ctrl-C, clean shutdown."""

import sys
import typing

import rclpy

from vag_ros.errors import VagError


def run_node(node_class: typing.Callable, args=None,
             start: typing.Optional[typing.Callable] = None,
             stop: typing.Optional[typing.Callable] = None) -> None:
    """Spin one node; a configuration error at construction exits with code 2."""
    rclpy.init(args=args)
    try:
        node = node_class()
    except VagError as exc:
        print(f'{node_class.__name__}: {exc}', file=sys.stderr)
        rclpy.try_shutdown()
        raise SystemExit(2)
    try:
        if start is not None:
            start(node)
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        if stop is not None:
            stop(node)
        node.destroy_node()
        rclpy.try_shutdown()
