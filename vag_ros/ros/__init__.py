"""The ROS 2 graph: conversions, parameters, status and one thin node per file.

Only this package imports rclpy and message packages; importing ``vag_ros.ros`` itself
does not, so ``vag_ros.ros.configs`` and ``vag_ros.ros.graph`` stay usable without ROS.
"""
