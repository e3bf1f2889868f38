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


def generate_and_replay(checkpoint: str = '', camera_topic: str = '/camera/image_raw',
                        sim: bool = True, dry_run: bool = True,
                        controller: str = 'arm_controller',
                        controller_mode: str = 'forward_position', preview: bool = True,
                        record_dir: str = '', params_file: str = '',
                        parameters: typing.Optional[typing.Mapping[str, typing.Mapping]] = None,
                        camera_transport: str = 'raw', backend: str = 'torch',
                        engine_dir: str = '') -> typing.List[NodeSpec]:
    """camera -> capture -> generator -> replay -> arm, + preview and (``record_dir``) recorder.

    ``backend``: torch runs ``checkpoint``; onnxruntime / tensorrt run ``engine_dir`` (an
    engine exported from ``checkpoint``, checked against it when both are set).
    ``camera_transport``: 'raw' (sensor_msgs/Image on ``camera_topic``) or 'compressed'
    (CompressedImage on ``camera_topic``/compressed). ``sim`` adds the embedded world (mock
    arm + sim camera, raw only) in place of robot and camera.
    Parameters, lowest priority first: ``params_file`` (e.g. config/vag_ros.yaml), the
    arguments here, then ``parameters`` ({node name: {parameter: value}}).
    """
    from vag_ros.config import require
    from vag_ros.ros.configs import INPUT_TRANSPORTS
    require(camera_transport in INPUT_TRANSPORTS, 'camera_transport', camera_transport,
            f'expected one of {INPUT_TRANSPORTS}')
    require(not (sim and camera_transport != 'raw'), 'camera_transport', camera_transport,
            'the sim camera publishes raw sensor_msgs/Image only')
    specs = _specs(checkpoint, camera_topic, camera_transport, sim, dry_run, controller,
                   controller_mode, preview, record_dir, (('backend', backend),
                                                          ('engine_dir', engine_dir)))
    layers = [load_parameters(params_file) if params_file else {}, None, parameters or {}]
    out = []
    for spec in specs:
        merged = dict(layers[0].get(spec.name, {}))
        merged.update(spec.parameter_dict())
        merged.update(layers[2].get(spec.name, {}))
        out.append(dataclasses.replace(spec, parameters=tuple(merged.items())))
    _check_one_world(out)
    return out


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


def _specs(checkpoint, camera_topic, camera_transport, sim, dry_run, controller,
           controller_mode, preview, record_dir, engine) -> typing.List[NodeSpec]:
    remap = (('/camera/image_raw', camera_topic),) if camera_topic != '/camera/image_raw' \
        else ()
    specs = [
        NodeSpec('vag_capture', 'vag_capture', 'vag_ros.ros.capture_node:CaptureNode',
                 parameters=(('input_transport', camera_transport),), remappings=remap),
        NodeSpec('vag_generator', 'vag_generator', 'vag_ros.ros.generator_node:GeneratorNode',
                 parameters=(('checkpoint', checkpoint),) + engine, lifecycle=True),
        NodeSpec('vag_replay', 'vag_replay', 'vag_ros.ros.replay_node:ReplayNode',
                 parameters=(('dry_run', dry_run), ('controller', controller),
                             ('controller_mode', controller_mode))),
    ]
    if preview:
        specs.append(NodeSpec('vag_preview', 'vag_preview',
                              'vag_ros.ros.preview_node:PreviewNode'))
    if record_dir:
        specs.append(NodeSpec('vag_recorder', 'vag_recorder',
                              'vag_ros.ros.recorder_node:RecorderNode',
                              parameters=(('out_dir', record_dir),
                                          ('camera_transport', camera_transport)),
                              remappings=remap))
    if sim:
        specs += [
            NodeSpec('vag_mock_arm', 'vag_mock_arm', 'vag_ros.ros.mock_arm_node:MockArmNode',
                     parameters=(('controller', controller),)),
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
