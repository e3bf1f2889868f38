"""The sampler loop, the backend list and the backend choice each exist once."""

from pathlib import Path
import re

import torch

from vag_ros.model.config import load_model_config
from vag_ros.model.sampler import SynchronizedEuler

PACKAGE = Path(__file__).resolve().parents[1] / 'vag_ros'


def sources():
    return {p.relative_to(PACKAGE).as_posix(): p.read_text() for p in PACKAGE.rglob('*.py')}


def where(pattern: str):
    return sorted(name for name, text in sources().items() if re.search(pattern, text))


def test_the_euler_loop_is_the_sampler_s_alone():
    assert where(r'euler_step\(|euler_timesteps\(') == ['model/flow.py', 'model/sampler.py']
    # the torch model and the engines sample with it; the bench takes a step's t from it
    users = ['engines/bench.py', 'engines/engine_pipeline.py', 'model/vag.py']
    assert where(r'SynchronizedEuler\(') == users


def test_one_backend_list_and_one_factory():
    assert where(r"\(\s*'torch',\s*'onnxruntime',\s*'tensorrt'\s*\)") == ['engines/backends.py']
    # only the factory decides between the checkpoint and an engine folder
    assert where(r'open_engine\(') == ['engines/engine_pipeline.py', 'engines/factory.py']
    for caller in ('ros/generator_node.py', 'commands/generate.py', 'commands/bench.py'):
        assert 'from vag_ros.engines.factory import load_pipeline' in sources()[caller], caller
    assert 'load_pipeline(args)' in sources()['commands/synthesize.py']  # generate's


def test_noise_order_is_fixed_and_shared_by_the_ablation():
    config = load_model_config('tiny')
    sampler = SynchronizedEuler(config)
    first = torch.zeros(1, config.video.latent_channels, 1, 4, 4)
    x, a = sampler.noise(first, torch.Generator().manual_seed(3))
    none, a_only = sampler.noise(first, torch.Generator().manual_seed(3), with_video=False)
    assert none is None and torch.equal(a, a_only)
    assert torch.equal(x[:, :, :1], first)  # the first latent stays clean
    generator = torch.Generator().manual_seed(3)
    video_noise = torch.randn(x.shape, generator=generator)
    assert torch.equal(x[:, :, 1:], video_noise[:, :, 1:])  # the video's noise first
    assert torch.equal(a, torch.randn(a.shape, generator=generator))


def test_the_loop_integrates_both_streams_on_one_timestep_sequence():
    config = load_model_config('tiny')
    sampler = SynchronizedEuler(config)
    seen, calls = [], []

    def step(x, a, t):  # constant velocities: x(0) = x(1) - v
        seen.append(float(t[0]))
        return torch.ones_like(x), 2 * torch.ones_like(a)

    x0, a0 = torch.zeros(1, 2, 3, 2, 2), torch.zeros(1, 4, 3)
    x, a = sampler.run(step, x0, a0, 5, lambda i, n: calls.append((i, n)))
    assert torch.allclose(x, -torch.ones_like(x)) and torch.allclose(a, -2 * torch.ones_like(a))
    assert seen == sorted(seen, reverse=True) and seen[0] == 1.0 and len(seen) == 5
    assert calls == [(i, 5) for i in range(1, 6)]
    assert sampler.settings() == (config.sampler.num_steps, config.sampler.guidance_scale)
    assert sampler.settings(7, 2.0) == (7, 2.0)


def test_one_controller_mode_default():
    """ReplayNodeConfig's default is the replay's, the launch file's, the graph's and the
    demo's: the others set controller_mode only where the user gave one."""
    from vag_ros.cli import build_parser
    from vag_ros.ros.configs import ReplayNodeConfig
    from vag_ros.ros.graph import generate_and_replay
    # joint_trajectory_controller: what a ros2_control arm most often runs
    assert ReplayNodeConfig().controller_mode == 'joint_trajectory'
    mode = "'(forward_position|joint_trajectory)'"
    literal = (rf"controller_mode(\s*:\s*[\w.\[\]]+)?\s*=\s*(\w+\()?{mode}"  # described(...)
               rf"|'controller_mode',\s*{mode}|controller-mode',\s*default='")
    assert where(literal) == ['ros/configs.py']
    launch = (PACKAGE.parent / 'launch' / 'generate_and_replay.launch.py').read_text()
    assert not re.search(literal, launch)
    assert all('controller_mode' not in s.parameter_dict() for s in generate_and_replay())
    assert build_parser().parse_args(['demo']).controller_mode is None
