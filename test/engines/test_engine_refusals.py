"""Loading refuses foreign, corrupt or stale engines with a message that says what to do."""

import importlib.util
import json
import shutil

from engine_helpers import save_micro_checkpoint, STATE
import pytest

from vag_ros.engines import io_contract as io
from vag_ros.engines.engine_pipeline import open_engine
from vag_ros.engines.export import FILES
from vag_ros.engines.manifest import check_plan_environment, read_manifest
from vag_ros.errors import EngineError

HAS_TENSORRT = importlib.util.find_spec('tensorrt') is not None


@pytest.fixture
def copy(engine, tmp_path):
    """A private copy of the session engine, free to damage."""
    return shutil.copytree(engine, tmp_path / 'engine')


def edit_manifest(path, seal=True, **changes):
    """Change manifest fields; ``seal`` recomputes its digest, as an exporter would."""
    from vag_ros.engines.manifest import content_digest
    data = json.loads((path / 'manifest.json').read_text())
    data.update(changes)
    if seal:
        data['digest'] = content_digest(data)
    (path / 'manifest.json').write_text(json.dumps(data))


def test_missing_folder_or_manifest(tmp_path):
    with pytest.raises(EngineError, match='engine folder not found.*vag-ros export'):
        open_engine(tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(EngineError, match='no manifest.json.*export again'):
        open_engine(tmp_path / 'empty')


def test_corrupt_or_foreign_manifest(copy):
    (copy / 'manifest.json').write_text('{"format": "vag_ros.engine", "vers')
    with pytest.raises(EngineError, match='manifest.json is corrupt'):
        read_manifest(copy)
    (copy / 'manifest.json').write_text('{"format": "something.else"}')
    with pytest.raises(EngineError, match='not a vag_ros engine manifest'):
        read_manifest(copy)


def test_wrong_manifest_version(copy):
    edit_manifest(copy, version=99)
    with pytest.raises(EngineError, match='manifest version 99, this vag_ros reads version 2; '
                       'export again'):
        open_engine(copy)


def test_engine_of_another_checkpoint(engine, checkpoint, tmp_path):
    other = save_micro_checkpoint(tmp_path / 'other', seed=1)
    with pytest.raises(EngineError, match=r'model.safetensors differ\); re-export it: vag-ros '
                       r'export --checkpoint .*other --out .* --force'):
        open_engine(engine, 'onnxruntime', checkpoint=other)
    with pytest.raises(EngineError, match='was exported from checkpoint'):
        open_engine(engine, 'torch', checkpoint=other)
    open_engine(engine, 'onnxruntime', checkpoint=checkpoint)  # its own checkpoint loads


def test_truncated_modified_or_missing_graph(copy):
    step = copy / FILES[io.STEP]
    data = step.read_bytes()
    step.write_bytes(data[:1000])
    with pytest.raises(EngineError, match='denoise_step.onnx has 1000 bytes, the manifest says'):
        open_engine(copy)
    step.write_bytes(data[:-64] + bytes(64))
    with pytest.raises(EngineError, match='does not match its sha256.*corrupt or modified'):
        open_engine(copy)
    step.unlink()
    with pytest.raises(EngineError, match='denoise_step.onnx is missing'):
        open_engine(copy)


def test_garbage_graph_that_matches_its_manifest_is_refused_by_onnxruntime(copy):
    from vag_ros.engines.manifest import file_entry
    step = copy / FILES[io.STEP]
    step.write_bytes(b'not an onnx graph')
    manifest = read_manifest(copy)
    manifest.data['graphs'][io.STEP] = dict(file_entry(step, copy), data=[])
    manifest.write(copy)
    with pytest.raises(EngineError, match='onnxruntime cannot load .*denoise_step.onnx'):
        open_engine(copy)


def test_tensorrt_plans_only_load_where_they_were_built(copy):
    manifest = read_manifest(copy)
    gpu = {'name': 'NVIDIA H100 80GB HBM3', 'compute_capability': '9.0'}
    with pytest.raises(EngineError, match=r"no TensorRT plans for precision 'bf16' \(built: "
                       r'none\); build them: vag-ros build-engine'):
        check_plan_environment(manifest, 'bf16', '10.13.0', gpu)
    manifest.data['plans'] = {'bf16': {'tensorrt': '10.13.0', 'gpu': gpu, 'graphs': {}}}
    assert check_plan_environment(manifest, 'bf16', '10.13.0', gpu)['tensorrt'] == '10.13.0'
    with pytest.raises(EngineError) as info:
        check_plan_environment(manifest, 'bf16', '10.14.1',
                               {'name': 'NVIDIA L40S', 'compute_capability': '8.9'})
    message = str(info.value)
    assert 'TensorRT 10.13.0 (installed: 10.14.1)' in message
    assert "GPU name 'NVIDIA H100 80GB HBM3' (this GPU: 'NVIDIA L40S')" in message
    assert "compute_capability '9.0' (this GPU: '8.9')" in message
    assert 'rebuild them here: vag-ros build-engine' in message


@pytest.mark.skipif(HAS_TENSORRT, reason='TensorRT is installed here')
def test_tensorrt_backend_without_tensorrt_says_what_to_do(engine):
    with pytest.raises(EngineError, match='TensorRT is not available here.*use backend '
                       'onnxruntime or torch'):
        open_engine(engine, 'tensorrt')


def test_torch_backend_needs_the_checkpoint_and_engines_need_a_folder(engine):
    with pytest.raises(EngineError, match='backend torch runs the checkpoint'):
        open_engine(engine, 'torch')
    with pytest.raises(EngineError, match='needs an engine folder'):
        open_engine(None, 'onnxruntime')
    with pytest.raises(EngineError, match="backend 'tflite'"):
        open_engine(engine, 'tflite')


def test_guidance_the_engine_cannot_apply(engine):
    import numpy as np
    pipe = open_engine(engine)
    frame = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(EngineError, match='without the classifier-free-guidance pair.*--cfg on'):
        pipe.generate(frame, 'pick up the red block', guidance_scale=2.0, state=STATE)


def test_a_manifest_edited_after_export_is_refused(copy, checkpoint):
    """The normalizer and the sampler in the manifest decide the outputs: a bit flip or a
    hand edit of either must not generate silently."""
    data = json.loads((copy / 'manifest.json').read_text())
    normalizer = dict(data['normalizer'], a=[2 * v for v in data['normalizer']['a']])
    edit_manifest(copy, seal=False, normalizer=normalizer)
    with pytest.raises(EngineError, match='modified after export'):
        open_engine(copy)
    config = json.loads(json.dumps(data['config']))
    config['sampler']['num_steps'] = 1
    edit_manifest(copy, seal=False, normalizer=data['normalizer'], config=config)
    with pytest.raises(EngineError, match='modified after export'):
        open_engine(copy)
    # even a re-sealed edit is caught when the checkpoint is named
    edit_manifest(copy, normalizer=normalizer, config=data['config'])
    with pytest.raises(EngineError, match='action normalizer differ from checkpoint'):
        open_engine(copy, 'onnxruntime', checkpoint=checkpoint)
    edit_manifest(copy, normalizer=data['normalizer'], config=config)
    with pytest.raises(EngineError, match=r'model config \(sampler, shapes\) differ'):
        open_engine(copy, 'onnxruntime', checkpoint=checkpoint)


def test_export_refuses_bit_flipped_weights(checkpoint, tmp_path):
    from fault_helpers import flip_bits
    from vag_ros.engines.export import export_engine
    from vag_ros.errors import CheckpointError
    damaged = shutil.copytree(checkpoint, tmp_path / 'damaged')
    flip_bits(damaged / 'model.safetensors')
    with pytest.raises(CheckpointError, match='corrupt or truncated: sha256'):
        export_engine(damaged, tmp_path / 'engine', log=lambda line: None)
    assert not (tmp_path / 'engine').exists()
