"""Model configuration: one frozen dataclass per part, the whole in ``VagConfig``.

Presets live in ``config/model_<name>.yaml``; ``load_model_config('tiny')`` reads one.
"""

import dataclasses
from pathlib import Path
import typing

from vag_ros.config import from_dict, load_yaml, require
from vag_ros.errors import ConfigError


MODES = ('joint', 'video_only', 'action_no_bridge')


@dataclasses.dataclass(frozen=True)
class CodecConfig:
    """Pixel <-> latent codec: ``patch`` (exact, parameter-free), ``pca`` (fitted on the
    training frames, stored in the checkpoint) or ``wan`` (Wan 2.1 VAE)."""

    kind: str = 'patch'
    # patch codec
    spatial_factor: int = 8
    temporal_factor: int = 1
    orthogonal: bool = False       # fixed seeded orthogonal channel mix (still invertible)
    orthogonal_seed: int = 0
    # pca codec: frames after the first coded as their difference from the first (motion)
    residual: bool = False
    # pca codec: a learned decoder stage reading the given first frame (0 = off; trained by
    # vag-ros train-decoder, the identity until then)
    refiner_width: int = 0
    # wan codec: a local Cosmos-Predict2 / Wan checkpoint dir (with a 'vae' subfolder or not)
    path: typing.Optional[str] = None

    def validate(self, where: str = 'codec') -> None:
        require(self.kind in ('patch', 'pca', 'wan'), f'{where}.kind', self.kind,
                "must be 'patch', 'pca' or 'wan'")
        require(self.kind != 'pca' or self.temporal_factor == 1, f'{where}.temporal_factor',
                self.temporal_factor, 'the pca codec is per frame: must be 1')
        require(not self.residual or self.kind == 'pca', f'{where}.residual', self.residual,
                'only the pca codec fits a residual scale')
        require(self.refiner_width >= 0 and (not self.refiner_width or self.kind == 'pca'),
                f'{where}.refiner_width', self.refiner_width,
                'must be >= 0, and 0 unless the codec is pca')
        require(not self.refiner_width or self.spatial_factor % 4 == 0,
                f'{where}.spatial_factor', self.spatial_factor,
                'a codec with a refiner (learned decoder) needs it divisible by 4')
        require(self.spatial_factor >= 1, f'{where}.spatial_factor', self.spatial_factor,
                'must be >= 1')
        require(self.temporal_factor >= 1, f'{where}.temporal_factor', self.temporal_factor,
                'must be >= 1')


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """Instruction encoder: ``minilm`` (bundled), ``t5`` (local path) or ``none`` (zeros)."""

    kind: str = 'minilm'
    path: typing.Optional[str] = None
    max_length: int = 32
    embed_dim: int = 384

    def validate(self, where: str = 'text') -> None:
        require(self.kind in ('minilm', 't5', 'none'), f'{where}.kind', self.kind,
                "must be 'minilm', 't5' or 'none'")
        require(self.max_length >= 1, f'{where}.max_length', self.max_length, 'must be >= 1')
        require(self.embed_dim >= 1, f'{where}.embed_dim', self.embed_dim, 'must be >= 1')


