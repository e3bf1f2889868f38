"""openpi's normalization statistics of a data set (its ``norm_stats.json``).

openpi's ``scripts/compute_norm_stats.py`` feeds every sample of the training set through
the config's transforms into ``openpi.shared.normalize.RunningStats``: ``state`` once per
frame, ``actions`` as each frame's chunk of the next ``action_horizon`` actions that
lerobot's loader hands it (indices past the episode's end clamped to its last frame). It
keeps mean, std (population), and q01 / q99 read off a 5000-bin histogram between the
minimum and the maximum: the lower edge of the bin where the running count reaches q * N.

Here the same numbers come from the frames themselves (each action weighted by how many
chunks hold it), as openpi's estimator gives when it sees all samples in one batch; with
its batches of 32 its histogram is re-binned as the range grows, within a bin or two of it.
They fit a config whose transforms pass ``observation.state`` and ``action`` through as they
are (no ``DeltaActions``); any other config computes its own with openpi's script.
"""

import json
import typing

import numpy as np

FILE = 'norm_stats.json'
HISTOGRAM_BINS = 5000     # RunningStats._num_quantile_bins
EDGE_MARGIN = 1e-10       # its histogram range: [min - margin, max + margin]
QUANTILES = {'q01': 0.01, 'q99': 0.99}


def chunk_weights(length: int, horizon: int) -> np.ndarray:
    """(T,) how many of an episode's T action chunks of ``horizon`` steps hold each frame's
    action, the indices past the end clamped to the last frame."""
    weights = np.minimum(np.arange(length), horizon - 1) + 1.0
    weights[-1] = length * horizon - weights[:-1].sum()
    return weights


def weighted_norm_stats(values: np.ndarray, weights: np.ndarray) -> typing.Dict[str, list]:
    """openpi's NormStats (mean, std, q01, q99) of ``values`` (N, D), row n counted
    ``weights[n]`` times."""
    values = np.asarray(values, dtype=np.float64)
    total = weights.sum()
    mean = weights @ values / total                                     # (D,)
    std = np.sqrt(np.maximum(0.0, weights @ (values - mean) ** 2 / total))
    out = {'mean': mean.tolist(), 'std': std.tolist()}
    quantiles = {key: [] for key in QUANTILES}
    for column in values.T:                                             # (N,) one dimension
        edges = np.linspace(column.min() - EDGE_MARGIN, column.max() + EDGE_MARGIN,
                            HISTOGRAM_BINS + 1)
        running = np.cumsum(np.histogram(column, edges, weights=weights)[0])  # (bins,)
        for key, q in QUANTILES.items():
            quantiles[key].append(float(edges[np.searchsorted(running, q * total)]))
    out.update(quantiles)
    return out


def norm_stats(episodes: typing.Sequence[typing.Tuple[np.ndarray, np.ndarray]],
               action_horizon: int) -> dict:
    """``{'norm_stats': {'state': ..., 'actions': ...}}`` of episodes given as (state (T, D),
    action (T, D)), for a model predicting ``action_horizon`` actions at a time."""
    states = np.concatenate([state for state, _ in episodes])          # (N, D)
    actions = np.concatenate([action for _, action in episodes])       # (N, D)
    chunked = np.concatenate([chunk_weights(len(a), action_horizon) for _, a in episodes])
    return {'norm_stats': {'state': weighted_norm_stats(states, np.ones(len(states))),
                           'actions': weighted_norm_stats(actions, chunked)}}


def write(path, stats: dict) -> None:
    """``stats`` as openpi's ``normalize.save`` lays them out (indent 2)."""
    path.write_text(json.dumps(stats, indent=2) + '\n')
