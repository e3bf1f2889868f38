"""A client that subscribes after a node started still learns what is true now: /vag/status
and the replay's state are kept for late joiners (transient local), on real rclpy."""

import json

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile

from diagnostic_msgs.msg import DiagnosticArray  # noqa: I100
from std_msgs.msg import String

from ros_helpers import spin_until  # noqa: I100
from vag_ros.robot.replay_events import Report
from vag_ros.ros.qos import LATCHED
from vag_ros.ros.replay_node import ReplayNode
from vag_ros.ros.status import status_values

pytestmark = pytest.mark.ros


def test_a_late_dashboard_learns_the_replay_is_up_and_in_dry_run(ros_context):
    import rclpy
    replay = ReplayNode(context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(replay)
    try:
        replay._state(Report('dry_run', 'validated, not moved (dry run)', 123))
        spin_until(executor, lambda: False, 0.5)      # started, status and a state published
        dashboard = rclpy.create_node('late_dashboard', context=ros_context)
        executor.add_node(dashboard)
        latched, volatile = [], []
        dashboard.create_subscription(DiagnosticArray, '/vag/status', latched.append, LATCHED)
        dashboard.create_subscription(DiagnosticArray, '/vag/status', volatile.append,
                                      QoSProfile(depth=10))
        states = []
        dashboard.create_subscription(String, replay.config.state_topic,
                                      lambda m: states.append(json.loads(m.data)), LATCHED)
        assert spin_until(executor, lambda: any(
            s.name.endswith('vag_replay') for m in latched for s in m.status), 10.0)
        status = [s for m in latched for s in m.status if s.name.endswith('vag_replay')][-1]
        assert status_values(status)['dry_run'] == 'True'
        assert volatile == []                           # nothing new was published
        assert spin_until(executor, lambda: bool(states), 10.0)
        assert (states[-1]['state'], states[-1]['episode_stamp_ns']) == ('dry_run', 123)
        dashboard.destroy_node()
    finally:
        replay.destroy_node()
