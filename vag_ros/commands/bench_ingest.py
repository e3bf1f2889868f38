"""vag-ros bench ingest: ingest throughput and peak memory on a long synthetic recording.

Writes a ``--minutes`` long MCAP bag (30 Hz JPEG camera, 200 Hz /joint_states; rosbags'
writer), then runs `vag-ros ingest` on it in a child process and reports wall time, camera
messages and episode frames per second, and the child's peak resident memory.
"""

import argparse

from vag_ros.commands.arguments import camera_side, keyword_defaults, positive_float

HELP = 'measure vag-ros ingest throughput and peak memory on a synthetic recording'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.ingest.synthetic import write_synthetic_bag
    d = keyword_defaults(write_synthetic_bag)
    parser.add_argument('--minutes', type=positive_float, default=d['minutes'],
                        help='length of the recording (default %(default)s)')
    parser.add_argument('--width', type=camera_side, default=d['width'],
                        help='camera width [px] (default %(default)s)')
    parser.add_argument('--height', type=camera_side, default=d['height'],
                        help='camera height [px] (default %(default)s)')
    parser.add_argument('--out', default=None,
                        help='work folder (default: a temporary one, removed after)')
    parser.add_argument('--json', default=None, help='also write the figures here')


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path
    import resource
    import shutil
    import subprocess
    import sys
    import tempfile
    import time

    from vag_ros.errors import VagError
    from vag_ros.ingest.synthetic import write_synthetic_bag
    from vag_ros.outputs import check_new_folder, writable_file, write_text_atomically
    from vag_ros.robot.description import load_robot_description
    if args.json:   # checked before the recording is written, not after the benchmark
        writable_file(args.json, '--json')
    if args.out:   # the benchmark writes a new recording there
        check_new_folder(args.out)
    robot = load_robot_description()
    root = Path(args.out or tempfile.mkdtemp(prefix='vag-bench-ingest-'))
    try:
        bag = root / 'bags' / 'session'
        bag.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        counts = write_synthetic_bag(bag, robot.joint_names, args.minutes, args.width,
                                     args.height, robot_urdf=robot.urdf,
                                     limits=(robot.lower, robot.upper))
        written_s = time.perf_counter() - start
        start = time.perf_counter()
        child = subprocess.run([sys.executable, '-m', 'vag_ros.cli', 'ingest', '--bags',
                                str(bag), '--out', str(root / 'episodes'), '--camera-topic',
                                '/camera/image_raw/compressed', '--quiet'],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if child.returncode:   # the ingest refused or failed: its own message, no traceback
            raise VagError(f'the benchmarked ingest exited {child.returncode}: '
                           f'{child.stderr.strip().splitlines()[-1] if child.stderr else ""}')
        ingest_s = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report = json.loads((root / 'episodes' / 'ingest_report.json').read_text())
        frames = sum(e['frames'] for b in report['bags'] for e in b['episodes'])
        figures = {
            'minutes': args.minutes, 'camera': f'{args.width}x{args.height} JPEG 30 Hz',
            'camera_messages': counts['camera'], 'joint_state_messages': counts['joint_states'],
            'bag_mb': round(sum(p.stat().st_size for p in bag.rglob('*')) / 1e6, 1),
            'write_bag_s': round(written_s, 1), 'ingest_s': round(ingest_s, 1),
            'camera_messages_per_s': round(counts['camera'] / ingest_s, 1),
            'episode_frames': frames, 'episode_frames_per_s': round(frames / ingest_s, 1),
            'peak_rss_mb': round(peak_mb, 1)}
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    for key, value in figures.items():
        print(f'{key:>24}: {value}')
    if args.json:
        write_text_atomically(args.json, json.dumps(figures, indent=2) + '\n')
    return 0
