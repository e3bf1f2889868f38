"""The package builds with colcon like any ament_python package and installs its share files."""

from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLCON = Path(sys.executable).parent / 'colcon'
SKIP = shutil.ignore_patterns(
    '.git', '.venv', 'build', 'install', 'log', 'runs', '__pycache__', '*.egg-info')


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    if not COLCON.exists():
        pytest.skip('colcon is not installed in this environment')
    ws = tmp_path_factory.mktemp('ws')
    shutil.copytree(ROOT, ws / 'src' / 'vag_ros', ignore=SKIP)
    result = subprocess.run(
        [str(COLCON), 'build', '--base-paths', 'src', '--event-handlers', 'console_direct-'],
        cwd=ws, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws


def sourced(ws: Path, code: str) -> str:
    """Run python ``code`` in a shell that sourced the workspace's install/setup.bash."""
    script = f'source install/setup.bash && "{sys.executable}" -c "{code}"'
    result = subprocess.run(['bash', '-c', script], cwd=ws, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_share_files_are_found_by_ament_index(workspace):
    share = Path(sourced(
        workspace,
        'from ament_index_python.packages import get_package_share_directory as g; '
        "print(g('vag_ros'))"))
    assert share.is_relative_to(workspace / 'install')
    for relative in ('package.xml', 'config/robot/vag_arm.urdf', 'config/sim.yaml'):
        assert (share / relative).is_file(), relative
    launch_files = sorted(p.name for p in (share / 'launch').glob('*.launch.py'))
    source_launch = sorted(p.name for p in (ROOT / 'launch').glob('*.launch.py'))
    assert launch_files == source_launch and launch_files


def test_console_script_is_installed(workspace):
    assert (workspace / 'install' / 'vag_ros' / 'lib' / 'vag_ros' / 'vag-ros').is_file()
