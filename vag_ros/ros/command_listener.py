"""A separate process that times the commands a forward controller would receive.

``python -m vag_ros.ros.command_listener OUT.json [TOPIC] [IDLE_S]``: records the receive time
(time.perf_counter_ns) and values of every Float64MultiArray on TOPIC, and after IDLE_S s
without one (once the first came) writes {"receive_ns": [...], "commands": [[...], ...]}.
``vag-ros bench replay`` starts it, so the measurement shares no interpreter with the node.
"""

import json
import sys
import time

import rclpy
from std_msgs.msg import Float64MultiArray


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    out = argv[0]
    topic = argv[1] if len(argv) > 1 else '/arm_controller/commands'
    idle_s = float(argv[2]) if len(argv) > 2 else 2.0
    rclpy.init()
    node = rclpy.create_node('vag_command_listener')
    stamps, commands = [], []

    def heard(msg):
        stamps.append(time.perf_counter_ns())
        commands.append(list(msg.data))

    node.create_subscription(Float64MultiArray, topic, heard, 1000)
    print('listening', flush=True)
    deadline = time.monotonic() + 600.0
    while rclpy.ok() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if stamps and time.perf_counter_ns() - stamps[-1] > idle_s * 1e9:
            break
    with open(out, 'w') as f:
        json.dump({'receive_ns': stamps, 'commands': commands}, f)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
