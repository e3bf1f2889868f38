"""Scripted experts: Cartesian waypoints, per-frame damped least squares IK, joint targets.

The expert plans on a kinematic copy of the world (MuJoCo Jacobians at the tcp site) and
returns absolute joint position targets, one per frame; executing them is the world's job.
"""

import typing

import mujoco
import numpy as np
from transforms3d.quaternions import mat2quat, quat2mat

from vag_ros.errors import SimError
from vag_ros.sim.config import SimConfig
from vag_ros.sim.scene import Scene
from vag_ros.sim.tasks import DIRECTIONS, Task


GRIP_OPEN = 0.035    # finger opening target [m] (gap = 2x)
GRIP_CLOSED = 0.0
SAFE_Z = 0.12        # tcp height for moves above the blocks [m]
# A waypoint: (duration [s], tcp position (3,) [m], tool yaw [rad], finger opening [m]).
Waypoint = typing.Tuple[float, np.ndarray, float, float]


def down_rotation(yaw: float) -> np.ndarray:
    """(3, 3) tool orientation pointing straight down, turned by ``yaw`` about world z."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def grasp_yaw(block_yaw: float) -> float:
    """The tool yaw in (-pi/4, pi/4] that puts the fingers across two faces of the block."""
    return float((block_yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class IKSolver:
    """Damped least squares IK on the arm joints for the tcp site's position and orientation."""

    def __init__(self, scene: Scene, damping: float = 0.03, iterations: int = 40):
        self.scene = scene
        self.model = scene.model
        self.data = mujoco.MjData(scene.model)
        self.damping = damping
        self.iterations = iterations
        self.arm_qpos = scene.arm_qpos[:-1]  # (6,) the gripper does not help reaching
        self.arm_dof = scene.arm_dof[:-1]
        self.lower = self.model.jnt_range[:, 0][self._joint_ids()]
        self.upper = self.model.jnt_range[:, 1][self._joint_ids()]

    def _joint_ids(self) -> np.ndarray:
        return np.array([np.flatnonzero(self.model.jnt_qposadr == a)[0] for a in self.arm_qpos])

    def tcp_pose(self, q: np.ndarray) -> typing.Tuple[np.ndarray, np.ndarray]:
        """(position (3,), rotation (3, 3)) of the tcp for arm joints ``q`` (6,)."""
        self.data.qpos[self.arm_qpos] = q
        mujoco.mj_kinematics(self.model, self.data)
        site = self.scene.tcp_site
        return self.data.site_xpos[site].copy(), self.data.site_xmat[site].reshape(3, 3).copy()

    def solve(self, position, rotation, q0: np.ndarray) -> typing.Tuple[np.ndarray, float]:
        """Arm joints (6,) near ``q0`` reaching the pose; also the final error norm."""
        q = np.array(q0, dtype=float)
        jacp = np.zeros((3, self.model.nv))
        jacr = np.zeros((3, self.model.nv))
        error = np.inf
        for _ in range(self.iterations):
            pos, rot = self.tcp_pose(q)
            err_pos = np.asarray(position) - pos
            err_rot = 0.5 * np.sum(np.cross(rot.T, np.asarray(rotation).T), axis=0)
            e = np.concatenate([err_pos, 0.3 * err_rot])  # (6,) metres and weighted radians
            error = float(np.linalg.norm(e))
            if error < 1e-5:
                break
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, jacp, jacr, self.scene.tcp_site)
            jac = np.vstack([jacp[:, self.arm_dof], 0.3 * jacr[:, self.arm_dof]])  # (6, 6)
            step = jac.T @ np.linalg.solve(jac @ jac.T + self.damping ** 2 * np.eye(6), e)
            q = np.clip(q + step, self.lower, self.upper)
        return q, error


def _slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation between unit quaternions (4,), the short way round."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q = q0 + s * (q1 - q0)
        return q / np.linalg.norm(q)
    angle = np.arccos(dot)
    return (np.sin((1 - s) * angle) * q0 + np.sin(s * angle) * q1) / np.sin(angle)


