"""vag_ros: VAG (dual-stream video-action generation) on a ROS 2 robot."""

__version__ = '0.1.0'
