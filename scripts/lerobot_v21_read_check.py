"""Load a LeRobot v2.1 data set as openpi's data loader does and print a JSON summary.

openpi (``src/openpi/training/data_loader.py``, ``create_torch_dataset``) opens
``LeRobotDatasetMetadata(repo_id)`` and ``LeRobotDataset(repo_id, delta_timestamps={action
key: [t / fps for t in range(action_horizon)]})`` from ``$HF_LEROBOT_HOME/<repo_id>``, and
with ``prompt_from_task`` takes the prompt from ``meta.tasks[task_index]``. This does the
same with lerobot's own v2.1 reader, in an environment where it installs (not the project's:
lerobot pins torch < 2.8 there), e.g. ``python3 -m venv /tmp/lerobot-v21 &&
/tmp/lerobot-v21/bin/pip install lerobot==0.3.3``, then ``HF_LEROBOT_HOME=HOME
HF_HUB_OFFLINE=1 /tmp/lerobot-v21/bin/python scripts/lerobot_v21_read_check.py REPO_ID
HORIZON``. The pyav video backend needs no system FFmpeg.
"""

import json
import sys

import numpy as np

try:   # lerobot 0.3.x; openpi's pinned commit names it lerobot.common.datasets
    from lerobot.datasets import lerobot_dataset
except ImportError:
    from lerobot.common.datasets import lerobot_dataset


def main(repo_id: str, horizon: int) -> None:
    meta = lerobot_dataset.LeRobotDatasetMetadata(repo_id)
    dataset = lerobot_dataset.LeRobotDataset(
        repo_id, delta_timestamps={'action': [t / meta.fps for t in range(horizon)]},
        video_backend='pyav')
    frames = []
    for i in range(len(dataset)):
        item = dataset[i]
        frames.append({
            'episode_index': int(item['episode_index']),
            'prompt': meta.tasks[int(item['task_index'])],
            'state': item['observation.state'].numpy().tolist(),
            'actions': item['action'].numpy().tolist(),           # (horizon, D)
            'videos': {k: float(item[k].float().mean()) for k in meta.video_keys}})
    print(json.dumps({'codebase_version': meta.info['codebase_version'], 'fps': meta.fps,
                      'num_frames': dataset.num_frames, 'num_episodes': dataset.num_episodes,
                      'video_keys': meta.video_keys, 'frames': frames,
                      'stats_mean': {k: np.asarray(v['mean']).tolist()
                                     for k, v in dataset.meta.stats.items()}}))


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
