"""Output paths checked before any work starts: a folder that can be written, a file name
that stays inside its folder. A run never finds out at its end that it cannot save."""

import contextlib
import os
from pathlib import Path
import re
import threading
import time
import typing

from vag_ros.errors import VagError

# a bag, episode or file stem: no path separators, no leading dot, no '..'
NAME_PATTERN = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*$')
PARTIAL_MARKER = '.partial-'   # staging folders: .<name>.partial-<pid>-<random>


class OutputError(VagError):
    """An output path that cannot be written."""


def check_name(name: str, what: str = 'name') -> str:
    """``name`` if it is a plain file or folder name, OutputError otherwise."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or '..' in name:
        raise OutputError(f'{what} {name!r}: use letters, digits, _ . - only (no path '
                          'separators, no leading dot, no "..")')
    return name


def check_not_dangling(path: Path, what: str) -> None:
    """OutputError if ``path`` is a symbolic link that leads nowhere: to a missing target
    (nothing can be created through it) or round a loop of links."""
    if path.is_symlink() and not path.exists():
        real_path(path, what)   # a loop: said so
        raise OutputError(f'{what} {path} is a symbolic link to {os.readlink(path)}, which '
                          'does not exist; give a real folder, or create its target first')


def real_path(path: typing.Union[str, Path], what: str) -> Path:
    """``path`` with its links resolved; OutputError naming ``what`` on a link loop (a link
    that points, through others, back at itself: nothing can be read or written there)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):   # pathlib: 'Symlink loop from ...'; ELOOP
        raise OutputError(f'{what} {path}: a loop of symbolic links (it points back at '
                          'itself); give the real path') from None


def writable_folder(path: typing.Union[str, Path], what: str = 'output folder',
                    create: bool = True) -> Path:
    """Create ``path`` if needed and prove it takes a file; OutputError saying why not.

    ``create=False`` leaves the disk untouched: the folder, or the nearest folder above it
    that exists, must be writable (checked with os.access).
    """
    out = Path(path)
    check_not_dangling(out, what)
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
    check_not_dangling(path, what)
    if path.is_dir():
        raise OutputError(f'{what} {path} is a folder')
    writable_folder(path.parent, f'folder of the {what}', create)
    return path


def staging_folder(parent: typing.Union[str, Path], name: str) -> Path:
    """A new hidden folder ``.<name>.partial-<pid>-<random>`` in ``parent`` to build an
    output in before it is renamed into place (same file system: one rename).

    Made with the umask's permissions (not mkdtemp's 0700: the output must stay readable
    by the lab's other users), and never a name a user would pick. Leftovers of ``name``
    whose process is gone (a SIGKILL, an out-of-memory kill) are removed first.
    """
    import uuid
    parent = Path(parent)
    remove_stale_partials(parent, name)
    path = parent / f'.{name}{PARTIAL_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}'
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f'cannot create a folder in {parent}: {exc.strerror or exc}') from None
    return path


def remove_stale_partials(parent: typing.Union[str, Path], name: str) -> typing.List[Path]:
    """Remove the staging folders of ``name`` in ``parent`` whose process is gone (killed
    before it could clean up); those of a running process stay. The removed ones."""
    import shutil
    prefix = f'.{name}{PARTIAL_MARKER}'
    removed = []
    for stale in sorted(Path(parent).glob(prefix + '*')):
        pid = stale.name[len(prefix):].split('-')[0]
        if stale.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT, SIGTERM and SIGHUP (main thread) while a few renames put an output in
    place, so an interrupt cannot leave half of it; a held signal is delivered after."""
    import signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def undone_on_failure(folder: typing.Union[str, Path], names: typing.Iterable[str] = ()):
    """Make ``folder`` (and its missing parents) for a block that writes ``names`` in it; if
    the block fails (a full disk, Ctrl-C), the names it created and the folders it made are
    removed again. Yields the folder."""
    import shutil
    folder = Path(folder)
    made = [p for p in (folder, *folder.parents) if not p.exists()]
    fresh = [folder / name for name in names if not (folder / name).exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    except BaseException:
        for path in fresh:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for empty in made:
            with contextlib.suppress(OSError):   # the error that got here is the one to tell
                if empty.is_dir() and not any(empty.iterdir()):
                    empty.rmdir()
        raise


def write_text_atomically(path: typing.Union[str, Path], text: str) -> Path:
    """Write ``text`` to ``path`` through a hidden file beside it, renamed into place: a full
    disk or an interrupt leaves the old file or none, never an empty or cut one."""
    path = Path(path)
    tmp = path.parent / f'.{path.name}{PARTIAL_MARKER}{os.getpid()}'
    with undone_on_failure(path.parent, [tmp.name]):
        try:
            tmp.write_text(text, encoding='utf-8')
            os.replace(tmp, path)
        except OSError as exc:   # a full disk fails at close, where no file name is attached
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    return path


def check_new_folder(path: typing.Union[str, Path], what: str = '--out') -> Path:
    """``path`` if it is absent or an empty folder, else OutputError (nothing is written)."""
    out = Path(path)
    check_not_dangling(out, what)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f'{what} {out} exists and is not empty; refusing to write into it '
                          '(choose a new folder)')
    return out


@contextlib.contextmanager
def new_folder(path: typing.Union[str, Path], what: str = '--out'):
    """Build the new folder ``path`` (absent or empty, else OutputError) in a hidden staging
    folder beside it, yielded; renamed to ``path`` when the block ends, removed if it fails
    (an interrupted run leaves no half of it)."""
    import shutil
    out = check_new_folder(path, what)
    writable_folder(out.parent, f'folder of {what}')
    stage = staging_folder(out.parent, out.name)
    try:
        yield stage
        with deferred_signals():
            if out.exists():
                out.rmdir()  # empty, checked above
            stage.rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
