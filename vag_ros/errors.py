"""Typed errors of the core; every message names the field or file and the bad value."""


class VagError(Exception):
    """Base class of every error vag_ros raises on bad input."""


class ConfigError(VagError):
    """A configuration field is missing, of the wrong type or out of range."""


class SimError(VagError):
    """The embedded world was asked for something it cannot do (unknown task, bad seed...)."""


class EpisodeError(VagError):
    """An episode record or bag is malformed, foreign, corrupt or cannot be written."""


class CheckpointError(VagError):
    """A checkpoint is missing, corrupt or does not match its config."""


class TrajectoryError(VagError):
    """A joint trajectory failed validation (names, limits, finiteness, start state)."""


class EngineError(VagError):
    """An engine is missing, corrupt, foreign (checkpoint, TensorRT, GPU) or cannot run."""


class ConversionError(VagError, ValueError):
    """A message does not hold what its fields claim (encoding, size, step, lengths)."""


def read_utf8(path, what: str, error: type = VagError) -> str:
    """The text of ``path``; ``error`` naming it as ``what`` when it cannot be read or is
    not UTF-8 (a file saved in another encoding, or binary)."""
    from pathlib import Path
    path = Path(path)
    try:
        return path.read_text(encoding='utf-8')
    except UnicodeDecodeError as exc:
        raise error(f'{path} ({what}) is not UTF-8 text ({exc.reason} at byte {exc.start}): '
                    'restore it or save it as UTF-8') from None
    except OSError as exc:
        raise error(f'cannot read {path} ({what}): {exc.strerror or exc}') from None
