"""Launch files compile and describe every argument (``ros2 launch`` is not installable here)."""

import ast
from pathlib import Path

import pytest

LAUNCH = sorted((Path(__file__).resolve().parents[1] / 'launch').glob('*.launch.py'))


@pytest.mark.parametrize('path', LAUNCH, ids=[p.name for p in LAUNCH])
def test_launch_file_compiles_and_defines_entry_point(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    compile(tree, str(path), 'exec')
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions


@pytest.mark.parametrize('path', LAUNCH, ids=[p.name for p in LAUNCH])
def test_every_launch_argument_has_a_description(path):
    tree = ast.parse(path.read_text())
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        if getattr(call.func, 'id', None) == 'DeclareLaunchArgument':
            keywords = {k.arg for k in call.keywords}
            assert 'description' in keywords, ast.dump(call)


def test_setup_registers_one_console_script_per_graph_node():
    from vag_ros.ros.graph import CONSOLE_SCRIPTS, generate_and_replay

    tree = ast.parse((LAUNCH[0].parents[1] / 'setup.py').read_text())
    nodes = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                 and getattr(n.targets[0], 'id', None) == 'NODES')
    assert [tuple(e) for e in ast.literal_eval(nodes)] == list(CONSOLE_SCRIPTS)
    executables = {name for name, _ in CONSOLE_SCRIPTS}
    specs = generate_and_replay(sim=True, record_dir='/tmp/x')
    assert {s.executable for s in specs} == executables


