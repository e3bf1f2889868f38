"""The tabletop scene: the arm built from its URDF, a table, coloured blocks, lights, cameras.

The robot is described once, by the URDF; this module loads that URDF with MuJoCo's own
parser and adds what a simulator needs around it (position actuators, gravity compensation,
contact settings, the table and blocks). The world frame is the robot's base frame, its
origin on the table top.
"""

import dataclasses
import typing
import xml.etree.ElementTree as ET

import mujoco
import numpy as np

from vag_ros.errors import SimError
from vag_ros.robot.description import RobotDescription
from vag_ros.sim.config import SimConfig


COLOURS = {  # name -> RGBA; the blocks a task can mention
    'red': (0.85, 0.12, 0.12, 1.0),
    'green': (0.15, 0.7, 0.2, 1.0),
    'blue': (0.15, 0.3, 0.9, 1.0),
    'yellow': (0.95, 0.85, 0.1, 1.0),
    'purple': (0.6, 0.2, 0.75, 1.0),
}
TABLE_HALF = (0.45, 0.55, 0.02)  # table top half extents [m]
TABLE_CENTRE_X = 0.3             # [m]; the robot base sits at x=0 on the table
TABLE_HEIGHT = 0.7               # floor to table top [m]
PARK_Y = 3.0                     # absent blocks rest on the floor out of every camera's view
TCP_SITE = 'tcp_site'
# Contact groups: the arm never collides with itself, everything else collides with all.
ARM_CONTYPE, ARM_CONAFFINITY = 2, 1
ENV_CONTYPE, ENV_CONAFFINITY = 1, 3
ARM_KP = (800.0, 800.0, 500.0, 200.0, 200.0, 100.0)  # [N m/rad] joint1..joint6
GRIPPER_KP = 400.0               # [N/m]; squeeze force is capped by the URDF effort
GRIPPER_FORCE = 15.0             # [N]


@dataclasses.dataclass(frozen=True)
class Scene:
    """A compiled world and the indices the rest of the sim needs."""

    model: mujoco.MjModel
    colours: typing.Tuple[str, ...]       # block colours, in model order
    block_bodies: typing.Tuple[int, ...]  # body ids, one per colour
    block_geoms: typing.Tuple[int, ...]
    block_qpos: typing.Tuple[int, ...]    # qpos address of each block's free joint
    block_qvel: typing.Tuple[int, ...]
    arm_qpos: np.ndarray                  # (D,) qpos address of each actuated joint
    arm_dof: np.ndarray                   # (D,) dof address of each actuated joint
    mimic_qpos: typing.Tuple[int, ...]    # qpos of mimic joints (follow the gripper)
    tcp_site: int
    gripper_geoms: typing.Tuple[int, ...]  # hand and finger geoms
    arm_geoms: typing.Tuple[int, ...]
    table_top_z: float                    # [m]
    half_size: float                      # block half edge [m]


