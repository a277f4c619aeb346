"""The main job's report: per-episode figures, latency percentiles, the plot and the printed table.

Split from a2r_ros.demo (which runs the nodes) so the figures can be read and tested without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np


@dataclass
class Episode:
    """One episode as the demo saw it: what the environment says, and the rewards it got."""

    name: str
    kind: str                          # success | failure | planner
    source: str                        # expert, a failure source, or "cem-mpc"
    success: Optional[bool] = None     # the environment's flag at the end
    steps: Optional[int] = None
    first_success_step: Optional[int] = None
    bridge_episode: Optional[int] = None
    wall_s: Optional[float] = None
    start_stamp_ns: Optional[int] = None
    rewards: list[dict] = field(default_factory=list)


def summarise(episodes: Sequence[Episode], dt: float) -> dict:
    """Per-episode figures and latency percentiles over every reward of the run."""
    out: dict = {"simulator_dt_s": dt, "episodes": []}
    lat = [r["inference_latency_ms"] for e in episodes for r in e.rewards]
    e2e = [r["stamp_to_reward_ms"] for e in episodes for r in e.rewards if r["stamp_to_reward_ms"] is not None]
    for e in episodes:
        rewards = [r["reward"] for r in e.rewards]
        probs = [r["success_probability"] for r in e.rewards]
        out["episodes"].append({
            "name": e.name, "source": e.source, "environment_success": e.success, "steps": e.steps,
            "first_success_step": e.first_success_step, "bridge_episode": e.bridge_episode, "wall_s": e.wall_s,
            "rewards_received": len(rewards),
            "mean_reward": float(np.mean(rewards)) if rewards else None,
            "final_reward": rewards[-1] if rewards else None,
            "final_success_probability": probs[-1] if probs else None,
        })
    if lat:
        out["inference_latency_ms"] = {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
                                       "n": len(lat)}
    if e2e:
        out["stamp_to_reward_ms"] = {"p50": float(np.percentile(e2e, 50)), "p99": float(np.percentile(e2e, 99)),
                                     "n": len(e2e)}
    return out


def plot(episodes: Sequence[Episode], instruction: str, dt: float, path: Path) -> None:
    """Reward and success probability over episode time: success, failure (and planner) episodes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = {"success": ("tab:green", "o-"), "failure": ("tab:red", "o-"), "planner": ("tab:blue", "s--")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for e in episodes:
        colour, marker = style[e.kind]
        label = f"{e.name} ({e.source}; env success={e.success})"
        t = [r["t_s"] for r in e.rewards]
        axes[0].plot(t, [r["reward"] for r in e.rewards], marker, color=colour, label=label, ms=4)
        axes[1].plot(t, [r["success_probability"] for r in e.rewards], marker, color=colour, label=label, ms=4)
        if e.kind == "success" and e.first_success_step is not None:
            for ax in axes:
                ax.axvline(e.first_success_step * dt, color=colour, ls=":", lw=1)
    axes[0].set(xlabel="episode time [s, simulated] (clip end)", ylabel="reward", title="reward")
    axes[1].set(xlabel="episode time [s, simulated] (clip end)", ylabel="p(success)", ylim=(0, 1),
                title="success probability (dotted: env reports success)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f'a2r main job: "{instruction}" (live rewards from the reward node, MetaWorld bridge camera)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(summary: dict, out_dir: Path) -> None:
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    print("\n| episode | source | env success | steps | rewards | mean reward | final reward | final p(success) |")
    print("|---|---|---|---|---|---|---|---|")
    for e in summary["episodes"]:
        print(f"| {e['name']} | {e['source']} | {e['environment_success']} | {e['steps']} | {e['rewards_received']} | "
              f"{fmt(e['mean_reward'])} | {fmt(e['final_reward'])} | {fmt(e['final_success_probability'])} |")
    if "inference_latency_ms" in summary:
        lat = summary["inference_latency_ms"]
        print(f"\ninference latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms", end="")
    if "stamp_to_reward_ms" in summary:
        e2e = summary["stamp_to_reward_ms"]
        print(f"; camera frame -> reward received p50 {e2e['p50']:.1f} ms, p99 {e2e['p99']:.1f} ms", end="")
    print()
    if not summary["failure_episode_failed"]:
        print("WARNING: the failure episode did NOT fail per the environment's flag; pick another "
              "--failure-source or --seed")
    if not summary["success_episode_succeeded"]:
        print("WARNING: the expert episode did not succeed per the environment's flag")
    planner = summary.get("planner")
    if planner is not None:
        r = planner["result"]
        if r is not None:
            print(f"planner: success={r['success']} after {r['executed_steps']} actions "
                  f"(first success at {r['success_step']}), {r['plans']} plans, {r['rollouts']} rollouts, "
                  f"{r['seconds']:.1f} s")
        if planner["error"]:
            print(f"planner error: {planner['error']}")
    stages = ", ".join(f"{k} {v:.1f}" for k, v in summary["stages"].items())
    print(f"wrote {out_dir / 'report.json'} and {out_dir / 'rewards.png'} ({summary['wall_time_s']:.0f} s in all: "
          f"{stages}; load average {summary['load_average_1m']['start']} -> {summary['load_average_1m']['end']} "
          f"on {summary['cpu_count']} CPUs)")