class _Action:
    """A stand-in for a launch / launch_ros action: its arguments, kept."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _Configuration(_Action):
    def perform(self, context):
        return context[self.args[0]]


def _launch_module(monkeypatch, name):
    """The launch file, imported with launch and launch_ros stood in for (not installable
    here) and the package share at the source tree."""
    import importlib.util
    import sys
    import types

    import ament_index_python.packages
    root = LAUNCH[0].parents[1]
    monkeypatch.setattr(ament_index_python.packages, 'get_package_share_directory',
                        lambda package: str(root))
    stand_ins = {
        'launch': {'LaunchDescription': _Action},
        'launch.actions': {'DeclareLaunchArgument': _Action, 'OpaqueFunction': _Action},
        'launch.substitutions': {'LaunchConfiguration': _Configuration},
        'launch_ros': {},
        'launch_ros.actions': {'LifecycleNode': _Action, 'Node': _Action},
    }
    for module, names in stand_ins.items():
        monkeypatch.setitem(sys.modules, module, types.SimpleNamespace(**names))
    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), root / 'launch' / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launched(module, **given):
    """{node name: the parameters it gets, remappings} for launch arguments ``given``."""
    declared = module.generate_launch_description().args[0][:-1]
    context = {a.args[0]: a.kwargs['default_value'] for a in declared}
    assert set(given) <= set(context), set(given) - set(context)
    context.update(given)
    out = {}
    for action in module._nodes(context):
        name = action.kwargs.get('name') or action.kwargs['executable']
        params = {}
        for layer in action.kwargs.get('parameters', []):
            params.update(layer)
        out[name] = (params, dict(action.kwargs.get('remappings', [])))
    return out


def test_a_launch_argument_not_given_leaves_the_params_file_in_force(monkeypatch, tmp_path):
    from vag_ros.ros.configs import ReplayNodeConfig
    module = _launch_module(monkeypatch, 'generate_and_replay.launch.py')
    params = tmp_path / 'lab.yaml'
    params.write_text('vag_replay:\n  ros__parameters: {controller: lab_controller, '
                      'controller_mode: forward_position, safety_file: /lab/safety.yaml, '
                      'dry_run: false}\n')
    nodes = _launched(module, params_file=str(params), use_sim='true')
    replay = nodes['vag_replay'][0]
    assert {k: replay[k] for k in ('controller', 'controller_mode', 'safety_file',
                                   'dry_run')} == {
        'controller': 'lab_controller', 'controller_mode': 'forward_position',
        'safety_file': '/lab/safety.yaml', 'dry_run': False}
    assert nodes['vag_mock_arm'][0]['controller'] == 'lab_controller'
    # given arguments win over the file
    nodes = _launched(module, params_file=str(params), controller='arm_controller',
                      controller_mode='joint_trajectory', safety_file='/other.yaml',
                      dry_run='true')
    replay = nodes['vag_replay'][0]
    assert (replay['controller'], replay['controller_mode'], replay['safety_file'],
            replay['dry_run']) == ('arm_controller', 'joint_trajectory', '/other.yaml', True)
    # nothing given, the shipped params file: every node's own defaults hold
    replay = _launched(module)['vag_replay'][0]
    assert set(replay) == set(), replay
    descriptions = {a.args[0]: a.kwargs['description']
                    for a in module.generate_launch_description().args[0][:-1]}
    assert ReplayNodeConfig().controller_mode in descriptions['controller_mode']


def test_the_joint_states_topic_argument_reaches_every_reader(monkeypatch, tmp_path):
    module = _launch_module(monkeypatch, 'generate_and_replay.launch.py')
    nodes = _launched(module, joint_states_topic='/arm/joint_states', use_sim='true',
                      record_dir=str(tmp_path))
    for name in ('vag_generator', 'vag_replay', 'vag_recorder'):
        assert nodes[name][0]['joint_states_topic'] == '/arm/joint_states', name
    assert nodes['vag_mock_arm'][1] == {'/joint_states': '/arm/joint_states'}
    assert nodes['robot_state_publisher'][1] == {'joint_states': '/arm/joint_states'}
    # not given: no node is told a topic; each keeps its own (the params file's) value
    nodes = _launched(module, use_sim='true', record_dir=str(tmp_path))
    assert not any('joint_states_topic' in params for params, _ in nodes.values())
    assert nodes['vag_mock_arm'][1] == nodes['robot_state_publisher'][1] == {}


def test_the_robot_is_the_checkpoint_s_unless_the_same_robot_s_urdf_is_given(
        monkeypatch, tmp_path):
    """A lab checkpoint: every node that reads a URDF, and the ghost's robot_state_publisher,
    get the robot.urdf it carries; the package's arm given as robot_description is refused
    naming both robots."""
    import dataclasses

    from micro_model import micro_config
    from vag_ros.errors import ConfigError
    from vag_ros.model.checkpoint import save_checkpoint
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.vag import VagModel
    from vag_ros.robot.description import load_robot_description
    lab = load_robot_description(Path(__file__).resolve().parent / 'data' / 'lab_arm.urdf')
    config = micro_config()
    config = dataclasses.replace(config, action=dataclasses.replace(config.action, dim=6))
    checkpoint = save_checkpoint(tmp_path / 'lab', VagModel(config), config,
                                 ActionNormalizer.identity(6), robot=lab)
    module = _launch_module(monkeypatch, 'generate_and_replay.launch.py')
    nodes = _launched(module, checkpoint=str(checkpoint), record_dir=str(tmp_path / 'rec'))
    for name in ('vag_generator', 'vag_replay', 'vag_preview', 'vag_recorder'):
        assert nodes[name][0]['urdf'] == str(checkpoint / 'robot.urdf'), name
    assert nodes['ghost_state_publisher'][0]['robot_description'] == lab.urdf
    with pytest.raises(ConfigError, match="robot 'vag_arm'.*robot 'lab_arm'"):
        _launched(module, checkpoint=str(checkpoint),
                  robot_description=str(LAUNCH[0].parents[1] / 'config' / 'robot' /
                                        'vag_arm.urdf'))
    with pytest.raises(ConfigError, match="world's arm.*robot 'vag_arm'"):
        _launched(module, checkpoint=str(checkpoint), use_sim='true')
