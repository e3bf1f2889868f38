"""Parity: onnxruntime and torch agree on one step and on a whole episode (fixed seed).

Tolerances (float32, CPU): one step, max |ort - torch| <= 1e-4 + 1e-4 * max |torch| per
output; an episode, video uint8 within 1 level (rounding at a boundary) and joints within
1e-4 rad. The torch runtime runs VagModel.step itself, so its episode equals VagPipeline's
exactly.
"""

from engine_helpers import frame, SeededText, STATE
import numpy as np
import pytest

from vag_ros.engines import io_contract as io
from vag_ros.engines.engine_pipeline import open_engine, pipeline_from_checkpoint
from vag_ros.engines.export import export_engine
from vag_ros.engines.graphs import graph_modules, sample_inputs
from vag_ros.engines.manifest import read_manifest
from vag_ros.engines.onnxruntime_runtime import OnnxRuntimeRuntime
from vag_ros.engines.torch_runtime import TorchRuntime
from vag_ros.model.pipeline import VagPipeline

STEP_ATOL = STEP_RTOL = 1e-4
VIDEO_LEVELS = 1
JOINTS_ATOL = 1e-4
INSTRUCTION = 'pick up the red block'


@pytest.fixture(scope='module')
def pca_engine(pca_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp('engines') / 'pca'
    export_engine(pca_checkpoint, out, log=lambda m: None)
    return out


@pytest.fixture(scope='module')
def refiner_engine(refiner_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp('engines') / 'refiner'
    export_engine(refiner_checkpoint, out, log=lambda m: None)
    return out


def engines(request, names):
    return [(request.getfixturevalue(c), request.getfixturevalue(e)) for c, e in names]


CASES = [('checkpoint', 'engine'), ('cfg_checkpoint', 'cfg_engine'),
         ('pca_checkpoint', 'pca_engine'), ('token_checkpoint', 'token_engine'),
         ('plan_checkpoint', 'plan_engine'), ('refiner_checkpoint', 'refiner_engine')]
IDS = ['patch', 'patch-cfg', 'pca', 'observation-token-cfg', 'plan-cfg', 'pca-refiner']


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_one_step_and_action_branch(request, case):
    checkpoint, engine = engines(request, [case])[0]
    manifest = read_manifest(engine)
    contract = manifest.contract
    pipe = VagPipeline.from_checkpoint(checkpoint)
    modules = graph_modules(pipe.model, pipe.codec, contract)
    for graph in (io.STEP, io.ACTION, io.ENCODER, io.DECODER):
        feeds = sample_inputs(contract.graphs[graph], seed=7)
        want = TorchRuntime(modules[graph], contract.graphs[graph]).infer(feeds)
        got = OnnxRuntimeRuntime(manifest.graph_file(graph), contract.graphs[graph],
                                 threads=1).infer(feeds)
        assert set(got) == set(want) == set(contract.graphs[graph].output_names)
        for name in want:
            bound = STEP_ATOL + STEP_RTOL * float(want[name].abs().max())
            assert got[name].shape == want[name].shape
            assert float((got[name] - want[name]).abs().max()) <= bound, (graph, name)


@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_whole_episode(request, case):
    checkpoint, engine = engines(request, [case])[0]
    image = frame()
    reference = VagPipeline.from_checkpoint(checkpoint, text_encoder=SeededText())
    want = reference.generate(image, INSTRUCTION, seed=5, state=STATE)
    ort = open_engine(engine, 'onnxruntime', checkpoint=checkpoint, threads=1)
    ort.text.cache.clear()
    ort.text.encoder = SeededText()
    got = ort.generate(image, INSTRUCTION, seed=5, state=STATE)
    assert got.video.shape == want.video.shape == (5, 32, 32, 3)
    assert got.video.dtype == np.uint8 and got.actions.shape == want.actions.shape == (5, 7)
    assert np.abs(got.video.astype(int) - want.video).max() <= VIDEO_LEVELS
    np.testing.assert_allclose(got.actions, want.actions, rtol=0, atol=JOINTS_ATOL)
    assert (got.fps, got.seed, got.instruction) == (want.fps, 5, INSTRUCTION)
    assert set(got.timings) == set(want.timings)
    torch_engine = pipeline_from_checkpoint(checkpoint)
    torch_engine.text.encoder = SeededText()
    same = torch_engine.generate(image, INSTRUCTION, seed=5, state=STATE)
    np.testing.assert_array_equal(same.video, want.video)
    np.testing.assert_array_equal(same.actions, want.actions)


def test_guidance_changes_the_episode_on_both_backends(cfg_checkpoint, cfg_engine):
    image = frame()
    ort = open_engine(cfg_engine, threads=1)
    ort.text.encoder = SeededText()
    reference = VagPipeline.from_checkpoint(cfg_checkpoint, text_encoder=SeededText())
    for g in (1.0, 5.0):
        got = ort.generate(image, INSTRUCTION, seed=2, guidance_scale=g, state=STATE)
        want = reference.generate(image, INSTRUCTION, seed=2, guidance_scale=g, state=STATE)
        np.testing.assert_allclose(got.actions, want.actions, rtol=0, atol=JOINTS_ATOL)
    assert not np.allclose(got.actions, ort.generate(image, INSTRUCTION, seed=2,
                                                     guidance_scale=1.0, state=STATE).actions)


def test_cached_instructions_need_no_text_model(engine, checkpoint):
    pipe = open_engine(engine, threads=1)
    result = pipe.generate(frame(), INSTRUCTION, seed=0, num_steps=2, state=STATE)
    assert pipe.text.misses == 0 and pipe.text.encoder is None
    pipe.generate(frame(), 'push the blue block', seed=0, num_steps=2, state=STATE)
    assert pipe.text.misses == 1  # the config's encoder ('none' here), built on first miss
    want = VagPipeline.from_checkpoint(checkpoint).generate(frame(), INSTRUCTION, seed=0,
                                                            num_steps=2, state=STATE)
    np.testing.assert_allclose(result.actions, want.actions, rtol=0, atol=JOINTS_ATOL)


@pytest.mark.parametrize('spinning', [False, True])
def test_thread_pool_spinning_is_a_session_setting(engine, checkpoint, spinning):
    """Off unless asked (idle pools take the cores the text encoder, the next session and the
    ROS executor need), as open_engine builds the sessions; the same outputs either way."""
    options = {} if not spinning else {'spinning': True}
    pipe = open_engine(engine, 'onnxruntime', checkpoint=checkpoint, threads=2, **options)
    for graph, runtime in pipe.runtimes.items():
        entry = runtime.session.get_session_options().get_session_config_entry(
            'session.intra_op.allow_spinning')
        assert entry == ('1' if spinning else '0'), graph
    manifest = read_manifest(engine)
    contract = manifest.contract.graphs[io.STEP]
    feeds = sample_inputs(contract, seed=3)
    reference = OnnxRuntimeRuntime(manifest.graph_file(io.STEP), contract, threads=1)
    got, want = pipe.runtimes[io.STEP].infer(feeds), reference.infer(feeds)
    for name in want:
        assert float((got[name] - want[name]).abs().max()) <= 1e-5 * (
            1 + float(want[name].abs().max()))
