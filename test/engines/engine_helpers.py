"""Helpers of the engine tests: a micro joint model, its checkpoint, a seeded text encoder."""


import micro_model
import numpy as np
import torch

from vag_ros.model.text import TextEncoder


def micro_config(guidance: float = 1.0, observation_dim: int = 16, codec: str = 'patch'):
    """The shared micro config, 3 steps.

    codec 'patch': 192 exact channels, bridge C'' = 200; 'pca': 16 fitted channels,
    C'' = 132 as in the paper. Neither C'' is a multiple of C', so the bridge tiles a
    partial copy: the case the TorchScript exporter got wrong (truncating floor division).
    """
    return micro_model.micro_config(codec_kind=codec,
                                    expanded_dim=200 if codec == 'patch' else 132,
                                    observation_dim=observation_dim, guidance=guidance)


def save_micro_checkpoint(path, config=None, seed: int = 0, prepare=None):
    """A random-weight checkpoint folder with min-max action stats (and a fitted codec);
    ``prepare(model)`` may change the weights before saving."""
    from vag_ros.model.checkpoint import save_checkpoint
    from vag_ros.model.codecs import build_codec
    from vag_ros.model.normalization import ActionNormalizer
    from vag_ros.model.vag import VagModel
    from vag_ros.robot.description import load_robot_description
    config = config or micro_config()
    torch.manual_seed(seed)
    normalizer = ActionNormalizer('minmax', -torch.ones(7) * 2, torch.ones(7) * 3)
    codec = None
    if config.video.codec.kind == 'pca':
        codec = build_codec(config.video.codec, config.video.latent_channels)
        g = torch.Generator().manual_seed(seed)
        codec.fit([torch.rand(2, 3, 5, 32, 32, generator=g) * 2 - 1])
        if codec.refiner is not None:  # random last layer: the refiner changes the video
            torch.nn.init.normal_(codec.refiner.fine[-1].weight, std=0.05, generator=g)
    model = VagModel(config)
    if prepare is not None:
        prepare(model)
    return save_checkpoint(path, model, config, normalizer, codec=codec,
                           robot=load_robot_description())


STATE = np.array([0.0, -0.3, 2.0, 0.0, 1.44, 0.0, 0.02])  # (D,) the world's home pose


class SeededText(TextEncoder):
    """Deterministic non-zero embeddings per instruction, so text and CFG matter."""

    def __init__(self, embed_dim: int = 16, max_length: int = 4):
        super().__init__()
        self.embed_dim, self.max_length = embed_dim, max_length

    def _encode_batch(self, texts):
        embs = []
        for text in texts:
            g = torch.Generator().manual_seed(sum(map(ord, text)))
            embs.append(torch.randn(self.max_length, self.embed_dim, generator=g))
        mask = torch.ones(len(texts), self.max_length, dtype=torch.bool)
        mask[:, -1] = False
        emb = torch.stack(embs) * mask[..., None]
        return emb, mask


def frame(height: int = 24, width: int = 40, seed: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 noise frame (resized by the pipelines)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
