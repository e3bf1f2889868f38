"""SHA256SUMS beside the files that move a robot: weights, configs, training states.

The file is in ``sha256sum`` format (``<hex>  <name>`` per line), so ``sha256sum -c
SHA256SUMS`` checks a folder by hand too. Writers record what they wrote
(``write_checksums``); readers verify a file against its folder's record before using it
(``verify_file``): a corrupt, truncated or bit-flipped file is refused, never loaded.
"""

import hashlib
import os
from pathlib import Path
import typing

from vag_ros.errors import CheckpointError, read_utf8

SUMS = 'SHA256SUMS'


def sha256_file(path: typing.Union[str, Path], chunk: int = 2 ** 22) -> str:
    """Hex sha256 of one file, streamed."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def read_checksums(folder: typing.Union[str, Path]) -> typing.Dict[str, str]:
    """{file name: hex sha256} of ``folder``/SHA256SUMS ({} when there is none)."""
    path = Path(folder) / SUMS
    if not path.is_file():
        return {}
    sums = {}
    for number, line in enumerate(read_utf8(path, 'checksum list', CheckpointError)
                                  .splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition('  ')
        if len(digest) != 64 or not name or any(c not in '0123456789abcdef' for c in digest):
            raise CheckpointError(f'{path}: line {number} is not "<sha256>  <file>": '
                                  f'{line[:80]!r}')
        sums[name.strip()] = digest
    return sums


def write_checksums(folder: typing.Union[str, Path], names: typing.Iterable[str]) -> Path:
    """Record the sha256 of ``names`` (files in ``folder``), merged into its SHA256SUMS."""
    folder = Path(folder)
    sums = read_checksums(folder)
    sums.update({name: sha256_file(folder / name) for name in names})
    tmp = folder / (SUMS + '.tmp')
    tmp.write_text(''.join(f'{sums[name]}  {name}\n' for name in sorted(sums)))
    os.replace(tmp, folder / SUMS)
    return folder / SUMS


def verify_file(path: typing.Union[str, Path], what: str = 'file') -> bool:
    """True when ``path`` matches its folder's SHA256SUMS; False when it has no record.

    CheckpointError when the file differs from its record: it is corrupt, truncated or was
    modified after it was written.
    """
    path = Path(path)
    expected = read_checksums(path.parent).get(path.name)
    if expected is None:
        return False
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f'{path} ({what}) is corrupt or truncated: sha256 {actual[:12]}... differs from '
            f'{expected[:12]}... recorded in {path.parent / SUMS} when it was written; '
            'restore the file (or retrain) instead of using it')
    return True
