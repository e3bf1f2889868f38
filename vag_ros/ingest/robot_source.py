"""Which robot a lab's bags were recorded on: --urdf, else the bags' own robot_description.

robot_state_publisher publishes the URDF on ``/robot_description`` (std_msgs/String, latched),
so ``ros2 bag record -a`` keeps it in every bag. Ingest writes that robot's joint names and
URDF into every episode, so training records the lab's arm, never the package's by default.
"""

from pathlib import Path
import typing

from vag_ros.errors import ConfigError, EpisodeError

ROBOT_DESCRIPTION_TOPIC = '/robot_description'


def bag_robot_description(path: Path) -> typing.Optional[str]:
    """The newest URDF text on ``/robot_description`` in the bag at ``path`` (None if the
    topic is absent)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import get_typestore, Stores
    try:
        with AnyReader([Path(path)],
                       default_typestore=get_typestore(Stores.ROS2_HUMBLE)) as reader:
            connections = [c for c in reader.connections
                           if c.topic == ROBOT_DESCRIPTION_TOPIC
                           and c.msgtype == 'std_msgs/msg/String']
            if not connections:   # (an empty list would mean every connection)
                return None
            text = None
            for conn, _, raw in reader.messages(connections=connections):
                text = str(reader.deserialize(raw, conn.msgtype).data)
            return text
    except EpisodeError:
        raise
    except Exception as exc:  # noqa: B902 - rosbags raises its own errors for bad bags
        raise EpisodeError(f'{path}: not a readable rosbag2 bag: {exc}') from None


def ingest_robot(bags: typing.Sequence[Path], urdf=None):
    """(RobotDescription, where it came from) for ``bags``: ``urdf`` (a path) when given,
    else the URDF the bags carry on /robot_description (all bags the same robot); neither is
    refused (never the package's arm by default). A bag whose robot_description names
    another robot than ``urdf`` (or than the other bags) is refused naming both."""
    from vag_ros.robot.description import (
        check_same_robot, DEFAULT_URDF, load_robot_description, parse_robot_description)
    given = load_robot_description(urdf) if urdf else None
    found = []   # (bag, RobotDescription)
    for bag in bags:
        text = bag_robot_description(bag)
        if text:
            try:
                found.append((bag, parse_robot_description(text, Path(bag))))
            except ConfigError as exc:
                raise EpisodeError(f'{bag}: {ROBOT_DESCRIPTION_TOPIC} is no usable URDF: '
                                   f'{exc}') from None
    for bag, robot in found:
        if given is not None:
            check_same_robot(given, robot, f'--urdf {urdf}',
                             f'{bag} ({ROBOT_DESCRIPTION_TOPIC})')
        else:
            check_same_robot(found[0][1], robot, f'{found[0][0]} ({ROBOT_DESCRIPTION_TOPIC})',
                             f'{bag} ({ROBOT_DESCRIPTION_TOPIC})')
    if given is not None:
        return given, f'--urdf {urdf}'
    if found:
        return found[0][1], f'{ROBOT_DESCRIPTION_TOPIC} of {found[0][0]}'
    raise EpisodeError(
        f'which robot? the bags ({bags[0]}{" ..." if len(bags) > 1 else ""}) carry no '
        f'{ROBOT_DESCRIPTION_TOPIC}: pass --urdf with your arm\'s URDF (the embedded arm: '
        f'--urdf {DEFAULT_URDF})')
