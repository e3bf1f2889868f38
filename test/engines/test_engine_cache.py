"""The demo's engine cache: exported once per checkpoint, reused, never stale."""

import shutil

from engine_helpers import save_micro_checkpoint

from vag_ros.engines.engine_cache import cached_engine_dir, ensure_engine
from vag_ros.engines.engine_pipeline import open_engine


def test_engine_is_exported_once_and_follows_the_checkpoint(checkpoint, tmp_path):
    lines = []
    first = ensure_engine(checkpoint, tmp_path / 'engines', log=lines.append)
    assert first == cached_engine_dir(checkpoint, tmp_path / 'engines')
    assert (first / 'manifest.json').is_file() and 'exporting' in lines[-1]
    stamp = (first / 'manifest.json').stat().st_mtime_ns
    assert ensure_engine(checkpoint, tmp_path / 'engines', log=lines.append) == first
    assert 'exported earlier' in lines[-1]
    assert (first / 'manifest.json').stat().st_mtime_ns == stamp  # not exported again
    open_engine(first, 'onnxruntime', checkpoint=checkpoint)  # it is this checkpoint's
    # other weights under the same folder name: another cache folder, not the stale one
    changed = tmp_path / checkpoint.name
    shutil.copytree(checkpoint, changed)
    save_micro_checkpoint(changed, seed=7)
    assert cached_engine_dir(changed, tmp_path / 'engines') != first
