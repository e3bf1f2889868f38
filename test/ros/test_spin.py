"""run_node's way out: every publisher's last messages reach reliable subscribers first."""

import pytest

rclpy = pytest.importorskip('rclpy')


def test_flush_publishers_waits_for_the_reliable_subscribers(ros_context):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    from vag_ros.ros.spin import flush_publishers, spin_until
    talker = Node('flush_talker', context=ros_context)
    listener = Node('flush_listener', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(listener)
    heard = []
    try:
        publisher = talker.create_publisher(String, 'flush_test', 10)  # reliable
        listener.create_subscription(String, 'flush_test', lambda m: heard.append(m.data), 10)
        assert spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10.0)
        for k in range(3):
            publisher.publish(String(data=f'last {k}'))
        assert flush_publishers(talker, 5.0)
        talker.destroy_node()  # the talker goes; what it published still arrives
        talker = None
        assert spin_until(executor, lambda: len(heard) == 3, 10.0)
        assert heard == ['last 0', 'last 1', 'last 2']
        # the wait is bounded: no time left, no wait (and no claim that all were acked)
        other = Node('flush_other', context=ros_context)
        assert not flush_publishers(other, 0.0)
        other.destroy_node()
    finally:
        if talker is not None:
            talker.destroy_node()
        executor.shutdown()
        listener.destroy_node()