def tool_yaw(rotation: np.ndarray) -> float:
    """Yaw about world z of a (3, 3) tool orientation (inverse of ``down_rotation``)."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def _least_wrist_turn(plan: typing.List[Waypoint], period: float, q0: np.ndarray,
                      start_yaw: float, ik: IKSolver) -> typing.List[Waypoint]:
    """Shift every yaw of ``plan`` by the multiple of ``period`` (the tool's symmetry for
    this task) that keeps joint6 nearest its start, so the wrist never winds to its limit."""
    base = plan[0][2]
    # Candidate yaws around the start yaw: base + k * period, within +-pi of start_yaw.
    k0 = np.round((start_yaw - base) / period)
    best, best_turn = 0.0, np.inf
    for k in np.arange(k0 - 2, k0 + 3):
        shift = float(k * period)
        q, error = ik.solve(plan[0][1], down_rotation(base + shift), q0)
        turn = abs(q[5] - q0[5]) + (np.inf if error > 1e-3 else 0.0)
        if turn < best_turn:
            best, best_turn = shift, turn
    return [(d, p, yaw + best, g) for d, p, yaw, g in plan]


def _waypoints(task: Task, config: SimConfig, start_pos: np.ndarray) -> typing.List[Waypoint]:
    """The Cartesian plan of ``task``'s expert, starting at tcp position ``start_pos``."""
    x, y, yaw = task.object_pose(task.target)
    half = config.object_size / 2
    above = np.array([x, y, SAFE_Z])
    if task.family == 'touch':
        yaw = grasp_yaw(yaw)
        contact = np.array([x, y, 2 * half + 0.012])  # fingertips 2 mm above the top face
        return [(1.2, above, yaw, GRIP_CLOSED), (0.8, contact, yaw, GRIP_CLOSED),
                (0.6, contact, yaw, GRIP_CLOSED), (0.8, above, yaw, GRIP_CLOSED)]
    if task.family == 'pick':
        yaw = grasp_yaw(yaw)
        grasp = np.array([x, y, half])
        lifted = np.array([x, y, 0.16])
        return [(1.0, above, yaw, GRIP_OPEN), (0.7, grasp, yaw, GRIP_OPEN),
                (0.5, grasp, yaw, GRIP_CLOSED), (0.9, lifted, yaw, GRIP_CLOSED)]
    if task.family == 'push':
        unit = np.array(DIRECTIONS[task.direction] + (0.0,))
        centre = np.array([x, y, half])
        behind = centre - unit * (half + 0.03)
        done = centre + unit * (config.push_distance + 0.012) - unit * (half + 0.01)
        lifted = done - unit * 0.03 + np.array([0, 0, SAFE_Z - half])
        return [(1.1, behind + [0, 0, SAFE_Z - half], 0.0, GRIP_CLOSED),
                (0.6, behind, 0.0, GRIP_CLOSED), (1.4, done, 0.0, GRIP_CLOSED),
                (0.6, lifted, 0.0, GRIP_CLOSED)]
    raise SimError(f'no expert for task family {task.family!r}')


def _smooth(s: float) -> float:
    """Smoothstep: zero velocity at both ends of a segment."""
    return s * s * (3.0 - 2.0 * s)


def plan_expert(task: Task, config: SimConfig, ik: IKSolver) -> np.ndarray:
    """Joint position targets (T, D) that carry out ``task`` from its initial joints."""
    steps, dt = config.episode_steps, 1.0 / config.frame_rate
    q = np.array(task.initial_joints[:-1], dtype=float)  # (6,)
    start_pos, start_rot = ik.tcp_pose(q)
    plan = _waypoints(task, config, start_pos)
    # A block is symmetric every 90 deg, closed fingers pushing every 180 deg.
    period = np.pi if task.family == 'push' else np.pi / 2
    start_yaw = tool_yaw(start_rot)
    plan = _least_wrist_turn(plan, period, q, start_yaw, ik)
    # Turn the wrist from the start yaw, the short way round.
    start_yaw = plan[0][2] + (start_yaw - plan[0][2] + np.pi) % (2 * np.pi) - np.pi
    start_quat = mat2quat(start_rot)
    total = sum(w[0] for w in plan)
    scale = min(1.0, (steps - 1) * dt / total)  # squeeze the plan into short episodes
    # Segment boundaries as (time, position, yaw, grip); the first is the start state.
    knots = [(0.0, start_pos, start_yaw, task.initial_joints[-1])]
    for duration, position, yaw, grip in plan:
        knots.append((knots[-1][0] + duration * scale, np.asarray(position, float), yaw, grip))
    actions = np.zeros((steps, len(task.initial_joints)))  # (T, D)
    for t in range(steps):
        time = (t + 1) * dt  # action t is the target reached by the next frame
        k = next((i for i in range(1, len(knots)) if time <= knots[i][0]), None)
        if k is None:  # the plan is over: hold its last pose
            k, s = len(knots) - 1, 1.0
        else:
            t0, t1 = knots[k - 1][0], knots[k][0]
            s = _smooth((time - t0) / max(t1 - t0, 1e-9))
        position, yaw, grip = (
            (1 - s) * np.asarray(a, float) + s * np.asarray(b, float)
            for a, b in zip(knots[k - 1][1:], knots[k][1:]))
        rotation = down_rotation(float(yaw))
        if k == 1:  # first segment: tilt from the start orientation, no jump at frame 0
            rotation = quat2mat(_slerp(start_quat, mat2quat(rotation), s))
        q, _ = ik.solve(position, rotation, q)
        actions[t, :-1] = q
        actions[t, -1] = float(grip)
    return actions
