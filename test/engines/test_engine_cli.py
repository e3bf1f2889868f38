"""vag-ros export / bench from the command line, on the micro checkpoint."""

import json

import pytest

from vag_ros.cli import main


def test_export_from_the_cli(checkpoint, tmp_path, capsys):
    out = tmp_path / 'engines' / 'micro'
    assert main(['export', '--checkpoint', str(checkpoint), '--out', str(out),
                 '--instruction', 'pick up the red block', '--instruction', 'push it']) == 0
    printed = capsys.readouterr().out
    assert f'engine:     {out}' in printed and 'CFG pair off' in printed
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['text_cache']['instructions'] == ['pick up the red block', 'push it']
    assert main(['export', '--checkpoint', str(checkpoint), '--out', str(out)]) == 2
    assert 'already holds an engine; pass --force' in capsys.readouterr().err
    assert main(['export', '--checkpoint', str(tmp_path / 'none'), '--out',
                 str(tmp_path / 'e2')]) == 2
    assert 'none' in capsys.readouterr().err and not (tmp_path / 'e2').exists()


def test_bench_torch_vs_onnxruntime_writes_table_and_json(checkpoint, engine, tmp_path, capsys):
    report_path = tmp_path / 'bench.json'
    assert main(['bench', 'generation', '--checkpoint', str(checkpoint), '--engine', str(engine),
                 '--rounds', '2', '--warmup', '0', '--step-calls', '1', '--steps', '2',
                 '--threads', '1', '--json', str(report_path)]) == 0
    printed = capsys.readouterr().out
    assert '| torch | torch eager (cpu) |' in printed
    assert '| onnxruntime | onnxruntime (CPUExecutionProvider) |' in printed
    report = json.loads(report_path.read_text())
    assert list(report['backends']) == ['torch', 'onnxruntime']
    assert report['machine']['torch_threads'] == 1 and report['model']['step_gflop'] > 0
    for row in report['backends'].values():
        assert row['step_ms']['n'] == 2 and row['step_ms']['median'] > 0
        # two separately timed calls: on a loaded machine their ratio can pass 1
        assert row['action_share'] > 0
        assert row['episode_s']['n'] == 2
        assert set(row['stages_s']) == {'text', 'encode', 'denoise', 'decode', 'total'}
        assert row['episode_peak_mb'] >= 0 and row['loaded_mb'] is not None
        assert row['tflops'] > 0
    assert report['backends']['torch']['step_speedup_vs_torch'] == 1.0


def test_bench_exports_a_temporary_engine_and_runs_presets(checkpoint, tmp_path, capsys):
    assert main(['bench', 'generation', '--checkpoint', str(checkpoint), '--backend',
                 'onnxruntime', '--rounds', '1', '--warmup', '0', '--step-calls', '1',
                 '--steps', '1']) == 0
    assert 'temporary float32 engine' in capsys.readouterr().out
    assert main(['bench', 'generation', '--preset', 'tiny', '--backend', 'torch', '--rounds', '1',
                 '--warmup', '0', '--step-calls', '1', '--steps', '1']) == 0
    assert '| torch | torch eager (cpu) |' in capsys.readouterr().out


def test_bench_refusals(checkpoint, capsys):
    with pytest.raises(SystemExit):   # the kind comes first
        main(['bench', '--checkpoint', str(checkpoint)])
    assert 'KIND' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['bench', 'generation', '--checkpoint', str(checkpoint), '--backend', 'torch,tflite'])
    assert 'tflite' in capsys.readouterr().err
    assert main(['bench', 'generation', '--checkpoint', str(checkpoint), '--backend',
                 'tensorrt']) == 2
    assert 'tensorrt needs built plans' in capsys.readouterr().err
    assert main(['bench', 'generation', '--preset', 'tiny', '--backend', 'onnxruntime']) == 2
    assert 'pass --engine' in capsys.readouterr().err


def test_bench_reference_runs_a_second_checkpoint_at_its_own_steps(checkpoint, tmp_path,
                                                                   capsys):
    """A few-step model against its teacher: same backends, same rounds, own steps."""
    import dataclasses

    from engine_helpers import micro_config, save_micro_checkpoint
    config = micro_config()
    teacher = save_micro_checkpoint(tmp_path / 'teacher', dataclasses.replace(
        config, sampler=dataclasses.replace(config.sampler, num_steps=6)))
    report_path = tmp_path / 'bench.json'
    assert main(['bench', 'generation', '--checkpoint', str(checkpoint), '--reference',
                 str(teacher), '--backend', 'torch,onnxruntime', '--rounds', '1', '--warmup',
                 '0', '--step-calls', '1', '--threads', '1', '--json', str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    rows = report['backends']
    assert list(rows) == ['torch', 'onnxruntime', 'torch (reference)',
                          'onnxruntime (reference)']
    assert [r['num_steps'] for r in rows.values()] == [3, 3, 6, 6]
    assert rows['torch']['episode_time_vs_torch'] == 1.0
    assert rows['torch (reference)']['episode_time_vs_torch'] > 0
    assert '| torch (reference) |' in capsys.readouterr().out
    # the same checkpoint as its own reference at another step count
    assert main(['bench', 'generation', '--checkpoint', str(checkpoint), '--reference',
                 str(checkpoint), '--reference-steps', '5', '--backend', 'torch', '--rounds',
                 '1', '--warmup', '0', '--step-calls', '1', '--json', str(report_path)]) == 0
    rows = json.loads(report_path.read_text())['backends']
    assert [r['num_steps'] for r in rows.values()] == [3, 5]
    assert main(['bench', 'generation', '--preset', 'tiny', '--reference', str(teacher)]) == 2
    assert '--reference compares two checkpoints' in capsys.readouterr().err
