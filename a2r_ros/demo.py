"""`a2r demo`: the project's main job, end to end on one machine, through real ROS 2 nodes.

What it does, in order (every stage is the code path a user's robot would use):

1. **Bring up** the simulated evaluation from the same node list and parameter file as
   `a2r ros up --config config/sim_eval.yaml` (a2r_ros.sim_spec), each node in its own process as
   a launch file starts them (a2r_ros.supervisor): the MetaWorld bridge (task, camera, sim/action,
   sim/observation, sim/reset, sim/rollout), the reward node with the default checkpoint
   `checkpoints/a2r-small-metaworld/`, and, once the streamed episodes are done, the MPC planner
   node. This process holds only the listener (rewards, frame arrival times, planner results) and
   the scripted operator. DDS stays on loopback, camera frames go through a2r's shared-memory
   profile (a2r_ros.dds_profile). Why processes: with every node in one process the reward node's
   inference waited for the interpreter lock behind rendering and planning (p99 729 ms where the
   model alone runs at 13 ms, issue 15).
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

Why the planner starts last: the planner node begins planning as soon as it is up (it resets the
bridge for its own episode), so its process starts after the scripted episodes and is stopped once
its result is in.

Failures and Ctrl-C: when a required node process exits (the reward node, the bridge) the demo
stops the others and fails with that node's reason (DemoAborted: exit status 1); Ctrl-C or SIGTERM
stops every node process within seconds (exit status 130); node processes also get SIGTERM if this
process is killed outright. No node outlives the demo.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from a2r_core.errors import A2RError, CheckpointError, ConfigError
from a2r_ros import bringup, dds_profile, sim_spec
from a2r_ros.image_conversion import stamp_to_ns
from a2r_ros.node_util import latched_qos
from a2r_ros.msg import RewardScore
from a2r_ros.reward_monitor import format_reward
from a2r_ros.demo_report import Episode, plot, print_summary, summarise
from a2r_ros.scripted_operator import OperatorEpisode, ScriptedOperator
from a2r_ros.supervisor import StopSignals, Supervisor, child_environment, node_command, write_params_file

DEFAULT_CHECKPOINT = Path("checkpoints/a2r-small-metaworld")
MAKE_CHECKPOINT = ("make it with `scripts/generate_default_data.sh` (the MetaWorld training data) and then "
                   "`a2r train --config config/train_default.yaml --output runs/default`, and pass "
                   "`--checkpoint runs/default/best` (or copy that directory to checkpoints/a2r-small-metaworld)")
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
BRING_UP_TIMEOUT_S = 240.0   # three Python processes importing torch / MuJoCo on 2 busy cores
OPERATOR_TIMEOUT_S = 60.0    # a bridge answer (observation, service) slower than this is a failure
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
    wall time the frame arrived here (≈ when the bridge published it: shared memory on this host),
    so camera -> reward latency is measured on one clock, this process's, even though the stamps
    are simulated time. Also keeps the planner's result lines (planner/result)."""

    def __init__(self, context: Context, camera_topic: str) -> None:
        super().__init__("demo_listener", context=context)
        self._lock = threading.Lock()
        self._rewards: list[tuple[RewardScore, int]] = []
        self.frame_wall_ns: dict[int, int] = {}
        self.label = ""
        self.planner_results: list[dict] = []
        self.create_subscription(RewardScore, "a2r/reward", self._on_reward, RELIABLE)
        self.create_subscription(Image, camera_topic, self._on_frame, qos_profile_sensor_data)
        # Latched (sim_spec.PLANNER_RESULT_TOPIC): a result published before this listener matched the
        # planner process (a short episode can end first on a busy host) still arrives.
        self.create_subscription(String, sim_spec.PLANNER_RESULT_TOPIC, self._on_planner_result,
                                 latched_qos(sim_spec.PLANNER_RESULT_DEPTH))

    def _on_planner_result(self, msg: String) -> None:
        try:
            result = json.loads(msg.data)
        except ValueError:
            self.get_logger().error(f"unreadable planner result: {msg.data[:200]!r}")
            return
        with self._lock:
            self.planner_results.append(result)

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

    def planner_result(self) -> Optional[dict]:
        """The planner's latest result line, if one has arrived."""
        with self._lock:
            return self.planner_results[-1] if self.planner_results else None

    def take(self) -> tuple[list[tuple[RewardScore, int]], dict[int, int]]:
        with self._lock:
            rewards, self._rewards = self._rewards, []
            frames, self.frame_wall_ns = self.frame_wall_ns, {}
        return rewards, frames


def _wait_until_quiet(listener: _Listener, watch: Callable[[], None], quiet_s: float = 1.5,
                      limit_s: float = 30.0) -> None:
    """Wait until no reward has arrived for `quiet_s` (the node has scored the clips it queued);
    `watch()` raises when the run must end (a node died, Ctrl-C)."""
    deadline = time.monotonic() + limit_s
    last, changed = listener.count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        watch()
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
class DemoAborted(A2RError):
    """A node the demo needs exited (the reason names it), or the bring-up did not come up."""


