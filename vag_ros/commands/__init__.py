"""One module per ``vag-ros`` subcommand: ``HELP``, ``add_arguments(parser)``, ``run(args)``.

Modules import their heavy dependencies (torch, mujoco, rclpy) inside ``run`` so that
``vag-ros --help`` stays fast.
"""
