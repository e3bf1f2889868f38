"""Generator node on engines: backend onnxruntime generates; bad engines fail configure."""

import importlib.util

import numpy as np
import pytest
from rclpy.lifecycle import TransitionCallbackReturn

from ros_helpers import spin_until
from test_ros_generator import Harness  # noqa: I100

pytestmark = pytest.mark.ros


@pytest.fixture(scope='module')
def engine_dir(micro_checkpoint, tmp_path_factory):
    from vag_ros.engines.export import export_engine
    out = tmp_path_factory.mktemp('engines') / 'micro'
    export_engine(micro_checkpoint, out, instructions=['touch the red block'],
                  log=lambda m: None)
    return out


def configure_error(h) -> str:
    assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
    spin_until(h.executor, lambda: any(s['last_error'] for s in h.statuses), 5.0)
    assert h.node.pipeline is None
    return [s['last_error'] for s in h.statuses if s['last_error']][-1]


def test_onnxruntime_backend_generates_video_and_trajectory(ros_context, micro_checkpoint,
                                                            engine_dir):
    h = Harness(ros_context, checkpoint=str(micro_checkpoint), backend='onnxruntime',
                engine_dir=str(engine_dir), max_frame_age_s=5.0)
    try:
        assert h.node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert h.node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert h.node.pipeline.backend == 'onnxruntime'
        h.send_frame()
        spin_until(h.executor, lambda: h.instruction_pub.get_subscription_count() > 0, 5.0)
        h.instruct('touch the red block')
        assert spin_until(h.executor, lambda: h.trajectories and len(h.frames) >= 5, 60.0), \
            h.statuses[-3:]
        traj = h.trajectories[0]
        assert len(traj.points) == 5 and len(traj.joint_names) == 7
        assert np.isfinite([p.positions for p in traj.points]).all()
        assert (h.frames[0].height, h.frames[0].width) == (32, 32)
        assert any('(onnxruntime, cpu)' in s.get('message', '') for s in h.statuses)
    finally:
        h.close()


def test_engine_of_another_checkpoint_fails_configure(ros_context, engine_dir, tmp_path):
    import torch

    from ros_helpers import micro_config
    from vag_ros.model.checkpoint import save_checkpoint
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.vag import VagModel
    from vag_ros.robot.description import load_robot_description
    config = micro_config()
    torch.manual_seed(1)
    other = save_checkpoint(tmp_path / 'other', VagModel(config), config,
                            ActionNormalizer.identity(7), robot=load_robot_description())
    h = Harness(ros_context, checkpoint=str(other), backend='onnxruntime',
                engine_dir=str(engine_dir))
    try:
        error = configure_error(h)
        assert 'configure failed' in error and 'was exported from checkpoint' in error
        assert 're-export it: vag-ros export' in error
    finally:
        h.close()


def test_missing_engine_fails_configure(ros_context, tmp_path):
    h = Harness(ros_context, backend='onnxruntime', engine_dir=str(tmp_path / 'nope'))
    try:
        assert 'engine folder not found' in configure_error(h)
    finally:
        h.close()


@pytest.mark.skipif(importlib.util.find_spec('tensorrt') is not None,
                    reason='TensorRT is installed here')
def test_tensorrt_backend_without_tensorrt_fails_configure(ros_context, engine_dir):
    h = Harness(ros_context, backend='tensorrt', engine_dir=str(engine_dir))
    try:
        assert 'TensorRT is not available here' in configure_error(h)
    finally:
        h.close()
