"""vag-ros ingest: a lab's teleoperation bags -> training episodes, through a topic contract.

Reads rosbag2 bags (MCAP or sqlite3, their own message types), resamples the camera and the
joint states to the contract's fps, cuts episodes (one per bag, at a topic's messages, or
around idle stretches) and writes one episode bag each into --out, with
ingest_report.json: per bag and topic the rate, gaps over 100 ms, out-of-order and
duplicate stamps, samples without a camera frame or a state within the tolerance; per
episode its instruction and where it came from (topic, metadata, given, or fallback: the
--instruction text, for a bag without an instruction of its own).
"""

import argparse

from vag_ros.commands.arguments import positive_float

HELP = 'turn teleoperation bags into training episodes through a topic contract'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--bags', nargs='+', required=True,
                        help='bag folders, or folders holding bag folders')
    parser.add_argument('--out', required=True, help='output folder for the episodes')
    parser.add_argument('--contract', default=None,
                        help='topic contract YAML (config/contracts/*.yaml); default: '
                             '/camera/image_raw, /joint_states, instruction in metadata')
    parser.add_argument('--camera-topic', default=None, help='overrides camera.topic')
    parser.add_argument('--joint-states-topic', default=None,
                        help="overrides the first state source's topic")
    parser.add_argument('--instruction-topic', default=None,
                        help='instruction from this std_msgs/String topic')
    parser.add_argument('--instruction', default=None,
                        help="the instruction of the bags that have none of their own (no "
                             "message on the instruction topic, or none in their metadata); "
                             "a contract's instruction.source: given uses it for every bag")
    parser.add_argument('--fps', type=positive_float, default=None,
                        help='episode frame rate (the model\'s video fps, default 10)')
    parser.add_argument('--urdf', default=None,
                        help="your robot's URDF (default: the bags' /robot_description, as "
                             "robot_state_publisher publishes it; neither: refused, never "
                             "guessed). Its joint names and the file go into every episode")
    parser.add_argument('--video-only', action='store_true',
                        help="the episodes' video trains VAG's video branch, their actions "
                             'train nothing (failed or unlabelled runs: the action-free '
                             'regime; as vag-ros withhold-actions marks them)')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')


def find_bags(paths):
    """Bag folders (with metadata.yaml) among ``paths`` and their sub-folders, sorted."""
    from pathlib import Path

    from vag_ros.errors import EpisodeError
    bags = []
    for path in map(Path, paths):
        if (path / 'metadata.yaml').is_file():
            bags.append(path)
        elif path.is_dir():
            bags += sorted(p.parent for p in path.glob('*/metadata.yaml'))
        else:
            raise EpisodeError(f'--bags {path}: not a folder')
    if not bags:
        raise EpisodeError(f'--bags {list(paths)}: no rosbag2 bag (a folder with '
                           'metadata.yaml) found')
    return bags


def run(args: argparse.Namespace) -> int:
    from vag_ros.ingest.contract import load_contract
    from vag_ros.ingest.ingest import ingest
    from vag_ros.ingest.robot_source import ingest_robot
    bags = find_bags(args.bags)
    robot, source = ingest_robot(bags, args.urdf)
    print(f'robot: {robot.name}, joints {list(robot.joint_names)} (from {source})')
    contract = load_contract(args.contract, robot.joint_names,
                             camera_topic=args.camera_topic,
                             joint_states_topic=args.joint_states_topic,
                             instruction_topic=args.instruction_topic,
                             instruction=args.instruction, fps=args.fps)
    summary = ingest(bags, contract, robot, args.out, progress=not args.quiet,
                     video_only=args.video_only)
    for bag in summary['bags']:
        samples = bag['samples']
        print(f'{bag["bag"]}: {len(bag["episodes"])} episode(s), '
              f'{sum(e["frames"] for e in bag["episodes"])} frames; samples without camera '
              f'{samples["without_camera"]}, without state {samples["without_state"]}')
        for topic, stats in bag['topics'].items():
            print(f'  {topic}: {stats["messages"]} msgs, {stats["rate_hz"]} Hz, gaps > 100 ms '
                  f'{stats["gaps_over_100ms"]} (max {stats["max_gap_s"]} s), out of order '
                  f'{stats["out_of_order"]}')
        for episode in bag['episodes']:
            print(f'  {episode["name"]}: {episode["frames"]} frames, instruction '
                  f'{episode["instruction"]!r} ({episode["instruction_source"]})')
    print(f'{summary["episodes"]} episodes in {args.out}; report {summary["report"]}')
    return 0