@dataclasses.dataclass(frozen=True)
class VideoConfig:
    """Video clip geometry and the Cosmos DiT (diffusers CosmosTransformer3DModel) sizes."""

    frames: int = 40
    height: int = 64
    width: int = 64
    fps: float = 10.0
    latent_channels: int = 192
    codec: CodecConfig = CodecConfig()
    num_layers: int = 2
    num_heads: int = 4
    head_dim: int = 32
    mlp_ratio: float = 4.0
    adaln_lora_dim: int = 32
    patch_size: typing.Tuple[int, ...] = (1, 2, 2)
    rope_scale: typing.Tuple[float, ...] = (1.0, 1.0, 1.0)
    max_size: typing.Tuple[int, ...] = (128, 240, 240)
    extra_pos_embed: bool = False
    # Cosmos-Predict2 checkpoints see a zero padding-mask channel after the condition mask;
    # we append it ourselves (diffusers would need torchvision to resize it).
    padding_mask_channel: bool = False
    condition_timestep: float = 0.0
    # The DiT also cross-attends to one token made from the action branch's observation
    # features (where the named object is), beside the text tokens. Needs the observation
    # encoder (action.observation_dim > 0, not mode video_only); it then trains and freezes
    # with the video branch.
    observation_token: bool = False
    # The DiT also reads the observation encoder's waypoint plan (action.dim joints at 4
    # waypoints, the waypoint head's guess from the first frame, text and state), linearly
    # interpolated to every latent frame and broadcast as plan_dim input channels, with 2
    # channels of the latent grid's (x, y): where the arm should be at each frame, beside
    # where each token is. 0 = off; else action.dim (needs observation_token and the
    # waypoint head, action.waypoint_weight > 0).
    plan_dim: int = 0

    def validate(self, where: str = 'video') -> None:
        self.codec.validate(f'{where}.codec')
        for name in ('frames', 'height', 'width', 'latent_channels', 'num_layers', 'num_heads',
                     'head_dim', 'adaln_lora_dim'):
            value = getattr(self, name)
            require(value >= 1, f'{where}.{name}', value, 'must be >= 1')
        require(self.fps > 0, f'{where}.fps', self.fps, 'must be > 0')
        require(len(self.patch_size) == 3 and self.patch_size[0] == 1, f'{where}.patch_size',
                self.patch_size, 'must be (1, p_h, p_w): per-frame timesteps need p_t = 1')
        require(len(self.rope_scale) == 3, f'{where}.rope_scale', self.rope_scale,
                'must have 3 values (t, h, w)')
        require(len(self.max_size) == 3, f'{where}.max_size', self.max_size,
                'must have 3 values (t, h, w)')
        require(0.0 <= self.condition_timestep < 1.0, f'{where}.condition_timestep',
                self.condition_timestep, 'must be in [0, 1)')
        codec = self.codec
        sf, tf = codec.spatial_factor, codec.temporal_factor
        if codec.kind == 'wan':
            sf, tf = 8, 4
            require(self.latent_channels == 16, f'{where}.latent_channels',
                    self.latent_channels, 'the Wan 2.1 VAE has 16 latent channels')
        elif codec.kind == 'pca':
            most = 3 * sf * sf
            require(1 <= self.latent_channels <= most, f'{where}.latent_channels',
                    self.latent_channels, f'the pca codec keeps 1 to 3*{sf}*{sf} = {most} '
                    'components per patch')
        else:
            want = 3 * sf * sf * tf
            require(self.latent_channels == want, f'{where}.latent_channels',
                    self.latent_channels,
                    f'the patch codec is exactly invertible, so it needs 3*{sf}*{sf}*{tf}'
                    f' = {want} channels')
        require(tf == 1 or (self.frames - 1) % tf == 0, f'{where}.frames', self.frames,
                f'must be 1 + {tf}*k for temporal factor {tf}')
        ph, pw = self.patch_size[1], self.patch_size[2]
        require(self.height % (sf * ph) == 0, f'{where}.height', self.height,
                f'must be a multiple of {sf * ph} (codec factor x patch)')
        require(self.width % (sf * pw) == 0, f'{where}.width', self.width,
                f'must be a multiple of {sf * pw} (codec factor x patch)')

    @property
    def spatial_factor(self) -> int:
        return 8 if self.codec.kind == 'wan' else self.codec.spatial_factor

    @property
    def temporal_factor(self) -> int:
        return 4 if self.codec.kind == 'wan' else self.codec.temporal_factor

    @property
    def latent_frames(self) -> int:
        """T' = 1 + (T - 1) / f_t (the first frame is encoded on its own)."""
        tf = self.temporal_factor
        return self.frames if tf == 1 else 1 + (self.frames - 1) // tf

    @property
    def latent_shape(self) -> typing.Tuple[int, int, int, int]:
        """(C, T', H', W') of one clip's latent."""
        sf = self.spatial_factor
        return (self.latent_channels, self.latent_frames, self.height // sf, self.width // sf)


TEXT_POOLINGS = ('mean', 'attention')  # how the observation encoder reads the tokens


@dataclasses.dataclass(frozen=True)
class ActionConfig:
    """Diffusion-Policy style 1D temporal U-Net over (T, D) normalized actions."""

    dim: int = 7
    horizon: int = 40
    down_dims: typing.Tuple[int, ...] = (64, 128)
    kernel_size: int = 5
    n_groups: int = 8
    timestep_embed_dim: int = 64
    normalization: str = 'minmax'
    observation_dim: int = 128    # first-frame features beside the bridge; 0 = bridge only
    observation_size: int = 0     # the frame the observation encoder reads, S x S pixels;
    #                               0 = the video resolution
    attention_heads: int = 4      # instruction queries the observation encoder attends with
    text_pooling: str = 'mean'    # how the encoder reads the instruction's tokens: their
    #                               'mean', or 'attention' (learned weights per query head)
    local_features: int = 0       # per query head: this many convolutional features of the
    #                               neighbourhood it attends to (the block's yaw); 0 = off
    state_conditioning: bool = False  # the arm's measured joints are an input; the model
    #                                   predicts actions relative to them
    anchor_steps: int = 0         # blend the first point onto the measured state over this
    #                               many steps (0 = off); needs state_conditioning
    waypoint_weight: float = 0.0  # auxiliary loss: the observation features regress the
    #                               clean actions at a few waypoints (0 = off)
    execute_steps: int = 0        # > 0: a receding-horizon policy (lerobot's n_action_steps):
    #                               run closed loop, this many targets of each chunk executed
    #                               before observing again; trained on windows starting at
    #                               every frame (window_stride), past the episode's end padded
    #                               by holding its last frame and action. 0 = open loop

    def validate(self, where: str = 'action') -> None:
        require(self.dim >= 1, f'{where}.dim', self.dim, 'must be >= 1')
        require(self.horizon >= 1, f'{where}.horizon', self.horizon, 'must be >= 1')
        require(len(self.down_dims) >= 1, f'{where}.down_dims', self.down_dims,
                'needs at least one level')
        for i, d in enumerate(self.down_dims):
            require(d % self.n_groups == 0, f'{where}.down_dims[{i}]', d,
                    f'must be a multiple of n_groups={self.n_groups}')
        require(self.kernel_size % 2 == 1, f'{where}.kernel_size', self.kernel_size,
                'must be odd')
        require(self.timestep_embed_dim % 2 == 0 and self.timestep_embed_dim > 0,
                f'{where}.timestep_embed_dim', self.timestep_embed_dim, 'must be even, > 0')
        require(self.normalization in ('minmax', 'meanstd'), f'{where}.normalization',
                self.normalization, "must be 'minmax' or 'meanstd'")
        require(self.observation_size >= 0, f'{where}.observation_size',
                self.observation_size, 'must be >= 0 (0 = the video resolution)')
        require(self.text_pooling in TEXT_POOLINGS, f'{where}.text_pooling',
                self.text_pooling, f'must be one of {TEXT_POOLINGS}')
        require(self.local_features >= 0, f'{where}.local_features', self.local_features,
                'must be >= 0')
        require(self.attention_heads >= 1, f'{where}.attention_heads', self.attention_heads,
                'must be >= 1')
        require(0 <= self.anchor_steps <= self.horizon, f'{where}.anchor_steps',
                self.anchor_steps, f'must be in [0, horizon={self.horizon}]')
        require(not self.anchor_steps or self.state_conditioning, f'{where}.anchor_steps',
                self.anchor_steps, 'needs state_conditioning: true')
        require(self.waypoint_weight >= 0, f'{where}.waypoint_weight', self.waypoint_weight,
                'must be >= 0')
        require(0 <= self.execute_steps <= self.horizon, f'{where}.execute_steps',
                self.execute_steps, f'must be in [0, horizon={self.horizon}]')
        require(not self.waypoint_weight or self.observation_dim > 0,
                f'{where}.waypoint_weight', self.waypoint_weight,
                'needs an observation encoder (observation_dim > 0)')


@dataclasses.dataclass(frozen=True)
class BridgeConfig:
    """Pooling bridge: z0 -> avg-pool to C' = latent channels -> tile to C'' (no weights)."""

    expanded_dim: int = 192

    def validate(self, where: str = 'bridge') -> None:
        require(self.expanded_dim >= 1, f'{where}.expanded_dim', self.expanded_dim,
                'must be >= 1')


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Synchronized Euler sampling shared by both branches."""

    num_steps: int = 35
    guidance_scale: float = 1.0    # v = v_u + g (v_c - v_u); 1.0 disables CFG
    timestep_shift: float = 1.0    # t' = s t / (1 + (s - 1) t); 1.0 = plain linear

    def validate(self, where: str = 'sampler') -> None:
        require(self.num_steps >= 1, f'{where}.num_steps', self.num_steps, 'must be >= 1')
        require(self.guidance_scale >= 0.0, f'{where}.guidance_scale', self.guidance_scale,
                'must be >= 0')
        require(self.timestep_shift > 0.0, f'{where}.timestep_shift', self.timestep_shift,
                'must be > 0')


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Training objective: shared-t rectified flow on both branches."""

    timestep_sampling: str = 'logit_normal'
    logit_mean: float = 0.0
    logit_std: float = 1.0
    text_dropout: float = 0.1
    video_weight: float = 1.0
    action_weight: float = 1.0
    motion_weight: float = 0.0   # video loss weight 1 + this x (latent motion / its mean)

    def validate(self, where: str = 'loss') -> None:
        require(self.timestep_sampling in ('uniform', 'logit_normal'),
                f'{where}.timestep_sampling', self.timestep_sampling,
                "must be 'uniform' or 'logit_normal'")
        require(self.logit_std > 0, f'{where}.logit_std', self.logit_std, 'must be > 0')
        require(0.0 <= self.text_dropout <= 1.0, f'{where}.text_dropout', self.text_dropout,
                'must be in [0, 1]')
        require(self.video_weight >= 0, f'{where}.video_weight', self.video_weight,
                'must be >= 0')
        require(self.action_weight >= 0, f'{where}.action_weight', self.action_weight,
                'must be >= 0')
        require(self.motion_weight >= 0, f'{where}.motion_weight', self.motion_weight,
                'must be >= 0')


@dataclasses.dataclass(frozen=True)
class VagConfig:
    """The whole VAG model: video branch, text, action U-Net, bridge, sampler, loss."""

    name: str = 'tiny'
    mode: str = 'joint'
    video: VideoConfig = VideoConfig()
    text: TextConfig = TextConfig()
    action: ActionConfig = ActionConfig()
    bridge: BridgeConfig = BridgeConfig()
    sampler: SamplerConfig = SamplerConfig()
    loss: LossConfig = LossConfig()

    def validate(self) -> 'VagConfig':
        require(self.mode in MODES, 'mode', self.mode, f'must be one of {list(MODES)}')
        require(self.mode != 'action_no_bridge' or self.action.observation_dim > 0,
                'action.observation_dim', self.action.observation_dim,
                'mode action_no_bridge sees only the observation: must be > 0')
        # (action_no_bridge has no video branch: the switch is moot there)
        require(not self.video.observation_token
                or (self.mode != 'video_only' and self.action.observation_dim > 0),
                'video.observation_token', self.video.observation_token,
                'needs an observation encoder (action.observation_dim > 0): not in mode '
                'video_only')
        require(self.video.plan_dim in (0, self.action.dim), 'video.plan_dim',
                self.video.plan_dim, f'must be 0 (off) or action.dim ({self.action.dim})')
        require(not self.video.plan_dim or (self.video.observation_token
                                            and self.action.waypoint_weight > 0),
                'video.plan_dim', self.video.plan_dim,
                'the plan is the waypoint head\'s: needs video.observation_token and '
                'action.waypoint_weight > 0')
        require(not self.video.plan_dim or (self.action.state_conditioning
                                            and self.action.horizon == self.video.frames),
                'video.plan_dim', self.video.plan_dim,
                'needs action.state_conditioning (the plan starts at the measured state, a '
                'fixed point in relative actions) and action.horizon == video.frames (action '
                'step t is frame t)')
        self.video.validate('video')
        self.text.validate('text')
        self.action.validate('action')
        self.bridge.validate('bridge')
        self.sampler.validate('sampler')
        self.loss.validate('loss')
        return self

    @property
    def observation_hw(self) -> typing.Tuple[int, int]:
        """(H, W) of the frame the action branch's observation encoder reads."""
        size = self.action.observation_size
        return (size, size) if size else (self.video.height, self.video.width)

    @property
    def action_cond_dim(self) -> int:
        """Global condition width of the U-Net (besides its timestep embedding)."""
        observation = self.action.observation_dim
        if self.mode == 'action_no_bridge':
            return observation  # first frame + text only
        return self.bridge.expanded_dim + observation

    def to_dict(self) -> dict:
        """Plain dict (lists, not tuples) that ``config_from_dict`` reads back."""
        return _plain(dataclasses.asdict(self))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_from_dict(data: typing.Mapping, where: str = '') -> VagConfig:
    """Build and validate a VagConfig; errors name the field (``video.num_heads``...)."""
    return from_dict(VagConfig, data, where).validate()


def preset_dir() -> Path:
    """Find the folder holding ``model_<name>.yaml``."""
    local = Path(__file__).resolve().parents[2] / 'config'
    if (local / 'model_tiny.yaml').is_file():
        return local
    from vag_ros.resources import share_path
    return share_path('config')


PRESETS = ('tiny', 'small', 'paper')


def load_model_config(name_or_path: typing.Union[str, Path]) -> VagConfig:
    """Load a preset name ('tiny', 'small', 'paper') or a YAML path as a validated VagConfig."""
    text = str(name_or_path)
    if text in PRESETS:
        path = preset_dir() / f'model_{text}.yaml'
    else:
        path = Path(text)
        if not path.suffix:
            raise ConfigError(
                f'model config {text!r}: not a preset {list(PRESETS)} nor a .yaml path')
    return config_from_dict(load_yaml(path), '')
