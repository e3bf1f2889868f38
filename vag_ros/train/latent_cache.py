"""Training data larger than memory: encoded windows cached on disk, read memory-mapped.

``build_latent_cache`` reads the episode bags one at a time (the action statistics in a
first pass, then every window encoded), and writes safetensors shards of ``shard_windows``
windows (latents, text embeddings and masks, normalized actions, observation frames, states)
plus the fitted codec, the normalizer and ``manifest.json``: the sha256 of the model config,
the data (every bag's metadata and file sizes), the window stride and the codec. A cache
whose manifest differs from what a run would build is refused, never reused.
``CachedEpisodeDataset`` has EpisodeDataset's interface and reads only the rows a batch needs.
"""

import hashlib
import json
import os
from pathlib import Path
import shutil
import typing

import torch

from vag_ros.checksums import verify_file, write_checksums
from vag_ros.errors import EpisodeError
from vag_ros.model.codecs import build_codec
from vag_ros.model.normalization import ActionNormalizer
from vag_ros.model.text import build_text_encoder
from vag_ros.train.dataset import (encode_clips, encode_instructions,
                                   episode_window_actions, episode_windows, fit_codec,
                                   fit_normalizer, normalize_actions)

MANIFEST = 'manifest.json'
FORMAT = 'vag_ros.latent_cache.v1'
CODEC = 'codec.safetensors'
FIELDS = ('latents', 'text_emb', 'text_mask', 'actions', 'observation_frames', 'states')


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def data_fingerprint(bags: typing.Sequence[Path]) -> str:
    """sha256 over every bag's name, metadata.yaml and file sizes."""
    entries = []
    for bag in bags:
        files = sorted(p for p in bag.iterdir() if p.is_file())
        entries.append([bag.name, (bag / 'metadata.yaml').read_text(),
                        [(p.name, p.stat().st_size) for p in files]])
    return _sha(entries)


