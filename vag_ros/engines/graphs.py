"""The engine graphs as torch modules: what export traces and the torch runtime runs.

Each takes its inputs positionally in contract order and returns its outputs in contract
order, so ONNX, TensorRT and torch see one computation. The step calls ``VagModel.step``
itself: guidance, the clean-latent estimate, the bridge and the U-Net are the model's own.
"""

import typing

import torch
from torch import nn

from vag_ros.engines import io_contract as io
from vag_ros.model import flow
from vag_ros.model.vag import Observation


def step_observation(x: typing.Mapping[str, torch.Tensor]) -> Observation:
    """The action branch's observation from a graph's named inputs."""
    text_emb = x['text_emb']  # (B, L, E)
    mask = x.get('text_mask')  # (B, L) bool; absent when the U-Net does not read it
    if mask is None:
        mask = torch.ones(text_emb.shape[:2], dtype=torch.bool, device=text_emb.device)
    return Observation(x.get('observation_frame'), text_emb, mask, x.get('state'))


class DenoiseStep(nn.Module):
    """One synchronized step: (x_t, a_t, t, first_latent, text...) -> (v_video, v_action)."""

    def __init__(self, model: nn.Module, contract: io.GraphContract, cfg: bool):
        super().__init__()
        self.model, self.names, self.cfg = model, contract.input_names, cfg

    def forward(self, *args: torch.Tensor) -> typing.Tuple[torch.Tensor, torch.Tensor]:
        x = dict(zip(self.names, args))
        observation = step_observation(x)
        guidance: typing.Union[float, torch.Tensor] = 1.0
        null_emb = x.get('null_emb', observation.text_emb)
        if self.cfg:
            guidance = x['guidance']  # (1,)
            # traced: a graph input; eager: a float, so g = 1 skips the uncond half as
            # VagModel.sample does
            if not torch.jit.is_tracing():
                guidance = float(guidance.reshape(-1)[0])
            elif float(guidance.reshape(-1)[0]) == 1.0:
                raise ValueError('trace the guided step with guidance != 1')
        v, va = self.model.step(x['x_t'], x['a_t'], x['t'], x['first_latent'], observation,
                                null_emb, guidance)
        return v, va  # (B, C, T', h, w), (B, T, D)


class ActionBranch(nn.Module):
    """The step's action part: clean-latent estimate -> bridge (+ observation) -> U-Net."""

    def __init__(self, model: nn.Module, contract: io.GraphContract):
        super().__init__()
        self.model, self.names = model, contract.input_names

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        x = dict(zip(self.names, args))
        z0 = flow.x0_estimate(x['x_t'], x['v_video'], x['t'])  # (B, C, T', h, w)
        cond = self.model.action_condition(z0, step_observation(x))
        return self.model.action(x['a_t'], x['t'], cond)  # (B, T, D)


class LatentEncoder(nn.Module):
    """First frame (B, 3, 1, H, W) in [-1, 1] -> latent (B, C, 1, h, w)."""

    def __init__(self, codec: nn.Module):
        super().__init__()
        self.codec = codec

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        return self.codec.encode(frame)


class LatentDecoder(nn.Module):
    """Latents (B, C, T', h, w) [and the first frame (B, 3, 1, H, W) for a codec with a
    refiner] -> video (B, 3, T, H, W)."""

    def __init__(self, codec: nn.Module):
        super().__init__()
        self.codec = codec

    def forward(self, latents: torch.Tensor,
                frame: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.codec.decode(latents, frame)


def graph_modules(model: nn.Module, codec: nn.Module, contract: io.EngineContract
                  ) -> typing.Dict[str, nn.Module]:
    """{graph name: module} for a joint VagModel and its codec."""
    graphs = contract.graphs
    return {io.STEP: DenoiseStep(model, graphs[io.STEP], contract.cfg).eval(),
            io.ACTION: ActionBranch(model, graphs[io.ACTION]).eval(),
            io.ENCODER: LatentEncoder(codec).eval(),
            io.DECODER: LatentDecoder(codec).eval()}


def sample_inputs(contract: io.GraphContract, seed: int = 0,
                  device: typing.Union[str, torch.device] = 'cpu'
                  ) -> typing.Dict[str, torch.Tensor]:
    """Seeded inputs at the profile's opt shapes: t and guidance in range, masks all true."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for spec in contract.inputs:
        shape = spec.resolve(contract.dims('opt'))
        dtype = io.TORCH_DTYPES[spec.dtype]
        if spec.dtype == 'bool':
            value = torch.ones(shape, dtype=torch.bool)
        elif spec.name == 't':
            value = torch.rand(shape, generator=gen) * 0.8 + 0.1
        elif spec.name == 'guidance':
            value = torch.full(shape, 2.0)
        elif spec.name == 'frame':
            value = torch.rand(shape, generator=gen) * 2 - 1
        else:
            value = torch.randn(shape, generator=gen)
        out[spec.name] = value.to(device, dtype)
    return out
