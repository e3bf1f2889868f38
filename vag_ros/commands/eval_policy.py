"""vag-ros eval-policy: open-loop replay success of one checkpoint's actions on held-out
seeds of the embedded world (overall and per task, Wilson 95% intervals) — for a policy
trained on expert and/or synthesized episodes."""

import argparse

from vag_ros.commands.arguments import episode_count, non_negative, sampling_steps, \
    torch_device

HELP = "replay success of a checkpoint's actions (a policy) on held-out world seeds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--checkpoint', required=True,
                        help='checkpoint folder (mode joint or action_no_bridge)')
    parser.add_argument('--episodes', type=episode_count, required=True)
    parser.add_argument('--json', required=True, help='results JSON file to write')
    parser.add_argument('--seed-start', type=non_negative, default=100000,
                        help='first held-out seed (default 100000; training uses lower)')
    parser.add_argument('--task', default='all', help='task family or "all" (default)')
    parser.add_argument('--sim-config', default=None, help='SimConfig YAML')
    parser.add_argument('--steps', type=sampling_steps, default=None)
    parser.add_argument('--device', type=torch_device, default='cpu')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from vag_ros.outputs import writable_file
    from vag_ros.train.evaluate import write_json
    from vag_ros.train.policy_eval import evaluate_policy

    json_path = writable_file(args.json, '--json file', create=False)
    results = evaluate_policy(args.checkpoint, args.episodes, args.seed_start, args.task,
                              args.sim_config, args.steps, args.device, not args.quiet)
    write_json(results, json_path)
    for name, rate in [('all', results['replay_success']), *results['per_task'].items()]:
        low, high = rate['interval']
        print(f'{name:6s} replay success {rate["successes"]}/{rate["n"]} '
              f'[{100 * low:.0f}%, {100 * high:.0f}%]')
    print(f'results: {json_path}')
    return 0
