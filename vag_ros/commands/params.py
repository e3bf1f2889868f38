"""vag-ros params: every node's parameters with their defaults, as a ROS 2 parameter file.

The defaults are the config dataclasses of vag_ros/ros/configs.py; config/vag_ros.yaml holds
only what differs from them. Redirect this into a file to start your own.
"""

import argparse

HELP = "print every node's parameters and defaults as a ROS 2 parameter YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--node', default=None, help='only this node (e.g. vag_replay)')


def default_parameters() -> dict:
    """{node name: {dotted parameter: default}} of every node of the graph."""
    from vag_ros.ros.configs import NODE_CONFIGS
    from vag_ros.ros.parameters import config_to_parameters
    params = {name: config_to_parameters(cls()) for name, cls in NODE_CONFIGS.items()}
    params['vag_generator']['autostart'] = True  # the lifecycle node configures itself
    return params


def _nest(flat: dict) -> dict:
    tree = {}
    for key, value in flat.items():
        *parents, leaf = key.split('.')
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def run(args: argparse.Namespace) -> int:
    import yaml

    from vag_ros.errors import ConfigError
    params = default_parameters()
    if args.node is not None:
        if args.node not in params:
            raise ConfigError(f'--node {args.node!r}: one of {", ".join(params)}')
        params = {args.node: params[args.node]}
    print('# vag_ros node parameters and their defaults (vag_ros/ros/configs.py)')
    print(yaml.safe_dump({name: {'ros__parameters': _nest(p)} for name, p in params.items()},
                         sort_keys=False, default_flow_style=None), end='')
    return 0
