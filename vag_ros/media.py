"""Images in and out: PNG loading, GIF/MP4 writing and action-curve plots.

Frames are resized with ``vag_ros.train.dataset.resize_frames``, the training data's own
resize, so that evaluation sees what training saw.
"""

from pathlib import Path
import typing

import numpy as np

from vag_ros.errors import VagError


class MediaError(VagError, ValueError):
    """An image cannot be read or used, or a video/plot cannot be written."""


PathLike = typing.Union[str, Path]


def load_image(path: PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB.

    Grayscale and palette images are converted to RGB; an alpha channel is dropped when it
    is fully opaque and refused otherwise; 16-bit and float images are refused.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError
    path = Path(path)
    if not path.exists():
        raise MediaError(f'image not found: {path}')
    if not path.is_file():
        raise MediaError(f'image {path} is not a file')
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)  # upright, as every viewer shows it
            mode = image.mode
            if mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
                raise MediaError(f'image {path}: {mode} (16-bit or float) images are not '
                                 f'supported; save it as 8-bit RGB')
            if mode == 'P':
                image = image.convert('RGBA' if 'transparency' in image.info else 'RGB')
                mode = image.mode
            if mode in ('RGBA', 'LA', 'PA'):
                alpha = np.asarray(image.getchannel('A'))
                if alpha.min() < 255:
                    raise MediaError(f'image {path} has transparent pixels; flatten it onto '
                                     f'a background first (the model needs RGB)')
            rgb = np.array(image.convert('RGB'), dtype=np.uint8)  # writable copy
    except UnidentifiedImageError:
        raise MediaError(f'{path} is not an image PIL can read') from None
    except Image.DecompressionBombError as exc:
        raise MediaError(f'image {path}: {exc}') from None
    except OSError as exc:
        raise MediaError(f'cannot read image {path}: {exc}') from None
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise MediaError(f'image {path}: empty or malformed, shape {rgb.shape}')
    return np.ascontiguousarray(rgb)


def write_gif(frames: np.ndarray, path: PathLike, fps: float) -> Path:
    """Write (T, H, W, 3) uint8 as a looping GIF at ``fps`` (PIL, 10 ms resolution)."""
    from PIL import Image
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
        raise MediaError(f'gif: expected (T, H, W, 3) uint8 with T >= 1, got {frames.shape} '
                         f'{frames.dtype}')
    path = Path(path)
    images = [Image.fromarray(f) for f in frames]
    duration = max(10, int(round(1000.0 / fps / 10.0)) * 10)  # ms, multiple of 10
    try:
        images[0].save(path, save_all=True, append_images=images[1:], duration=duration,
                       loop=0, optimize=False)
    except OSError as exc:
        raise MediaError(f'cannot write GIF {path}: {exc}') from None
    return path


def mp4_support() -> typing.Tuple[bool, str]:
    """(available, reason): MP4 needs the imageio-ffmpeg package."""
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False, 'imageio-ffmpeg is not installed (pip install imageio-ffmpeg)'
    return True, ''


def write_mp4(frames: np.ndarray, path: PathLike, fps: float) -> typing.Optional[Path]:
    """Write an H.264 MP4 with imageio-ffmpeg; None when that package is missing."""
    available, _ = mp4_support()
    if not available:
        return None
    import imageio.v2 as imageio
    path = Path(path)
    try:
        # macro_block_size=1 keeps small, odd frame sizes as they are
        with imageio.get_writer(path, fps=fps, codec='libx264', macro_block_size=1,
                                quality=8) as writer:
            for frame in frames:
                writer.append_data(np.asarray(frame, np.uint8))
    except Exception as exc:  # noqa: B902 - ffmpeg fails in many ways
        raise MediaError(f'cannot write MP4 {path}: {exc}') from None
    return path


def plot_action_curves(curves: typing.Mapping[str, np.ndarray], path: PathLike,
                       fps: float = 10.0,
                       joint_names: typing.Optional[typing.Sequence[str]] = None,
                       title: str = '') -> Path:
    """One panel per joint, one line per curve (label -> (T, D) joint units); a PNG.

    A curve labelled ``ground truth`` is drawn black and thicker, as in the paper's figures.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    curves = {k: np.asarray(v, dtype=np.float64) for k, v in curves.items() if v is not None}
    if not curves:
        raise MediaError('plot: no curves to draw')
    dims = {v.shape[1] for v in curves.values() if v.ndim == 2}
    if len(dims) != 1 or any(v.ndim != 2 for v in curves.values()):
        raise MediaError(f'plot: curves must be (T, D) with one D, got '
                         f'{[v.shape for v in curves.values()]}')
    d = dims.pop()
    names = list(joint_names) if joint_names is not None else [f'joint {i}' for i in range(d)]
    cols = min(4, d)
    rows = (d + cols - 1) // cols
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows + 0.6), dpi=100)
    FigureCanvasAgg(fig)
    for j in range(d):
        ax = fig.add_subplot(rows, cols, j + 1)
        for label, values in curves.items():
            t = np.arange(len(values)) / fps  # (T,) s
            gt = label == 'ground truth'
            ax.plot(t, values[:, j], label=label, color='black' if gt else None,
                    linewidth=2.0 if gt else 1.2)
        ax.set_title(names[j] if j < len(names) else f'joint {j}', fontsize=9)
        ax.set_xlabel('time [s]', fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc='lower center', ncol=len(labels), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95 if title else 1))
    path = Path(path)
    try:
        fig.savefig(path, format='png')
    except OSError as exc:
        raise MediaError(f'cannot write plot {path}: {exc}') from None
    return path
