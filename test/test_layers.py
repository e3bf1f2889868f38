"""The package's layers: no module imports from a layer above its own, and no import cycle
(imports inside functions count: they run too). What import-linter's "layers" contract
checks, over vag_ros's own modules."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'vag_ros'
# lowest first; a module may import its own layer's and lower layers' modules
LAYERS = (
    ('errors', 'checksums', 'config', 'resources', 'outputs', 'media', 'frame_geometry',
     'image_decoding', 'typos'),
    ('robot',),
    ('episodes', 'datasets'),
    ('sim', 'model'),
    ('eval',),
    ('train',),
    ('synth', 'ingest'),
    ('engines',),
    ('ros',),
    ('commands', 'cli', '__init__'),
)
LAYER = {name: k for k, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def modules() -> dict:
    return {module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))}


def imported(path: Path, known, name: str = '') -> set:
    """vag_ros modules ``path`` (module ``name``) imports, anywhere in it (``from a import
    b``: a.b when b is a module, else a)."""
    name = name or module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1]
                                + ([base] if base else []))
            targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition('.')[0]
            if target.startswith('vag_ros') and target != name:
                found.add(target)
    return found


def layer(module: str) -> int:
    parts = module.split('.')
    top = parts[1] if len(parts) > 1 else '__init__'
    if top not in LAYER:
        raise AssertionError(f'{module}: vag_ros.{top} is in no layer of test_layers.LAYERS')
    return LAYER[top]


GRAPH = {name: imported(path, set(modules())) for name, path in modules().items()}


def test_every_package_has_a_layer():
    for name in GRAPH:
        layer(name)


@pytest.mark.parametrize('name', sorted(GRAPH))
def test_no_module_imports_from_a_layer_above_its_own(name):
    upward = sorted(t for t in GRAPH[name] if layer(t) > layer(name))
    assert not upward, f'{name} (layer {layer(name)}) imports {upward}'


def test_no_import_cycle():
    """Tarjan's strongly connected components over every import."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_checker_sees_an_upward_import_inside_a_function(tmp_path):
    """The rules above can fail: a robot/ module reaching up into ros/, relatively and
    lazily, is seen."""
    path = tmp_path / 'fake.py'
    path.write_text('def f():\n    from ..ros import replay_node\n'
                    '    from vag_ros import errors\n')
    found = imported(path, set(modules()), 'vag_ros.robot.fake')
    assert found == {'vag_ros.ros.replay_node', 'vag_ros.errors'}
    assert [t for t in found if layer(t) > layer('vag_ros.robot.fake')] == [
        'vag_ros.ros.replay_node']