def _look_at(position, target) -> np.ndarray:
    """Quaternion of a MuJoCo camera at ``position`` looking at ``target``, z up."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, (0.0, 0.0, 1.0))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rotation = np.stack([right, up, -forward], axis=1)  # (3, 3) camera axes in world
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.ravel())
    return quat


def _link_colours(urdf: str) -> typing.Dict[str, typing.Tuple[float, ...]]:
    """link name -> RGBA of its URDF visual material (MuJoCo keeps only collision geoms)."""
    root = ET.fromstring(urdf)
    named = {}
    for material in root.iter('material'):
        colour = material.find('color')
        if material.get('name') and colour is not None:
            named[material.get('name')] = tuple(float(v) for v in colour.get('rgba').split())
    colours = {}
    for link in root.findall('link'):
        material = link.find('visual/material')
        if material is None:
            continue
        colour = material.find('color')
        if colour is not None:
            colours[link.get('name')] = tuple(float(v) for v in colour.get('rgba').split())
        elif material.get('name') in named:
            colours[link.get('name')] = named[material.get('name')]
    return colours


def _load_arm(robot: RobotDescription) -> mujoco.MjSpec:
    try:
        spec = mujoco.MjSpec.from_string(robot.urdf)
    except ValueError as exc:
        raise SimError(f'MuJoCo cannot read the URDF {robot.path}: {exc}') from None
    spec.compiler.fusestatic = False   # keep tool0/tcp as bodies
    spec.compiler.discardvisual = True
    return spec


def _add_robot_physics(spec: mujoco.MjSpec, robot: RobotDescription) -> None:
    """Actuators, gravity compensation, contact settings and colours on the URDF arm."""
    colours = _link_colours(robot.urdf)
    for body in spec.bodies:
        if body.name == 'world':
            continue
        body.gravcomp = 1.0  # the controller compensates gravity, as real arms do
        for geom in body.geoms:
            geom.contype, geom.conaffinity = ARM_CONTYPE, ARM_CONAFFINITY
            geom.rgba = colours.get(body.name, (0.6, 0.6, 0.6, 1.0))
            if 'finger' in body.name:
                geom.friction = (1.5, 0.02, 0.001)
                geom.condim = 4
                geom.priority = 1
    for joint in spec.joints:
        joint.armature = 0.01
    arm = robot.arm_joint_names
    for index, name in enumerate(robot.joint_names):
        info = robot.joint(name)
        actuator = spec.add_actuator()
        actuator.name = f'{name}_position'
        actuator.target = name
        actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
        if name in arm:
            actuator.set_to_position(kp=ARM_KP[index % len(ARM_KP)], dampratio=1.0)
            force = info.effort
        else:
            actuator.set_to_position(kp=GRIPPER_KP, dampratio=1.0)
            force = min(info.effort, GRIPPER_FORCE)
        if np.isfinite(info.lower) and np.isfinite(info.upper):  # continuous: unlimited
            actuator.ctrlrange = (info.lower, info.upper)
            actuator.ctrllimited = 1
        actuator.forcerange = (-force, force)
        actuator.forcelimited = 1
    tcp = spec.body('tcp')
    if tcp is None:
        raise SimError(f'URDF {robot.path} has no link named "tcp"')
    site = tcp.add_site()
    site.name = TCP_SITE
    site.size = (0.005, 0.005, 0.005)
    site.rgba = (0, 0, 0, 0)


def _add_environment(spec: mujoco.MjSpec, config: SimConfig) -> None:
    """Floor, table, blocks, lights and cameras."""
    spec.option.timestep = config.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth = max(640, config.width)
    spec.visual.global_.offheight = max(480, config.height)
    spec.visual.quality.shadowsize = 1024
    world = spec.worldbody

    floor = world.add_geom()
    floor.name = 'floor'
    floor.type = mujoco.mjtGeom.mjGEOM_PLANE
    floor.size = (0, 0, 0.05)
    floor.pos = (0, 0, -TABLE_HEIGHT)
    floor.rgba = (0.35, 0.35, 0.38, 1)
    table = world.add_geom()
    table.name = 'table'
    table.type = mujoco.mjtGeom.mjGEOM_BOX
    table.size = TABLE_HALF
    table.pos = (TABLE_CENTRE_X, 0, -TABLE_HALF[2])
    table.rgba = (0.72, 0.6, 0.45, 1)
    table.friction = (0.6, 0.005, 0.0001)
    for x in (-1, 1):
        for y in (-1, 1):
            leg = world.add_geom()
            leg.type = mujoco.mjtGeom.mjGEOM_BOX
            leg.size = (0.03, 0.03, (TABLE_HEIGHT - 2 * TABLE_HALF[2]) / 2)
            leg.pos = (TABLE_CENTRE_X + x * (TABLE_HALF[0] - 0.05), y * (TABLE_HALF[1] - 0.05),
                       -TABLE_HEIGHT / 2 - TABLE_HALF[2])
            leg.rgba = (0.5, 0.4, 0.3, 1)
    for geom in (floor, table):
        geom.contype, geom.conaffinity = ENV_CONTYPE, ENV_CONAFFINITY

    half = config.object_size / 2
    for index, (colour, rgba) in enumerate(COLOURS.items()):
        body = world.add_body()
        body.name = f'{colour}_block'
        body.pos = (0, PARK_Y + 0.2 * index, -TABLE_HEIGHT + half)
        joint = body.add_freejoint()
        joint.name = f'{colour}_block_free'
        geom = body.add_geom()
        geom.name = f'{colour}_block'
        geom.type = mujoco.mjtGeom.mjGEOM_BOX
        geom.size = (half, half, half)
        geom.rgba = rgba
        geom.mass = config.object_mass
        geom.friction = (1.0, 0.01, 0.001)
        geom.condim = 4
        geom.contype, geom.conaffinity = ENV_CONTYPE, ENV_CONAFFINITY

    key = world.add_light()
    key.name = 'key_light'
    key.pos = (0.6, -0.4, 1.5)
    key.dir = (-0.2, 0.25, -1.0)
    key.diffuse = (0.7, 0.7, 0.7)
    key.castshadow = True
    fill = world.add_light()
    fill.name = 'fill_light'
    fill.pos = (1.2, 0.6, 1.0)
    fill.dir = (-1.0, -0.5, -0.8)
    fill.diffuse = (0.3, 0.3, 0.3)
    fill.castshadow = False
    spec.visual.headlight.ambient = (0.25, 0.25, 0.25)
    spec.visual.headlight.diffuse = (0.3, 0.3, 0.3)

    scene = world.add_camera()
    scene.name = 'scene'
    scene.pos = (1.25, 0.0, 0.65)
    scene.quat = _look_at(scene.pos, (0.22, 0.0, 0.16))
    scene.fovy = 45.0
    overhead = world.add_camera()
    overhead.name = 'overhead'
    overhead.pos = (0.38, 0.0, 1.0)
    overhead.quat = _look_at(overhead.pos + np.array([0.0001, 0, 0]), (0.38, 0.0, 0.0))
    overhead.fovy = 45.0
    hand = spec.body('hand')
    if hand is not None:
        wrist = hand.add_camera()
        wrist.name = 'wrist'
        wrist.pos = (-0.05, 0, 0.0)
        wrist.quat = (0, 1, 0, 0)  # look along the tool's z axis, down the fingers
        wrist.fovy = 70.0


def build_scene(config: SimConfig, robot: RobotDescription) -> Scene:
    """Compile the world from ``robot``'s URDF plus the table, blocks, lights and cameras."""
    spec = _load_arm(robot)
    spec.modelname = f'{robot.name}_tabletop'
    _add_robot_physics(spec, robot)
    _add_environment(spec, config)
    try:
        model = spec.compile()
    except ValueError as exc:
        raise SimError(f'cannot compile the world from {robot.path}: {exc}') from None

    def body_id(name):
        index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
        if index < 0:
            raise SimError(f'world has no body {name!r}')
        return index

    def joint_id(name):
        index = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if index < 0:
            raise SimError(f'world has no joint {name!r} (from URDF {robot.path})')
        return index

    colours = tuple(COLOURS)
    joints = [joint_id(n) for n in robot.joint_names]
    mimic = [joint_id(j.name) for j in robot.joints if j.mimic is not None]
    blocks = [joint_id(f'{c}_block_free') for c in colours]
    arm_bodies = {model.jnt_bodyid[j] for j in joints} | {body_id('base_link'), body_id('hand')}
    for j in mimic:
        arm_bodies.add(model.jnt_bodyid[j])
    arm_geoms = tuple(g for g in range(model.ngeom) if model.geom_bodyid[g] in arm_bodies)
    gripper_bodies = {body_id('hand')} | {
        model.jnt_bodyid[j] for j in joints[-1:] + mimic}
    return Scene(
        model=model,
        colours=colours,
        block_bodies=tuple(body_id(f'{c}_block') for c in colours),
        block_geoms=tuple(
            mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f'{c}_block') for c in colours),
        block_qpos=tuple(int(model.jnt_qposadr[j]) for j in blocks),
        block_qvel=tuple(int(model.jnt_dofadr[j]) for j in blocks),
        arm_qpos=np.array([model.jnt_qposadr[j] for j in joints]),
        arm_dof=np.array([model.jnt_dofadr[j] for j in joints]),
        mimic_qpos=tuple(int(model.jnt_qposadr[j]) for j in mimic),
        tcp_site=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, TCP_SITE),
        gripper_geoms=tuple(g for g in arm_geoms if model.geom_bodyid[g] in gripper_bodies),
        arm_geoms=arm_geoms,
        table_top_z=0.0,
        half_size=config.object_size / 2,
    )
