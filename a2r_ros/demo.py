"""`a2r demo`: the project's main job as it stands today, end to end on one machine.

What it does, in order (every stage is the real code path a user's robot would use):

1. **Train** an `a2r-small` model with the project's trainer (failure prompts, the four losses,
   per-epoch clustering) on the synthetic coloured-shapes dataset (`config/train_synthetic.yaml`),
   unless a checkpoint from an earlier demo run exists (`--retrain` forces it).
2. **Start the reward node** in this process with the parameters of `config/reward.yaml` (the file
   `ros2 launch a2r_ros reward.launch.py` and `a2r ros up` read), pointed at that checkpoint.
3. **Stream two episodes** of one task as a 30 Hz `sensor_msgs/Image` camera over DDS (loopback
   only): one where the shape reaches its goal, one where it fails, each a fresh rendering of a
   validation episode. The node buffers the frames by header stamp, scores clips off the callback
   and publishes `a2r_ros/msg/RewardScore`; the demo prints each reward as it arrives.
4. **Report**: `report.json` (every reward, latencies, the per-episode summary) and `rewards.png`
   (reward and success probability over time for both episodes) in the output directory.

Why synthetic data: the default MetaWorld checkpoint, the MetaWorld bridge and the planner are
later issues; until then this is the smallest honest end-to-end the project has, and the README
says so.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from a2r_core.errors import ConfigError
from a2r_ros import bringup, bringup_spec
from a2r_ros.image_conversion import ns_to_stamp, stamp_to_ns
from a2r_ros.msg import RewardScore
from a2r_ros.reward_monitor import format_reward
from a2r_ros.reward_node import RewardNode

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class DemoConfig:
    """Settings of one demo run (the CLI's options)."""

    out_dir: Path = Path("runs/demo")
    train_config: Path = Path("config/train_synthetic.yaml")
    node_config: Path | None = None  # None: the installed share/a2r_ros/config/reward.yaml
    retrain: bool = False
    epochs: int | None = None        # None: the training config's own
    fps: float = 30.0
    episode_s: float = 3.0
    rate_hz: float = 5.0
    frame_size: int = 96
    task_index: int = 0

    def __post_init__(self) -> None:
        self.out_dir, self.train_config = Path(self.out_dir), Path(self.train_config)
        if not self.train_config.is_file():
            raise ConfigError(f"training config {self.train_config} does not exist")
        if self.fps <= 0 or self.episode_s <= 0 or self.rate_hz <= 0:
            raise ConfigError("fps, episode_s and rate_hz must be positive")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")


@dataclass
class Episode:
    """One streamed episode: its frames and what the environment says happened."""

    name: str
    instruction: str
    success: bool
    frames: np.ndarray  # uint8 [N, H, W, 3]
    rewards: list[dict] = field(default_factory=list)


def train_or_reuse(cfg: DemoConfig) -> Path:
    """The demo's checkpoint directory, training it first when needed."""
    from a2r_core.train import train
    from a2r_core.training.config import load_config

    model_dir = cfg.out_dir / "model"
    best = model_dir / "best"
    if (best / "model.safetensors").is_file() and not cfg.retrain:
        print(f"[demo] reusing the checkpoint of an earlier run: {best} (--retrain to train again)")
        return best
    train_cfg = load_config(cfg.train_config)
    if cfg.epochs is not None:
        train_cfg.optim.epochs = cfg.epochs
    print(f"[demo] training a2r-small on {cfg.train_config} -> {model_dir}")
    start = time.monotonic()
    result = train(train_cfg, output_dir=model_dir)
    print(f"[demo] trained {result.epochs_done} epochs in {time.monotonic() - start:.0f} s; "
          f"best validation {result.metric_name} = {result.best_metric:.3f}")
    return result.best_dir


def make_episodes(cfg: DemoConfig, train_config: Path) -> list[Episode]:
    """A success and a failure episode of one robot task, rendered as a `fps` camera stream.

    Uses the validation split's settings (a seed the model was not trained on) with as many frames
    as the stream needs, so the node sees a smooth motion, not the 8 training frames.
    """
    from a2r_core.data.synthetic import SyntheticConfig, SyntheticDataset
    from a2r_core.training.config import load_config

    val = load_config(train_config).data.val
    frames = max(2, int(round(cfg.fps * cfg.episode_s)))
    params = {**(val if isinstance(val, dict) else asdict(val)), "num_frames": frames,
              "size": cfg.frame_size}
    dataset = SyntheticDataset(SyntheticConfig(**{k: v for k, v in params.items()
                                                  if k in SyntheticConfig.__dataclass_fields__}))
    task = dataset.specs[cfg.task_index]["name"]
    episodes = []
    for success in (True, False):
        index = next(i for i, r in enumerate(dataset.records)
                     if r.task == task and r.domain == "robot" and r.success == success)
        record = dataset.records[index]
        episodes.append(Episode(name="success" if success else f"failure ({record.failure_source})",
                                instruction=dataset.task_instructions[task][0], success=success,
                                frames=dataset.render(index)))
    return episodes


class _Camera(Node):
    """Publishes the episodes' frames and collects the rewards the reward node publishes, with the
    wall time each arrived (for the stamp -> reward latency)."""

    def __init__(self, context: Context) -> None:
        super().__init__("demo_camera", context=context)
        self.publisher = self.create_publisher(Image, "camera/image_raw", RELIABLE)
        self._received: list[tuple[RewardScore, int]] = []
        self._lock = threading.Lock()
        self.create_subscription(RewardScore, "a2r/reward", self._on_reward, RELIABLE)

    def _on_reward(self, msg: RewardScore) -> None:
        with self._lock:
            self._received.append((msg, time.time_ns()))
        print("  " + format_reward(msg), flush=True)

    def count(self) -> int:
        with self._lock:
            return len(self._received)

    def take(self) -> list[tuple[RewardScore, int]]:
        with self._lock:
            out, self._received = self._received, []
        return out


def _image(frame: np.ndarray, stamp_ns: int) -> Image:
    msg = Image()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = "demo_camera"
    msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
    msg.encoding, msg.is_bigendian, msg.step = "rgb8", 0, int(frame.shape[1] * 3)
    msg.data = frame.tobytes()
    return msg


def _node_overrides(cfg: DemoConfig, checkpoint: Path, instruction: str) -> list[Parameter]:
    """The reward node's parameters: the shared YAML (as `a2r ros up` reads it), then the demo's."""
    config = cfg.node_config or bringup_spec.params_file_path()
    sets = [f"checkpoint={checkpoint.resolve()}", f'instructions=["{instruction}"]',
            f"rate_hz={float(cfg.rate_hz)}", "image_qos=reliable"]
    plan = bringup.node_parameters(config, sets)
    spec, values = next((s, v) for s, v in plan if s.class_name == RewardNode.__name__)
    return [Parameter(name, value=value) for name, value in values.items()]


def _wait_until_quiet(camera: _Camera, quiet_s: float = 1.0, limit_s: float = 20.0) -> None:
    """Wait until no reward has arrived for `quiet_s` (the node has scored all buffered clips)."""
    deadline = time.monotonic() + limit_s
    last, changed = camera.count(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = camera.count()
        if now != last:
            last, changed = now, time.monotonic()
        elif time.monotonic() - changed >= quiet_s:
            return


def stream(cfg: DemoConfig, checkpoint: Path, episodes: Sequence[Episode]) -> None:
    """Run the reward node and the camera in this process; fill each episode's `rewards`."""
    context = Context()
    rclpy.init(args=["a2r-demo"], context=context)
    executor = MultiThreadedExecutor(context=context)
    nodes: list[Node] = []
    try:
        node = RewardNode("reward_node", context=context,
                          parameter_overrides=_node_overrides(cfg, checkpoint, episodes[0].instruction))
        nodes.append(node)
        camera = _Camera(context)
        nodes.append(camera)
        for n in nodes:
            executor.add_node(n)
        threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.monotonic() + 10.0
        while camera.publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        period_ns = int(1e9 / cfg.fps)
        for k, episode in enumerate(episodes):
            print(f"[demo] streaming the {episode.name} episode ({len(episode.frames)} frames at "
                  f"{cfg.fps:g} Hz) for \"{episode.instruction}\"")
            # Stamps are wall-clock times; the second episode's are shifted 100 s forward so the
            # node's window never mixes the two (a forward jump just ages the old frames out).
            offset_ns = int(k * 100e9)
            start_wall = time.time_ns()
            t0 = time.monotonic()
            for i, frame in enumerate(episode.frames):
                camera.publisher.publish(_image(frame, start_wall + offset_ns + i * period_ns))
                time.sleep(max(0.0, t0 + (i + 1) / cfg.fps - time.monotonic()))
            _wait_until_quiet(camera)
            episode.rewards = [_reward_record(msg, recv_ns, start_wall, offset_ns)
                               for msg, recv_ns in camera.take()]
    finally:
        executor.shutdown(timeout_sec=5.0)
        for n in reversed(nodes):
            n.destroy_node()
        rclpy.try_shutdown(context=context)


def _reward_record(msg: RewardScore, recv_ns: int, start_wall_ns: int, offset_ns: int) -> dict:
    stamp_ns = stamp_to_ns(msg.header.stamp)
    return {"t_s": (stamp_ns - offset_ns - start_wall_ns) / 1e9, "reward": float(msg.reward),
            "success_probability": float(msg.success_probability),
            "failure_mode": int(msg.most_likely_failure_mode), "frame_count": int(msg.frame_count),
            "inference_latency_ms": float(msg.inference_latency_ms),
            # camera header stamp -> reward received by the camera node (DDS both ways + scoring)
            "stamp_to_reward_ms": (recv_ns - (stamp_ns - offset_ns)) / 1e6}


def summarise(episodes: Sequence[Episode]) -> dict:
    """Per-episode means, the final success probability, and latency percentiles."""
    out: dict = {"episodes": []}
    lat = [r["inference_latency_ms"] for e in episodes for r in e.rewards]
    e2e = [r["stamp_to_reward_ms"] for e in episodes for r in e.rewards]
    for e in episodes:
        rewards = [r["reward"] for r in e.rewards]
        probs = [r["success_probability"] for r in e.rewards]
        out["episodes"].append({
            "name": e.name, "instruction": e.instruction, "environment_success": e.success,
            "rewards_received": len(rewards),
            "mean_reward": float(np.mean(rewards)) if rewards else None,
            "final_reward": rewards[-1] if rewards else None,
            "final_success_probability": probs[-1] if probs else None,
        })
    if lat:
        out["inference_latency_ms"] = {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}
        out["stamp_to_reward_ms"] = {"p50": float(np.percentile(e2e, 50)), "p99": float(np.percentile(e2e, 99))}
    return out


def plot(episodes: Sequence[Episode], path: Path) -> None:
    """Reward and success probability over episode time, success vs failure episode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for e, colour in zip(episodes, ("tab:green", "tab:red")):
        t = [r["t_s"] for r in e.rewards]
        axes[0].plot(t, [r["reward"] for r in e.rewards], "o-", color=colour, label=e.name)
        axes[1].plot(t, [r["success_probability"] for r in e.rewards], "o-", color=colour, label=e.name)
    axes[0].set(xlabel="episode time [s] (clip end)", ylabel="reward", title="reward")
    axes[1].set(xlabel="episode time [s] (clip end)", ylabel="p(success)", ylim=(0, 1),
                title="success probability")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f'a2r demo: "{episodes[0].instruction}" (live rewards from the reward node)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(cfg: DemoConfig) -> dict:
    """The whole demo; returns the summary written to report.json."""
    started = time.monotonic()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = train_or_reuse(cfg)
    episodes = make_episodes(cfg, cfg.train_config)
    stream(cfg, checkpoint, episodes)
    summary = summarise(episodes)
    summary["checkpoint"] = str(checkpoint)
    summary["wall_time_s"] = round(time.monotonic() - started, 1)
    report = {"summary": summary, "episodes": [{"name": e.name, "rewards": e.rewards} for e in episodes]}
    (cfg.out_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot(episodes, cfg.out_dir / "rewards.png")
    _print_summary(summary, cfg.out_dir)
    return summary


def _print_summary(summary: dict, out_dir: Path) -> None:
    print("\n| episode | env success | rewards | mean reward | final reward | final p(success) |")
    print("|---|---|---|---|---|---|")
    for e in summary["episodes"]:
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        print(f"| {e['name']} | {e['environment_success']} | {e['rewards_received']} | "
              f"{fmt(e['mean_reward'])} | {fmt(e['final_reward'])} | {fmt(e['final_success_probability'])} |")
    if "inference_latency_ms" in summary:
        lat, e2e = summary["inference_latency_ms"], summary["stamp_to_reward_ms"]
        print(f"\ninference latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms; camera stamp -> "
              f"reward received p50 {e2e['p50']:.1f} ms, p99 {e2e['p99']:.1f} ms")
    print(f"wrote {out_dir / 'report.json'} and {out_dir / 'rewards.png'} "
          f"({summary['wall_time_s']:.0f} s in all)")
