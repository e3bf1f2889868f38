"""vag-ros eval-policy: replay success of one policy on held-out seeds of the embedded world,
closed or open loop (overall and per task, Wilson 95% intervals) — for a policy trained on
expert and/or synthesized episodes, by vag-ros train or by lerobot-train."""

import argparse

from vag_ros.commands.arguments import add_sampling_steps_argument, episode_count, \
    keyword_defaults, non_negative, positive, torch_device

HELP = "replay success of a checkpoint's actions (a policy) on held-out world seeds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.eval.policy_eval import evaluate_policy  # numpy, no torch: built at start
    d = keyword_defaults(evaluate_policy)
    parser.add_argument('--checkpoint', required=True,
                        help='checkpoint folder (mode joint or action_no_bridge), or a '
                             "lerobot policy (lerobot-train's output or its pretrained_model "
                             'folder; needs the lerobot extra)')
    parser.add_argument('--episodes', type=episode_count, required=True)
    parser.add_argument('--json', required=True, help='results JSON file to write')
    parser.add_argument('--seed-start', type=non_negative, default=d['seed_start'],
                        help='first held-out seed (default %(default)s; training uses lower)')
    parser.add_argument('--task', default=d['tasks'], help='task family or "all" (default)')
    parser.add_argument('--sim-config', default=None, help='SimConfig YAML')
    add_sampling_steps_argument(parser)
    parser.add_argument('--device', type=torch_device, default='cpu')
    loop = parser.add_mutually_exclusive_group()
    loop.add_argument('--closed-loop', dest='loop', action='store_const', const='closed',
                      default=d['loop'],
                      help='receding horizon: execute the first --execute targets of each '
                           'predicted chunk, observe again, predict the next (as Diffusion '
                           'Policy and ACT run). Default: closed for a checkpoint trained as '
                           'a receding-horizon policy (action.execute_steps > 0), else open')
    loop.add_argument('--open-loop', dest='loop', action='store_const', const='open',
                      help='one prediction from the first frame, replayed whole')
    parser.add_argument('--execute', type=positive, default=None,
                        help="targets executed per chunk in closed loop (default: the "
                             "checkpoint's action.execute_steps, else 8)")
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from vag_ros.outputs import writable_file
    from vag_ros.eval.evaluate import write_json
    from vag_ros.eval.policy_eval import evaluate_policy

    json_path = writable_file(args.json, '--json file', create=False)
    results = evaluate_policy(args.checkpoint, args.episodes, args.seed_start, args.task,
                              args.sim_config, args.steps, args.device, not args.quiet,
                              args.loop, args.execute)
    write_json(results, json_path)
    print(results['loop'])
    for name, rate in [('all', results['replay_success']), *results['per_task'].items()]:
        low, high = rate['interval']
        print(f'{name:6s} replay success {rate["successes"]}/{rate["n"]} '
              f'[{100 * low:.0f}%, {100 * high:.0f}%]')
    print(f'results: {json_path}')
    return 0
