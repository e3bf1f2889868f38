"""Helpers of the ROS tests: spinning with timeouts, the micro model config."""

import micro_model
from vag_ros.ros.spin import spin_for, spin_until  # noqa: F401  (the tests' names for them)


def micro_config():
    """The shared micro config: exact patch codec (nothing to fit), 2 steps, D = 7."""
    from vag_ros.model.config import CodecConfig
    return micro_model.micro_config(num_steps=2,
                                    codec=CodecConfig(kind='patch', spatial_factor=8))
