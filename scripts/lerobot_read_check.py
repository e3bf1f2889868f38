"""Read a data set with lerobot's own LeRobotDataset and print a JSON summary.

Runs where lerobot is installed: ``make lerobot`` (.venv-lerobot: vag_ros with lerobot 0.4.4
and torch 2.10), then ``HF_HUB_OFFLINE=1 .venv-lerobot/bin/python
scripts/lerobot_read_check.py DATASET``. The pyav video backend needs no system FFmpeg.
"""

import json
import sys

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def main(root: str) -> None:
    dataset = LeRobotDataset('local/vag_ros', root=root, video_backend='pyav')
    episodes = []
    for e in range(dataset.num_episodes):
        start = int(dataset.meta.episodes[e]['dataset_from_index'])
        end = int(dataset.meta.episodes[e]['dataset_to_index'])
        items = [dataset[i] for i in range(start, end)]
        video_keys = dataset.meta.video_keys
        episodes.append({
            'task': items[0]['task'],
            'state': np.stack([i['observation.state'].numpy() for i in items]).tolist(),
            'action': np.stack([i['action'].numpy() for i in items]).tolist(),
            'videos': {k: [float(i[k].float().mean()) for i in items] for k in video_keys}})
    print(json.dumps({'fps': dataset.fps, 'num_frames': dataset.num_frames,
                      'features': sorted(dataset.features), 'episodes': episodes}))


if __name__ == '__main__':
    main(sys.argv[1])
