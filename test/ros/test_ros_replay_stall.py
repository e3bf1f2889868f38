"""A stalled replay executor (a process starved of CPU) while /joint_states keep coming.

The cell (an ideal position controller publishing /joint_states at 100 Hz, and the test's
clients) spins on a thread of its own; the replay node on the test's thread, which stops
spinning it for 0.8 s mid-motion. Joint states that arrived meanwhile wait on the
subscription: they are fresh, and the motion must not stop as stale (issue 29: rclpy runs
the ready tick before the waiting subscription). A real silence as long still stops.
"""

import json
import threading
import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from std_msgs.msg import String  # noqa: I100
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from ros_helpers import spin_until  # noqa: I100
from vag_ros.robot.description import load_robot_description
from vag_ros.ros.conversions import arrays_to_trajectory
from vag_ros.ros.foreign_cell import IdealArm
from vag_ros.ros.replay_node import ReplayNode

pytestmark = pytest.mark.ros

START = np.array([0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02])  # inside the arm's limits
STALL_S = 0.8  # > joint_state_timeout_s 0.5


class StallRig:
    """The cell on an executor thread; vag_replay spun (or not) by the test."""

    def __init__(self, context, message_info=True):
        import rclpy
        from vag_ros.ros import arrivals
        robot = load_robot_description()
        self.names = robot.joint_names
        self.cell = rclpy.create_node('stall_cell', context=context)
        self.arm = IdealArm(self.cell, self.names, START[:robot.dof], 100.0)
        self.states = []
        self.cell.create_subscription(String, '/vag/replay/state',
                                      lambda m: self.states.append(json.loads(m.data)), 50)
        self.traj_pub = self.cell.create_publisher(JointTrajectory,
                                                   '/vag/predicted_trajectory', 10)
        self.clients = {n: self.cell.create_client(t, f'/vag_replay/{n}')
                        for n, t in (('arm', SetBool), ('execute', Trigger))}
        real = arrivals.passes_message_info
        arrivals.passes_message_info = lambda: message_info   # False: as Humble's rclpy
        try:
            self.replay = ReplayNode(context=context, parameter_overrides=[
                Parameter('dry_run', value=False),
                Parameter('controller_mode', value='forward_position')])
        finally:
            arrivals.passes_message_info = real
        self.executor = SingleThreadedExecutor(context=context)  # the replay's
        self.executor.add_node(self.replay)
        self.cell_executor = SingleThreadedExecutor(context=context)
        self.cell_executor.add_node(self.cell)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin_cell, daemon=True)
        self._thread.start()

    def _spin_cell(self):
        while not self._stop.is_set():
            self.cell_executor.spin_once(timeout_sec=0.01)

    def call(self, name, request):
        future = self.clients[name].call_async(request)
        assert spin_until(self.executor, future.done, 10.0)
        return future.result()

    def start_motion(self, duration=3.0):
        """A smooth 0.3 rad move of joint1, validated, armed and executed."""
        assert spin_until(self.executor, lambda: self.replay._joints_at is not None
                          and self.traj_pub.get_subscription_count() > 0
                          and all(c.service_is_ready() for c in self.clients.values()), 10.0)
        times = np.arange(0.0, duration + 1e-9, 0.1)              # (T,)
        positions = np.repeat(START[None, :len(self.names)], len(times), axis=0)  # (T, D)
        positions[:, 0] += 0.3 * (0.5 - 0.5 * np.cos(np.pi * times / duration))
        self.traj_pub.publish(arrays_to_trajectory(self.names, times, positions))
        assert spin_until(self.executor, lambda: self.replay.pending is not None, 10.0)
        assert self.call('arm', SetBool.Request(data=True)).success
        assert self.call('execute', Trigger.Request()).success
        assert spin_until(self.executor, lambda: self.replay._ticks >= 10, 5.0)

    def stall(self, seconds=STALL_S):
        """The replay's executor does not run: callbacks and ticks wait."""
        time.sleep(seconds)

    def end(self):
        """The motion's end state (spinning the replay until it comes)."""
        assert spin_until(self.executor, lambda: self.replay._motion is None, 15.0)
        assert spin_until(self.executor, lambda: any(
            s['state'] in ('done', 'stopped') for s in self.states), 5.0)
        return next(s for s in self.states if s['state'] in ('done', 'stopped'))

    def close(self):
        self._stop.set()
        self._thread.join(5.0)
        self.executor.shutdown()
        self.cell_executor.shutdown()
        self.replay.destroy_node()
        self.cell.destroy_node()


@pytest.fixture(params=[True, False], ids=['message info', 'message only (Humble)'])
def stall_rig(ros_context, request):
    rig = StallRig(ros_context, message_info=request.param)
    yield rig
    rig.close()


def test_joint_states_queued_during_a_stall_are_fresh(stall_rig):
    stall_rig.start_motion()
    stall_rig.stall()
    end = stall_rig.end()
    assert end['state'] == 'done', end


def test_a_silence_during_a_stall_still_stops_as_stale(stall_rig):
    stall_rig.start_motion()
    stall_rig.arm.publishing = False
    stall_rig.stall()
    end = stall_rig.end()
    assert end['state'] == 'stopped' and 'joint states stale' in end['message'], end


def test_a_joint_state_counts_from_its_arrival_never_from_the_future():
    from vag_ros.ros.arrivals import arrived_at
    now, wall = 100.0, time.time_ns()
    assert arrived_at({'received_timestamp': 0}, now) == now  # no receive time: now
    assert arrived_at({}, now) == now
    waited = now - arrived_at({'received_timestamp': wall - 200_000_000}, now)
    assert 0.2 <= waited < 0.3
    assert arrived_at({'received_timestamp': wall + 10**9}, now) == now  # a clock step back
