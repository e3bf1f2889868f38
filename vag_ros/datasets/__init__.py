"""Data sets for policy libraries: the LeRobot v3 layout, written, read back and merged."""
