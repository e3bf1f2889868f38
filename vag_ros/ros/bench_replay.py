"""Streaming benchmark: vag_replay in its own process -> a forward controller's topic, timed by
a third process (``vag_ros.ros.command_listener``).

This process plays the controller: it publishes /joint_states at 200 Hz at the newest
command (an ideal position controller, so the replay node's watchdogs stay quiet), sends a
smooth 4 s trajectory, arms and executes. The listener's receive times give the rate and
the interval jitter; its values, the command curve's continuity.
"""

import json
import os
from pathlib import Path
import random
import subprocess
import sys
import tempfile
import typing

import numpy as np

REPLAY_CHILD = 'from vag_ros.ros import replay_node; replay_node.main()'


def interval_stats(receive_ns: typing.Sequence[int], rate_hz: float) -> dict:
    """Received rate and interval statistics [ms] of one stream."""
    t = np.asarray(receive_ns, dtype=np.float64) / 1e9  # (N,) s
    dt = np.diff(t) * 1e3                                # (N - 1,) ms
    period = 1e3 / rate_hz
    jitter = np.abs(dt - period)
    return {'commands': int(len(t)), 'received_hz': float((len(t) - 1) / (t[-1] - t[0])),
            'interval_median_ms': float(np.median(dt)), 'interval_std_ms': float(dt.std()),
            'interval_p99_ms': float(np.percentile(dt, 99)), 'interval_max_ms': float(dt.max()),
            'jitter_p99_ms': float(np.percentile(jitter, 99)),
            'jitter_max_ms': float(jitter.max())}


def continuity(commands: np.ndarray, rate_hz: float) -> dict:
    """Largest per-command change of velocity and of acceleration (finite differences)."""
    v = np.diff(commands, axis=0) * rate_hz          # (N-1, D)
    a = np.diff(v, axis=0) * rate_hz                 # (N-2, D)
    return {'max_velocity': float(np.abs(v).max()), 'max_acceleration': float(np.abs(a).max()),
            'max_acceleration_step': float(np.abs(np.diff(a, axis=0)).max())}


def run_once(rate_hz: float, duration_s: float = 4.0) -> dict:
    """One motion streamed at ``rate_hz``; the listener's figures."""
    with tempfile.TemporaryDirectory(prefix='vag-bench-replay-') as tmp:
        return _run_once(rate_hz, duration_s, Path(tmp))


def _run_once(rate_hz: float, duration_s: float, tmp: Path) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import SetBool, Trigger
    from trajectory_msgs.msg import JointTrajectory

    from vag_ros.robot.description import load_robot_description
    from vag_ros.ros.conversions import arrays_to_trajectory, make_joint_state
    from vag_ros.ros.spin import spin_for, spin_until

    robot = load_robot_description()
    start = np.array([0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02])[:robot.dof]
    domain = random.randint(100, 200)  # this benchmark's processes only
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    listener = subprocess.Popen([sys.executable, '-m', 'vag_ros.ros.command_listener',
                                 str(tmp / 'heard.json')], env=env, stdout=subprocess.PIPE,
                                text=True)
    params = ['-p', 'dry_run:=false', '-p', 'controller_mode:=forward_position',
              '-p', f'stream_rate_hz:={rate_hz}']
    log = open(tmp / 'vag_replay.log', 'w')
    replay = subprocess.Popen([sys.executable, '-c', REPLAY_CHILD, '--ros-args', *params],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node('vag_bench_controller', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    target = {'q': start.copy()}
    node.create_subscription(Float64MultiArray, '/arm_controller/commands',
                             lambda m: target.__setitem__('q', np.array(m.data)), 100)
    states = node.create_publisher(JointState, '/joint_states', 10)
    node.create_timer(0.005, lambda: states.publish(make_joint_state(
        robot.joint_names, target['q'], velocities=np.zeros(robot.dof))))
    traj_pub = node.create_publisher(JointTrajectory, '/vag/predicted_trajectory', 10)
    clients = {n: node.create_client(t, f'/vag_replay/{n}')
               for n, t in (('arm', SetBool), ('execute', Trigger), ('validate', Trigger))}

    def call(name, request):
        assert spin_until(executor, clients[name].service_is_ready, 60.0), 'no vag_replay'
        future = clients[name].call_async(request)
        assert spin_until(executor, future.done, 10.0)
        return future.result()

    try:
        listener.stdout.readline()  # 'listening'
        times = np.arange(0, duration_s + 1e-9, 0.1)    # (T,) the generator's 10 Hz
        positions = np.repeat(start[None], len(times), axis=0)
        s = 0.5 - 0.5 * np.cos(np.pi * times / duration_s)
        positions[:, 0] += 0.3 * s
        positions[:, 1] += 0.2 * s
        assert spin_until(executor, lambda: traj_pub.get_subscription_count() > 0, 60.0)
        traj_pub.publish(arrays_to_trajectory(robot.joint_names, times, positions))
        for _ in range(100):
            spin_for(executor, 0.1)
            if call('validate', Trigger.Request()).success:
                break
        assert call('arm', SetBool.Request(data=True)).success
        reply = call('execute', Trigger.Request())
        assert reply.success, f'{reply.message}; vag_replay said: ' + \
            (tmp / 'vag_replay.log').read_text()[-2000:]
        spin_until(executor, lambda: listener.poll() is not None, duration_s + 30.0)
    finally:
        replay.terminate()
        replay.wait(20)
        log.close()
        if listener.poll() is None:
            listener.terminate()
        listener.wait(20)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    heard = json.loads((tmp / 'heard.json').read_text())
    commands = np.asarray(heard['commands'])
    return {'rate_hz': rate_hz, **interval_stats(heard['receive_ns'], rate_hz),
            **continuity(commands, rate_hz)}
