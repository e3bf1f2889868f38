"""The robot model from URDF and the safety logic around it; no ROS in here."""

from vag_ros.robot.description import (
    JointInfo, load_robot_description, parse_robot_description, RobotDescription)

__all__ = ['JointInfo', 'RobotDescription', 'load_robot_description', 'parse_robot_description']