class _Watch:
    """What the demo's main thread checks while it waits: a required node process that exited
    (DemoAborted with its reason) and Ctrl-C / SIGTERM (KeyboardInterrupt, after which `run`
    stops every node process)."""

    def __init__(self, supervisor: Supervisor, signals: StopSignals) -> None:
        self.supervisor, self.signals = supervisor, signals

    def __call__(self) -> None:
        reason = self.supervisor.check()
        if reason is not None:
            raise DemoAborted(reason)
        if self.signals():
            raise KeyboardInterrupt

    def run(self, fn: Callable[[], Any], what: str) -> Any:
        """`fn()` in a worker thread, watched from this one; its result (or its exception)."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                box["error"] = exc

        worker = threading.Thread(target=target, name=f"a2r-demo-{what}", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
            self()  # a worker left blocked here is a daemon thread: the process exits without it
        if "error" in box:
            raise box["error"]
        return box.get("result")


def _simulator_dt(task: str) -> float:
    """Seconds of simulated time per MetaWorld step (the bridge's stamps advance by it; the
    operator paces the scripted episodes with it). The bridge runs in another process, so the
    demo reads it from the environment itself (about a second, while the nodes start)."""
    from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig

    env = MetaWorldEnv(task, render=RenderConfig(width=16, height=16), max_steps=2)
    try:
        return float(env.dt)
    finally:
        env.close()


def _start_node(supervisor: Supervisor, plan: dict, name: str, params_dir: Path) -> None:
    spec, values = plan[name]
    params = write_params_file(params_dir / f"{name}.yaml", values)
    supervisor.start(name, node_command(spec.module, spec.name, params))


def _wait_for_nodes(operator: ScriptedOperator, listener: _Listener, camera: str, watch: _Watch,
                    timeout_s: float = BRING_UP_TIMEOUT_S) -> None:
    """Until the bridge serves (sim/action, sim/reset, sim/rollout) and the reward node has
    subscribed to the camera (the listener is the other subscriber)."""
    deadline = time.monotonic() + timeout_s
    while True:
        watch()
        bridge_up = listener.count_subscribers(sim_spec.ACTION_TOPIC) >= 1
        reward_up = listener.count_subscribers(camera) >= 2
        if bridge_up and reward_up:
            break
        if time.monotonic() > deadline:
            missing = [what for what, up in (("bridge (sim/action)", bridge_up),
                                              ("reward node subscribed to the camera", reward_up)) if not up]
            raise DemoAborted(f"bring-up: no {' and no '.join(missing)} after {timeout_s:g} s")
        time.sleep(0.1)
    watch.run(operator.wait_for_bridge, "bring-up")  # and its services


def _first_query(listener: _Listener, model: dict, instruction: str, watch: _Watch) -> float:
    """The last bring-up check: the reward node answers a query (one blank clip of the model's
    input size) on `a2r/query_reward`, the service the planner will use. Its first forward pass
    pays one-time costs (kernel selection, the instruction's text feature), 200 ms measured here,
    which would otherwise land on the first live reward. Returns the round trip in ms."""
    from a2r_ros.reward_client import RewardClient

    size, frames = int(model.get("image_size", 112)), int(model.get("num_frames", 8))
    client = RewardClient(listener)
    t0 = time.perf_counter()
    watch.run(lambda: client.score(np.zeros((1, frames, size, size, 3), np.uint8), [instruction], timeout_sec=120.0),
              "first query")
    return (time.perf_counter() - t0) * 1e3


def _scripted(operator: ScriptedOperator, listener: _Listener, cfg: DemoConfig, episode: Episode, dt: float,
              all_tasks: Sequence[str], index: int, watch: _Watch) -> None:
    from a2r_core.sim.policies import make_policy

    policy = make_policy(episode.source, cfg.task, np.random.default_rng([cfg.seed, index]), cfg.episode_steps,
                         list(all_tasks))
    print(f"[demo] streaming the {episode.name} episode ({episode.source}, up to {cfg.episode_steps} steps at "
          f"{1 / dt:g} Hz simulated)", flush=True)
    listener.take()
    listener.label = episode.name
    outcome: OperatorEpisode = watch.run(lambda: operator.run_episode(
        policy, cfg.episode_steps, success_tail=cfg.success_tail if episode.kind == "success" else None,
        step_period_s=dt if cfg.realtime else 0.0), episode.name)
    _wait_until_quiet(listener, watch)
    episode.success, episode.steps = outcome.success, outcome.steps
    episode.first_success_step, episode.bridge_episode = outcome.first_success_step, outcome.episode
    episode.wall_s = round(outcome.wall_s, 3)
    _collect(episode, listener)
    print(f"[demo] {episode.name} episode: {outcome.steps} steps, environment success = {outcome.success} "
          f"({outcome.reset_message}); {len(episode.rewards)} rewards", flush=True)


def _plan(plan: dict, supervisor: Supervisor, params_dir: Path, listener: _Listener, cfg: DemoConfig,
          episode: Episode, watch: _Watch) -> tuple[Optional[dict], Optional[str]]:
    """The planner node in its own process: started now (it plans as soon as it is up), its
    result read from planner/result, then stopped."""
    spec, values = plan["planner_node"]
    source = values["reward_service"] if values["reward_source"] == "service" else "the simulator (oracle)"
    print(f"[demo] planning: CEM/MPC, {values['samples']} samples x {values['iterations']} iterations, horizon "
          f"{values['horizon']} x repeat {values['action_repeat']}, up to {values['max_steps']} actions, reward "
          f"from {source}", flush=True)
    listener.take()
    listener.label = episode.name
    _start_node(supervisor, plan, "planner_node", params_dir)
    process = supervisor.processes["planner_node"]
    print(f"[demo] planner_node (pid {process.pid}) started", flush=True)
    deadline = time.monotonic() + cfg.planner_timeout_s
    result: Optional[dict] = None
    error: Optional[str] = None
    try:
        while result is None and error is None:
            watch()
            result = listener.planner_result()
            stopped = process.error_lines("planner stopped")
            if result is None and stopped:
                error = stopped[-1]
            elif result is None and process.poll() is not None:
                error = f"planner_node exited with status {process.poll()}: {process.why() or 'no error logged'}"
            elif result is None and time.monotonic() > deadline:
                error = f"no result within {cfg.planner_timeout_s:g} s"
            else:
                time.sleep(0.1)
        _wait_until_quiet(listener, watch)
    finally:
        supervisor.stop_one("planner_node")
    if result is not None:
        episode.success, episode.steps = bool(result["success"]), int(result["executed_steps"])
        episode.first_success_step, episode.bridge_episode = result["success_step"], int(result["episode"])
        episode.wall_s = float(result["seconds"])
    _collect(episode, listener)
    return result, error


def run(cfg: DemoConfig) -> dict:
    """The whole main job; returns the summary written to report.json. Raises DemoAborted when a
    required node exits, KeyboardInterrupt after Ctrl-C; every node process is stopped either way."""
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
    dds_profile.apply()  # camera frames between processes (this one's listener too): before rclpy starts
    signals = StopSignals().install()
    supervisor = Supervisor(child_environment(), bringup.log_line("a2r demo"))
    watch = _Watch(supervisor, signals)
    params_dir = Path(tempfile.mkdtemp(prefix="a2r-demo-"))
    context = Context()
    nodes: list[Node] = []
    executor: Optional[MultiThreadedExecutor] = None
    camera = plan["metaworld_bridge"][1]["camera_topic"]
    try:
        t0 = time.monotonic()
        for name in ("metaworld_bridge", "reward_node"):
            _start_node(supervisor, plan, name, params_dir)
        rclpy.init(args=["a2r-demo"], context=context)
        executor = MultiThreadedExecutor(num_threads=4, context=context)
        listener = _Listener(context, camera)
        operator = ScriptedOperator(context=context, timeout_s=OPERATOR_TIMEOUT_S)
        nodes += [listener, operator]
        for node in nodes:
            executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        dt = _simulator_dt(cfg.task)
        _wait_for_nodes(operator, listener, camera, watch)
        first_query_ms = _first_query(listener, model, instruction, watch)
        stages["bring_up_s"] = round(time.monotonic() - t0, 2)
        print(f"[demo] nodes up in {stages['bring_up_s']:.1f} s, one process each: "
              + ", ".join(f"{n} (pid {p.pid})" for n, p in supervisor.processes.items())
              + f"; first reward query {first_query_ms:.0f} ms", flush=True)

        t0 = time.monotonic()
        tasks = list(model.get("tasks") or [cfg.task])
        for index, episode in enumerate(episodes):
            _scripted(operator, listener, cfg, episode, dt, tasks, index, watch)
        stages["scripted_episodes_s"] = round(time.monotonic() - t0, 2)
        if cfg.planner:
            t0 = time.monotonic()
            planner_result, planner_error = _plan(plan, supervisor, params_dir, listener, cfg, planner_episode, watch)
            stages["planner_s"] = round(time.monotonic() - t0, 2)
    finally:
        supervisor.stop()
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        for node in reversed(nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=context)
        shutil.rmtree(params_dir, ignore_errors=True)
        signals.restore()

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
        first_query_ms=round(first_query_ms, 1),
        process_layout="one process per node (bridge, reward node, planner), as a launch file starts them; "
                       "the listener and the scripted operator in the demo's own process",
    )
    report = {"summary": summary,
              "episodes": [{"name": e.name, "source": e.source, "start_stamp_ns": e.start_stamp_ns,
                            "rewards": e.rewards} for e in shown]}
    (cfg.out_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot(shown, instruction, dt, cfg.out_dir / "rewards.png")
    print_summary(summary, cfg.out_dir)
    return summary
