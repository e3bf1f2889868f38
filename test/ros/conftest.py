"""Real rclpy over loopback DDS: one isolated domain id and context per test module."""

import itertools
import os

import pytest

rclpy = pytest.importorskip('rclpy')

_MODULES = itertools.count()


def domain_id() -> int:
    """A domain id from the pid (and module), so parallel runs do not hear each other."""
    return 1 + (os.getpid() * 7 + next(_MODULES)) % 200


@pytest.fixture(scope='module')
def ros_context():
    """An initialised rclpy Context on an isolated ROS_DOMAIN_ID."""
    os.environ['ROS_DOMAIN_ID'] = str(domain_id())
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=int(os.environ['ROS_DOMAIN_ID']))
    yield context
    rclpy.shutdown(context=context)


@pytest.fixture(scope='module')
def micro_checkpoint(tmp_path_factory):
    """A random-weight micro checkpoint folder."""
    torch = pytest.importorskip('torch')
    from vag_ros.model.checkpoint import save_checkpoint
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.vag import VagModel
    from vag_ros.robot.description import load_robot_description
    from ros_helpers import micro_config
    config = micro_config()
    torch.manual_seed(0)
    model = VagModel(config)
    return save_checkpoint(tmp_path_factory.mktemp('ckpt'), model, config,
                           ActionNormalizer.identity(config.action.dim),
                           robot=load_robot_description())
