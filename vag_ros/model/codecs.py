"""Pixel <-> latent codecs: exact patches, a fitted PCA codec, the Wan 2.1 VAE."""  # noqa: A005

# Tiny models use the PCA codec, the paper preset the Wan 2.1 VAE. All follow Wan's frame
# convention: the first frame is encoded on its own, the rest in groups of
# ``temporal_factor``, so T' = 1 + (T - 1) / f_t (T' = T when f_t = 1).

from pathlib import Path
import typing

import torch
from torch import nn

from vag_ros.errors import CheckpointError, ConfigError
from vag_ros.model.frame_refiner import COARSE, FrameRefiner


class LatentCodec(nn.Module):
    """Interface: video (B, 3, T, H, W) in [-1, 1] <-> latents (B, C, T', H/f, W/f)."""

    latent_channels: int
    temporal_factor: int
    spatial_factor: int

    def latent_frames(self, frames: int) -> int:
        """T' for T input frames."""
        tf = self.temporal_factor
        if tf == 1:
            return frames
        if (frames - 1) % tf:
            raise ConfigError(f'frames={frames}: must be 1 + {tf}*k for this codec')
        return 1 + (frames - 1) // tf

    def pixel_frames(self, latent_frames: int) -> int:
        """T for T' latent frames."""
        tf = self.temporal_factor
        return latent_frames if tf == 1 else 1 + (latent_frames - 1) * tf

    def check_video(self, video: torch.Tensor) -> None:
        """Raise ConfigError unless video is (B, 3, T, H, W) with H, W divisible by f."""
        f = self.spatial_factor
        if video.ndim != 5 or video.shape[1] != 3:
            raise ConfigError(f'video shape {tuple(video.shape)}: expected (B, 3, T, H, W)')
        if video.shape[3] % f or video.shape[4] % f:
            raise ConfigError(
                f'video size {tuple(video.shape[3:])}: height and width must divide by {f}')
        self.latent_frames(video.shape[2])

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, C, T', H/f, W/f)."""
        raise NotImplementedError

    def decode(self, latents: torch.Tensor,
               first_frame: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, C, T', h, w) -> (B, 3, T, h*f, w*f) in [-1, 1].

        ``first_frame`` (B, 3, 1, H, W): the clip's given first frame in pixels, which a
        codec with a learned decoder (``PcaCodec`` with a refiner) reads; others ignore it.
        """
        raise NotImplementedError


class PatchCodec(LatentCodec):
    """Space-to-depth (and time-to-depth) with an optional fixed orthogonal channel mix.

    Exactly invertible: C = 3 * f * f * f_t. With f_t > 1 the first frame is repeated f_t
    times to form its own group; decoding keeps the last frame of that group.
    """

    def __init__(self, spatial_factor: int = 8, temporal_factor: int = 1,
                 orthogonal: bool = False, seed: int = 0):
        super().__init__()
        self.spatial_factor = spatial_factor
        self.temporal_factor = temporal_factor
        self.latent_channels = 3 * spatial_factor * spatial_factor * temporal_factor
        self.orthogonal = orthogonal
        if orthogonal:
            gen = torch.Generator().manual_seed(seed)
            a = torch.randn(self.latent_channels, self.latent_channels, generator=gen,
                            dtype=torch.float64)
            q, r = torch.linalg.qr(a)
            q = q * torch.sign(torch.diagonal(r))[None, :]  # unique Q
            self.register_buffer('mix', q.float(), persistent=False)  # (C, C)
        else:
            self.mix = None

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, 3*f*f*f_t, T', H/f, W/f)."""
        self.check_video(video)
        f, tf = self.spatial_factor, self.temporal_factor
        if tf > 1:
            video = torch.cat([video[:, :, :1].expand(-1, -1, tf - 1, -1, -1), video], dim=2)
        b, c, t, h, w = video.shape
        x = video.reshape(b, c, t // tf, tf, h // f, f, w // f, f)
        x = x.permute(0, 1, 3, 5, 7, 2, 4, 6)  # (B, 3, tf, f, f, T', h, w)
        x = x.reshape(b, c * tf * f * f, t // tf, h // f, w // f)
        if self.mix is not None:
            x = torch.einsum('dc,bcthw->bdthw', self.mix.to(x.dtype), x)
        return x

    def decode(self, latents: torch.Tensor,
               first_frame: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, 3*f*f*f_t, T', h, w) -> (B, 3, T, h*f, w*f)."""
        f, tf = self.spatial_factor, self.temporal_factor
        if latents.ndim != 5 or latents.shape[1] != self.latent_channels:
            raise ConfigError(f'latents shape {tuple(latents.shape)}: expected '
                              f"(B, {self.latent_channels}, T', h, w)")
        x = latents
        if self.mix is not None:
            x = torch.einsum('dc,bdthw->bcthw', self.mix.to(x.dtype), x)
        b, _, t, h, w = x.shape
        x = x.reshape(b, 3, tf, f, f, t, h, w)
        x = x.permute(0, 1, 5, 2, 6, 3, 7, 4)  # (B, 3, T', tf, h, f, w, f)
        x = x.reshape(b, 3, t * tf, h * f, w * f)
        return x[:, :, tf - 1:] if tf > 1 else x


class PcaCodec(LatentCodec):
    """f x f patches projected on their first C principal components, scaled to unit variance.

    A linear autoencoder the project fits on its own training frames (``fit``), like Wan's
    16 channels a few latent channels per patch, so a small DiT's tokens stay narrow. Its
    tensors (mean, basis, scale) travel in the checkpoint under ``codec.``.

    ``residual``: every frame after the first is coded as its latent's difference from the
    first frame's, scaled to unit RMS on the fit data (``residual_scale``), so what does not
    move is zero and a video model generates only the motion. The first frame (the
    conditioning latent, or a frame encoded alone) stays absolute.

    ``refiner_width`` > 0: a learned decoder stage (``FrameRefiner``) after the linear decode
    that reads the given first frame; untrained it is the linear decode.
    """

    def __init__(self, spatial_factor: int = 8, channels: int = 16, residual: bool = False,
                 refiner_width: int = 0):
        super().__init__()
        self.spatial_factor = spatial_factor
        self.temporal_factor = 1
        self.latent_channels = channels
        self.residual = residual
        self.patches = PatchCodec(spatial_factor)
        size = self.patches.latent_channels  # P = 3 * f * f
        if not 1 <= channels <= size:
            raise ConfigError(f'PCA codec: {channels} channels, must be in [1, {size}]')
        self.register_buffer('mean', torch.zeros(size))              # (P,)
        self.register_buffer('basis', torch.zeros(channels, size))   # (C, P) orthonormal rows
        self.register_buffer('scale', torch.ones(channels))          # (C,) component std
        if residual:  # (C,) RMS of (z_k - z_0) over the fit data, in units of ``scale``
            self.register_buffer('residual_scale', torch.ones(channels))
        if refiner_width > 0 and spatial_factor % COARSE:
            raise ConfigError(f'PCA codec: a refiner needs a spatial_factor divisible by '
                              f'{COARSE}, not {spatial_factor}')
        self.refiner = FrameRefiner(refiner_width) if refiner_width > 0 else None

    @property
    def fitted(self) -> bool:
        """False until ``fit`` ran or fitted tensors were loaded."""
        return bool(self.basis.abs().sum() > 0)

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise CheckpointError('PCA codec is not fitted: its tensors come with the '
                                  'checkpoint (codec.*) or from fit() on training frames')

    @torch.no_grad()
    def fit(self, videos: typing.Iterable[torch.Tensor]) -> 'PcaCodec':
        """Fit on videos (B, 3, T, H, W) in [-1, 1]: float64 covariance of all patches."""
        size = self.patches.latent_channels
        total = torch.zeros(size, dtype=torch.float64)
        outer = torch.zeros(size, size, dtype=torch.float64)
        motion = torch.zeros(size, size, dtype=torch.float64)  # second moment of x_k - x_0
        count = moved = 0
        for video in videos:
            # accumulated on the CPU in float64, whatever device the frames are on
            clip = self.patches.encode(video).double().cpu()  # (B, P, T, h, w)
            x = clip.transpose(0, 1).reshape(size, -1)   # (P, N)
            total += x.sum(1)
            outer += x @ x.T
            count += x.shape[1]
            if self.residual:
                d = (clip[:, :, 1:] - clip[:, :, :1]).transpose(0, 1).reshape(size, -1)
                motion += d @ d.T
                moved += d.shape[1]
        if count < 2:
            raise ConfigError('PCA codec: fit needs at least two patches')
        if self.residual and not moved:
            raise ConfigError('PCA codec: a residual fit needs clips of two frames or more')
        mean = total / count
        cov = outer / count - torch.outer(mean, mean)  # (P, P)
        values, vectors = torch.linalg.eigh(cov)       # ascending
        values = values.flip(0)[:self.latent_channels].clamp_min(1e-8)
        vectors = vectors.flip(1)[:, :self.latent_channels].T  # (C, P)
        # one sign per component, for reproducible files: largest entry positive
        signs = torch.sign(vectors.gather(1, vectors.abs().argmax(1, keepdim=True)))
        self.mean.copy_(mean.float())
        self.basis.copy_((vectors * signs).float())
        self.scale.copy_(values.sqrt().float())
        if self.residual:
            basis = self.basis.double()
            rms = torch.einsum('cp,pq,cq->c', basis, motion / moved, basis).clamp_min(0).sqrt()
            self.residual_scale.copy_((rms / self.scale.double()).clamp_min(1e-3).float())
        return self

    def explained_variance(self, videos: typing.Iterable[torch.Tensor]) -> float:
        """Fraction of the pixel variance (about the fitted mean) the C components keep."""
        residual = total = 0.0
        for video in videos:
            x = self.patches.encode(video)
            total += float(((x - self.mean.view(1, -1, 1, 1, 1)) ** 2).sum())
            rebuilt = self.decode_linear(self.encode(video)).clamp(-1.0, 1.0)
            residual += float(((rebuilt - video) ** 2).sum())
        return 1.0 - residual / max(total, 1e-12)

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> (B, C, T, H/f, W/f), unit variance per channel on the fit data."""
        self._require_fitted()
        x = self.patches.encode(video) - self.mean.view(1, -1, 1, 1, 1)  # (B, P, T, h, w)
        z = torch.einsum('cp,bpthw->bcthw', self.basis.to(x.dtype), x)
        z = z / self.scale.view(1, -1, 1, 1, 1)   # (B, C, T, h, w)
        if self.residual and z.shape[2] > 1:  # a lone first frame stays as it is
            rs = self.residual_scale.view(1, -1, 1, 1, 1).to(z.dtype)
            z = torch.cat([z[:, :, :1], (z[:, :, 1:] - z[:, :, :1]) / rs], dim=2)
        return z

    def decode(self, latents: torch.Tensor,
               first_frame: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, C, T, h, w) -> (B, 3, T, h*f, w*f) in [-1, 1]; with a refiner, frame 0 is
        ``first_frame`` (B, 3, 1, H, W) when given, its linear decode otherwise."""
        video = self.decode_linear(latents).clamp(-1.0, 1.0)
        if self.refiner is None:
            return video
        if first_frame is None:
            first_frame = video[:, :, :1]
        self.check_first_frame(first_frame, video)
        return self.refiner(video, first_frame)

    @staticmethod
    def check_first_frame(first_frame: torch.Tensor, video: torch.Tensor) -> None:
        """ConfigError unless ``first_frame`` is (B, 3, 1, H, W) of ``video``'s B, H, W."""
        b, _, _, h, w = video.shape
        if tuple(first_frame.shape) != (b, 3, 1, h, w):
            raise ConfigError(f'first frame shape {tuple(first_frame.shape)}: expected '
                              f'({b}, 3, 1, {h}, {w})')

    def decode_linear(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) -> (B, 3, T, h*f, w*f), the PCA decode alone, unclamped."""
        self._require_fitted()
        if latents.ndim != 5 or latents.shape[1] != self.latent_channels:
            raise ConfigError(f'latents shape {tuple(latents.shape)}: expected '
                              f"(B, {self.latent_channels}, T', h, w)")
        if self.residual and latents.shape[2] > 1:
            rs = self.residual_scale.view(1, -1, 1, 1, 1).to(latents.dtype)
            latents = torch.cat([latents[:, :, :1], latents[:, :, :1] + latents[:, :, 1:] * rs],
                                dim=2)
        z = latents * self.scale.view(1, -1, 1, 1, 1).to(latents.dtype)
        x = torch.einsum('cp,bcthw->bpthw', self.basis.to(z.dtype), z)
        x = x + self.mean.view(1, -1, 1, 1, 1).to(z.dtype)
        return self.patches.decode(x)


class WanCodec(LatentCodec):
    """diffusers' AutoencoderKLWan with Wan's per-channel latent normalization."""

    def __init__(self, vae: nn.Module, sample: bool = False):
        super().__init__()
        self.vae = vae
        cfg = vae.config
        self.latent_channels = cfg.z_dim
        self.temporal_factor = 2 ** sum(cfg.temperal_downsample)
        self.spatial_factor = 2 ** len(cfg.temperal_downsample)
        if getattr(cfg, 'patch_size', None):
            self.spatial_factor *= cfg.patch_size
        self.sample_posterior = sample
        shape = (1, cfg.z_dim, 1, 1, 1)
        self.register_buffer('latents_mean', torch.tensor(cfg.latents_mean).view(shape),
                             persistent=False)
        self.register_buffer('latents_std', torch.tensor(cfg.latents_std).view(shape),
                             persistent=False)

    @classmethod
    def from_config(cls, **config) -> 'WanCodec':
        """Build a randomly initialised VAE from AutoencoderKLWan kwargs (tests)."""
        from diffusers import AutoencoderKLWan
        return cls(AutoencoderKLWan(**config))

    @classmethod
    def from_pretrained(cls, path: typing.Union[str, Path],
                        dtype: torch.dtype = torch.float32) -> 'WanCodec':
        """Load from a local diffusers folder: a pipeline dir with ``vae/`` or the vae dir."""
        from diffusers import AutoencoderKLWan
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f'Wan VAE folder not found: {path}')
        sub = 'vae' if (path / 'vae' / 'config.json').is_file() else None
        if sub is None and not (path / 'config.json').is_file():
            raise CheckpointError(f'{path}: no config.json and no vae/config.json')
        try:
            vae = AutoencoderKLWan.from_pretrained(path, subfolder=sub, torch_dtype=dtype)
        except (OSError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f'cannot load the Wan VAE from {path}: {exc}') from None
        return cls(vae.eval())

    def encode(self, video: torch.Tensor,
               generator: typing.Optional[torch.Generator] = None) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> normalized (B, 16, 1 + (T-1)/4, H/8, W/8)."""
        self.check_video(video)
        dist = self.vae.encode(video.to(self.vae.dtype)).latent_dist
        z = dist.sample(generator) if self.sample_posterior else dist.mode()
        return (z.float() - self.latents_mean) / self.latents_std

    def decode(self, latents: torch.Tensor,
               first_frame: typing.Optional[torch.Tensor] = None) -> torch.Tensor:
        """Decode normalized (B, 16, T', h, w) -> (B, 3, 1 + 4 (T'-1), 8h, 8w) in [-1, 1]."""
        z = latents.float() * self.latents_std + self.latents_mean
        video = self.vae.decode(z.to(self.vae.dtype)).sample
        return video.float().clamp(-1.0, 1.0)


def build_codec(codec_config, latent_channels: typing.Optional[int] = None) -> LatentCodec:
    """Codec from a ``CodecConfig``; Wan needs ``codec_config.path``."""
    if codec_config.kind == 'patch':
        codec = PatchCodec(codec_config.spatial_factor, codec_config.temporal_factor,
                           codec_config.orthogonal, codec_config.orthogonal_seed)
    elif codec_config.kind == 'pca':
        codec = PcaCodec(codec_config.spatial_factor, latent_channels or 16,
                         codec_config.residual, codec_config.refiner_width)
    elif codec_config.kind == 'wan':
        if not codec_config.path:
            raise ConfigError('video.codec.path=None: the Wan codec needs a local folder')
        codec = WanCodec.from_pretrained(codec_config.path)
    else:
        raise ConfigError(f'video.codec.kind={codec_config.kind!r}: unknown codec')
    if latent_channels is not None and codec.latent_channels != latent_channels:
        raise ConfigError(f'video.latent_channels={latent_channels}: the codec gives '
                          f'{codec.latent_channels}')
    return codec
