"""The node graph, described once: launch files and the in-process demo both read it.

No rclpy at import time: ``NodeSpec`` is plain data; ``create_nodes`` imports the classes.
"""

import dataclasses
import importlib
import typing

PACKAGE = 'vag_ros'


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One node: its console script, its class and how it is wired."""

    name: str                        # node name
    executable: str                  # console script (setup.py entry point)
    target: str                      # 'module:Class'
    parameters: typing.Tuple[typing.Tuple[str, typing.Any], ...] = ()
    remappings: typing.Tuple[typing.Tuple[str, str], ...] = ()
    lifecycle: bool = False          # configure + activate after start

    @property
    def module(self) -> str:
        """Module holding the node class and its ``main``."""
        return self.target.split(':')[0]

    def parameter_dict(self) -> typing.Dict[str, typing.Any]:
        """Parameters as a dict (launch_ros ``parameters=[...]``)."""
        return dict(self.parameters)


# (console script, module:function): what setup.py's NODES should list.
CONSOLE_SCRIPTS = (
    ('vag_capture', 'vag_ros.ros.capture_node:main'),
    ('vag_generator', 'vag_ros.ros.generator_node:main'),
    ('vag_replay', 'vag_ros.ros.replay_node:main'),
    ('vag_mock_arm', 'vag_ros.ros.mock_arm_node:main'),
    ('vag_sim_camera', 'vag_ros.ros.sim_camera_node:main'),
    ('vag_preview', 'vag_ros.ros.preview_node:main'),
    ('vag_recorder', 'vag_ros.ros.recorder_node:main'),
)


def _flatten(tree: typing.Mapping, prefix: str = '') -> typing.Dict[str, typing.Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def load_parameters(path: str) -> typing.Dict[str, typing.Dict[str, typing.Any]]:
    """{node name: {dotted parameter: value}} of a ``node: ros__parameters:`` YAML file."""
    import yaml
    from vag_ros.errors import ConfigError
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f'parameter file {path}: cannot read it: {exc}') from None
    out = {}
    for node, body in data.items():
        params = (body or {}).get('ros__parameters') if isinstance(body, dict) else None
        if not isinstance(params, dict):
            raise ConfigError(f'parameter file {path}: {node!r} needs a ros__parameters: map')
        out[str(node).lstrip('/')] = _flatten(params)
    return out


def generate_and_replay(checkpoint: typing.Optional[str] = None,
                        camera_topic: str = '/camera/image_raw', sim: bool = True,
                        dry_run: typing.Optional[bool] = None,
                        controller: typing.Optional[str] = None,
                        controller_mode: typing.Optional[str] = None, preview: bool = True,
                        record_dir: str = '', params_file: str = '',
                        parameters: typing.Optional[typing.Mapping[str, typing.Mapping]] = None,
                        camera_transport: typing.Optional[str] = None,
                        backend: typing.Optional[str] = None,
                        engine_dir: typing.Optional[str] = None,
                        safety_file: typing.Optional[str] = None,
                        joint_states_topic: typing.Optional[str] = None,
                        urdf: typing.Optional[str] = None
                        ) -> typing.List[NodeSpec]:
    """camera -> capture -> generator -> replay -> arm, + preview and (``record_dir``) recorder.

    ``backend``: torch runs ``checkpoint``; onnxruntime / tensorrt run ``engine_dir`` (an
    engine exported from ``checkpoint``, checked against it when both are set).
    ``camera_transport``: 'raw' (sensor_msgs/Image on ``camera_topic``) or 'compressed'
    (CompressedImage on ``camera_topic``/compressed). ``sim`` adds the embedded world (mock
    arm + sim camera, raw only) in place of robot and camera. ``joint_states_topic``: where
    every node that reads (or, the mock arm, publishes) joint states finds them.
    Parameters, lowest priority first: the node config dataclasses' defaults, ``params_file``
    (e.g. config/vag_ros.yaml), the arguments here that are given (None = not given: the
    file's value, else the node's default, stays), then ``parameters`` ({node name:
    {parameter: value}}). The mock arm takes the replay's controller unless it has its own.
    ``urdf``: the robot's URDF for every node that reads one; not given, they all read the
    robot the checkpoint (or engine) was trained for (``robot_urdf``).
    """
    from vag_ros.config import require
    from vag_ros.ros.configs import INPUT_TRANSPORTS
    if camera_transport is not None:
        require(camera_transport in INPUT_TRANSPORTS, 'camera_transport', camera_transport,
                f'expected one of {INPUT_TRANSPORTS}')
    given = {
        'vag_capture': {'input_transport': camera_transport},
        'vag_generator': {'checkpoint': checkpoint, 'backend': backend,
                          'engine_dir': engine_dir, 'joint_states_topic': joint_states_topic},
        'vag_replay': {'dry_run': dry_run, 'controller': controller,
                       'controller_mode': controller_mode, 'safety_file': safety_file,
                       'joint_states_topic': joint_states_topic},
        'vag_recorder': {'out_dir': record_dir or None, 'camera_transport': camera_transport,
                         'joint_states_topic': joint_states_topic},
        'vag_mock_arm': {'controller': controller},
    }
    specs = _specs(camera_topic, sim, preview, record_dir, joint_states_topic)
    layers = [load_parameters(params_file) if params_file else {},
              {name: {k: v for k, v in values.items() if v is not None}
               for name, values in given.items()},
              parameters or {}]
    out = []
    for spec in specs:
        merged = {}
        for layer in layers:
            merged.update(layer.get(spec.name, {}))
        out.append(dataclasses.replace(spec, parameters=tuple(merged.items())))
    out = _one_controller(out)
    out = _one_robot(out, urdf)
    _check_sim_camera(out)
    _check_one_world(out)
    return out


def _in_force(spec: NodeSpec, name: str):
    """The value of parameter ``name`` that ``spec``'s node will run with."""
    from vag_ros.ros.configs import NODE_CONFIGS
    from vag_ros.ros.parameters import config_to_parameters
    return spec.parameter_dict().get(name, config_to_parameters(NODE_CONFIGS[spec.name]())[name])


