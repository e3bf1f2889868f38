"""openpi's own loader on a vag_ros v2.1 export, with the config of docs/openpi.md.

Runs where openpi imports (not beside vag_ros: it needs numpy < 2, jax 0.5.3, torch 2.7.1 and
the lerobot commit it pins from git, whose ``lerobot.common.datasets`` lerobot 0.3.3 names
``lerobot.datasets``: a module ``lerobot/common/datasets/lerobot_dataset.py`` containing
``from lerobot.datasets.lerobot_dataset import *`` bridges them). Takes the ``python`` block
of docs/openpi.md as written, copies the export's meta/norm_stats.json where that page says,
builds openpi's data config, loads the set with ``create_torch_dataset``, applies the repack,
data and Normalize transforms to every frame, and runs compute_norm_stats.py's data loader
and ``RunningStats`` in one batch and in the config's batches. The model transforms are left
out: their PaliGemma tokenizer downloads from Google Cloud Storage.

    HF_LEROBOT_HOME=HOME HF_HUB_OFFLINE=1 JAX_PLATFORMS=cpu python \
        scripts/openpi_read_check.py OPENPI_CHECKOUT docs/openpi.md HOME ASSETS
"""

import dataclasses
import json
from pathlib import Path
import re
import shutil
import sys

import numpy as np
import openpi.models.model as _model
import openpi.models.pi0_config as pi0_config
import openpi.policies.libero_policy as libero_policy
import openpi.shared.normalize as normalize
import openpi.training.config as _config
import openpi.training.data_loader as _data_loader
import openpi.training.weight_loaders as weight_loaders
import openpi.transforms as _transforms


def doc_config(doc: Path):
    """The TrainConfig of the page's python block, evaluated in openpi's config module."""
    code = re.search(r'```python\n(.*?)```', doc.read_text(), re.S).group(1)
    code = code.replace('\nTrainConfig(\n', '\nconfig = TrainConfig(\n')
    names = dict(vars(_config), np=np, _model=_model, libero_policy=libero_policy,
                 pi0_config=pi0_config, weight_loaders=weight_loaders)
    exec(code, names)
    return names['config']


def main(openpi: Path, doc: Path, home: Path, assets: Path) -> None:
    sys.path.insert(0, str(openpi / 'scripts'))
    import compute_norm_stats
    _config.ModelTransformFactory.__call__ = lambda self, model: _transforms.Group()
    config = dataclasses.replace(doc_config(doc), assets_base_dir=str(assets))
    data_config = config.data.create(config.assets_dirs, config.model)
    norm_file = home / data_config.repo_id / 'meta' / 'norm_stats.json'
    (config.assets_dirs / data_config.asset_id).mkdir(parents=True, exist_ok=True)
    shutil.copy(norm_file, config.assets_dirs / data_config.asset_id)
    data_config = config.data.create(config.assets_dirs, config.model)   # now with the stats
    horizon = config.model.action_horizon
    dataset = _data_loader.create_torch_dataset(data_config, horizon, config.model)
    pipeline = _data_loader.TransformedDataset(dataset, [
        *data_config.repack_transforms.inputs, *data_config.data_transforms.inputs,
        _transforms.Normalize(data_config.norm_stats, data_config.use_quantile_norm)])
    items = [pipeline[i] for i in range(len(pipeline))]
    ours = json.loads(norm_file.read_text())['norm_stats']
    report = {'frames': len(items), 'norm_stats_loaded': sorted(data_config.norm_stats),
              'state': list(np.shape(items[0]['state'])),
              'actions': list(np.shape(items[0]['actions'])),
              'base_image': list(np.shape(items[0]['image']['base_0_rgb'])),
              'prompts': sorted({str(i['prompt']) for i in items}), 'norm_stats': {}}
    for batch in (len(dataset), config.batch_size):
        loader, _ = compute_norm_stats.create_torch_dataloader(
            data_config, horizon, batch, config.model, 0, None)
        stats = {k: normalize.RunningStats() for k in ('state', 'actions')}
        for values in loader:
            for key, running in stats.items():
                running.update(np.asarray(values[key]))
        report['norm_stats'][f'batch {batch}'] = {
            key: {name: float(np.max(np.abs(getattr(running.get_statistics(), name)
                                            - np.asarray(ours[key][name]))))
                  for name in ('mean', 'std', 'q01', 'q99')}
            for key, running in stats.items()}
    print(json.dumps(report))


if __name__ == '__main__':
    main(*map(Path, sys.argv[1:5]))
