"""vag-ros eval: VAG against the two-stage, no-bridge and scene-blind baselines on held-out
seeds, with wrong-target, counterfactual and held-out-template figures."""

import argparse

from vag_ros.commands.generate import add_guidance_argument
from vag_ros.commands.arguments import add_sampling_steps_argument, episode_count, \
    keyword_defaults, non_negative, positive, torch_device

HELP = 'evaluate a VAG checkpoint and its baselines on held-out seeds of the embedded world'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vag_ros.eval.evaluate import evaluate  # numpy, no torch: built at start
    d = keyword_defaults(evaluate)
    parser.add_argument('--checkpoint', required=True, help='joint VAG checkpoint folder')
    parser.add_argument('--episodes', type=episode_count, required=True, help='number of episodes')
    parser.add_argument('--json', required=True, help='results JSON file to write')
    parser.add_argument('--out', default=None,
                        help='folder for report.md, eval.json and plots/ (default: the '
                             'folder of --json)')
    parser.add_argument('--seed-start', type=non_negative, default=d['seed_start'],
                        help='first held-out seed (default %(default)s; training uses lower)')
    parser.add_argument('--task', default=d['tasks'],
                        help='task family (touch, push, pick) or "all" to cycle (default)')
    parser.add_argument('--no-bridge', default=None,
                        help='action-only checkpoint (default <checkpoint>/baselines/'
                             'no_bridge)')
    parser.add_argument('--inverse-dynamics', default=None,
                        help='inverse-dynamics model (default <checkpoint>/baselines/'
                             'inverse_dynamics)')
    parser.add_argument('--scene-blind', default=None,
                        help='scene-blind baseline (default <checkpoint>/baselines/'
                             'scene_blind; vag-ros train-scene-blind makes one)')
    parser.add_argument('--held-out-every', type=non_negative, default=d['held_out_every'],
                        help='every Nth episode uses a held-out instruction template '
                             '(default %(default)s; 0 = never)')
    parser.add_argument('--no-counterfactual', action='store_true',
                        help='skip the second generation naming another block')
    parser.add_argument('--no-template-pairs', action='store_true',
                        help='skip running each held-out-template scene again with a '
                             'training template (the paired template comparison)')
    parser.add_argument('--no-phrasings', action='store_true',
                        help='skip running each scene again in a held-out phrasing and with '
                             'typos (the phrasing comparison)')
    parser.add_argument('--phrasings', default=None,
                        help='held-out phrasing set YAML (default config/eval_phrasings.yaml)')
    parser.add_argument('--video-only', default=None,
                        help="video-only checkpoint for the two-stage baseline (default: the "
                             "joint checkpoint's own video)")
    parser.add_argument('--teacher', default=None,
                        help='the checkpoint a few-step --checkpoint was distilled from: '
                             'scored on the same scenes at its own sampler steps')
    parser.add_argument('--teacher-steps', type=positive, default=None,
                        help="the teacher's denoising steps (default its sampler's), e.g. "
                             'the same checkpoint at 35 against --sampling-steps 4')
    parser.add_argument('--sim-config', default=None,
                        help='SimConfig YAML (default config/sim.yaml)')
    add_sampling_steps_argument(parser)
    add_guidance_argument(parser)
    parser.add_argument('--plots', type=non_negative, default=d['plot_episodes'],
                        help='episodes to draw action curves for (default %(default)s)')
    parser.add_argument('--device', type=torch_device, default='cpu',
                        help='torch device (default cpu)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    from vag_ros.outputs import writable_file, writable_folder
    from vag_ros.eval.evaluate import evaluate, write_json
    from vag_ros.eval.report import method_table

    # outputs first: a run never finds out at its end that it cannot save
    json_path = writable_file(args.json, '--json file', create=False)
    out = writable_folder(args.out if args.out is not None else json_path.parent,
                          'report folder', create=False)
    writable_folder(out / 'plots', 'plots folder', create=False)
    results = evaluate(
        args.checkpoint, args.episodes, seed_start=args.seed_start, out_dir=out,
        no_bridge_dir=args.no_bridge, inverse_dynamics_dir=args.inverse_dynamics,
        tasks=args.task, video_only_dir=args.video_only, sim_config=args.sim_config,
        num_steps=args.steps, plot_episodes=args.plots, progress=not args.quiet,
        device=args.device, scene_blind_dir=args.scene_blind,
        held_out_every=args.held_out_every, counterfactual=not args.no_counterfactual,
        paired_templates=not args.no_template_pairs, teacher_dir=args.teacher,
        teacher_steps=args.teacher_steps, phrasings=not args.no_phrasings,
        phrasings_file=args.phrasings, guidance_scale=args.guidance_scale)
    write_json(results, json_path)
    print(method_table(results['methods']))
    t = results['timings']
    print(f'{results["episodes"]} episodes in {t["total_s"]:.1f} s '
          f'({t["per_episode_s"]:.2f} s/episode); wrote {json_path}, {out / "report.md"}')
    return 0
