"""One I/O contract per engine graph: tensor names, dtypes, shapes and profiles.

Declared once from the model config; export names the ONNX inputs and outputs from it, every
runtime checks its feeds against it, and the TensorRT builder sets its optimisation profile
from it. Dimensions are ints or the name of a profile dimension (``batch``).
"""

import dataclasses
import typing

import numpy as np
import torch

from vag_ros.errors import EngineError

STEP = 'denoise_step'
ENCODER = 'latent_encoder'
DECODER = 'latent_decoder'
ACTION = 'action_branch'  # the step's action part alone (bridge + U-Net), for profiling
GRAPHS = (STEP, ENCODER, DECODER, ACTION)

TORCH_DTYPES = {'float32': torch.float32, 'float16': torch.float16,
                'bfloat16': torch.bfloat16, 'bool': torch.bool}
FLOAT_DTYPES = ('float32', 'float16', 'bfloat16')

Dim = typing.Union[int, str]


def dtype_name(dtype) -> str:
    """Name of a torch or numpy dtype in the contract's vocabulary (``float32``...)."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).replace('torch.', '')
    return np.dtype(dtype).name


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One named tensor of a graph."""

    name: str
    dtype: str
    shape: typing.Tuple[Dim, ...]
    doc: str = ''

    def resolve(self, dims: typing.Mapping[str, int]) -> typing.Tuple[int, ...]:
        """Concrete shape with the profile dimensions replaced by ``dims``."""
        return tuple(dims[d] if isinstance(d, str) else d for d in self.shape)

    def to_dict(self) -> dict:
        return {'name': self.name, 'dtype': self.dtype, 'shape': list(self.shape),
                'doc': self.doc}

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'TensorSpec':
        return cls(data['name'], data['dtype'], tuple(data['shape']), data.get('doc', ''))


@dataclasses.dataclass(frozen=True)
class GraphContract:
    """Inputs and outputs of one graph and its optimisation profile."""

    name: str
    inputs: typing.Tuple[TensorSpec, ...]
    outputs: typing.Tuple[TensorSpec, ...]
    # (dimension name, min, opt, max) for every named dimension
    profile: typing.Tuple[typing.Tuple[str, int, int, int], ...] = ()

    @property
    def input_names(self) -> typing.Tuple[str, ...]:
        return tuple(s.name for s in self.inputs)

    @property
    def output_names(self) -> typing.Tuple[str, ...]:
        return tuple(s.name for s in self.outputs)

    def spec(self, name: str) -> TensorSpec:
        for s in self.inputs + self.outputs:
            if s.name == name:
                return s
        raise EngineError(f'graph {self.name}: no tensor named {name!r}; it has inputs '
                          f'{list(self.input_names)} and outputs {list(self.output_names)}')

    def dims(self, which: str = 'opt') -> typing.Dict[str, int]:
        """{dimension name: its min, opt or max value}."""
        index = {'min': 1, 'opt': 2, 'max': 3}[which]
        return {p[0]: p[index] for p in self.profile}

    def shapes(self, which: str = 'opt') -> typing.Dict[str, typing.Tuple[int, ...]]:
        """{tensor name: concrete shape} at the profile's min, opt or max."""
        dims = self.dims(which)
        return {s.name: s.resolve(dims) for s in self.inputs + self.outputs}

    def profile_shapes(self, name: str) -> typing.Tuple[typing.Tuple[int, ...], ...]:
        """(min, opt, max) shapes of one input, as TensorRT's profile wants them."""
        spec = self.spec(name)
        return tuple(spec.resolve(self.dims(w)) for w in ('min', 'opt', 'max'))

    def check_feeds(self, feeds: typing.Mapping[str, typing.Any]) -> None:
        """Raise EngineError unless ``feeds`` holds exactly the inputs, shaped and typed."""
        missing = [n for n in self.input_names if n not in feeds]
        unexpected = sorted(set(feeds) - set(self.input_names))
        if missing or unexpected:
            raise EngineError(f'graph {self.name}: inputs {list(self.input_names)} expected; '
                              f'missing {missing}, unexpected {unexpected}')
        bound: typing.Dict[str, int] = {}
        bounds = {p[0]: (p[1], p[3]) for p in self.profile}
        for spec in self.inputs:
            value = feeds[spec.name]
            shape = tuple(value.shape)
            if len(shape) != len(spec.shape):
                raise EngineError(f'graph {self.name}: input {spec.name!r} has shape {shape}, '
                                  f'expected {spec.shape}')
            for got, want in zip(shape, spec.shape):
                if isinstance(want, int):
                    ok = got == want
                else:
                    lo, hi = bounds.get(want, (1, None))
                    ok = got >= lo and (hi is None or got <= hi) and bound.get(want, got) == got
                    bound[want] = got
                if not ok:
                    raise EngineError(
                        f'graph {self.name}: input {spec.name!r} has shape {shape}, expected '
                        f'{spec.shape} with profile {list(self.profile)}')
            got_dtype = dtype_name(value.dtype)
            if got_dtype != spec.dtype:
                raise EngineError(f'graph {self.name}: input {spec.name!r} has dtype '
                                  f'{got_dtype}, expected {spec.dtype}')

    def to_dict(self) -> dict:
        return {'name': self.name, 'inputs': [s.to_dict() for s in self.inputs],
                'outputs': [s.to_dict() for s in self.outputs],
                'profile': [list(p) for p in self.profile]}

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'GraphContract':
        return cls(data['name'], tuple(TensorSpec.from_dict(s) for s in data['inputs']),
                   tuple(TensorSpec.from_dict(s) for s in data['outputs']),
                   tuple(tuple(p) for p in data.get('profile', ())))


