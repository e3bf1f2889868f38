"""`vag-ros demo`: the whole graph in one process on a random micro checkpoint."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from vag_ros.ros import graph

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_the_flow_and_writes_bags_pngs_and_summary(ros_context, micro_checkpoint,
                                                             tmp_path, capsys):
    from rosbags.rosbag2 import Reader
    from vag_ros.ros.demo import DemoTimeouts, generation_line, run_demo, summary_table
    from vag_ros.engines.engine_cache import ensure_engine
    timeouts = dataclasses.replace(DemoTimeouts(), generation=120.0, preview=0.3)
    # the demo's default: onnxruntime on an engine exported from the checkpoint
    engine = ensure_engine(micro_checkpoint, tmp_path / 'engines')
    summary = run_demo(str(micro_checkpoint), tmp_path, instructions=2, seed=200000,
                       timeouts=timeouts, context=ros_context,
                       parameters={'vag_generator': {'backend': 'onnxruntime',
                                                     'engine_dir': str(engine)}})
    rows = summary.episodes
    assert [r.task for r in rows] == ['touch', 'push']
    for row in rows:
        assert row.generation_s is not None and row.generation_s > 0
        stages = row.generation_stages_s   # where the generation time went
        assert {'text', 'encode', 'denoise', 'decode'} <= set(stages)
        assert all(v >= 0 for v in stages.values())
        assert sum(stages.values()) <= row.generation_s + 1e-6
        assert row.trajectory in ('accepted', 'rejected')
        assert row.trajectory == 'accepted' or row.reason  # a rejection says why
        assert Path(row.png).is_file() and Path(row.png).stat().st_size > 1000
        assert Path(row.bag).name.startswith('generated-'), row.bag
        with Reader(row.bag) as reader:
            counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts['/vag/predicted_video'] == 5
        assert counts['/vag/predicted_trajectory'] == 1
        assert counts['/vag/conditioning_frame'] == 1
        if row.executed:
            assert counts['/joint_states'] > 0 and counts['/camera/image_raw'] > 0
    table = summary_table(rows)
    assert 'instruction' in table and rows[0].instruction[:40] in table
    line = generation_line(rows)
    median = float(np.median([r.generation_s for r in rows]))
    assert f'median {median:.3f} s over 2 episode(s)' in line and 'denoise' in line
    saved = json.loads((tmp_path / 'summary.json').read_text())
    assert [s['bag'] for s in saved['episodes']] == [r.bag for r in rows]
    # no safety file given: the demo's own
    assert saved['settings']['safety_file'].endswith('safety_demo.yaml')
    print(table)


def test_demo_without_checkpoint_says_how_to_get_one(tmp_path):
    from vag_ros.commands.demo import resolve_checkpoint
    from vag_ros.errors import VagError
    with pytest.raises(VagError, match='no such folder'):
        resolve_checkpoint(str(tmp_path / 'missing'))
    if not (ROOT / 'checkpoints' / 'tiny_demo').is_dir():
        with pytest.raises(VagError, match='--checkpoint DIR, or train one'):
            resolve_checkpoint(None)


def test_cli_demo_refuses_bad_arguments_before_anything_starts(capsys):
    from vag_ros.cli import build_parser, main
    for argv in (['--controller-mode', 'teleport'], ['--instructions', '0']):
        with pytest.raises(SystemExit) as exit_info:
            main(['demo', *argv])
        assert exit_info.value.code == 2
    args = build_parser().parse_args(['demo', '--safety-file', 'lab.yaml', '--controller', 'c'])
    assert (args.safety_file, args.controller, args.controller_mode) == ('lab.yaml', 'c', None)
    error = capsys.readouterr().err
    assert "invalid choice: 'teleport'" in error and 'joint_trajectory' in error
    assert 'positive integer' in error


def test_vag_ros_yaml_holds_every_node_and_only_what_differs_from_the_defaults():
    from vag_ros.commands.params import default_parameters
    defaults = default_parameters()
    params = graph.load_parameters(str(ROOT / 'config' / 'vag_ros.yaml'))
    assert set(params) == set(defaults) == {s.name for s in graph.generate_and_replay(
        record_dir='/tmp/x')}
    for name, values in params.items():
        known = set(defaults[name])
        assert set(values) <= known, (name, set(values) - known)
        for key, value in values.items():  # a default repeated here could drift from it
            assert defaults[name].get(key) != value, (name, key, 'repeats the default')


def test_params_command_prints_every_default(capsys):
    import yaml
    from vag_ros.cli import main
    from vag_ros.ros.configs import ReplayNodeConfig
    assert main(['params']) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    replay = printed['vag_replay']['ros__parameters']
    assert replay['stream_rate_hz'] == ReplayNodeConfig().stream_rate_hz
    assert printed['vag_generator']['ros__parameters']['autostart'] is True
    assert printed['vag_mock_arm']['ros__parameters']['sim'] == \
        printed['vag_sim_camera']['ros__parameters']['sim']
    assert main(['params', '--node', 'vag_nope']) == 2


def test_every_parameter_of_every_node_has_a_description_printed_after_it(capsys):
    import yaml
    from vag_ros.cli import main
    from vag_ros.commands.params import default_parameters
    from vag_ros.ros.configs import parameter_descriptions
    for node, params in default_parameters().items():
        descriptions = parameter_descriptions(node)
        assert set(descriptions) == set(params), node
        missing = sorted(k for k, (text, _) in descriptions.items() if not text.strip())
        assert not missing, f'{node}: no description for {missing}'
    assert main(['params']) == 0
    out = capsys.readouterr().out
    assert 'joint_state_timeout_s: 0.5  # s: joint states older than this stop a motion' in out
    assert '      width: 128  # px: rendered frame width' in out  # vag_mock_arm's sim.width
    leaves = [line for line in out.splitlines() if not line.startswith('#')
              and not line.rstrip().endswith((':', 'ros__parameters:', '{}'))]
    assert leaves and all('  # ' in line for line in leaves), leaves
    assert yaml.safe_load(out) == {name: {'ros__parameters': _nested(p)}
                                   for name, p in default_parameters().items()}


def _nested(flat):
    tree = {}
    for key, value in flat.items():
        *parents, leaf = key.split('.')
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return tree


def test_the_sim_camera_and_the_mock_arm_share_one_world():
    from vag_ros.errors import ConfigError
    with pytest.raises(ConfigError, match='two worlds: sim.width differ'):
        graph.generate_and_replay(parameters={'vag_sim_camera': {'sim.width': 64}})
    with pytest.raises(ConfigError, match='two worlds: seed, task differ'):
        graph.generate_and_replay(parameters={'vag_sim_camera': {'task': 'push', 'seed': 3}})
    specs = graph.generate_and_replay(parameters={'vag_sim_camera': {'sim.width': 64},
                                                  'vag_mock_arm': {'sim.width': 64}})
    assert len(specs) == 6
    # a default given to one node only is still one world
    assert graph.generate_and_replay(parameters={'vag_sim_camera': {'sim.width': 128}})


def test_parameter_layers_file_arguments_overrides():
    yaml_file = str(ROOT / 'config' / 'vag_ros.yaml')
    specs = graph.generate_and_replay('/ckpt', params_file=yaml_file,
                                      parameters={'vag_replay': {'stream_rate_hz': 100.0}})
    replay = [s for s in specs if s.name == 'vag_replay'][0].parameter_dict()
    assert replay['stream_rate_hz'] == 100.0 and replay.get('safety_file', '') == ''
    generator = [s for s in specs if s.name == 'vag_generator'][0].parameter_dict()
    assert generator['checkpoint'] == '/ckpt'  # the argument wins over the file


def test_demo_executes_an_accepted_trajectory(ros_context, micro_checkpoint, tmp_path):
    """A generator whose actions are a small move from the task's start: the armed path."""
    import numpy as np
    from rosbags.rosbag2 import Reader
    from vag_ros.ros.demo import Demo, DemoTimeouts
    from vag_ros.sim.world import make_task
    timeouts = dataclasses.replace(DemoTimeouts(), generation=120.0, preview=0.2)
    demo = Demo(str(micro_checkpoint), tmp_path, 'forward_position', timeouts=timeouts,
                context=ros_context)  # a command stream to measure
    try:
        real = demo.generator.pipeline.generate
        start = np.array(make_task('touch', 200000, demo.shared.world.config).initial_joints)

        def scripted(*args, **kwargs):
            result = real(*args, **kwargs)
            s = 0.5 - 0.5 * np.cos(np.pi * np.arange(5) / 4)  # (T,) rest at both ends
            result.actions = np.repeat(start[None], 5, axis=0)  # (T, D)
            result.actions[:, 0] += 0.03 * s
            return result

        demo.generator.pipeline.generate = scripted
        row = demo.run_task(0, 'touch', 200000)
    finally:
        demo.close()
    assert row.trajectory == 'accepted', row.reason
    assert row.executed and row.execution == 'done' and row.success is not None
    assert row.stream_rate_hz and row.stream_rate_hz > 10
    with Reader(row.bag) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts['/joint_states'] > 5 and counts['/camera/image_raw'] >= 1
    assert Path(row.png).is_file()
    print(f'stream {row.stream_rate_hz:.1f} Hz, interval std {row.stream_jitter_ms:.2f} ms, '
          f'generation {row.generation_s:.3f} s, overhead {row.overhead_s:.3f} s')


