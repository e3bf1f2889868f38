"""vag-ros export's core: checked ONNX graphs + manifest, and what it refuses."""

import dataclasses
import json

from engine_helpers import micro_config, save_micro_checkpoint
import onnx
import pytest

from vag_ros.engines import io_contract as io
from vag_ros.engines.export import export_engine, FILES, onnx_io, pool_matrix
from vag_ros.engines.manifest import checkpoint_hash, read_manifest
from vag_ros.errors import EngineError


def quiet(message):
    pass


def test_export_writes_checked_graphs_and_a_manifest(engine, checkpoint):
    manifest = read_manifest(engine)
    data = manifest.data
    assert data['checkpoint']['sha256'] == checkpoint_hash(checkpoint)['sha256']
    assert set(data['checkpoint']['files']) == {'config.yaml', 'model.safetensors',
                                                'robot.urdf'}
    # the robot travels with the engine: an engine alone tells which arm it drives
    from vag_ros.engines.manifest import engine_robot
    assert data['robot']['name'] == 'vag_arm'
    assert engine_robot(manifest).urdf == (checkpoint / 'robot.urdf').read_text()
    assert data['precision'] == 'float32' and data['opset'] == 17
    assert {'torch', 'onnx', 'onnxruntime', 'python'} <= set(data['tools'])
    assert data['created'].endswith('+00:00') and data['plans'] == {}
    assert data['text_cache']['instructions'] == ['pick up the red block']
    assert manifest.config() == micro_config()
    contract = manifest.contract
    assert contract == io.engine_contract(micro_config(), cfg=False)
    for graph in io.GRAPHS:
        path = engine / FILES[graph]
        assert data['graphs'][graph]['file'] == FILES[graph]
        assert data['graphs'][graph]['bytes'] == path.stat().st_size
        onnx.checker.check_model(str(path), full_check=True)
        inputs, outputs = onnx_io(path)
        assert tuple(n for n, _, _ in inputs) == contract.graphs[graph].input_names
        assert tuple(n for n, _, _ in outputs) == contract.graphs[graph].output_names
        assert data['verification'][graph] < 1e-4  # onnxruntime vs torch at export


def test_the_step_is_one_graph_video_bridge_and_action(engine):
    model = onnx.load(str(engine / FILES[io.STEP]))
    names = [n.name for n in model.graph.node]
    assert any(n.startswith('/video/transformer/') for n in names)
    assert any(n.startswith('/action/') for n in names)
    assert any(n.startswith('/observation/') for n in names)
    assert 'GlobalAveragePool' in {n.op_type for n in model.graph.node}  # the 3D pooling


def test_pool_matrix_is_adaptive_average_pooling():
    import torch
    x = torch.randn(2, 3, 27, 48, dtype=torch.float64)
    want = torch.nn.functional.adaptive_avg_pool2d(x, 4)
    got = pool_matrix(27, 4) @ x @ pool_matrix(48, 4).T
    assert torch.allclose(got, want)
    assert torch.allclose(pool_matrix(2, 4) @ x[..., :2, :2] @ pool_matrix(2, 4).T,
                          torch.nn.functional.adaptive_avg_pool2d(x[..., :2, :2], 4))


def test_pca_codec_exports(pca_checkpoint, tmp_path):
    manifest = export_engine(pca_checkpoint, tmp_path / 'pca', log=quiet)
    assert manifest.contract.graphs[io.DECODER].shapes()['latents'] == (1, 16, 5, 4, 4)
    assert max(manifest.data['verification'].values()) < 1e-4


def test_cfg_engine_takes_uncond_text_and_guidance(cfg_engine):
    contract = read_manifest(cfg_engine).contract
    assert contract.cfg
    inputs, _ = onnx_io(cfg_engine / FILES[io.STEP])
    assert [n for n, _, _ in inputs][-2:] == ['null_emb', 'guidance']


def test_external_data_keeps_one_data_file_per_graph(checkpoint, tmp_path):
    manifest = export_engine(checkpoint, tmp_path / 'ext', external_data=True, log=quiet)
    entry = manifest.data['graphs'][io.STEP]
    assert [d['file'] for d in entry['data']] == ['denoise_step.onnx.data']
    assert (tmp_path / 'ext' / 'denoise_step.onnx.data').stat().st_size > \
        (tmp_path / 'ext' / 'denoise_step.onnx').stat().st_size
    assert max(manifest.data['verification'].values()) < 1e-4  # ran from the external data


def test_float16_step_passes_the_checker_and_bfloat16_is_refused(checkpoint, tmp_path):
    manifest = export_engine(checkpoint, tmp_path / 'fp16', dtype='float16', log=quiet)
    inputs, outputs = onnx_io(tmp_path / 'fp16' / FILES[io.STEP])
    assert {d for _, d, _ in inputs} == {'float16', 'bool'}
    assert {d for _, d, _ in outputs} == {'float16'}
    assert manifest.data['verification'][io.STEP] is None  # for TensorRT, not onnxruntime
    assert onnx_io(tmp_path / 'fp16' / FILES[io.DECODER])[0][0][1] == 'float32'
    with pytest.raises(EngineError, match='lack bfloat16.*build bf16 TensorRT plans'):
        export_engine(checkpoint, tmp_path / 'bf16', dtype='bfloat16', log=quiet)


def test_refuses_to_overwrite_without_force(checkpoint, tmp_path):
    out = tmp_path / 'e'
    export_engine(checkpoint, out, log=quiet)
    with pytest.raises(EngineError, match='already holds an engine; pass --force'):
        export_engine(checkpoint, out, log=quiet)
    manifest = json.loads((out / 'manifest.json').read_text())
    manifest['plans'] = {'bf16': {'note': 'stale'}}
    (out / 'manifest.json').write_text(json.dumps(manifest))
    export_engine(checkpoint, out, force=True, log=quiet)
    assert read_manifest(out).plans() == {}  # plans of the old export went with it
    assert sorted(p.name for p in tmp_path.iterdir()) == ['e']  # no temporary folders left
    other = tmp_path / 'notes'
    other.mkdir()
    (other / 'todo.txt').write_text('mine')
    with pytest.raises(EngineError, match='holds no engine; refusing'):
        export_engine(checkpoint, other, force=True, log=quiet)
    assert (other / 'todo.txt').read_text() == 'mine'


def test_the_checkpoint_itself_or_its_folder_is_never_an_out(checkpoint, tmp_path):
    """--force replaces an engine, never the checkpoint (which may hold a manifest.json of
    its own): --out at the checkpoint or a folder above it is refused, nothing removed."""
    import shutil
    copy = tmp_path / 'ck'
    shutil.copytree(checkpoint, copy)
    (copy / 'manifest.json').write_text(json.dumps({'pack': 'demo'}))
    before = sorted(p.name for p in copy.iterdir())
    for out in (copy, tmp_path):
        with pytest.raises(EngineError, match='holds the checkpoint'):
            export_engine(copy, out, force=True, log=quiet)
    assert sorted(p.name for p in copy.iterdir()) == before


def test_refuses_modes_it_does_not_export(tmp_path):
    config = dataclasses.replace(micro_config(), mode='video_only')
    ckpt = save_micro_checkpoint(tmp_path / 'video_only', config)
    with pytest.raises(EngineError, match="mode 'video_only'"):
        export_engine(ckpt, tmp_path / 'e', log=quiet)
    assert not (tmp_path / 'e').exists()
