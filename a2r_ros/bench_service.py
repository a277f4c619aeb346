"""`a2r bench` section `service`: candidate clips scored through `a2r/query_reward`, and where the
round trip's time goes.

What is timed: `RewardClient.score` (the planners' API) with 64 candidate clips of 8 frames at
112x112 (what `rollout_candidates` renders for horizon 8) and one instruction, against the reward
node in its own process (`bench_node._Rig`). Two clients:
- the default client, which sends each clip cut to the model's input (`a2r_core.clips.model_input`,
  the size the service advertises), packed into one image (`Clip.packed_frames`): same scores,
  fewer bytes and messages;
- a client sending the frames as given (`cut_to_model_input=False`), what `ros2 service call` or a
  client that ignores the advertised size does.

The reference, "model only": the node's own `inference_latency_ms` for the clips as given, i.e.
`RewardModel.score` on the same clips without the service (resize included). Rows per client:
candidate clips/s of the round trip, and the round trip's share of the reference. Then the breakdown of one request, each stage timed here on the same request (median of the
repetitions): cutting to the model's input, building the request message, serialising it (what
rclpy does before DDS takes it), deserialising it (what the node's rclpy does), decoding the frames
to numpy (the node's `decode_query`), the model (the node's own number), and the rest of the round
trip (DDS transport both ways, executor hand-offs, the response), which is what is left of the
measured round trip. The stages in this process stand for the same stages in the node's process;
both run on the same 2 cores.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message

from a2r_core.bench.table import BenchRow
from a2r_core.clips import model_input
from a2r_ros.query_service import QueryLimits, decode_query
from a2r_ros.reward_client import RewardClient, build_request
from a2r_ros.srv import QueryReward

SERVICE_CLIPS = 64
SERVICE_FRAMES = 8
SERVICE_SIZE = 112
INSTRUCTION = "open the drawer"
NO_LIMITS = QueryLimits(max_query_clips=1 << 30, max_query_instructions=1 << 30, max_query_frames=1 << 30,
                        max_frame_pixels=1 << 40)


def _median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of `fn()` in ms over `repeats` calls (after one untimed call), and its value."""
    value = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times)), value


def _round_trips(clients: list[RewardClient], clips: np.ndarray, requests: int) -> list[tuple[list[float], list[float]]]:
    """Per client: round-trip and node-reported model times (ms) of `requests` calls, after one
    warm-up call each (kernels for this batch shape; the default client also learns the model's
    input there). The clients take turns, call by call, so a shared machine's changing load
    weighs on all of them alike (their ratio is what the benchmark reports)."""
    for client in clients:
        client.score(clips, [INSTRUCTION], timeout_sec=120.0)
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in clients]
    for _ in range(requests):
        for client, (round_trip, model) in zip(clients, times):
            start = time.perf_counter()
            result = client.score(clips, [INSTRUCTION], timeout_sec=120.0)
            round_trip.append((time.perf_counter() - start) * 1e3)
            model.append(result.inference_latency_ms)
    return times


def _breakdown(clips: np.ndarray, model_in: tuple[int, int] | None, repeats: int) -> dict[str, float]:
    """Per-stage ms of one request, timed in this process (see the module docstring); `model_in`
    None: the frames as given, one Image per frame; else cut to it and packed, as RewardClient does."""
    stages: dict[str, float] = {}
    if model_in is not None:
        stages["cut to model input"], clips = _median_ms(lambda: model_input(clips, *model_in), repeats)
    packed = model_in is not None
    stages["build request"], request = _median_ms(lambda: build_request(clips, [INSTRUCTION], packed=packed), repeats)
    stages["serialize"], raw = _median_ms(lambda: serialize_message(request), repeats)
    stages["deserialize"], received = _median_ms(lambda: deserialize_message(raw, QueryReward.Request), repeats)
    stages["decode frames"], _ = _median_ms(lambda: decode_query(received, NO_LIMITS), repeats)
    stages["request MB"] = len(raw) / 1e6
    return stages


def bench_service(rig: Any, dtype: str, requests: int) -> list[BenchRow]:
    """Rows for the frames-as-given client and the default (cut, packed) client; the reference
    "model only" is the node's `RewardModel.score` time on the clips as given (resize included):
    what scoring these clips costs without the service."""
    rng = np.random.default_rng(1)
    clips = rng.integers(0, 256, size=(SERVICE_CLIPS, SERVICE_FRAMES, SERVICE_SIZE, SERVICE_SIZE, 3), dtype=np.uint8)
    rows: list[BenchRow] = []
    clients = {"frames as given": RewardClient(rig.feeder, cut_to_model_input=False),
               "cut to model input, packed (default)": rig.client}
    times = dict(zip(clients, _round_trips(list(clients.values()), clips, requests)))
    reference_ms = float(np.median(times["frames as given"][1]))
    for label, client in clients.items():
        round_trip, model_ms = times[label]
        rt, model = float(np.median(round_trip)), float(np.median(model_ms))
        stages = _breakdown(clips, client.model_input if client.cut_to_model_input else None, max(3, requests))
        stages["model (node)"] = model
        stages["transport and rest"] = rt - sum(v for k, v in stages.items() if k != "request MB")
        setting = f"{SERVICE_CLIPS} clips x {SERVICE_FRAMES} frames {SERVICE_SIZE}px, {label}, {dtype}"
        extra = {"dtype": dtype, "client": label, "requests": requests, "round_trip_ms_median": rt,
                 "model_ms_median": model, "reference_model_ms": reference_ms, "round_trip_ms_all": round_trip,
                 "breakdown_ms": stages}
        if label == "frames as given":
            rows.append(BenchRow("service", "candidate clips scored (model only)",
                                 f"{SERVICE_CLIPS} clips x {SERVICE_FRAMES} frames {SERVICE_SIZE}px, RewardModel.score "
                                 f"in the node, {dtype}", SERVICE_CLIPS / reference_ms * 1e3, "clips/s", extra=extra))
        rows += [
            BenchRow("service", "candidate clips scored (round trip)", setting, SERVICE_CLIPS / rt * 1e3, "clips/s",
                     extra=extra),
            BenchRow("service", "round trip / model only", setting, reference_ms / rt, "ratio", extra=extra),
        ]
        rows += [BenchRow("service", f"breakdown: {stage}", setting, value, "MB" if stage == "request MB" else "ms",
                          extra={"dtype": dtype, "client": label}) for stage, value in stages.items()]
    return rows


__all__ = ["INSTRUCTION", "SERVICE_CLIPS", "bench_service"]
