"""vag-ros bench storage: how to store the executed camera in recorded bags.

Writes the same camera frames (the embedded world's expert episode, upscaled to the
camera size with mild sensor noise) into MCAP bags raw, downscaled, JPEG and PNG, as the
recorder's ``camera_storage`` / ``camera_max_width`` would, and prints each bag's size and
median write time with their ratios to raw (all measured side by side in this run).
"""

import argparse

from vag_ros.commands.arguments import camera_side, jpeg_quality, keyword_defaults, positive

HELP = 'measure bag size and write time of raw, downscaled and compressed camera storage'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.episodes.camera_storage import storage_bench
    parser.add_argument('--frames', type=positive, default=121,
                        help='camera frames per bag (default 121: a 4 s motion at 30 Hz)')
    parser.add_argument('--width', type=camera_side, default=640, help='camera width [px]')
    parser.add_argument('--height', type=camera_side, default=480, help='camera height [px]')
    parser.add_argument('--repeats', type=positive,
                        default=keyword_defaults(storage_bench)['repeats'],
                        help='bags per setting (default %(default)s)')
    parser.add_argument('--quality', type=jpeg_quality, default=90,
                        help='JPEG quality, 1 to 100 (default %(default)s)')


def camera_frames(count: int, width: int, height: int):
    """(count, height, width, 3) uint8: world frames resized, with sensor-like noise."""
    import numpy as np

    from vag_ros.frame_geometry import resize_frames
    from vag_ros.sim.world import World
    world = World()
    episode = world.run_expert(world.make_task('pick', 0))
    rng = np.random.default_rng(0)
    out = np.empty((count, height, width, 3), np.uint8)
    for k in range(count):
        source = episode.frames[k * len(episode.frames) // count]
        big = resize_frames(source[None], height, width)[0].astype(np.float32)  # (h, w, 3)
        out[k] = np.clip(big + rng.normal(0.0, 2.0, big.shape), 0, 255).astype(np.uint8)
    return out


def run(args: argparse.Namespace) -> int:
    from vag_ros.episodes.camera_storage import storage_bench
    from vag_ros.errors import VagError
    size, free = args.frames * args.width * args.height * 3, available_memory()
    if size > free // 2:   # the frames, and each bag's copy of them as it is written
        raise VagError(f'--frames {args.frames} of {args.width}x{args.height}: {size / 1e9:.1f} '
                       f'GB of frames, and {free / 1e9:.1f} GB of memory is available; give '
                       'fewer frames or a smaller camera')
    frames = camera_frames(args.frames, args.width, args.height)
    half = args.width // 2
    settings = [{'storage': 'raw'}, {'storage': 'raw', 'max_width': half},
                {'storage': 'jpeg', 'quality': args.quality},
                {'storage': 'jpeg', 'quality': args.quality, 'max_width': half},
                {'storage': 'png'}]
    rows = storage_bench(frames, settings, args.repeats)
    print(f'{args.frames} frames of {args.width}x{args.height}, {args.repeats} bags each '
          '(median write time)')
    print(f'{"storage":<10} {"max width":>9} {"MB":>9} {"write s":>9} {"size":>7} '
          f'{"time":>7}')
    for row in rows:
        print(f'{row["storage"]:<10} {row.get("max_width", 0) or "-":>9} '
              f'{row["megabytes"]:>9.2f} {row["write_s"]:>9.3f} {row["size_ratio"]:>7.3f} '
              f'{row["time_ratio"]:>7.2f}')
    return 0


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable), else all of it."""
    import os
    try:
        with open('/proc/meminfo') as info:
            for line in info:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
