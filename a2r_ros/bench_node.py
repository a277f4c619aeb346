"""`a2r bench` sections `node` and `service`: the real reward node, measured from outside.

Node (live path), per dtype: a feeder node publishes 640x480 rgb8 `sensor_msgs/Image` frames at
30 Hz (wall-clock paced) whose header stamp is the wall-clock time of publishing, i.e. the
"camera capture" time; the reward node runs with its default parameters (sensor-data QoS, queue,
2 s window, `rate_hz` 2: a score every 15th frame) and, in full runs, also with `rate_hz: 30` (a
score for every frame: the most demanding setting, where a model slower than 33 ms per clip makes
clips wait in, and drop from, the node's queue); a subscriber in the feeder records when each
`RewardScore` arrives. Measured on the rewards of the timed part of the stream (after a warm-up
long enough to fill the clip window):
- latency = arrival time - `header.stamp` (camera stamp -> reward message received, p50/p99);
- model forward = the message's own `inference_latency_ms` (the `RewardModel.score` call);
- node overhead = latency - model forward (image conversion, clip buffer, waiting in the hand-off
  queue, message building, DDS both ways); at the default rate the queue is normally empty, so
  this is the node's own cost; at rate_hz 30 it includes queueing behind a busy model;
- clips dropped = clips the node's queue dropped because the model was busy (they have no latency;
  read p99 together with this);
- memory (default-rate stream): the reward node process's RSS sampled every 0.5 s over the timed
  stream, end value and a least-squares slope in MB/min, with the whole series in the JSON
  (`extra.rss_mb_series`, [seconds, MB]) (`--soak`: a 10-minute stream);
- delivery, the camera being in another process than the node (as a robot's camera driver is):
  frames received (the node's own counter) / frames published, and rewards published per second
  (against `rate_hz`), at 640x480 and, at the default rate, 1920x1080. Both processes use the DDS
  profile a2r ships (a2r_ros.dds_profile, unless the user has set one; the JSON names it): without
  it, Fast DDS's defaults lose most frames this size (docs/ros.md).

Service, per dtype: a2r_ros.bench_service (round trip against the model, and where the time goes).

The reward node runs in its own process (`python -m a2r_ros.reward_node`, the code behind
`ros2 run a2r_ros reward_node`), as it does when deployed; the feeder (camera, reward subscriber,
service client) runs in this process on a private rclpy context. Each run has a unique namespace,
and DDS discovery is forced to localhost in both processes. The checkpoint is `--checkpoint` or a default a2r-small with random
weights saved to a temporary directory (speed does not depend on weight values).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from a2r_core.bench.table import BenchContext, BenchRow
from a2r_core.waiting import wait_until as _wait
from a2r_ros import dds_profile
from a2r_ros.bringup_spec import REWARD_NODE_PARAMETERS
from a2r_ros.image_conversion import ns_to_stamp, rgb_to_image_msg, stamp_to_ns
from a2r_ros.msg import RewardScore
from a2r_ros.bench_service import SERVICE_CLIPS, bench_service
from a2r_ros.reward_client import RewardClient

CAMERA_HZ = 30.0
FRAME_SIZE = (480, 640)  # height, width
FULL_HD = (1080, 1920)
INSTRUCTION = "open the drawer"
DIAGNOSTICS_PERIOD_S = 0.5   # how often the node's counters reach the bench
START_TIMEOUT_S = 120.0      # process start + model load + DDS discovery, on a busy machine


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of process `pid` (default: this one) from Linux /proc; 0 where /proc
    cannot be read (the memory rows then show 0)."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _camera_frames(count: int, seed: int = 0, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """Distinct RGB frames of `size` (height, width): noise + a moving bar, so every clip differs."""
    rng = np.random.default_rng(seed)
    h, w = size
    frames = rng.integers(0, 256, size=(count, h, w, 3), dtype=np.uint8)
    for i in range(count):
        frames[i, :, (i * 37) % w: (i * 37) % w + 16] = 255
    return frames


def _percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "count": 0}
    return {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)),
            "max": float(arr.max()), "count": int(arr.size)}


class _Rig:
    """The reward node in its own process (as `ros2 run a2r_ros reward_node` runs it) + a feeder
    node in this process (the camera, the reward subscriber, the service client).

    Why a separate process: a deployed reward node shares neither its interpreter nor its GIL with
    the camera driver or the consumer of its rewards, and the benchmark must not charge the node
    for the feeder's Python work or for whatever earlier sections left in this process (a heap of
    gigabytes, extra thread pools). The node's counters come from its /diagnostics messages and its
    memory from /proc/<pid>.
    """

    def __init__(self, context: Any, namespace: str, checkpoint: str, dtype: str, rate_hz: float,
                 workdir: Path) -> None:
        self.rate_hz = rate_hz
        self.namespace = namespace
        params = {"checkpoint": checkpoint, "dtype": dtype, "rate_hz": float(rate_hz),
                  "instructions": [INSTRUCTION], "max_query_clips": SERVICE_CLIPS,
                  "diagnostics_period_s": DIAGNOSTICS_PERIOD_S}
        params_file = workdir / f"{namespace}.yaml"
        params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
        self.log_path = workdir / f"{namespace}.log"
        env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}  # DDS stays on loopback
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "a2r_ros.reward_node", "--ros-args", "-r", f"__ns:=/{namespace}",
                 "--params-file", str(params_file)],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.feeder = Node("a2r_bench_feeder", context=context, namespace=namespace)
        self.images = self.feeder.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        self.arrivals: list[tuple[int, Any]] = []
        self._lock = threading.Lock()
        self._diagnostics: list[dict[str, str]] = []
        self._status_name = f"a2r: /{namespace}/reward_node"
        self.feeder.create_subscription(RewardScore, "a2r/reward", self._on_reward,
                                        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        self.feeder.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics,
                                        QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.client = RewardClient(self.feeder)
        self.executor = MultiThreadedExecutor(num_threads=4, context=context)
        self.executor.add_node(self.feeder)
        self.thread = threading.Thread(target=self.executor.spin, name="a2r_bench_spin", daemon=True)
        self.thread.start()
        ready = _wait(lambda: self.process.poll() is not None or (
            self.images.get_subscription_count() > 0 and self.client.wait_for_service(0.1)), START_TIMEOUT_S)
        if not ready or self.process.poll() is not None:
            self.close()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"reward node process not ready within {START_TIMEOUT_S:.0f} s "
                               f"(exit code {self.process.returncode}); its log ends:\n{tail}")

    def _on_reward(self, msg: Any) -> None:
        now = time.time_ns()
        with self._lock:
            self.arrivals.append((now, msg))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name == self._status_name:
                with self._lock:
                    self._diagnostics = [{kv.key: kv.value for kv in status.values}]  # only the newest

    def fresh_diagnostics(self, timeout_s: float = 5.0) -> dict[str, str]:
        """The node's counters from a /diagnostics message published after this call."""
        with self._lock:
            self._diagnostics = []
        if not _wait(lambda: bool(self._diagnostics), timeout_s):
            raise RuntimeError(f"no /diagnostics from the reward node within {timeout_s} s")
        with self._lock:
            return self._diagnostics[-1]

    def rss_bytes(self) -> int:
        """Resident set size of the reward node process."""
        return rss_bytes(self.process.pid)

    def take_arrivals(self) -> list[tuple[int, Any]]:
        with self._lock:
            out, self.arrivals = self.arrivals, []
        return out

    def stream(self, messages: list[Any], seconds: float, on_tick=None) -> int:
        """Publish `messages` round-robin at 30 Hz for `seconds`, stamped with the wall clock."""
        period = 1.0 / CAMERA_HZ
        count = int(round(seconds * CAMERA_HZ))
        next_t = time.monotonic()
        for i in range(count):
            msg = messages[i % len(messages)]
            msg.header.stamp = ns_to_stamp(time.time_ns())
            self.images.publish(msg)
            if on_tick is not None:
                on_tick(i)
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        return count

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # run_node's clean shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.executor.shutdown()
        self.thread.join(timeout=10)
        self.feeder.destroy_node()