def _lab_params(tmp_path, **replay):
    """A lab's params file for vag_replay (a safety file of its own) and the recorder."""
    import yaml
    safety = tmp_path / 'lab_safety.yaml'
    safety.write_text('velocity_scale: 0.25\nstart_tolerance: 0.02\n')
    values = dict({'safety_file': str(safety), 'controller': 'lab_controller'}, **replay)
    params = tmp_path / 'lab.yaml'
    params.write_text(yaml.safe_dump({'vag_replay': {'ros__parameters': values},
                                      'vag_recorder': {'ros__parameters': {'settle_s': 2.0}}}))
    return params, safety


def test_the_demo_s_own_settings_apply_only_where_the_user_gave_none(tmp_path):
    from vag_ros.ros.demo import demo_defaults, demo_graph
    params, safety = _lab_params(tmp_path)

    def nodes(**kwargs):
        return {s.name: s.parameter_dict() for s in demo_graph('/ckpt', tmp_path, **kwargs)}

    demo_safety = demo_defaults()['vag_replay']['safety_file']
    assert nodes()['vag_replay']['safety_file'] == demo_safety
    specs = nodes(params_file=str(params))
    assert specs['vag_replay']['safety_file'] == str(safety)
    assert specs['vag_replay']['controller'] == specs['vag_mock_arm']['controller'] \
        == 'lab_controller'
    assert specs['vag_recorder']['settle_s'] == 2.0  # the file's, not the demo's 0.5
    assert specs['vag_recorder']['rejected_wait_s'] == 1.0  # the demo's: the file has none
    assert 'controller_mode' not in specs['vag_replay']  # ReplayNodeConfig's
    # the command line's options over the file
    specs = nodes(params_file=str(params), safety_file='/cell.yaml', controller='cli_arm',
                  controller_mode='forward_position')
    assert (specs['vag_replay']['safety_file'], specs['vag_replay']['controller'],
            specs['vag_replay']['controller_mode'], specs['vag_mock_arm']['controller']) == \
        ('/cell.yaml', 'cli_arm', 'forward_position', 'cli_arm')
    # an empty safety_file in the user's file means the shipped safety.yaml, not the demo's
    params, _ = _lab_params(tmp_path, safety_file='')
    assert nodes(params_file=str(params))['vag_replay']['safety_file'] == ''


