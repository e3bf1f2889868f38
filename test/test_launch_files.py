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
