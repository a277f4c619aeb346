"""`a2r demo`: the project's main job, end to end on one machine, through real ROS 2 nodes.

What it does, in order (every stage is the code path a user's robot would use):

1. **Bring up** the simulated evaluation in this process, from the same node list and parameter
   file as `a2r ros up --config config/sim_eval.yaml` (a2r_ros.sim_spec): the MetaWorld bridge
   (task, camera, sim/action, sim/observation, sim/reset, sim/rollout), the reward node with the
   default checkpoint `checkpoints/a2r-small-metaworld/`, and, once the streamed episodes are
   done, the MPC planner node. DDS stays on loopback (a private rclpy context).
2. **Stream a success and a failure episode** of one instruction through the bridge's camera
   topic: a scripted operator node (a2r_ros.scripted_operator) reads the bridge's observation and
   sends the scripted expert's actions (success) or a failure source's (default `early_stop`),
   paced to the simulator's real time. Frames carry the bridge's simulated-time stamps; the reward
   node scores a clip every 1/rate_hz camera seconds and the demo prints each reward as it
   arrives. Each episode's label is the environment's own success flag at its end, read back from
   the bridge; a "failure" episode that succeeded is reported as such (and the run exits 1).
3. **Plan**: the planner node runs one CEM/MPC episode whose candidates are rolled out by the
   bridge and scored by the reward node's `a2r/query_reward` service on the same instruction; its
   outcome (success flag, steps, time) is recorded, and the live rewards of its episode too.
4. **Report** in the output directory: `report.json` (every reward, per-episode summary, latency
   figures, the planner's outcome, stage wall times, machine load) and `rewards.png`.

Why the planner starts last: the planner node begins planning as soon as it is constructed (it
resets the bridge for its own episode), so it joins the running bring-up after the scripted
episodes, on the same executor and context.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from a2r_core.errors import CheckpointError, ConfigError
from a2r_ros import bringup, sim_spec
from a2r_ros.image_conversion import stamp_to_ns
from a2r_ros.msg import RewardScore
from a2r_ros.reward_monitor import format_reward
from a2r_ros.scripted_operator import OperatorEpisode, ScriptedOperator

DEFAULT_CHECKPOINT = Path("checkpoints/a2r-small-metaworld")
MAKE_CHECKPOINT = ("make it with `scripts/generate_default_data.sh` (the MetaWorld training data) and then "
                   "`a2r train --config config/train_default.yaml --output runs/default`, and pass "
                   "`--checkpoint runs/default/best` (or copy that directory to checkpoints/a2r-small-metaworld)")
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
_NS = 1_000_000_000


@dataclass
class DemoConfig:
    """Settings of one main-job run (the CLI's options)."""

    out_dir: Path = Path("runs/demo")
    checkpoint: Path = DEFAULT_CHECKPOINT
    task: str = "drawer-close-v3"
    instruction: Optional[str] = None     # None: the task's canonical instruction
    failure_source: str = "early_stop"
    seed: int = 0                         # the bridge's first episode seed and the policies' seed
    episode_steps: int = 150              # simulator steps of a scripted episode (at most)
    success_tail: int = 20                # the success episode stops this many steps after success
    realtime: bool = True                 # pace scripted episodes to the simulator's time step
    rate_hz: float = 8.0                  # rewards per camera (simulated) second
    node_config: Optional[Path] = None    # None: the installed config/sim_eval.yaml
    planner: bool = True
    planner_reward: str = "service"       # service (the reward node) | oracle (the simulator's dense reward)
    planner_steps: int = 42               # planning actions executed (each action_repeat simulator steps)
    # None: config/sim_eval.yaml's value (horizon 8, 24 samples, 2 iterations, action repeat 2: the eval's)
    planner_horizon: Optional[int] = None
    planner_samples: Optional[int] = None
    planner_iterations: Optional[int] = None
    planner_action_repeat: Optional[int] = None
    planner_timeout_s: float = 420.0

    def __post_init__(self) -> None:
        from a2r_core.sim.policies import FAILURE_SOURCES

        self.out_dir, self.checkpoint = Path(self.out_dir), Path(self.checkpoint)
        if self.failure_source not in FAILURE_SOURCES:
            raise ConfigError(f"failure source {self.failure_source!r} is not one of {', '.join(FAILURE_SOURCES)}")
        for name in ("episode_steps", "planner_steps", "planner_horizon", "planner_samples", "planner_iterations",
                     "planner_action_repeat"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.episode_steps < 2:
            raise ConfigError(f"episode_steps must be >= 2, got {self.episode_steps}")
        if self.success_tail < 0 or self.seed < 0:
            raise ConfigError("success_tail and seed must be >= 0")
        if self.planner_reward not in ("service", "oracle"):
            raise ConfigError(f"planner_reward must be service or oracle, got {self.planner_reward!r}")
        if self.rate_hz <= 0 or self.planner_timeout_s <= 0:
            raise ConfigError("rate_hz and planner_timeout_s must be positive")


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


# -- checkpoint ----------------------------------------------------------------------------------
def checkpoint_info(path: Path, task: str) -> tuple[dict, str]:
    """The checkpoint's model config and the task's canonical instruction (the shared instruction
    file's first, e.g. "close the drawer"), or a clear error saying how to make the default checkpoint."""
    from a2r_core.data.instructions import canonical

    config_file = path / "config.json"
    if not config_file.is_file() or not (path / "model.safetensors").is_file():
        raise CheckpointError(f"no checkpoint at {path} (needs config.json + model.safetensors); {MAKE_CHECKPOINT}")
    try:
        model = json.loads(config_file.read_text())["model"]
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{config_file}: not an a2r checkpoint config ({exc})") from exc
    tasks = list(model.get("tasks") or [])
    if task not in tasks:
        raise ConfigError(f"task {task!r} is not one the checkpoint {path} was trained on "
                          f"({', '.join(tasks) or 'none listed'}); pick one with --task")
    return model, canonical(task)


# -- parameters (config/sim_eval.yaml + the demo's) ----------------------------------------------
def node_plan(cfg: DemoConfig, model: dict, instruction: str) -> dict[str, tuple[Any, dict]]:
    """{node name: (NodeSpec, parameter values)} for the bridge, the reward node and the planner:
    config/sim_eval.yaml as `a2r ros up` reads it, then the demo's values (checked per spec)."""
    config = cfg.node_config or sim_spec.sim_eval_params_file_path()
    plan = {spec.name: (spec, values) for spec, values in bringup.node_parameters(config)}
    planner = dict(plan["planner_node"][1])
    chosen = {"horizon": cfg.planner_horizon, "samples": cfg.planner_samples, "iterations": cfg.planner_iterations,
              "action_repeat": cfg.planner_action_repeat}
    planner.update({k: v for k, v in chosen.items() if v is not None})
    planner_overrides = {"instruction": instruction, "reward_source": cfg.planner_reward, "episodes": 1,
                         "reset_each_episode": True, "stop_on_success": True, "max_steps": cfg.planner_steps,
                         "seed": cfg.seed, **{k: v for k, v in chosen.items() if v is not None},
                         "elites": min(planner["elites"], planner["samples"]),
                         "execute_steps": min(planner["execute_steps"], planner["horizon"])}
    overrides = {
        "metaworld_bridge": {"task": cfg.task, "seed": cfg.seed, "image_size": int(model.get("image_size", 112)),
                             "max_steps": max(cfg.episode_steps, cfg.planner_steps * planner["action_repeat"]) + 1},
        "reward_node": {"checkpoint": str(cfg.checkpoint.resolve()), "instructions": [instruction],
                        "rate_hz": float(cfg.rate_hz), "image_qos": "sensor_data"},
        "planner_node": planner_overrides,
    }
    # The reward node must be able to hold a whole episode (one frame per simulator step) in its
    # window: the model was trained on whole-episode clips.
    spec, values = plan["reward_node"]
    needed = max(cfg.episode_steps, cfg.planner_steps) + 10  # planner episodes: one frame per action
    if values["max_buffer_frames"] < needed:
        overrides["reward_node"]["max_buffer_frames"] = needed
    out = {}
    for name, (spec, values) in plan.items():
        specs = {p.name: p for p in spec.parameters}
        values = dict(values)
        for key, value in overrides.get(name, {}).items():
            values[key] = specs[key].check(value, f"a2r demo ({name}.{key})")
        out[name] = (spec, values)
    return out


# -- the listener: live rewards and the camera frames' arrival times -----------------------------
class _Listener(Node):
    """Prints every reward as it arrives; keeps (reward, wall arrival) and, per camera stamp, the
    wall time the frame arrived here (≈ when the bridge published it: the same process, loopback),
    so stamp -> reward latency is measured on one clock even though stamps are simulated time."""

    def __init__(self, context: Context, camera_topic: str) -> None:
        super().__init__("demo_listener", context=context)
        self._lock = threading.Lock()
        self._rewards: list[tuple[RewardScore, int]] = []
        self.frame_wall_ns: dict[int, int] = {}
        self.label = ""
        self.create_subscription(RewardScore, "a2r/reward", self._on_reward, RELIABLE)
        self.create_subscription(Image, camera_topic, self._on_frame, qos_profile_sensor_data)

    def _on_frame(self, msg: Image) -> None:
        now = time.time_ns()
        with self._lock:
            self.frame_wall_ns.setdefault(stamp_to_ns(msg.header.stamp), now)

    def _on_reward(self, msg: RewardScore) -> None:
        now = time.time_ns()
        with self._lock:
            self._rewards.append((msg, now))
            label = self.label
            start = min(self.frame_wall_ns) if self.frame_wall_ns else None
        # Episode time first (the stamp itself is the bridge's simulated clock, which keeps running
        # across episodes), then the line the reward monitor node prints.
        since = "" if start is None else f" +{(stamp_to_ns(msg.header.stamp) - start) / _NS:.3f}s"
        print(f"  [{label}{since}] " + format_reward(msg), flush=True)

    def count(self) -> int:
        with self._lock:
            return len(self._rewards)

    def take(self) -> tuple[list[tuple[RewardScore, int]], dict[int, int]]:
        with self._lock:
            rewards, self._rewards = self._rewards, []
            frames, self.frame_wall_ns = self.frame_wall_ns, {}
        return rewards, frames


def _wait_until_quiet(listener: _Listener, quiet_s: float = 1.5, limit_s: float = 30.0) -> None:
    """Wait until no reward has arrived for `quiet_s` (the node has scored the clips it queued)."""
    deadline = time.monotonic() + limit_s
    last, changed = listener.count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = listener.count()
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed >= quiet_s:
            return


def _collect(episode: Episode, listener: _Listener) -> None:
    """Move the listener's rewards and frame times into `episode` (times relative to its first frame)."""
    rewards, frames = listener.take()
    if not frames:
        return
    start = min(frames)
    episode.start_stamp_ns = start
    for msg, recv_ns in rewards:
        stamp = stamp_to_ns(msg.header.stamp)
        seen = frames.get(stamp)
        episode.rewards.append({
            "t_s": (stamp - start) / _NS, "reward": float(msg.reward),
            "success_probability": float(msg.success_probability),
            "failure_mode": int(msg.most_likely_failure_mode), "frame_count": int(msg.frame_count),
            "clip_s": (stamp_to_ns(msg.clip_end) - stamp_to_ns(msg.clip_start)) / _NS,
            "inference_latency_ms": float(msg.inference_latency_ms),
            # the clip's newest frame published by the bridge -> this reward received here
            "stamp_to_reward_ms": None if seen is None else (recv_ns - seen) / 1e6,
        })
    episode.rewards.sort(key=lambda r: r["t_s"])


# -- the run -------------------------------------------------------------------------------------
def _scripted(operator: ScriptedOperator, listener: _Listener, cfg: DemoConfig, episode: Episode, dt: float,
              all_tasks: Sequence[str], index: int) -> None:
    from a2r_core.sim.policies import make_policy

    policy = make_policy(episode.source, cfg.task, np.random.default_rng([cfg.seed, index]), cfg.episode_steps,
                         list(all_tasks))
    print(f"[demo] streaming the {episode.name} episode ({episode.source}, up to {cfg.episode_steps} steps at "
          f"{1 / dt:g} Hz simulated)", flush=True)
    listener.take()
    listener.label = episode.name
    outcome: OperatorEpisode = operator.run_episode(
        policy, cfg.episode_steps, success_tail=cfg.success_tail if episode.kind == "success" else None,
        step_period_s=dt if cfg.realtime else 0.0)
    _wait_until_quiet(listener)
    episode.success, episode.steps = outcome.success, outcome.steps
    episode.first_success_step, episode.bridge_episode = outcome.first_success_step, outcome.episode
    episode.wall_s = round(outcome.wall_s, 3)
    _collect(episode, listener)
    print(f"[demo] {episode.name} episode: {outcome.steps} steps, environment success = {outcome.success} "
          f"({outcome.reset_message}); {len(episode.rewards)} rewards", flush=True)


def _plan(plan: dict, context: Context, executor: MultiThreadedExecutor, listener: _Listener,
          cfg: DemoConfig, episode: Episode) -> tuple[Optional[dict], Optional[str]]:
    spec, values = plan["planner_node"]
    source = values["reward_service"] if values["reward_source"] == "service" else "the simulator (oracle)"
    print(f"[demo] planning: CEM/MPC, {values['samples']} samples x {values['iterations']} iterations, horizon "
          f"{values['horizon']} x repeat {values['action_repeat']}, up to {values['max_steps']} actions, reward "
          f"from {source}", flush=True)
    listener.take()
    listener.label = episode.name
    planner = bringup.make_node(spec, values, context)
    executor.add_node(planner)
    try:
        finished = planner.wait_done(cfg.planner_timeout_s)
        _wait_until_quiet(listener)
        result = planner.results[-1] if planner.results else None
        error = planner.error or (None if finished else f"no result within {cfg.planner_timeout_s:g} s")
    finally:
        executor.remove_node(planner)
        planner.destroy_node()
    if result is not None:
        episode.success, episode.steps = bool(result["success"]), int(result["executed_steps"])
        episode.first_success_step, episode.bridge_episode = result["success_step"], int(result["episode"])
        episode.wall_s = float(result["seconds"])
    _collect(episode, listener)
    return result, error


def run(cfg: DemoConfig) -> dict:
    """The whole main job; returns the summary written to report.json."""
    started = time.monotonic()
    load_start = os.getloadavg()
    model, instruction = checkpoint_info(cfg.checkpoint, cfg.task)
    instruction = cfg.instruction or instruction
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    plan = node_plan(cfg, model, instruction)
    episodes = [Episode("success", "success", "expert"), Episode("failure", "failure", cfg.failure_source)]
    planner_episode = Episode("planner", "planner", "cem-mpc")
    planner_result: Optional[dict] = None
    planner_error: Optional[str] = None
    stages: dict[str, float] = {}
    print(f'[demo] task {cfg.task}, instruction "{instruction}", checkpoint {cfg.checkpoint}', flush=True)

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # DDS on loopback unless told
    context = Context()
    rclpy.init(args=["a2r-demo"], context=context)
    executor = MultiThreadedExecutor(num_threads=6, context=context)
    nodes: list[Node] = []
    try:
        t0 = time.monotonic()
        for name in ("metaworld_bridge", "reward_node"):
            nodes.append(bringup.make_node(*plan[name], context))
        bridge = nodes[0]
        dt = float(bridge.sim.dt)
        listener = _Listener(context, plan["metaworld_bridge"][1]["camera_topic"])
        operator = ScriptedOperator(context=context)
        nodes += [listener, operator]
        for node in nodes:
            executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        operator.wait_for_bridge()
        deadline = time.monotonic() + 30.0
        camera = plan["metaworld_bridge"][1]["camera_topic"]
        while bridge.count_subscribers(camera) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the reward node and the listener see the camera
        stages["bring_up_s"] = round(time.monotonic() - t0, 2)

        t0 = time.monotonic()
        tasks = list(model.get("tasks") or [cfg.task])
        for index, episode in enumerate(episodes):
            _scripted(operator, listener, cfg, episode, dt, tasks, index)
        stages["scripted_episodes_s"] = round(time.monotonic() - t0, 2)
        if cfg.planner:
            t0 = time.monotonic()
            planner_result, planner_error = _plan(plan, context, executor, listener, cfg, planner_episode)
            stages["planner_s"] = round(time.monotonic() - t0, 2)
    finally:
        executor.shutdown(timeout_sec=5.0)
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=context)

    shown = episodes + ([planner_episode] if cfg.planner else [])
    summary = summarise(shown, dt)
    summary.update(
        task=cfg.task, instruction=instruction, checkpoint=str(cfg.checkpoint),
        failure_episode_failed=episodes[1].success is False, success_episode_succeeded=episodes[0].success is True,
        planner=None if not cfg.planner else {
            "result": planner_result, "error": planner_error,
            "settings": {k: plan["planner_node"][1][k] for k in
                         ("reward_source", "horizon", "samples", "iterations", "elites", "action_repeat", "execute_steps",
                          "max_steps", "max_clip_frames", "include_history")}},
        stages=stages, wall_time_s=round(time.monotonic() - started, 1),
        load_average_1m={"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        cpu_count=os.cpu_count(),
    )
    report = {"summary": summary,
              "episodes": [{"name": e.name, "source": e.source, "start_stamp_ns": e.start_stamp_ns,
                            "rewards": e.rewards} for e in shown]}
    (cfg.out_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot(shown, instruction, dt, cfg.out_dir / "rewards.png")
    _print_summary(summary, cfg.out_dir)
    return summary


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


def _print_summary(summary: dict, out_dir: Path) -> None:
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