def test_the_demo_runs_and_reports_the_lab_s_safety_file_and_controller(
        ros_context, micro_checkpoint, tmp_path, capsys):
    from vag_ros.ros.demo import Demo, run_demo
    params, safety = _lab_params(tmp_path, controller_mode='forward_position')
    demo = Demo(str(micro_checkpoint), tmp_path, context=ros_context, params_file=str(params))
    try:
        assert demo.replay.safety_file == safety and demo.replay.safety.velocity_scale == 0.25
        assert demo.replay.config.controller == demo.arm.config.controller == 'lab_controller'
        assert demo.observer.hold_pub.topic_name == '/lab_controller/commands'
    finally:
        demo.close()
    summary = run_demo(str(micro_checkpoint), tmp_path / 'run', instructions=0,
                       context=ros_context, params_file=str(params))
    out = capsys.readouterr().out
    settings = json.loads((tmp_path / 'run' / 'summary.json').read_text())['settings']
    assert settings == json.loads(json.dumps(summary.settings))
    assert settings['safety_file'] == str(safety) and f'safety file: {safety}' in out
    assert (settings['controller'], settings['controller_mode']) == ('lab_controller',
                                                                     'forward_position')
    assert 'forward_position -> /lab_controller' in out
    assert settings['safety']['velocity_scale'] == 0.25
    joint1 = settings['joints']['joint1']
    assert joint1['start_tolerance'] == 0.02 and joint1['velocity'] > 0
    assert 'limits in force' in out and 'start tolerance 0.020 rad' in out


def test_generation_line_takes_medians_over_generated_episodes_only():
    from vag_ros.ros.demo import DemoEpisode, generation_line
    stages = {'text': 0.02, 'encode': 0.001, 'denoise': 0.1, 'decode': 0.05}
    rows = [DemoEpisode(0, 'touch', 1, 'a', generation_s=0.2, generation_stages_s=stages),
            DemoEpisode(1, 'push', 2, 'b', generation_s=0.4,
                        generation_stages_s={**stages, 'denoise': 0.3}),
            DemoEpisode(2, 'pick', 3, 'c')]   # generation failed: no time, no stages
    line = generation_line(rows)
    assert 'median 0.300 s over 2 episode(s)' in line
    assert 'denoise 0.200' in line and 'text 0.020' in line
    # a stage one episode lacks is left out, not averaged over the others
    rows[1].generation_stages_s = {k: v for k, v in stages.items() if k != 'decode'}
    assert 'decode' not in generation_line(rows) and 'denoise' in generation_line(rows)
    assert generation_line([rows[2]]) == 'generation: no episode was generated'
