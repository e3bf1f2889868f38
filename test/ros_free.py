"""Whether a module imports ROS: the pure cores must not (rclpy, *_msgs packages)."""

import ast
import os
import subprocess
import sys


def ros_modules_imported_by(module: str) -> list:
    """The rclpy and message modules a fresh interpreter has after ``import module``."""
    code = (f'import sys, {module}; print(sorted(m for m in sys.modules '
            "if m.split('.')[0] == 'rclpy' or m.split('.')[0].endswith('_msgs')))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
                         ).stdout
    return ast.literal_eval(out)  # a printed list of names
