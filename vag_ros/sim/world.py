"""The embedded world: reset a task, run its expert, replay any joint trajectory.

Clock: frame t and joints t are observed at time t / frame_rate; action t (absolute joint
position targets, arm in rad and gripper opening in m) is then held for one frame period
of physics substeps. Success is judged on the world's state after the last action.
"""

import dataclasses
import os
import typing

os.environ.setdefault('MUJOCO_GL', 'egl')  # headless rendering unless the caller chose

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from vag_ros.episodes.episode import Episode, EpisodeMetadata  # noqa: E402
from vag_ros.errors import SimError  # noqa: E402
from vag_ros.robot.description import load_robot_description, RobotDescription  # noqa: E402
from vag_ros.sim.config import SimConfig  # noqa: E402
from vag_ros.sim.expert import IKSolver, plan_expert  # noqa: E402
from vag_ros.sim.scene import build_scene, PARK_Y, TABLE_HEIGHT  # noqa: E402
from vag_ros.sim.tasks import (  # noqa: E402
    check_success, make_task as _make_task, Outcome, Task, TASK_FAMILIES)

__all__ = ['ReplayResult', 'TASK_FAMILIES', 'Task', 'World', 'make_task']


@dataclasses.dataclass
class ReplayResult:
    """What a joint trajectory did in the world."""

    frames: np.ndarray  # (T, H, W, 3) uint8, or (T, 0, 0, 3) without rendering
    joints: np.ndarray  # (T, D) measured joint positions at each frame
    success: bool
    outcome: Outcome
    segments: typing.Optional[np.ndarray] = None  # (T, H, W) int32 geom id, -1: none


def make_task(family: str, seed: int, config: typing.Optional[SimConfig] = None,
              templates: str = 'train') -> Task:
    """The seeded task of ``family``; SimError on an unknown family or a bad seed."""
    return _make_task(family, seed, config, templates)


