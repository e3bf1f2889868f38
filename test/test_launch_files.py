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
