"""`a2r data ...`: generate MetaWorld clips, and benchmark the renderer behind them.

    a2r data metaworld --tasks drawer-close-v3 button-press-v3 --out data/mw --episodes-per-source 5
    a2r data metaworld --tasks all --domain alt --out data/mw_alt --episodes-per-source 3
    a2r data bench-render --sizes 64 112 224 --frames 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

NAME = "data"
HELP = "generate MetaWorld success/failure clips; benchmark rendering"


def _add_clip_output_args(parser: argparse.ArgumentParser) -> None:
    """--workers, --size, --frames: how rendered clips are made and stored (metaworld, branches)."""
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--size", type=int, default=112, help="frame width = height in pixels (default 112)")
    parser.add_argument("--frames", type=int, default=16, help="frames stored per clip (default 16)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    mw = sub.add_parser("metaworld", help="roll out MetaWorld v3 episodes and save labelled clips",
                        description="Roll out scripted experts and failure sources in MetaWorld v3, "
                                    "render each episode at the clip's sample times and write one mp4 "
                                    "per clip plus manifest.jsonl. Resumable: clips already in the "
                                    "manifest are skipped.")
    mw.add_argument("--tasks", nargs="+", required=True,
                    help="MetaWorld v3 task names (e.g. drawer-close-v3), or 'all'")
    mw.add_argument("--out", required=True, help="output directory (created; resumed if it exists)")
    mw.add_argument("--episodes-per-source", type=int, default=5,
                    help="episodes per (task, variant, source) (default 5)")
    mw.add_argument("--sources", nargs="+", default=None,
                    help="episode sources (default: all for robot, expert for alt); "
                         "expert noise perturb early_stop wrong_target other_expert random")
    mw.add_argument("--domain", choices=("robot", "alt"), default="robot",
                    help="robot: the Sawyer as MetaWorld draws it; alt: alternate embodiment (arm "
                         "hidden, gripper restyled, other camera) standing in for human video")
    mw.add_argument("--variants", nargs="+", default=["default"],
                    help="environment variants (see docs/data.md); 'a+b' composes; 'all' = every one")
    mw.add_argument("--seed", type=int, default=0, help="run seed: same seed, same clips (default 0)")
    _add_clip_output_args(mw)
    mw.add_argument("--horizon", type=int, default=300, help="max steps per episode (default 300)")
    mw.add_argument("--success-tail", type=int, default=0,
                    help="steps kept after the first success before the episode stops (default 0: "
                         "stop at success, like MetaWorld's evaluation); the label is the flag at "
                         "the last step, which some tasks lose again after success")
    mw.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    br = sub.add_parser("branches", help="branch pairs: an expert's continuation vs a deviation from "
                                         "the same state (training data for the planner's ranking)",
                        description="For each expert episode (same seeds as `a2r data metaworld`'s "
                                    "expert clips), branch at a random step and write two clips "
                                    "from the episode start: the expert's own next --future-steps "
                                    "steps, and a deviation (CEM-like random actions, holding "
                                    "still, or a noisy expert) from the same state. Resumable.")
    br.add_argument("--tasks", nargs="+", required=True, help="MetaWorld v3 task names")
    br.add_argument("--out", required=True, help="output directory (created; resumed if it exists)")
    br.add_argument("--episodes", type=int, default=20, help="expert episodes per task (default 20)")
    br.add_argument("--branches", type=int, default=4, help="pairs per episode (default 4)")
    br.add_argument("--future-steps", type=int, default=16,
                    help="env steps after the branch (default 16: the planner's 8 actions x 2)")
    br.add_argument("--variant", default="default", help="environment variant (default: default)")
    br.add_argument("--seed", type=int, default=0,
                    help="run seed; the one of the expert clips to pair with (default 0)")
    _add_clip_output_args(br)
    br.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    pl = sub.add_parser("planner", help="the planner's own attempts (MPC with a checkpoint's reward), "
                                        "labelled by the environment, as training clips",
                        description="Run MPC (CEM on the checkpoint's reward, the eval's settings) from "
                                    "each start seed of each task and write each executed episode as a "
                                    "robot clip labelled by the environment's success flag (failures: "
                                    "source 'planner'). Resumable.")
    pl.add_argument("--checkpoint", required=True, help="the reward the planner uses (checkpoint directory)")
    pl.add_argument("--tasks", nargs="+", required=True, help="MetaWorld v3 task names")
    pl.add_argument("--seeds", nargs="+", type=int, required=True,
                    help="start seeds (not the planning eval's 300, 301, 500)")
    pl.add_argument("--out", required=True, help="output directory (created; resumed if it exists)")
    pl.add_argument("--max-steps", type=int, default=42, help="planning actions per episode (default 42)")
    pl.add_argument("--workers", type=int, default=2, help="rollout worker processes (default 2)")
    pl.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    iv = sub.add_parser("interventions", help="branch pairs from the planner's own states: the expert "
                                              "takes over vs a deviation (training data for the planner's ranking)",
                        description="Replay each failed planner attempt (`a2r data planner`) to a random "
                                    "executed step and write two clips from the episode start: the "
                                    "scripted expert taking over for --future-steps planning actions, "
                                    "and a deviation (CEM-like random actions, holding still, or a noisy "
                                    "expert) from the same state. Same layout as `a2r data branches` "
                                    "(train with loss.progress_branches). Resumable.")
    iv.add_argument("--from", dest="planner_manifests", nargs="+", required=True,
                    help="planner manifests (DIR/manifest.jsonl of `a2r data planner`)")
    iv.add_argument("--out", required=True, help="output directory (created; resumed if it exists)")
    iv.add_argument("--branches", type=int, default=3, help="pairs per attempt (default 3)")
    iv.add_argument("--future-steps", type=int, default=8,
                    help="planning actions after the branch (default 8: the planner's horizon)")
    iv.add_argument("--include-successes", action="store_true", help="also branch from attempts that succeeded")
    iv.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    iv.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    iv.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    bench = sub.add_parser("bench-render", help="frames/s of the MetaWorld renderer (and clips/s)",
                           description="Render a MetaWorld scene offscreen at several sizes with "
                                       "shadows/reflections off and on, and print frames per second; "
                                       "optionally time whole clip generation.")
    bench.add_argument("--task", default="drawer-close-v3")
    bench.add_argument("--sizes", nargs="+", type=int, default=[64, 112, 224])
    bench.add_argument("--frames", type=int, default=30, help="frames rendered per measurement")
    bench.add_argument("--episodes", type=int, default=0,
                       help="also generate about this many clips (112 px) and report clips/s: below 7, "
                            "one episode of each of the first N sources; above, a whole number of "
                            "episodes per source (rounded up to a multiple of the 7 sources)")
    bench.add_argument("--png", default=None, help="also save a bar chart here")


def _run_metaworld(args: argparse.Namespace) -> int:
    from a2r_core.data.generate import GenerateConfig, generate, summary_plot
    from a2r_core.sim.metaworld_env import task_names
    from a2r_core.sim.variants import VARIANTS

    tasks = tuple(task_names()) if args.tasks == ["all"] else tuple(args.tasks)
    variants = tuple(VARIANTS) if args.variants == ["all"] else tuple(args.variants)
    config = GenerateConfig(
        tasks=tasks, out_dir=args.out, episodes_per_source=args.episodes_per_source,
        sources=tuple(args.sources) if args.sources else None, domain=args.domain, variants=variants,
        seed=args.seed, workers=args.workers, size=args.size, frames=args.frames,
        horizon=args.horizon, success_tail=args.success_tail)
    report = generate(config, progress=not args.no_progress)
    png = summary_plot(report.manifest, Path(args.out) / "summary.png")
    print(f"generated {report.generated} clips in {report.seconds:.1f} s "
          f"({report.episodes_per_second:.2f} episodes/s with {args.workers} worker(s)); "
          f"{report.skipped} already present")
    print("labels: " + ", ".join(f"{k}={v}" for k, v in report.counts.items()))
    print(f"manifest: {report.manifest}\nsummary:  {png}")
    return 0


def _run_branches(args: argparse.Namespace) -> int:
    from collections import Counter

    from a2r_core.data.branches import BranchConfig, generate_branches
    from a2r_core.data.manifest import read_manifest

    config = BranchConfig(tasks=tuple(args.tasks), out_dir=args.out, episodes=args.episodes,
                          branches_per_episode=args.branches, future_steps=args.future_steps,
                          variant=args.variant, seed=args.seed, workers=args.workers, size=args.size,
                          frames=args.frames)
    generated, skipped, seconds, manifest = generate_branches(config, progress=not args.no_progress)
    counts = Counter(r.extra["deviation"] + (" (succeeded)" if r.success else "") for r in read_manifest(manifest))
    print(f"generated {generated} pairs in {seconds:.1f} s; {skipped} already present")
    print("deviations: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print(f"manifest: {manifest}")
    return 0


def _run_interventions(args: argparse.Namespace) -> int:
    from a2r_core.data.interventions import InterventionConfig, generate_interventions, summary
    from a2r_core.data.manifest import read_manifest

    config = InterventionConfig(planner_manifests=tuple(args.planner_manifests), out_dir=args.out,
                                branches_per_episode=args.branches, future_planning_steps=args.future_steps,
                                include_successes=args.include_successes, seed=args.seed, workers=args.workers)
    generated, skipped, seconds, manifest = generate_interventions(config, progress=not args.no_progress)
    print(f"generated {generated} pairs in {seconds:.1f} s; {skipped} already present")
    print("pairs: " + ", ".join(f"{k}={v}" for k, v in summary(read_manifest(manifest)).items()))
    print(f"manifest: {manifest}")
    return 0


def _run_planner(args: argparse.Namespace) -> int:
    from collections import Counter

    from a2r_core.data.manifest import read_manifest
    from a2r_core.data.planner_rollouts import PlannerRolloutConfig, collect

    config = PlannerRolloutConfig(checkpoint=args.checkpoint, tasks=tuple(args.tasks), seeds=tuple(args.seeds),
                                  out_dir=args.out, max_steps=args.max_steps, workers=args.workers)
    generated, skipped, seconds, manifest = collect(config, progress=not args.no_progress)
    counts = Counter("success" if r.success else "failure" for r in read_manifest(manifest))
    print(f"ran {generated} MPC episodes in {seconds:.1f} s; {skipped} already present")
    print("labels: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    print(f"manifest: {manifest}")
    return 0


def bench_render(task: str, sizes: list[int], frames: int) -> list[dict]:
    """Frames/s for each size with effects off and on (one warm-up frame excluded)."""
    from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig

    rows = []
    for size in sizes:
        for effects in (False, True):
            cfg = RenderConfig(width=size, height=size, shadows=effects, reflections=effects)
            with MetaWorldEnv(task, cfg) as env:
                env.reset(0)
                env.render()
                start = time.perf_counter()
                for _ in range(frames):
                    env.render()
                seconds = time.perf_counter() - start
            rows.append({"size": size, "shadows+reflections": effects, "fps": frames / seconds,
                         "ms_per_frame": 1000 * seconds / frames})
    return rows


def _run_bench(args: argparse.Namespace) -> int:
    rows = bench_render(args.task, args.sizes, args.frames)
    print(f"MetaWorld offscreen rendering, task {args.task}, {args.frames} frames per row")
    print(f"{'size':>6}  {'shadows+refl':>12}  {'frames/s':>9}  {'ms/frame':>9}")
    for row in rows:
        print(f"{row['size']:>6}  {str(row['shadows+reflections']):>12}  {row['fps']:>9.1f}  "
              f"{row['ms_per_frame']:>9.1f}")
    if args.episodes > 0:
        from a2r_core.data.generate import GenerateConfig, generate
        from a2r_core.sim.policies import SOURCES

        with tempfile.TemporaryDirectory(prefix="a2r_bench_") as tmp:
            # Episodes come per source: N < 7 takes the first N sources once each (the expert
            # first), so `--episodes 2` makes 2 clips; more takes ceil(N / 7) per source.
            sources = tuple(SOURCES[:args.episodes]) if args.episodes < len(SOURCES) else tuple(SOURCES)
            per_source = -(-args.episodes // len(sources))
            config = GenerateConfig(tasks=(args.task,), out_dir=tmp, episodes_per_source=per_source,
                                    sources=sources)
            report = generate(config, progress=False)
        print(f"generation: {report.generated} clips (16 frames, 112 px, 1 worker) in "
              f"{report.seconds:.1f} s = {report.episodes_per_second:.2f} episodes/s")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels = [f"{r['size']}px\n{'fx on' if r['shadows+reflections'] else 'fx off'}" for r in rows]
        ax.bar(labels, [r["fps"] for r in rows], color=["tab:blue" if not r["shadows+reflections"]
                                                        else "tab:gray" for r in rows])
        ax.set_ylabel("frames / s")
        ax.set_title(f"MetaWorld render throughput ({args.task})")
        fig.tight_layout()
        fig.savefig(args.png, dpi=100)
        plt.close(fig)
        print(f"chart: {args.png}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.data_command == "metaworld":
        return _run_metaworld(args)
    if args.data_command == "branches":
        return _run_branches(args)
    if args.data_command == "planner":
        return _run_planner(args)
    if args.data_command == "interventions":
        return _run_interventions(args)
    return _run_bench(args)