class World:
    """A MuJoCo tabletop with the URDF arm; one instance runs one episode at a time."""

    def __init__(self, config: typing.Optional[SimConfig] = None,
                 robot: typing.Optional[RobotDescription] = None):
        self.config = config or SimConfig()
        self.robot = robot or load_robot_description(self.config.urdf_path)
        self.scene = build_scene(self.config, self.robot)
        self.model = self.scene.model
        self.data = mujoco.MjData(self.model)
        self._ik = IKSolver(self.scene)
        self._renderer = None
        self._task: typing.Optional[Task] = None
        self._outcome: typing.Optional[Outcome] = None

    @property
    def dof(self) -> int:
        """D, the length of joint and action vectors."""
        return self.robot.dof

    def make_task(self, family: str, seed: int, templates: str = 'train') -> Task:
        """The seeded task of ``family`` laid out for this world's config."""
        return _make_task(family, seed, self.config, templates)

    def close(self) -> None:
        """Free the renderer's GL context."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def reset(self, task: Task, initial_joints=None) -> None:
        """Put the blocks and the arm where ``task`` starts (or at ``initial_joints``)."""
        if not isinstance(task, Task):
            raise SimError(f'task: expected a Task from make_task, got {type(task).__name__}')
        joints = self._check_joints(
            task.initial_joints if initial_joints is None else initial_joints)
        scene, data = self.scene, self.data
        mujoco.mj_resetData(self.model, data)
        data.qpos[scene.arm_qpos] = joints
        data.qpos[list(scene.mimic_qpos)] = joints[-1]
        data.ctrl[:] = joints
        present = {o[0]: o[1:] for o in task.objects}
        for index, colour in enumerate(scene.colours):
            adr = scene.block_qpos[index]
            if colour in present:
                x, y, yaw = present[colour]
                pos = (x, y, scene.table_top_z + scene.half_size)
            else:  # parked on the floor, out of view, so that the model never changes
                pos, yaw = (0.0, PARK_Y + 0.2 * index, -TABLE_HEIGHT + scene.half_size), 0.0
            data.qpos[adr:adr + 3] = pos
            data.qpos[adr + 3:adr + 7] = (np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2))
        mujoco.mj_forward(self.model, data)
        self._task = task
        self._outcome = Outcome(start=self._block_positions(task), end={})
        self._observe_outcome()

    def joints(self) -> np.ndarray:
        """(D,) measured joint positions now."""
        return self.data.qpos[self.scene.arm_qpos].copy()

    def render(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB from the configured camera."""
        renderer = self._camera_renderer()
        renderer.update_scene(self.data, camera=self.config.camera)
        return renderer.render().copy()

    def render_segments(self) -> np.ndarray:
        """(H, W) int32: the geom seen at each pixel of the configured camera, -1 where no
        geom is (the sky); the arm's geoms are ``scene.arm_geoms``, the blocks'
        ``scene.block_geoms``."""
        renderer = self._camera_renderer()
        renderer.enable_segmentation_rendering()
        try:
            renderer.update_scene(self.data, camera=self.config.camera)
            seen = renderer.render()  # (H, W, 2): object id, object type
        finally:
            renderer.disable_segmentation_rendering()
        return np.where(seen[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seen[..., 0],
                        -1).astype(np.int32)

    def _camera_renderer(self):
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(
                    self.model, self.config.height, self.config.width)
            except Exception as exc:  # GL missing or broken: say what to set
                raise SimError(
                    f'cannot render ({exc}); headless machines need MUJOCO_GL=egl (or '
                    f'osmesa) in the environment before mujoco is first imported, or '
                    f'render=False') from None
        return self._renderer

    def step(self, action: np.ndarray) -> None:
        """Hold joint targets ``action`` (D,) for one frame period."""
        if self._task is None:
            raise SimError('step() before reset(task)')
        self.data.ctrl[:] = action  # MuJoCo clamps to the URDF joint limits
        for _ in range(self.config.substeps):
            mujoco.mj_step(self.model, self.data)
        self._observe_outcome()

    def success(self) -> bool:
        """Whether the current episode has achieved its task so far."""
        if self._task is None:
            raise SimError('success() before reset(task)')
        self._outcome.end = self._block_positions(self._task)
        return check_success(self._task, self._outcome, self.config)

    def expert_actions(self, task: Task) -> np.ndarray:
        """The scripted expert's joint targets (T, D) for ``task`` (planning only)."""
        if not isinstance(task, Task):
            raise SimError(f'task: expected a Task from make_task, got {type(task).__name__}')
        return plan_expert(task, self.config, self._ik)

    def run_expert(self, task: Task, render: bool = True) -> Episode:
        """Plan and run ``task``'s scripted expert; an Episode with source='expert'."""
        self.reset(task)
        actions = self.expert_actions(task)  # (T, D)
        result = self._run(actions, render)
        metadata = EpisodeMetadata(
            task=task.family, seed=task.seed, success=result.success, robot=self.robot.name,
            joint_names=tuple(self.robot.joint_names), frame_rate=self.config.frame_rate,
            source='expert', instruction=task.instruction, robot_urdf=self.robot.urdf,
            extra={'target': task.target, 'direction': task.direction,
                   'objects': [list(o) for o in task.objects], 'camera': self.config.camera,
                   'templates': task.templates})
        return Episode(frames=result.frames, joints=result.joints, actions=actions,
                       metadata=metadata)

    def replay(self, task: Task, actions, initial_joints=None,
               render: bool = True, segments: bool = False) -> ReplayResult:
        """Execute joint targets ``actions`` (T, D) from ``task``'s initial state; with
        ``segments`` the result also holds each frame's geom segmentation."""
        actions = self.check_actions(actions)
        self.reset(task, initial_joints)
        return self._run(actions, render, segments)

    def _run(self, actions: np.ndarray, render: bool, segments: bool = False) -> ReplayResult:
        steps = len(actions)
        if render:
            frames = np.zeros((steps, self.config.height, self.config.width, 3), np.uint8)
        else:
            frames = np.zeros((steps, 0, 0, 3), np.uint8)
        joints = np.zeros((steps, self.dof))  # (T, D)
        seen = np.full((steps, self.config.height, self.config.width), -1, np.int32) \
            if segments else None
        for t in range(steps):
            joints[t] = self.joints()
            if render:
                frames[t] = self.render()
            if segments:
                seen[t] = self.render_segments()
            self.step(actions[t])
        success = self.success()
        return ReplayResult(frames=frames, joints=joints, success=success,
                            outcome=self._outcome, segments=seen)

    def _check_joints(self, joints) -> np.ndarray:
        try:
            joints = np.asarray(joints, dtype=float)
        except (TypeError, ValueError):
            raise SimError(f'initial_joints: not numeric: {joints!r}') from None
        if joints.shape != (self.dof,):
            raise SimError(
                f'initial_joints: expected shape ({self.dof},) for {self.robot.joint_names}, '
                f'got {joints.shape}')
        if not np.all(np.isfinite(joints)):
            raise SimError('initial_joints: contains NaN or inf')
        bad = (joints < self.robot.lower - 1e-9) | (joints > self.robot.upper + 1e-9)
        if np.any(bad):
            names = [n for n, b in zip(self.robot.joint_names, bad) if b]
            raise SimError(f'initial_joints: outside the URDF limits for {names}')
        return joints

    def check_actions(self, actions) -> np.ndarray:
        """``actions`` as a (T, D) float array of this robot's joint targets; SimError on
        another shape, non-numeric or non-finite values."""
        try:
            actions = np.asarray(actions, dtype=float)
        except (TypeError, ValueError):
            raise SimError('actions: not a numeric (T, D) array') from None
        if actions.ndim != 2 or actions.shape[1] != self.dof or actions.shape[0] < 1:
            raise SimError(
                f'actions: expected shape (T, {self.dof}) with T >= 1 for '
                f'{self.robot.joint_names}, got {actions.shape}')
        if not np.all(np.isfinite(actions)):
            rows = sorted(set(np.argwhere(~np.isfinite(actions))[:, 0].tolist()))
            raise SimError(f'actions: NaN or inf at step(s) {rows[:10]}')
        return actions

    def _block_positions(self, task: Task) -> typing.Dict[str, np.ndarray]:
        scene = self.scene
        return {c: self.data.xpos[scene.block_bodies[scene.colours.index(c)]].copy()
                for c in task.colours}

    def _observe_outcome(self) -> None:
        """Track the closest tcp approach to the target and gripper contacts with it."""
        scene, data = self.scene, self.data
        index = scene.colours.index(self._task.target)
        body = scene.block_bodies[index]
        offset = data.site_xpos[scene.tcp_site] - data.xpos[body]  # (3,) world frame
        local = data.xmat[body].reshape(3, 3).T @ offset             # (3,) block frame
        outside = np.maximum(np.abs(local) - scene.half_size, 0.0)
        outcome = self._outcome
        outcome.min_touch_distance = min(outcome.min_touch_distance,
                                         float(np.linalg.norm(outside)))
        target = scene.block_geoms[index]
        gripper = scene.gripper_geoms
        for contact in data.contact[:data.ncon]:
            pair = (contact.geom1, contact.geom2)
            if target in pair and (pair[0] in gripper or pair[1] in gripper):
                outcome.touched = True
                break
