"""Output paths checked before any work starts: a folder that can be written, a file name
that stays inside its folder. A run never finds out at its end that it cannot save."""

import os
from pathlib import Path
import re
import time
import typing

from vag_ros.errors import VagError

# a bag, episode or file stem: no path separators, no leading dot, no '..'
NAME_PATTERN = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*$')


class OutputError(VagError):
    """An output path that cannot be written."""


def check_name(name: str, what: str = 'name') -> str:
    """``name`` if it is a plain file or folder name, OutputError otherwise."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or '..' in name:
        raise OutputError(f'{what} {name!r}: use letters, digits, _ . - only (no path '
                          'separators, no leading dot, no "..")')
    return name


def writable_folder(path: typing.Union[str, Path], what: str = 'output folder',
                    create: bool = True) -> Path:
    """Create ``path`` if needed and prove it takes a file; OutputError saying why not.

    ``create=False`` leaves the disk untouched: the folder, or the nearest folder above it
    that exists, must be writable (checked with os.access).
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f'{what} {out} exists and is not a folder')
    if not create:
        existing = next(p for p in [out, *out.absolute().parents] if p.exists())
        if not existing.is_dir():
            raise OutputError(f'cannot create {what} {out}: {existing} is not a folder')
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputError(f'{what} {out} cannot be written: {existing} is not writable')
        return out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f'cannot create {what} {out}: {exc.strerror or exc}') from None
    probe = out / f'.write-probe-{time.time_ns()}'
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise OutputError(f'{what} {out} is not writable: {exc.strerror or exc}') from None
    return out


def writable_file(path: typing.Union[str, Path], what: str = 'output file',
                  create: bool = True) -> Path:
    """A file path whose folder can be written and that is not a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f'{what} {path} is a folder')
    writable_folder(path.parent, f'folder of the {what}', create)
    return path
