"""Test-wide settings that must hold before any test module imports its libraries."""

import os

# MuJoCo picks its GL backend at first import: headless EGL, whichever test imports it first.
os.environ.setdefault('MUJOCO_GL', 'egl')
