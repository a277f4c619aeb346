"""`RewardClient`: score candidate clips from a planner or a notebook through `a2r/query_reward`.

    client = RewardClient(node)                     # any rclpy node of yours
    result = client.score(clips, ["open the drawer"])   # blocking; result.rewards is [clips, instructions]
    future = client.score_async(clips, instructions)    # rclpy Future -> RewardResult

`clips` is a uint8 array [B, T, H, W, 3] (RGB) or a list of B arrays [T_i, H_i, W_i, 3]. A
non-OK status raises `RewardQueryError` (its `status` is the response code) with the node's
message, so a planner never mistakes a rejected request for scores.

By default the client sends each clip cut to the model's input (`a2r_core.clips.model_input`:
the frames the model samples, shrunk to its size with its own filter), which it learns once from
the service (an "info" request, `QueryReward.srv`), and packs each clip into one image
(`Clip.packed_frames`). The scores are the ones the full-size clip gets, and a 64-clip request of
112 px frames shrinks 3x (camera-size frames: up to 100x) and is one message per clip instead of
one per frame: that was most of the round trip's cost beyond the model (docs/performance.md).
`cut_to_model_input=False` sends the frames as given, one Image per frame.

Blocking calls work both when nobody spins `node` (the call spins it until the answer arrives) and
when an executor already spins it in another thread (the call just waits), using only API shared
by Humble, Jazzy and Kilted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.task import Future

from a2r_core.clips import clip_indices, model_input
from a2r_core.errors import A2RError, InputError
from a2r_ros.image_conversion import ns_to_stamp, rgb_frames_to_image_msgs
from a2r_ros.msg import Clip
from a2r_ros.srv import QueryReward

STATUS_NAMES = {
    QueryReward.Response.STATUS_OK: "OK",
    QueryReward.Response.STATUS_INVALID_REQUEST: "INVALID_REQUEST",
    QueryReward.Response.STATUS_TOO_LARGE: "TOO_LARGE",
    QueryReward.Response.STATUS_MODEL_ERROR: "MODEL_ERROR",
    QueryReward.Response.STATUS_NOT_READY: "NOT_READY",
}


class RewardQueryError(A2RError):
    """The reward node answered with a non-OK status (or did not answer in time)."""

    def __init__(self, status: int | None, message: str) -> None:
        name = STATUS_NAMES.get(status, "NO_RESPONSE" if status is None else str(status))
        super().__init__(f"reward query failed ({name}): {message}")
        self.status = status


@dataclass
class RewardResult:
    """Scores of every clip x instruction, as [num_clips, num_instructions] arrays."""

    rewards: np.ndarray
    success_probabilities: np.ndarray
    most_likely_failure_modes: np.ndarray
    inference_latency_ms: float
    resolved_tasks: list[str]  # [num_instructions] the trained task each was taken for, "" for none


def build_request(clips: Any, instructions: Sequence[str], encoding: str = "rgb8",
                  stamps_ns: Sequence[Sequence[int]] | None = None, packed: bool = False) -> QueryReward.Request:
    """RGB uint8 clips -> a QueryReward request (frames oldest first, optional per-frame stamps).

    `packed`: each clip as ONE rgb8 Image of its frames stacked top to bottom (`Clip.packed_frames`),
    the compact form: one message per clip to build, serialise and decode instead of one per frame.
    Only nodes that advertise their model input understand it (`RewardClient` checks).
    """
    if isinstance(clips, np.ndarray):
        if clips.ndim != 5:
            raise InputError(f"clips must be [B, T, H, W, 3], got shape {clips.shape}")
        clips = list(clips)
    request = QueryReward.Request(instructions=list(instructions))
    for c, frames in enumerate(clips):
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise InputError(f"clip {c} must be [T, H, W, 3], got shape {frames.shape}")
        if packed and encoding == "rgb8":
            t, h, w = frames.shape[:3]
            stacked = rgb_frames_to_image_msgs(frames.reshape(1, t * h, w, frames.shape[3]), encoding)
            msg = Clip(frames=stacked, packed_frames=t)
        else:
            msg = Clip(frames=rgb_frames_to_image_msgs(frames, encoding))
        if stamps_ns is not None:
            msg.stamps = [ns_to_stamp(s) for s in stamps_ns[c]]
        request.clips.append(msg)
    return request


def result_from_response(response: QueryReward.Response) -> RewardResult:
    """A response -> RewardResult; RewardQueryError for a non-OK status."""
    if response.status != QueryReward.Response.STATUS_OK:
        raise RewardQueryError(response.status, response.message)
    shape = (response.num_clips, response.num_instructions)
    return RewardResult(
        rewards=np.asarray(response.rewards, dtype=np.float32).reshape(shape),
        success_probabilities=np.asarray(response.success_probabilities, dtype=np.float32).reshape(shape),
        most_likely_failure_modes=np.asarray(response.most_likely_failure_modes, dtype=np.int32).reshape(shape),
        inference_latency_ms=float(response.inference_latency_ms),
        resolved_tasks=list(response.resolved_tasks),
    )


class RewardClient:
    """Client of a reward node's `a2r/query_reward` service (relative to `node`'s namespace)."""

    def __init__(self, node: Node, service: str = "a2r/query_reward", encoding: str = "rgb8",
                 cut_to_model_input: bool = True) -> None:
        self.node = node
        self.encoding = encoding
        self.cut_to_model_input = cut_to_model_input
        self.model_input: tuple[int, int] | None = None  # (num_frames, image_size) once the service said
        self._client = node.create_client(QueryReward, service)

    def wait_for_service(self, timeout_sec: float = 10.0) -> bool:
        return self._client.wait_for_service(timeout_sec=timeout_sec)

    def _request(self, clips: Any, instructions: Sequence[str],
                 stamps_ns: Sequence[Sequence[int]] | None) -> QueryReward.Request:
        """The request for `clips`, cut to the model's input when known (stamps then follow the
        kept frames; they do not change the scores, only the node's checks)."""
        if self.cut_to_model_input and self.model_input is not None and self.encoding == "rgb8":
            frames, size = self.model_input
            clips = [np.asarray(c) for c in clips] if not isinstance(clips, np.ndarray) else clips
            if stamps_ns is not None:
                stamps_ns = [[s[i] for i in clip_indices(len(s), frames)] if len(s) > frames else s
                             for s in stamps_ns]
            clips = model_input(clips, frames, size) if isinstance(clips, np.ndarray) else \
                [model_input(c, frames, size) for c in clips]
        return build_request(clips, instructions, self.encoding, stamps_ns, packed=self.model_input is not None)

    def _remember_model_input(self, response: QueryReward.Response) -> None:
        if response.model_num_frames and response.model_image_size:
            self.model_input = (int(response.model_num_frames), int(response.model_image_size))
        else:  # a node that does not advertise its input: send frames as given from now on
            self.cut_to_model_input = False

    def score_async(self, clips: Any, instructions: Sequence[str],
                    stamps_ns: Sequence[Sequence[int]] | None = None) -> Future:
        """Send the request; the returned rclpy Future resolves to a RewardResult (or holds a
        RewardQueryError as its exception). Await it in an rclpy coroutine callback or poll done().
        The first call asks the service for the model's input first (one small extra round trip)."""
        result = Future()

        def finish(done: Future) -> None:
            try:
                response = done.result()
                self._remember_model_input(response)
                result.set_result(result_from_response(response))
            except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
                result.set_exception(exc)

        def send() -> None:
            try:
                self._client.call_async(self._request(clips, instructions, stamps_ns)).add_done_callback(finish)
            except Exception as exc:  # noqa: BLE001 - a bad clip: handed to the caller
                result.set_exception(exc)

        if not self.cut_to_model_input or self.model_input is not None:
            send()
            return result

        def after_info(done: Future) -> None:
            try:
                self._remember_model_input(done.result())
            except Exception:  # noqa: BLE001 - no info: the scoring request goes out uncut
                self.cut_to_model_input = False
            send()

        self._client.call_async(QueryReward.Request()).add_done_callback(after_info)
        return result

    def score(self, clips: Any, instructions: Sequence[str], timeout_sec: float = 30.0,
              stamps_ns: Sequence[Sequence[int]] | None = None) -> RewardResult:
        """Blocking call. Spins `node` itself unless an executor already spins it."""
        if not self._client.service_is_ready() and not self.wait_for_service(timeout_sec):
            raise RewardQueryError(None, f"service {self._client.srv_name} is not available")
        future = self.score_async(clips, instructions, stamps_ns)
        if self.node.executor is None:
            executor = SingleThreadedExecutor(context=self.node.context)
            executor.add_node(self.node)
            try:
                executor.spin_until_future_complete(future, timeout_sec=timeout_sec)
            finally:
                executor.remove_node(self.node)
                executor.shutdown()
        else:
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            done.wait(timeout_sec)
        if not future.done():
            raise RewardQueryError(None, f"no answer from {self._client.srv_name} within {timeout_sec} s")
        return future.result()
