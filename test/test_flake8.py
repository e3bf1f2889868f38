"""ament_flake8 over the whole package, as a ROS 2 CI would run it."""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    paths = [str(ROOT / p) for p in ('vag_ros', 'test', 'launch', 'scripts', 'setup.py')]
    rc, errors = main_with_errors(argv=['--config', str(ROOT / 'setup.cfg')] + paths)
    assert rc == 0, f'{len(errors)} code style error(s):\n' + '\n'.join(errors)
