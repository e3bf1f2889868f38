"""Topic names and message types of episode bags and the ROS graph, in one place."""

import dataclasses

from rosbags.typesys import Stores

from vag_ros.errors import EpisodeError


# Message types (rosbag2 spelling, as in metadata.yaml and MCAP schemas).
IMAGE_TYPE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE_TYPE = 'sensor_msgs/msg/CompressedImage'
JOINT_STATE_TYPE = 'sensor_msgs/msg/JointState'
TRAJECTORY_TYPE = 'trajectory_msgs/msg/JointTrajectory'
STRING_TYPE = 'std_msgs/msg/String'

# Topics.
CAMERA_TOPIC = '/camera/image_raw'
JOINT_STATES_TOPIC = '/joint_states'
ACTIONS_TOPIC = '/vag/actions'
INSTRUCTION_TOPIC = '/vag/instruction'
EPISODE_METADATA_TOPIC = '/vag/episode_metadata'
PREDICTED_VIDEO_TOPIC = '/vag/predicted_video'
PREDICTED_TRAJECTORY_TOPIC = '/vag/predicted_trajectory'
STATUS_TOPIC = '/vag/status'

IMAGE_ENCODING = 'rgb8'
# image_transport's naming: a compressed stream is <topic>/compressed
COMPRESSED_SUFFIX = '/compressed'
COMPRESSED_FORMATS = ('jpeg', 'png')
CAMERA_FRAME_ID = 'camera'

# Keys in the bag's metadata.yaml custom_data (also inside the MCAP 'rosbag2' metadata record).
CUSTOM_DATA_METADATA_KEY = 'vag_ros.episode_metadata'
CUSTOM_DATA_TOPICS_KEY = 'vag_ros.episode_topics'
# sha256 of frames, joints and actions: rosbags writes MCAP chunks without CRCs.
CUSTOM_DATA_DIGEST_KEY = 'vag_ros.episode_sha256'
# the URDF of the robot the episode's joints belong to (what robot_state_publisher reads)
CUSTOM_DATA_URDF_KEY = 'vag_ros.robot_description'

# Message definitions of these types are identical from Humble to Kilted; Jazzy is the LTS.
TYPESTORE = Stores.ROS2_JAZZY
BAG_VERSION = 9


@dataclasses.dataclass(frozen=True)
class EpisodeTopics:
    """Where each stream of an episode lives in its bag."""

    frames: str = CAMERA_TOPIC
    joints: str = JOINT_STATES_TOPIC
    actions: str = ACTIONS_TOPIC
    instruction: str = INSTRUCTION_TOPIC
    metadata: str = EPISODE_METADATA_TOPIC

    def types(self) -> dict:
        """Map each topic to its message type."""
        return {
            self.frames: IMAGE_TYPE,
            self.joints: JOINT_STATE_TYPE,
            self.actions: TRAJECTORY_TYPE,
            self.instruction: STRING_TYPE,
            self.metadata: STRING_TYPE,
        }

    def validate(self) -> None:
        """Raise EpisodeError on names that are not absolute or not distinct."""
        names = dataclasses.astuple(self)
        if len(set(names)) != len(names) or not all(
                isinstance(n, str) and n.startswith('/') and len(n) > 1 for n in names):
            raise EpisodeError(f'episode topics {names!r}: must be distinct absolute names')
