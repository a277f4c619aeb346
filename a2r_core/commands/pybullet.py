"""`a2r pybullet`: the PyBullet tabletop tasks from the command line.

- `a2r pybullet bench`: rendered frames/s per image size and robot mesh, env steps/s and candidate
  rollouts/s (with and without rendering) — the numbers a planner's budget is set from.
- `a2r pybullet mpc`: CEM/MPC with the environment's oracle dense reward over tasks x seeds; the
  planner's upper bound (its success rate), written as JSON + Markdown + a PNG of the final frames.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from a2r_core.errors import ConfigError
from a2r_core.output_dirs import staging_dir

NAME = "pybullet"
HELP = "PyBullet tabletop push tasks: speed benchmark, oracle-reward MPC success rate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pybullet_command", metavar="SUBCOMMAND", required=True)
    bench = sub.add_parser("bench", help="frames/s, env steps/s and candidate rollouts/s")
    bench.add_argument("--sizes", type=int, nargs="+", default=[64, 112, 224], help="image sizes")
    bench.add_argument("--frames", type=int, default=40, help="frames rendered per measurement")
    bench.add_argument("--rollouts", type=int, default=24, help="candidate rollouts per measurement")
    bench.add_argument("--json", type=Path, default=None, help="also write the numbers here")

    mpc = sub.add_parser("mpc", help="oracle-reward CEM/MPC success rate over tasks x seeds")
    mpc.add_argument("--tasks", nargs="+", default=None, help="task names (default: all)")
    mpc.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    mpc.add_argument("--variant", default="default", help="default|viewpoint|distractors|viewpoint+distractors")
    mpc.add_argument("--max-steps", type=int, default=24, help="planning actions executed per episode")
    mpc.add_argument("--horizon", type=int, default=6)
    mpc.add_argument("--samples", type=int, default=24)
    mpc.add_argument("--iterations", type=int, default=3)
    mpc.add_argument("--elites", type=int, default=5)
    mpc.add_argument("--action-repeat", type=int, default=2)
    mpc.add_argument("--execute-steps", type=int, default=3)
    mpc.add_argument("--out", type=Path, required=True, help="output directory (must not exist, or --force)")
    mpc.add_argument("--force", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace) -> int:
    if args.pybullet_command == "bench":
        return _bench(args)
    return _mpc(args)


# --------------------------------------------------------------------------- bench
def _bench(args: argparse.Namespace) -> int:
    from a2r_core.planning import rollout_candidates, PybulletRollout
    from a2r_core.sim.pybullet_tabletop import TabletopConfig, TabletopEnv

    if args.frames < 1 or args.rollouts < 1 or any(s < 16 for s in args.sizes):
        raise ConfigError("a2r pybullet bench: --frames and --rollouts must be >= 1, --sizes >= 16")
    rows = []
    for mesh in ("simple", "full"):
        for size in args.sizes:
            with TabletopEnv(TabletopConfig(image_size=size, robot_mesh=mesh, variant="distractors"), seed=0) as env:
                env.render()
                t0 = time.perf_counter()
                for _ in range(args.frames):
                    env.render()
                dt = (time.perf_counter() - t0) / args.frames
            rows.append({"what": f"render {size}x{size} ({mesh} mesh)", "per_s": 1 / dt, "ms": dt * 1e3})
    with TabletopEnv(TabletopConfig(image_size=112, variant="distractors"), seed=0) as env:
        rng = np.random.default_rng(0)
        n = 200
        t0 = time.perf_counter()
        for _ in range(n):
            env.step(rng.uniform(-1, 1, 3))
        dt = (time.perf_counter() - t0) / n
        rows.append({"what": "env step (12 physics substeps + IK)", "per_s": 1 / dt, "ms": dt * 1e3})
        model = PybulletRollout(env)
        horizon, repeat = 8, 2
        actions = rng.uniform(-1, 1, (args.rollouts, horizon, 3))
        start = model.snapshot()
        for render in (False, True):
            t0 = time.perf_counter()
            rollout_candidates(model, start, actions, action_repeat=repeat, render=render)
            dt = (time.perf_counter() - t0) / args.rollouts
            label = f"candidate rollout (horizon {horizon} x repeat {repeat}{', 8 frames 112x112' if render else ', no frames'})"
            rows.append({"what": label, "per_s": 1 / dt, "ms": dt * 1e3})
    width = max(len(r["what"]) for r in rows)
    print(f"{'measurement':<{width}}  {'per s':>8}  {'ms':>8}")
    for r in rows:
        print(f"{r['what']:<{width}}  {r['per_s']:8.1f}  {r['ms']:8.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


# --------------------------------------------------------------------------- mpc
def _mpc(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from a2r_core.planning import CEMConfig, CEMPlanner, InfoRewardScorer, PybulletRollout, run_mpc
    from a2r_core.sim.pybullet_tabletop import TASKS, TabletopConfig, TabletopEnv

    tasks = args.tasks or sorted(TASKS)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"a2r pybullet mpc: unknown tasks {unknown}; known: {sorted(TASKS)}")
    if args.out.exists() and not args.force:
        raise ConfigError(f"a2r pybullet mpc: {args.out} exists (use --force to replace it)")
    cem = CEMConfig(
        horizon=args.horizon, samples=args.samples, iterations=args.iterations, elites=args.elites,
        action_repeat=args.action_repeat, execute_steps=args.execute_steps,
    )
    TabletopConfig(variant=args.variant)  # validate before the long run
    episodes, finals = [], []
    t_start = time.perf_counter()
    with TabletopEnv(TabletopConfig(), seed=0) as env:
        for task, seed in tqdm([(t, s) for t in tasks for s in args.seeds], desc="oracle mpc", unit="episode"):
            env.config = TabletopConfig(task=task, variant=args.variant)
            env.reset(seed)
            model = PybulletRollout(env)
            planner = CEMPlanner(CEMConfig(**{**asdict(cem), "seed": seed}), model, InfoRewardScorer())
            result = run_mpc(model, planner, max_steps=args.max_steps)
            along, lateral = env.displacement()
            episodes.append({
                "task": task, "seed": seed, "variant": args.variant, "success": bool(result.success),
                "success_step": result.success_step, "along_m": along, "lateral_m": lateral,
                "rollouts": result.rollouts, "seconds": result.seconds,
            })
            finals.append(env.render())
    wall = time.perf_counter() - t_start
    per_task = {
        t: float(np.mean([e["success"] for e in episodes if e["task"] == t])) for t in tasks
    }
    summary = {
        "reward": "oracle dense reward (simulator state)",
        "cem": asdict(cem),
        "max_steps": args.max_steps,
        "variant": args.variant,
        "success_rate": float(np.mean([e["success"] for e in episodes])),
        "success_rate_per_task": per_task,
        "rollouts_per_s": float(sum(e["rollouts"] for e in episodes) / sum(e["seconds"] for e in episodes)),
        "wall_s": wall,
        "episodes": episodes,
    }
    _write_outputs(args.out, summary, finals, episodes, force=args.force)
    print(f"oracle MPC success rate {summary['success_rate']:.2f} over {len(episodes)} episodes "
          f"({wall:.0f} s, {summary['rollouts_per_s']:.0f} candidate rollouts/s); wrote {args.out}")
    return 0


def _write_outputs(out: Path, summary: dict, finals: list[np.ndarray], episodes: list[dict], force: bool) -> None:
    """JSON + Markdown + PNG, written to a temp dir next to `out` and renamed into place."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tmp = staging_dir(out)  # mode as mkdir gives (0755 under umask 022), not mkdtemp's 0700
    try:
        (tmp / "mpc_oracle.json").write_text(json.dumps(summary, indent=2))
        lines = [
            f"# Oracle-reward MPC ({summary['variant']})", "",
            f"CEM {summary['cem']}, {summary['max_steps']} executed planning actions at most.", "",
            "| task | success rate |", "|---|---|",
            *[f"| {t} | {r:.2f} |" for t, r in summary["success_rate_per_task"].items()],
            f"| **all** | **{summary['success_rate']:.2f}** |", "",
            f"Wall time {summary['wall_s']:.0f} s; {summary['rollouts_per_s']:.0f} candidate rollouts/s.", "",
        ]
        (tmp / "mpc_oracle.md").write_text("\n".join(lines))
        cols = min(6, len(finals))
        rows = -(-len(finals) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.2 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, frame, ep in zip(axes.flat, finals, episodes):
            ax.imshow(frame)
            ax.set_title(f"{ep['task']} s{ep['seed']}\n{'OK' if ep['success'] else 'fail'} {ep['along_m']:+.2f} m", fontsize=7)
        fig.suptitle("final frames, oracle-reward MPC")
        fig.tight_layout()
        fig.savefig(tmp / "final_frames.png", dpi=100)
        plt.close(fig)
        if out.exists() and force:
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
