"""One sampler, one backend list, one pipeline factory and one controller_mode default.

Each is checked by what the code does: a counting sampler both pipelines must go through,
the backend names each chooser accepts, a factory spy each caller must hit, and a changed
dataclass default that every consumer must follow.
"""

import dataclasses
import json
import types

import micro_model
import numpy as np
from PIL import Image
import pytest
import torch

from vag_ros.engines.backends import BACKENDS
from vag_ros.model.config import load_model_config
from vag_ros.model.sampler import SynchronizedEuler

STATE = (0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02)  # the world's home pose, rad (gripper m)
INSTRUCTION = 'pick up the red block'
# the backends, and names a second list might add or spell otherwise (bench's torch-compile)
CANDIDATES = BACKENDS + ('torch-compile', 'openvino', 'Torch')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A random-weight micro joint checkpoint, 2 sampling steps, for the package's arm."""
    from vag_ros.model.checkpoint import save_checkpoint
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.vag import VagModel
    from vag_ros.robot.description import load_robot_description
    config = micro_model.micro_config(num_steps=2)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp('ckpt'), VagModel(config), config,
                           ActionNormalizer.identity(config.action.dim),
                           robot=load_robot_description())


def first_frame(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8)


class ParameterNode:
    """A node's parameters without DDS, as rclpy sets them: a value the launch file or graph
    gives (parameter_overrides) wins over the default the node declares."""

    def __init__(self, overrides=()):
        self.overrides, self.values = dict(overrides), {}

    def has_parameter(self, name):
        return name in self.values

    def declare_parameter(self, name, default, descriptor=None):
        self.values[name] = self.overrides.get(name, default)

    def get_parameter(self, name):
        return types.SimpleNamespace(value=self.values[name])


def node_config(spec, cls):
    """The config the node of graph ``spec`` runs with (its ``declare_config``)."""
    pytest.importorskip('rclpy')
    from vag_ros.ros.parameters import declare_config
    return declare_config(ParameterNode(spec.parameter_dict()), cls)


def spec_of(specs, name):
    return next(s for s in specs if s.name == name)


# --- one sampler ------------------------------------------------------------------------


def test_the_torch_model_and_the_torch_engine_sample_with_the_one_sampler(
        monkeypatch, checkpoint):
    """VagPipeline and the engine pipeline on the torch runtime each integrate through
    SynchronizedEuler.run and its flow.euler_step (video and actions per step), and so
    generate the same episode for one seed."""
    from vag_ros.engines.engine_pipeline import EnginePipeline, open_engine
    from vag_ros.engines.factory import load_pipeline
    from vag_ros.model import flow
    from vag_ros.model.pipeline import VagPipeline
    runs, steps = [], []
    run, euler_step = SynchronizedEuler.run, flow.euler_step

    def counted_run(self, step, x, a, num_steps, callback=None):
        runs.append(num_steps)
        return run(self, step, x, a, num_steps, callback)

    def counted_step(*args, **kwargs):
        steps.append(args[0].shape)
        return euler_step(*args, **kwargs)

    monkeypatch.setattr(SynchronizedEuler, 'run', counted_run)
    monkeypatch.setattr(flow, 'euler_step', counted_step)
    torch_model = load_pipeline('torch', checkpoint)
    torch_engine = open_engine(None, 'torch', checkpoint=checkpoint)
    assert isinstance(torch_model, VagPipeline) and isinstance(torch_engine, EnginePipeline)
    assert torch_engine.step.backend == 'torch'
    results = []
    for pipe in (torch_model, torch_engine):
        runs.clear()
        steps.clear()
        results.append(pipe.generate(first_frame(), INSTRUCTION, seed=4, num_steps=3,
                                     state=np.array(STATE)))
        assert runs == [3]
        assert len(steps) == 2 * 3 and len(set(steps)) == 2  # video and actions, 3 steps
    np.testing.assert_array_equal(results[0].video, results[1].video)
    np.testing.assert_array_equal(results[0].actions, results[1].actions)


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


# --- one backend list -------------------------------------------------------------------


def accepted(names, accepts):
    """The names in ``names`` for which ``accepts(name)`` raises nothing."""
    from vag_ros.errors import VagError
    out = []
    for name in names:
        try:
            accepts(name)
        except (SystemExit, VagError):
            continue
        out.append(name)
    return tuple(out)


def test_every_backend_choice_is_the_one_list(monkeypatch, capsys):
    """vag-ros generate and synthesize, the generator node's config and the launch file's
    backend argument accept the names of engines.backends.BACKENDS and no other."""
    from test_launch_files import _launch_module, _launched
    from vag_ros.cli import build_parser
    from vag_ros.ros.configs import GeneratorNodeConfig
    parser = build_parser()
    commands = {
        'generate': ['--checkpoint', 'c', '--instruction', 'i', '--out', 'o'],
        'synthesize': ['--checkpoint', 'c', '--out', 'o'],
    }
    for command, given in commands.items():
        def parses(name):
            assert parser.parse_args([command, *given, '--backend', name]).backend == name
        assert accepted(CANDIDATES, parses) == BACKENDS, command
    assert accepted(CANDIDATES, lambda name: GeneratorNodeConfig(backend=name)) == BACKENDS
    module = _launch_module(monkeypatch, 'generate_and_replay.launch.py')

    def launched(name):  # what the generator node configures with under backend:=name
        pytest.importorskip('rclpy')
        from vag_ros.ros.parameters import declare_parameters, read_config
        node = ParameterNode(_launched(module, backend=name)['vag_generator'][0])
        declare_parameters(node, GeneratorNodeConfig)
        assert read_config(node, GeneratorNodeConfig).backend == name
    assert accepted(CANDIDATES, launched) == BACKENDS
    capsys.readouterr()  # argparse's refusals