def _one_controller(specs: typing.List[NodeSpec]) -> typing.List[NodeSpec]:
    """The mock arm listens on the controller the replay commands: it takes the replay's
    unless it was given its own, and the two must agree."""
    from vag_ros.errors import ConfigError
    by_name = {s.name: s for s in specs}
    if 'vag_mock_arm' not in by_name or 'vag_replay' not in by_name:
        return specs
    arm, replay = by_name['vag_mock_arm'], _in_force(by_name['vag_replay'], 'controller')
    if 'controller' not in arm.parameter_dict():
        arm = dataclasses.replace(arm, parameters=arm.parameters + (('controller', replay),))
    if _in_force(arm, 'controller').strip('/') != replay.strip('/'):
        raise ConfigError(f"vag_mock_arm controller={_in_force(arm, 'controller')!r} but "
                          f'vag_replay commands controller={replay!r}; give both the same')
    return [arm if s.name == 'vag_mock_arm' else s for s in specs]


URDF_READERS = ('vag_generator', 'vag_replay', 'vag_preview', 'vag_recorder')


def robot_urdf(specs: typing.Sequence[NodeSpec]) -> typing.Optional[str]:
    """The URDF file the graph's nodes read (None: the package's arm, as a node defaults)."""
    for spec in specs:
        if spec.name in URDF_READERS and _in_force(spec, 'urdf'):
            return str(_in_force(spec, 'urdf'))
    return None


def _one_robot(specs: typing.List[NodeSpec], urdf: typing.Optional[str]) -> typing.List[NodeSpec]:
    """Every node that reads a URDF reads the same one: ``urdf``, else one a node was given
    (params file), else the robot.urdf that the generator's checkpoint (or engine) carries.
    A URDF of another robot than the checkpoint's, or a world (use_sim) whose arm is not the
    checkpoint's, is refused naming both."""
    from pathlib import Path

    from vag_ros.engines.factory import pipeline_robot
    from vag_ros.errors import ConfigError, VagError
    from vag_ros.robot.description import check_same_robot, load_robot_description
    by_name = {s.name: s for s in specs}
    given = {s.name: _in_force(s, 'urdf') for s in specs
             if s.name in URDF_READERS and _in_force(s, 'urdf')}
    if urdf:
        given = {name: urdf for name in URDF_READERS if name in by_name}
    if len(set(given.values())) > 1:
        raise ConfigError(f'the nodes were given different URDFs ({given}); give one (launch: '
                          'robot_description:=)')
    generator = by_name.get('vag_generator')
    checkpoint = _in_force(generator, 'checkpoint') if generator else ''
    engine_dir = _in_force(generator, 'engine_dir') if generator else ''
    path = next(iter(given.values()), None)
    trained = None
    if (checkpoint and Path(checkpoint).is_dir()) or (
            not checkpoint and engine_dir and Path(engine_dir).is_dir()):
        try:   # the robot the model drives; a given URDF must be the same robot
            trained = pipeline_robot(checkpoint, engine_dir, path)
        except VagError as exc:
            raise ConfigError(str(exc)) from None
    # (a checkpoint or engine not there (yet): the generator says so when it configures)
    if path is None and trained is not None and trained.path is not None:
        path = str(trained.path)
    if 'vag_mock_arm' in by_name and trained is not None:
        from vag_ros.sim.config import SimConfig
        world = load_robot_description(SimConfig().urdf_path)
        check_same_robot(world, trained, f"use_sim: the embedded world's arm ({world.path})",
                         'the checkpoint')
    if path is None:
        return specs
    return [dataclasses.replace(s, parameters=tuple(
        dict(s.parameter_dict(), urdf=path).items())) if s.name in URDF_READERS else s
        for s in specs]