def _tensor_sha(tensors: typing.Mapping[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_key(model_config, bags, window_stride: int, codec=None, normalizer=None) -> dict:
    """What a cache must have been built from to be used: hashes of its inputs. A codec
    or normalizer not given yet ('fit') is the one the cache fitted and stores."""
    fitted = codec is not None and getattr(codec, 'fitted', True)
    return {'format': FORMAT, 'model_config': _sha(model_config.to_dict()),
            'data': data_fingerprint(bags), 'window_stride': int(window_stride),
            'codec': _tensor_sha(codec.state_dict()) if fitted else 'fit',
            'normalizer': 'fit' if normalizer is None else
            _tensor_sha(normalizer.to_tensors('n.'))}


def build_latent_cache(model_config, bags: typing.Sequence[Path], cache_dir, codec=None,
                       normalizer: typing.Optional[ActionNormalizer] = None,
                       window_stride: int = 0, shard_windows: int = 256,
                       fit_windows: int = 64, encode_batch: int = 8, device='cpu',
                       progress: bool = False) -> Path:
    """Write the cache of ``bags`` into ``cache_dir`` (new); a pca codec is fitted on the
    first ``fit_windows`` windows. Only one episode's frames are in memory at a time."""
    from safetensors.torch import save_file
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and any(cache_dir.iterdir()):
        raise EpisodeError(f'{cache_dir}: exists and is not empty; a cache is built into a '
                           'new folder')
    video = model_config.video
    codec = (codec or build_codec(video.codec, video.latent_channels)).to(device)
    if normalizer is None:   # first pass: the action statistics (no frames decoded)
        pairs = [episode_window_actions(model_config, path, window_stride) for path in bags]
        normalizer = fit_normalizer(model_config, torch.cat([a for a, _ in pairs]),
                                    torch.cat([s for _, s in pairs]))
    if not getattr(codec, 'fitted', True):   # pca: fitted on the first fit_windows windows
        fit_frames = []
        for path in bags:
            fit_frames += [w.frames for w in episode_windows(model_config, path,
                                                             window_stride)]
            if len(fit_frames) >= fit_windows:
                break
        fit_codec(codec, fit_frames[:fit_windows], encode_batch, device, progress)
    text_encoder = build_text_encoder(model_config.text)
    staging = cache_dir.with_name(f'.{cache_dir.name}.partial')
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shards, buffer, windows, instructions = [], {f: [] for f in FIELDS}, [], []

    def flush():
        if not buffer['latents']:
            return
        name = f'shard_{len(shards):05d}.safetensors'
        save_file({f: torch.cat(buffer[f]).contiguous() for f in FIELDS}, str(staging / name))
        shards.append({'file': name, 'windows': sum(len(x) for x in buffer['latents'])})
        for f in FIELDS:
            buffer[f].clear()

    for path in bags:   # second pass: one episode at a time, encoded and appended
        items = episode_windows(model_config, path, window_stride)
        states = torch.stack([w.state for w in items])                     # (n, D)
        emb, mask = encode_instructions(text_encoder, [w.instruction for w in items])
        buffer['latents'].append(encode_clips(codec, [w.frames for w in items],
                                              encode_batch, device))
        buffer['text_emb'].append(emb)
        buffer['text_mask'].append(mask)
        buffer['actions'].append(normalize_actions(
            model_config, torch.stack([w.actions for w in items]), states, normalizer))
        buffer['observation_frames'].append(torch.stack(
            [torch.from_numpy(w.observed).permute(2, 0, 1) for w in items]))  # (n, 3, S, S)
        buffer['states'].append(states)
        windows += [[path.name, w.start] for w in items]
        instructions += [w.instruction for w in items]
        if sum(len(x) for x in buffer['latents']) >= shard_windows:
            flush()
    flush()
    save_file({k: v.detach().cpu().contiguous() for k, v in codec.state_dict().items()}
              or {'empty': torch.zeros(0)}, str(staging / CODEC))
    key = cache_key(model_config, bags, window_stride, codec, normalizer)  # as fitted
    stats = {k: v.tolist() for k, v in normalizer.to_tensors('').items()}
    (staging / MANIFEST).write_text(json.dumps(dict(
        key, shards=shards, windows=windows, instructions=instructions,
        normalizer_kind=normalizer.kind, normalizer_stats=stats), indent=1) + '\n')
    write_checksums(staging, [s['file'] for s in shards] + [CODEC, MANIFEST])
    os.replace(staging, cache_dir)
    return cache_dir


class CachedEpisodeDataset(torch.utils.data.Dataset):
    """EpisodeDataset's interface over a cache folder; shards are opened memory-mapped."""

    def __init__(self, cache_dir, model_config, bags: typing.Sequence[Path],
                 window_stride: int = 0, codec=None,
                 normalizer: typing.Optional[ActionNormalizer] = None, verify: bool = False):
        from safetensors import safe_open
        self.cache_dir = Path(cache_dir)
        path = self.cache_dir / MANIFEST
        if not path.is_file():
            raise EpisodeError(f'{self.cache_dir}: no {MANIFEST}: not a latent cache')
        verify_file(path, 'latent cache manifest')
        manifest = json.loads(path.read_text())
        want = cache_key(model_config, bags, window_stride, codec, normalizer)
        stale = [k for k in want if manifest.get(k) != want[k]
                 and not (k in ('codec', 'normalizer') and want[k] == 'fit')]
        if stale:
            raise EpisodeError(f'{self.cache_dir}: stale latent cache: its {stale} differ from '
                               'this run\'s (data, model config, window stride or codec '
                               'changed); build a new one (another --cache folder)')
        if verify:
            for shard in manifest['shards']:
                verify_file(self.cache_dir / shard['file'], 'latent cache shard')
        self.windows = [tuple(w) for w in manifest['windows']]
        self.instructions = manifest.get('instructions')  # None: built before caches kept them
        self.normalizer = normalizer or ActionNormalizer.from_tensors(
            {k: torch.tensor(v) for k, v in manifest['normalizer_stats'].items()}, '')
        self.codec = codec or self._codec(model_config)
        try:
            self._shards = [safe_open(str(self.cache_dir / s['file']), framework='pt')
                            for s in manifest['shards']]
        except Exception as exc:  # noqa: B902 - SafetensorError, OSError: a broken shard
            raise EpisodeError(f'{self.cache_dir}: corrupt latent cache shard: {exc}; build '
                               'a new one (another --cache folder)') from None
        self._starts = []
        total = 0
        for shard in manifest['shards']:
            self._starts.append(total)
            total += shard['windows']
        self._length = total

    def _codec(self, model_config):
        from safetensors.torch import load_file
        video = model_config.video
        codec = build_codec(video.codec, video.latent_channels)
        state = load_file(str(self.cache_dir / CODEC))
        if 'empty' not in state:
            codec.load_state_dict(state)
        return codec

    def __len__(self) -> int:
        return self._length

    def batch(self, index: torch.Tensor, device: typing.Union[str, torch.device] = 'cpu'):
        """Gather items ``index`` (B,) from the shards: latents, text_emb, text_mask,
        actions_norm, observation frames (B, 3, S, S) in [-1, 1], states (B, D)."""
        rows = {f: [] for f in FIELDS}
        for k in index.tolist():
            s = max(i for i, start in enumerate(self._starts) if start <= k)
            r = k - self._starts[s]
            for f in FIELDS:
                rows[f].append(self._shards[s].get_slice(f)[r:r + 1])
        out = {f: torch.cat(rows[f]) for f in FIELDS}
        frames = out['observation_frames'].float() / 127.5 - 1.0
        fields = (out['latents'], out['text_emb'], out['text_mask'], out['actions'], frames,
                  out['states'])
        return tuple(x.to(device) for x in fields)