# --- one pipeline factory ---------------------------------------------------------------


class Loaded(Exception):
    """What the factory spy raises in place of loading a pipeline."""


def run_generate(checkpoint, tmp_path, backend, engine):
    from vag_ros.cli import main
    Image.fromarray(first_frame()).save(tmp_path / 'first.png')
    main(['generate', '--checkpoint', str(checkpoint), '--image', str(tmp_path / 'first.png'),
          '--state', ','.join(map(str, STATE)), '--instruction', INSTRUCTION,
          '--out', str(tmp_path / 'out'), '--backend', backend,
          *(['--engine', engine] if engine else [])])


def run_synthesize(checkpoint, tmp_path, backend, engine):
    from vag_ros.cli import main
    frames = tmp_path / 'frames'
    frames.mkdir()
    Image.fromarray(first_frame()).save(frames / 'first.png')
    (frames / 'scenes.json').write_text(json.dumps(
        [{'image': 'first.png', 'state': list(STATE), 'instruction': INSTRUCTION}]))
    main(['synthesize', '--checkpoint', str(checkpoint), '--first-frames', str(frames),
          '--out', str(tmp_path / 'out'), '--quiet', '--backend', backend,
          *(['--engine', engine] if engine else [])])


def configure_generator(checkpoint, tmp_path, backend, engine):
    """The generator node's configure step (its _load) on parameters, without DDS."""
    pytest.importorskip('rclpy')
    from vag_ros.ros.configs import GeneratorNodeConfig
    from vag_ros.ros.generator_node import GeneratorNode
    from vag_ros.ros.parameters import declare_parameters
    node = ParameterNode({'checkpoint': str(checkpoint), 'backend': backend,
                          'engine_dir': engine or ''})
    declare_parameters(node, GeneratorNodeConfig)
    GeneratorNode._load(node)


@pytest.mark.parametrize('load', [run_generate, run_synthesize, configure_generator],
                         ids=['generate', 'synthesize', 'generator-node'])
def test_every_caller_loads_through_the_one_factory(monkeypatch, checkpoint, tmp_path, load):
    """Whatever the backend, the pipeline comes from engines.factory.load_pipeline."""
    from vag_ros.engines import factory
    calls = []

    def spy(backend, checkpoint=None, engine_dir=None, device=None, **options):
        calls.append((backend, str(checkpoint), engine_dir or None))
        raise Loaded

    monkeypatch.setattr(factory, 'load_pipeline', spy)
    engine = tmp_path / 'engine'  # never opened (the spy stops first); synthesize hashes
    engine.mkdir()                 # its manifest into the run's identity
    (engine / 'manifest.json').write_text('{}')
    engine = str(engine)
    for backend, folder in (('torch', None), ('onnxruntime', engine)):
        work = tmp_path / backend
        work.mkdir()
        with pytest.raises(Loaded):
            load(checkpoint, work, backend, folder)
        assert calls.pop() == (backend, str(checkpoint), folder)


# --- one controller_mode default --------------------------------------------------------


def set_default(monkeypatch, cls, name, value):
    """Give field ``name`` of dataclass ``cls`` another default, as an edit of it would."""
    fields = [f.name for f in dataclasses.fields(cls)]
    defaults = list(cls.__init__.__defaults__)  # those of the last len(defaults) fields
    defaults[fields.index(name) - (len(fields) - len(defaults))] = value
    monkeypatch.setattr(cls.__init__, '__defaults__', tuple(defaults))
    monkeypatch.setattr(cls.__dataclass_fields__[name], 'default', value)
    assert getattr(cls(), name) == value


@pytest.mark.parametrize('mode', ['joint_trajectory', 'forward_position'])
def test_one_controller_mode_default(monkeypatch, tmp_path, mode):
    """ReplayNodeConfig's controller_mode default is the one the replay node runs with
    from the graph, the launch file and the demo when none is given: change it there and
    all of them follow; a mode given on the demo's command line still wins."""
    pytest.importorskip('rclpy')
    from test_launch_files import _launch_module, _launched
    from vag_ros.cli import build_parser
    from vag_ros.ros.configs import ReplayNodeConfig
    from vag_ros.ros.demo import demo_graph
    from vag_ros.ros.graph import generate_and_replay
    # joint_trajectory_controller: what a ros2_control arm most often runs
    assert ReplayNodeConfig().controller_mode == 'joint_trajectory'
    set_default(monkeypatch, ReplayNodeConfig, 'controller_mode', mode)
    replay = spec_of(generate_and_replay(), 'vag_replay')
    assert node_config(replay, ReplayNodeConfig).controller_mode == mode
    module = _launch_module(monkeypatch, 'generate_and_replay.launch.py')
    replay = types.SimpleNamespace(parameter_dict=lambda: _launched(module)['vag_replay'][0])
    assert node_config(replay, ReplayNodeConfig).controller_mode == mode
    described = {a.args[0]: a.kwargs['description']
                 for a in module.generate_launch_description().args[0][:-1]}
    assert mode in described['controller_mode']
    for argv, want in ((['demo'], mode),
                       (['demo', '--controller-mode', 'forward_position'], 'forward_position')):
        args = build_parser().parse_args(argv)
        specs = demo_graph(str(tmp_path / 'no-checkpoint'), tmp_path, args.controller_mode,
                           args.params, safety_file=args.safety_file,
                           controller=args.controller)
        assert node_config(spec_of(specs, 'vag_replay'), ReplayNodeConfig).controller_mode \
            == want
