"""Every YAML the package ships loads into its dataclass; none is left unchecked."""

from pathlib import Path

import pytest

from vag_ros.eval.phrasings import load_phrasings
from vag_ros.ingest.contract import load_contract
from vag_ros.model.config import load_model_config
from vag_ros.robot.description import load_robot_description
from vag_ros.robot.safety_config import load_safety_config
from vag_ros.ros import graph
from vag_ros.sim.config import load_sim_config, SimConfig
from vag_ros.train.train_config import load_train_config

CONFIG = Path(__file__).resolve().parents[1] / 'config'
LAB_URDF = Path(__file__).resolve().parent / 'data' / 'lab_arm.urdf'


def _contract(path):
    return load_contract(path, load_robot_description().joint_names)


LOADERS = {
    'vag_ros.yaml': graph.load_parameters,  # and test_ros_demo: only what differs
    'sim.yaml': lambda p: load_sim_config(p) == SimConfig() or pytest.fail('sim.yaml drifted'),
    # the limits in force: they resolve against the robot (test_trajectory_validation holds
    # safety_demo.yaml to safety.yaml but for on_violation)
    # ... and against a robot the package has never seen: the shipped limits fit any URDF
    'safety.yaml': lambda p: [load_safety_config(p).resolve(load_robot_description(u))
                              for u in (None, LAB_URDF)],
    'safety_demo.yaml': lambda p: [load_safety_config(p).resolve(load_robot_description(u))
                                   for u in (None, LAB_URDF)],
    'model_tiny.yaml': load_model_config, 'model_paper.yaml': load_model_config,
    'model_small.yaml': load_model_config, 'train_gpu.yaml': load_train_config,
    'train_tiny.yaml': load_train_config, 'train_tiny_action.yaml': load_train_config,
    'train_tiny_action_more.yaml': load_train_config,
    'train_tiny_context.yaml': load_train_config,
    'train_tiny_finetune.yaml': load_train_config,
    'train_tiny_distill.yaml': load_train_config,
    'train_tiny_no_bridge.yaml': load_train_config,
    'model_tiny_token.yaml': load_model_config, 'model_tiny_plan.yaml': load_model_config,
    'train_tiny_encoder.yaml': load_train_config,
    'train_tiny_token_action.yaml': load_train_config,
    'model_policy.yaml': load_model_config, 'train_policy.yaml': load_train_config,
    'train_policy_2k.yaml': load_train_config,
    'eval_phrasings.yaml': load_phrasings,
    'contracts/default.yaml': _contract, 'contracts/gripper_topic.yaml': _contract,
    'contracts/commands_idle_split.yaml': _contract,
}


def test_every_shipped_yaml_has_a_loader():
    shipped = {p.relative_to(CONFIG).as_posix() for p in CONFIG.rglob('*.yaml')}
    assert shipped == set(LOADERS)


@pytest.mark.parametrize('name', sorted(LOADERS))
def test_shipped_yaml_loads(name):
    assert LOADERS[name](CONFIG / name) is not None


def test_the_token_variant_is_the_tiny_preset_plus_its_switch():
    import dataclasses
    tiny = load_model_config('tiny')
    token = load_model_config(CONFIG / 'model_tiny_token.yaml')
    assert token.video.observation_token and not tiny.video.observation_token
    plain = dataclasses.replace(token, name=tiny.name,
                                video=dataclasses.replace(token.video, observation_token=False))
    assert plain == tiny


def test_the_plan_variant_is_the_token_variant_plus_its_switch():
    import dataclasses
    token = load_model_config(CONFIG / 'model_tiny_token.yaml')
    plan = load_model_config(CONFIG / 'model_tiny_plan.yaml')
    assert plan.video.plan_dim == plan.action.dim and not token.video.plan_dim
    assert dataclasses.replace(plan, name=token.name,
                               video=dataclasses.replace(plan.video, plan_dim=0)) == token
