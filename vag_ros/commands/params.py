"""vag-ros params: every node's parameters with their defaults, as a ROS 2 parameter file.

The defaults are the config dataclasses of vag_ros/ros/configs.py, each value followed by
its unit and description (the fields' own, as `ros2 param describe` shows them);
config/vag_ros.yaml holds only what differs from them. Redirect this into a file to start
your own.
"""

import argparse

HELP = "print every node's parameters, defaults and descriptions as a ROS 2 parameter YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--node', default=None, help='only this node (e.g. vag_replay)')


def default_parameters() -> dict:
    """{node name: {dotted parameter: default}} of every node of the graph."""
    from vag_ros.ros.configs import EXTRA_PARAMETERS, NODE_CONFIGS
    from vag_ros.ros.parameters import config_to_parameters
    params = {name: config_to_parameters(cls()) for name, cls in NODE_CONFIGS.items()}
    for name, extra in EXTRA_PARAMETERS.items():  # the generator's autostart
        params[name].update({key: default for key, (default, _, _) in extra.items()})
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


def _lines(tree: dict, comments: dict, indent: int, prefix: str = '') -> list:
    """YAML lines of ``tree``, each leaf followed by ``# {comments[dotted name]}``."""
    import yaml
    lines = []
    for key, value in tree.items():
        pad = ' ' * indent
        if isinstance(value, dict):
            lines.append(f'{pad}{key}:' + (' {}' if not value else ''))
            lines += _lines(value, comments, indent + 2, f'{prefix}{key}.')
        else:
            text = yaml.safe_dump([value], default_flow_style=True, width=10000).strip()[1:-1]
            lines.append(f'{pad}{key}: {text}  # {comments[prefix + key]}')
    return lines


def run(args: argparse.Namespace) -> int:
    from vag_ros.errors import ConfigError
    from vag_ros.ros.configs import describe, parameter_descriptions
    params = default_parameters()
    if args.node is not None:
        if args.node not in params:
            raise ConfigError(f'--node {args.node!r}: one of {", ".join(params)}')
        params = {args.node: params[args.node]}
    print('# vag_ros node parameters and their defaults (vag_ros/ros/configs.py);\n'
          '# after each value: its unit and what it does')
    for name, flat in params.items():
        comments = {key: describe(*value)
                    for key, value in parameter_descriptions(name).items()}
        print('\n'.join([f'{name}:', '  ros__parameters:']
                        + _lines(_nest(flat), comments, 4)))
    return 0