def bench_stream(rig: _Rig, dtype: str, warmup_s: float, seconds: float, memory: bool,
                 size: tuple[int, int] = FRAME_SIZE) -> list[BenchRow]:
    """The live-path rows for one dtype, rate and frame `size` (height, width) (see the module
    docstring); memory rows if `memory`."""
    messages = [rgb_to_image_msg(f, "rgb8", frame_id="camera") for f in _camera_frames(8, size=size)]
    rig.stream(messages, warmup_s)
    time.sleep(0.5)  # let the warm-up clips drain
    rig.take_arrivals()
    diag0 = rig.fresh_diagnostics()
    rss: list[tuple[float, int]] = []
    t0 = time.monotonic()
    sample_every = int(CAMERA_HZ // 2)

    def tick(i: int) -> None:
        if i % sample_every == 0:
            rss.append((time.monotonic() - t0, rig.rss_bytes()))

    frames = rig.stream(messages, seconds, tick)
    time.sleep(1.0)  # rewards of the last frames
    rss.append((time.monotonic() - t0, rig.rss_bytes()))
    arrivals = rig.take_arrivals()
    diag1 = rig.fresh_diagnostics()

    def delta(key: str) -> int:
        return int(diag1.get(key) or 0) - int(diag0.get(key) or 0)

    latency = [(t - stamp_to_ns(m.header.stamp)) / 1e6 for t, m in arrivals]
    forward = [float(m.inference_latency_ms) for _, m in arrivals]
    overhead = [a - b for a, b in zip(latency, forward)]
    lat, fwd, ovh = _percentiles(latency), _percentiles(forward), _percentiles(overhead)
    clips = delta("clips_emitted")
    dropped = delta("work_dropped")
    setting = f"{size[1]}x{size[0]} rgb8 @ {CAMERA_HZ:.0f} Hz, rate_hz {rig.rate_hz:g}, {dtype}"
    received = delta("frames_received")
    common = {"dtype": dtype, "frames_published": frames, "frames_received": received,
              "clips_emitted": clips, "clips_dropped": dropped, "rewards": len(arrivals), "stream_s": seconds,
              "dds_profile": dds_profile.user_profile(os.environ) or "Fast DDS defaults",
              "camera": "bench process (sensor-data QoS); reward node: its own process"}
    rows = [
        BenchRow("node", "stamp -> reward latency p50", setting, lat["p50"], "ms", extra={**common, **lat}),
        BenchRow("node", "stamp -> reward latency p99", setting, lat["p99"], "ms", extra={**common, **lat}),
        BenchRow("node", "model forward p50 (inference_latency_ms)", setting, fwd["p50"], "ms", extra=fwd),
        BenchRow("node", "node overhead p50 (latency - forward)", setting, ovh["p50"], "ms", extra=ovh),
        BenchRow("node", "node overhead p99 (latency - forward)", setting, ovh["p99"], "ms", extra=ovh),
        BenchRow("node", "clips dropped (model busy)", setting, 100.0 * dropped / clips if clips else float("nan"),
                 "%", extra=common),
        BenchRow("node", "frames received (camera in another process)", setting,
                 100.0 * received / frames if frames else float("nan"), "%", extra=common),
        BenchRow("node", "rewards published (camera in another process)", setting, len(arrivals) / seconds,
                 "1/s", extra={**common, "rate_hz": rig.rate_hz}),
    ]
    if not memory:
        return rows
    times = np.array([t for t, _ in rss])
    mb = np.array([b for _, b in rss], dtype=np.float64) / 2**20
    slope = float(np.polyfit(times / 60.0, mb, 1)[0]) if len(rss) >= 3 and np.ptp(times) > 0 else float("nan")
    mem = {"node_pid": rig.process.pid, "samples": len(rss), "start_mb": float(mb[0]), "end_mb": float(mb[-1]), "max_mb": float(mb.max()),
           "stream_s": seconds, "rss_mb_series": [[round(float(t), 2), round(float(m), 2)] for t, m in zip(times, mb)]}
    rows += [
        BenchRow("node", "process RSS at stream end", f"{seconds:.0f} s stream, {dtype}", float(mb[-1]), "MB", extra=mem),
        BenchRow("node", "process RSS growth (least squares)", f"{seconds:.0f} s stream, {dtype}", slope, "MB/min",
                 extra=mem),
    ]
    return rows


def _checkpoint(ctx: BenchContext, tmp: Path) -> str:
    if ctx.checkpoint:
        return ctx.checkpoint
    from a2r_core.bench.model_forward import build_small
    from a2r_core.model import save_checkpoint

    return str(save_checkpoint(build_small(), tmp / "a2r-small-random"))


@contextlib.contextmanager
def _context() -> Iterator[Any]:
    """A private rclpy context, shut down on exit."""
    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


def default_rate_hz() -> float:
    """The reward node's default `rate_hz` (bringup_spec: the one source of defaults)."""
    return float(next(p.default for p in REWARD_NODE_PARAMETERS if p.name == "rate_hz"))


def _window_s() -> float:
    return float(next(p.default for p in REWARD_NODE_PARAMETERS if p.name == "window_s"))


def run(ctx: BenchContext, sections: list[str]) -> list[BenchRow]:
    """Rows of the requested ROS sections ("node", "service"), fp32 and (with native bf16) bf16."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # before rclpy.init: DDS stays on loopback
    dds_profile.apply()  # a2r's profile for camera frames (unless the user set one), here and in the node
    from a2r_core.bench.model_forward import native_bf16

    dtypes = ["float32"] + (["bfloat16"] if native_bf16() else [])
    rates = [default_rate_hz()] + ([] if ctx.quick or "node" not in sections else [CAMERA_HZ])
    warmup_s = _window_s() + 1.0  # the clip window is full (memory and per-clip cost steady) after this
    if ctx.soak:
        seconds = {rates[0]: 600.0, CAMERA_HZ: 20.0}
    else:
        seconds = {rates[0]: 3.0, CAMERA_HZ: 3.0} if ctx.quick else {rates[0]: 60.0, CAMERA_HZ: 20.0}
    requests = 2 if ctx.quick else 10
    node_rows: list[BenchRow] = []
    service_rows: list[BenchRow] = []
    with tempfile.TemporaryDirectory(prefix="a2r_bench_ros_") as tmp:
        checkpoint = _checkpoint(ctx, Path(tmp))
        with _context() as context:
            runs = 0
            for dtype in dtypes:
                for r, rate in enumerate(rates):
                    rig = _Rig(context, f"a2r_bench_{os.getpid()}_{runs}", checkpoint, dtype, rate, Path(tmp))
                    runs += 1
                    try:
                        if "node" in sections:
                            node_rows += bench_stream(rig, dtype, warmup_s, seconds[rate], memory=(r == 0))
                            if r == 0 and dtype == dtypes[0]:  # delivery of full-HD frames, default rate
                                node_rows += bench_stream(rig, dtype, warmup_s, seconds[CAMERA_HZ], memory=False,
                                                          size=FULL_HD)
                        if "service" in sections and r == 0:
                            service_rows += bench_service(rig, dtype, requests)
                    finally:
                        rig.close()
    return node_rows + service_rows


__all__ = ["bench_stream", "default_rate_hz", "rss_bytes", "run"]