@dataclasses.dataclass(frozen=True)
class EngineContract:
    """The graphs of one engine; ``cfg``: the step runs the guided (cond, uncond) pair."""

    cfg: bool
    dtype: str
    graphs: typing.Dict[str, GraphContract]

    def to_dict(self) -> dict:
        return {'cfg': self.cfg, 'dtype': self.dtype,
                'graphs': {k: g.to_dict() for k, g in self.graphs.items()}}

    @classmethod
    def from_dict(cls, data: typing.Mapping) -> 'EngineContract':
        try:
            return cls(bool(data['cfg']), data['dtype'],
                       {k: GraphContract.from_dict(g) for k, g in data['graphs'].items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError(f'engine contract is malformed ({type(exc).__name__}: {exc})') \
                from None


def engine_contract(config, cfg: bool, dtype: str = 'float32', batch: int = 1
                    ) -> EngineContract:
    """Contract of a joint VagConfig's graphs; the codec graphs are always float32."""
    if config.mode != 'joint':
        raise EngineError(f'mode {config.mode!r}: engines export the joint VAG step only '
                          f"(video + actions); use a mode 'joint' checkpoint")
    if dtype not in FLOAT_DTYPES:
        raise EngineError(f'dtype {dtype!r}: expected one of {list(FLOAT_DTYPES)}')
    v, tx, ac = config.video, config.text, config.action
    c, tl, h, w = v.latent_shape
    b = 'batch'
    profile = (('batch', batch, batch, batch),)

    def f(name, shape, doc, kind=dtype):
        return TensorSpec(name, kind, tuple(shape), doc)

    latents = (b, c, tl, h, w)
    first = f('first_latent', (b, c, 1, h, w), 'clean first-frame latent')
    text = [f('text_emb', (b, tx.max_length, tx.embed_dim), 'instruction tokens, padding 0')]
    if ac.observation_dim:  # the U-Net's observation encoder reads the mask, frame, state
        oh, ow = config.observation_hw
        text.append(f('text_mask', (b, tx.max_length), 'true on real tokens', 'bool'))
        text.append(f('observation_frame', (b, 3, oh, ow),
                      'first frame in [-1, 1] at the observation resolution'))
        if ac.state_conditioning:
            text.append(f('state', (b, ac.dim), 'measured joint state, joint units'))
    step_in = [f('x_t', latents, 'noisy video latents, frame 0 = first_latent'),
               f('a_t', (b, ac.horizon, ac.dim), 'noisy normalized actions'),
               f('t', (b,), 'flow time, 1 = noise'), first, *text]
    if cfg:
        step_in += [f('null_emb', (b, tx.max_length, tx.embed_dim), 'unconditional text'),
                    f('guidance', (1,), 'v = v_u + g (v_c - v_u)')]
    v_video = f('v_video', latents, 'guided video velocity, 0 on frame 0')
    v_action = f('v_action', (b, ac.horizon, ac.dim), 'action velocity')
    step = GraphContract(STEP, tuple(step_in), (v_video, v_action), profile)
    # the action branch reads the frame itself (observation_frame), not the first latent
    action_in = [step_in[0], dataclasses.replace(v_video, doc='video velocity of the step'),
                 step_in[2], step_in[1], *text]
    action = GraphContract(ACTION, tuple(action_in), (v_action,), profile)
    frame = f('frame', (b, 3, 1, v.height, v.width), 'first frame in [-1, 1]', 'float32')
    encoder = GraphContract(ENCODER, (frame,), (dataclasses.replace(first, dtype='float32'),),
                            profile)
    decoder_in = (f('latents', latents, 'clean video latents', 'float32'),)
    if v.codec.refiner_width:  # the learned decoder stage reads the given frame
        decoder_in += (frame,)
    decoder = GraphContract(
        DECODER, decoder_in,
        (f('video', (b, 3, v.frames, v.height, v.width), 'video, about [-1, 1]', 'float32'),),
        profile)
    graphs = {g.name: g for g in (step, encoder, decoder, action)}
    return EngineContract(cfg, dtype, graphs)
