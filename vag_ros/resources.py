"""Find the package's data files (config/, launch/) in a source tree or a colcon install."""

from pathlib import Path

from vag_ros.errors import ConfigError


PACKAGE = 'vag_ros'


def share_dir() -> Path:
    """The folder holding config/ and launch/: the ament share dir, else the source tree."""
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / 'config').is_dir():
        return source_root
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError):
        raise ConfigError(
            f'cannot find the {PACKAGE} share folder: neither a source checkout next to '
            f'{source_root} nor an ament install (source install/setup.bash)') from None


def share_path(relative: str) -> Path:
    """An existing file under the share folder, e.g. ``config/robot/vag_arm.urdf``."""
    path = share_dir() / relative
    if not path.exists():
        raise ConfigError(f'package file not found: {path}')
    return path
