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
