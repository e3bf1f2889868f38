"""vag_replay as its own process, as `ros2 run` starts it: every exit stops the arm first.

The mock arm and a peer run here; the replay node runs in a child process on the same
ROS domain. Mid-motion the child gets SIGINT or SIGTERM, or one of its callbacks raises:
the stop (an empty trajectory, or the last command again) must reach the controller, the
process must exit on its own, cleanly (code 0, no traceback) for a signal.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor

from std_msgs.msg import Float64MultiArray, String  # noqa: I100
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from child_signals import default_signals  # noqa: I100
from ros_helpers import spin_for, spin_until
from test_ros_replay import assert_braked, assert_braking_trajectory  # noqa: I100
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.safety_config import load_safety_config
from vag_ros.ros.conversions import arrays_to_trajectory
from vag_ros.ros.mock_arm_node import MockArmNode

LIMITS = load_safety_config().resolve(load_robot_description())  # the node's defaults

pytestmark = pytest.mark.ros

# The child: vag_replay's main(); with CRASH_AFTER_TICKS set, its motion tick raises then.
CHILD = '''
import os, sys
from vag_ros.ros import replay_node
after = int(os.environ.get('CRASH_AFTER_TICKS', '0'))
if after:
    tick = replay_node.ReplayNode._tick
    def crashing_tick(self):
        tick(self)
        if self._ticks >= after or getattr(self, '_crash_count', 0) >= after:
            raise RuntimeError('injected fault in a motion callback')
        self._crash_count = getattr(self, '_crash_count', 0) + 1
    replay_node.ReplayNode._tick = crashing_tick
replay_node.main(sys.argv[1:])
'''


class Cell:
    """Mock arm + peer here, vag_replay in a child process."""

    def __init__(self, context, mode, crash_after_ticks=0):
        import rclpy
        self.arm = MockArmNode(context=context)
        self.peer = rclpy.create_node('replay_process_peer', context=context)
        self.commands, self.trajectories, self.states = [], [], []
        base = '/arm_controller'
        self.peer.create_subscription(Float64MultiArray, base + '/commands',
                                      self.commands.append, 200)
        self.peer.create_subscription(JointTrajectory, base + '/joint_trajectory',
                                      self.trajectories.append, 10)
        self.peer.create_subscription(String, '/vag/replay/state',
                                      lambda m: self.states.append(json.loads(m.data)), 20)
        self.traj_pub = self.peer.create_publisher(JointTrajectory,
                                                   '/vag/predicted_trajectory', 10)
        self.arm_client = self.peer.create_client(SetBool, '/vag_replay/arm')
        self.execute_client = self.peer.create_client(Trigger, '/vag_replay/execute')
        self.validate_client = self.peer.create_client(Trigger, '/vag_replay/validate')
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.arm)
        self.executor.add_node(self.peer)
        env = dict(os.environ, CRASH_AFTER_TICKS=str(crash_after_ticks))
        self.process = subprocess.Popen(
            [sys.executable, '-c', CHILD, '--ros-args', '-p', 'dry_run:=false',
             '-p', f'controller_mode:={mode}'],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=default_signals())

    def call(self, client, request):
        assert spin_until(self.executor, client.service_is_ready, 60.0), 'no vag_replay'
        future = client.call_async(request)
        assert spin_until(self.executor, future.done, 10.0)
        return future.result()

    def start_motion(self):
        """Send a 4 s move of joint1, arm and execute it; wait until it is under way."""
        assert spin_until(self.executor, self.execute_client.service_is_ready, 60.0)
        start = self.arm.joints()
        times = np.linspace(0.0, 4.0, 41)
        positions = np.repeat(start[None], len(times), axis=0)
        positions[:, 0] += 0.3 * (0.5 - 0.5 * np.cos(np.pi * times / 4.0))
        names = list(self.arm.names)
        assert spin_until(self.executor,
                          lambda: self.traj_pub.get_subscription_count() > 0, 10.0)
        self.traj_pub.publish(arrays_to_trajectory(names, times, positions, stamp_ns=7))
        assert spin_until(self.executor, lambda: self.states, 10.0)
        # the child may hear the trajectory before its first /joint_states: check it again
        for _ in range(50):
            if self.call(self.validate_client, Trigger.Request()).success:
                break
            spin_for(self.executor, 0.2)
        assert self.call(self.arm_client, SetBool.Request(data=True)).success
        reply = self.call(self.execute_client, Trigger.Request())
        assert reply.success, reply.message
        assert spin_until(self.executor, lambda: len(self.commands) >= 10
                          or len(self.trajectories) >= 1, 10.0)
        spin_for(self.executor, 0.3)

    def wait_exit(self, timeout=20.0):
        """Spin here while the child exits; (return code, stderr)."""
        assert spin_until(self.executor, lambda: self.process.poll() is not None, timeout), \
            'vag_replay did not exit'
        return self.process.returncode, self.process.communicate()[1]

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        self.executor.shutdown()
        self.arm.destroy_node()
        self.peer.destroy_node()


def _joint1_after_stop(cell):
    """joint1 now and 0.8 s later: the arm must have stopped, not finished the move."""
    before = cell.arm.joints()[0]
    spin_for(cell.executor, 0.8)
    return before, cell.arm.joints()[0]


@pytest.mark.parametrize('mode, number', [
    ('joint_trajectory', signal.SIGINT), ('joint_trajectory', signal.SIGTERM),
    ('forward_position', signal.SIGTERM),
    ('joint_trajectory', signal.SIGHUP)])  # the terminal or ssh session that started it closed
def test_a_signal_mid_motion_stops_the_controller_before_the_node_goes(
        ros_context, mode, number):
    cell = Cell(ros_context, mode)
    try:
        start = cell.arm.joints()[0]
        cell.start_motion()
        cell.process.send_signal(number)
        code, stderr = cell.wait_exit()
        assert code == 0 and 'Traceback' not in stderr, stderr
        spin_for(cell.executor, 0.3)
        if mode == 'joint_trajectory':  # the motion, then the braking trajectory
            assert len(cell.trajectories) == 2
            assert_braking_trajectory(cell.trajectories[1], LIMITS)
        else:  # braked to rest within the limits, then nothing
            count = len(cell.commands)
            spin_for(cell.executor, 0.3)
            assert len(cell.commands) == count
            assert_braked(cell.commands, 50.0, LIMITS.acceleration)
        before, after = _joint1_after_stop(cell)
        assert abs(after - before) < 0.01 and after - start < 0.25  # held, not finished
        assert cell.states[-1]['state'] == 'shutdown'
    finally:
        cell.close()


def test_an_exception_in_a_callback_stops_the_controller_then_exits_1(ros_context):
    cell = Cell(ros_context, 'joint_trajectory', crash_after_ticks=40)
    try:
        cell.start_motion()
        code, stderr = cell.wait_exit()
        assert code == 1 and 'injected fault in a motion callback' in stderr
        spin_for(cell.executor, 0.3)
        assert len(cell.trajectories) == 2
        assert_braking_trajectory(cell.trajectories[1], LIMITS)
        before, after = _joint1_after_stop(cell)
        assert abs(after - before) < 0.01
    finally:
        cell.close()