def _check_sim_camera(specs: typing.Sequence[NodeSpec]) -> None:
    """The sim camera publishes raw images only: capture must not expect compressed ones."""
    from vag_ros.config import require
    names = {s.name for s in specs}
    if 'vag_sim_camera' in names:
        for spec in specs:
            key = {'vag_capture': 'input_transport',
                   'vag_recorder': 'camera_transport'}.get(spec.name)
            if key:
                require(_in_force(spec, key) == 'raw', 'camera_transport',
                        _in_force(spec, key),
                        'the sim camera publishes raw sensor_msgs/Image only')


def _world(spec: NodeSpec) -> typing.Dict[str, typing.Any]:
    """The world a sim node builds: its task, seed and sim.* values over their defaults."""
    from vag_ros.ros.configs import NODE_CONFIGS
    from vag_ros.ros.parameters import config_to_parameters
    values = config_to_parameters(NODE_CONFIGS[spec.name]())
    values.update(spec.parameters)

    def plain(value):
        return list(value) if isinstance(value, (list, tuple)) else value
    return {k: plain(v) for k, v in values.items()
            if k.startswith('sim.') or k in ('task', 'seed')}


def _check_one_world(specs: typing.Sequence[NodeSpec]) -> None:
    """The sim camera and the mock arm must simulate the same world (one shared World:
    the same task, seed and sim.* values)."""
    from vag_ros.errors import ConfigError
    worlds = {s.name: _world(s) for s in specs if s.name in ('vag_mock_arm', 'vag_sim_camera')}
    if len(worlds) == 2:
        arm, camera = worlds['vag_mock_arm'], worlds['vag_sim_camera']
        differ = sorted(k for k in set(arm) | set(camera) if arm.get(k) != camera.get(k))
        if differ:
            raise ConfigError(f'vag_mock_arm and vag_sim_camera would simulate two worlds: '
                              f'{", ".join(differ)} differ; give both the same task, seed and '
                              'sim.* values')


def _specs(camera_topic, sim, preview, record_dir,
           joint_states_topic) -> typing.List[NodeSpec]:
    remap = (('/camera/image_raw', camera_topic),) if camera_topic != '/camera/image_raw' \
        else ()
    # the mock arm publishes on the fixed /joint_states; every reader has a parameter
    joint_states = (('/joint_states', joint_states_topic),) \
        if joint_states_topic not in (None, '/joint_states') else ()
    specs = [
        NodeSpec('vag_capture', 'vag_capture', 'vag_ros.ros.capture_node:CaptureNode',
                 remappings=remap),
        NodeSpec('vag_generator', 'vag_generator', 'vag_ros.ros.generator_node:GeneratorNode',
                 lifecycle=True),
        NodeSpec('vag_replay', 'vag_replay', 'vag_ros.ros.replay_node:ReplayNode'),
    ]
    if preview:
        specs.append(NodeSpec('vag_preview', 'vag_preview',
                              'vag_ros.ros.preview_node:PreviewNode'))
    if record_dir:
        specs.append(NodeSpec('vag_recorder', 'vag_recorder',
                              'vag_ros.ros.recorder_node:RecorderNode', remappings=remap))
    if sim:
        specs += [
            NodeSpec('vag_mock_arm', 'vag_mock_arm', 'vag_ros.ros.mock_arm_node:MockArmNode',
                     remappings=joint_states),
            NodeSpec('vag_sim_camera', 'vag_sim_camera',
                     'vag_ros.ros.sim_camera_node:SimCameraNode', remappings=remap),
        ]
    return specs


def node_class(spec: NodeSpec):
    """The class ``spec.target`` names."""
    module, cls = spec.target.split(':')
    return getattr(importlib.import_module(module), cls)


def create_nodes(specs: typing.Sequence[NodeSpec], context=None) -> list:
    """Instantiate every spec in this process (one World shared by the sim nodes).

    Lifecycle nodes are configured and activated; one that fails to configure stays
    unconfigured with its reason on /vag/status.
    """
    from rclpy.parameter import Parameter
    nodes = []
    for spec in specs:
        args = []
        for src, dst in spec.remappings:
            args += ['-r', f'{src}:={dst}']
        node = node_class(spec)(
            spec.name, context=context,
            parameter_overrides=[Parameter(k, value=v) for k, v in spec.parameters],
            cli_args=['--ros-args'] + args if args else None)
        if spec.lifecycle:
            from rclpy.lifecycle import TransitionCallbackReturn
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
        nodes.append(node)
    return nodes
