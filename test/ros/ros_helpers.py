"""Helpers of the ROS tests: spinning with timeouts, the micro model config."""

import time

import micro_model


def spin_until(executor, predicate, timeout: float = 10.0) -> bool:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout`` s pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.02)
    return bool(predicate())


def spin_for(executor, seconds: float) -> None:
    """Spin ``executor`` for ``seconds``."""
    spin_until(executor, lambda: False, seconds)


def micro_config():
    """The shared micro config: exact patch codec (nothing to fit), 2 steps, D = 7."""
    from vag_ros.model.config import CodecConfig
    return micro_model.micro_config(num_steps=2,
                                    codec=CodecConfig(kind='patch', spatial_factor=8))
