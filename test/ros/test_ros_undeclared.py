"""A parameter a node does not declare is not silently dropped: the replay refuses to start
(a typo such as dryrun:=false must not run it with the defaults), the others warn."""

import pytest
from rclpy.parameter import Parameter

from vag_ros.errors import ConfigError
from vag_ros.ros.capture_node import CaptureNode
from vag_ros.ros.parameters import undeclared_overrides
from vag_ros.ros.replay_node import ReplayNode

pytestmark = pytest.mark.ros


@pytest.mark.parametrize('name', ['dryrun', 'safety.start_tolerance'])
def test_the_replay_refuses_a_parameter_it_does_not_have(ros_context, name):
    with pytest.raises(ConfigError, match=name.replace('.', r'\.')):
        ReplayNode(context=ros_context, parameter_overrides=[Parameter(name, value=0.3)])


def test_the_replay_starts_with_its_own_parameters(ros_context):
    node = ReplayNode(context=ros_context, parameter_overrides=[
        Parameter('dry_run', value=True), Parameter('use_sim_time', value=False)])
    try:
        assert undeclared_overrides(node) == [] and node.config.dry_run
    finally:
        node.destroy_node()


def test_other_nodes_warn_and_run(ros_context):
    node = CaptureNode(context=ros_context, parameter_overrides=[
        Parameter('output_widht', value=64)])
    try:
        assert undeclared_overrides(node) == ['output_widht']
        assert node.config.output_width == 0          # the default: the typo changed nothing
    finally:
        node.destroy_node()
