"""The `a2r/query_reward` service's request handling: limits, decoding, scoring, the answer.

Why apart from the node: it does not depend on the node's life (subscriptions, worker, lifecycle),
only on the limits, the model's input and a scoring function, so it is tested and timed on its
own, and the node's `_on_query` is one call.

Where the time of a request goes (docs/performance.md, "Query service"): building the request on
the client, serialising it, the transport, deserialising, decoding frames to numpy, resizing, the
model. All but the model grow with the bytes a request carries, so the service advertises the
model's input (`model_num_frames`, `model_image_size` in every answer; an empty request is an
"info" request) and `RewardClient` sends clips already cut to it (`a2r_core.clips.model_input`,
the same cut `RewardModel.score` makes: same scores, up to 100x fewer bytes). Clients that send
camera-size frames (e.g. `ros2 service call`) still work: the model cuts them as before.
"""

from __future__ import annotations

import array
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from a2r_core.errors import InputError
from a2r_core.instructions import InstructionLimitError, check_instructions
from a2r_ros.image_conversion import image_msg_to_rgb, stamp_to_ns
from a2r_ros.srv import QueryReward

OK = QueryReward.Response.STATUS_OK
INVALID = QueryReward.Response.STATUS_INVALID_REQUEST
TOO_LARGE = QueryReward.Response.STATUS_TOO_LARGE
MODEL_ERROR = QueryReward.Response.STATUS_MODEL_ERROR
NOT_READY = QueryReward.Response.STATUS_NOT_READY


class QueryRejected(Exception):
    """A request refused before scoring: `status` is the response code, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class QueryLimits:
    """The node's request limits (its `max_query_*` / `max_frame_pixels` parameters)."""

    max_query_clips: int
    max_query_instructions: int
    max_query_frames: int
    max_frame_pixels: int

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "QueryLimits":
        return cls(**{name: int(params[name]) for name in cls.__dataclass_fields__})


def is_info_request(request: QueryReward.Request) -> bool:
    """No instructions and no clips: the client asks only for the model's input."""
    return not request.instructions and not request.clips


def _check_stamps(clip: Any, index: int, n: int) -> None:
    if clip.stamps and len(clip.stamps) != n:
        raise QueryRejected(INVALID, f"clip {index} has {n} frames but {len(clip.stamps)} stamps")
    if clip.stamps:
        ns = np.array([stamp_to_ns(s) for s in clip.stamps], dtype=np.int64)
        if np.any(np.diff(ns) < 0):
            raise QueryRejected(INVALID, f"clip {index}: stamps go backwards (frames must be oldest first)")


def _decode_packed(clip: Any, index: int, limits: QueryLimits) -> np.ndarray:
    """The compact form (`Clip.packed_frames` = N): one Image of N frames stacked top to bottom."""
    n = int(clip.packed_frames)
    if len(clip.frames) != 1:
        raise QueryRejected(INVALID, f"clip {index} is packed ({n} frames) but holds {len(clip.frames)} images, not 1")
    if n > limits.max_query_frames:
        raise QueryRejected(TOO_LARGE, f"clip {index} has {n} frames, max_query_frames is {limits.max_query_frames}")
    image = clip.frames[0]
    if int(image.height) % n:
        raise QueryRejected(INVALID, f"clip {index} is packed: image height {image.height} is not a multiple of "
                                     f"its {n} frames")
    height = int(image.height) // n
    if height * int(image.width) > limits.max_frame_pixels:
        raise QueryRejected(TOO_LARGE, f"clip {index} frame 0 is {image.width}x{height}, "
                                       f"max_frame_pixels is {limits.max_frame_pixels}")
    _check_stamps(clip, index, n)
    try:
        stacked = image_msg_to_rgb(image)
    except InputError as exc:
        raise QueryRejected(INVALID, f"clip {index} (packed): {exc}") from None
    return stacked.reshape(n, height, stacked.shape[1], 3)


def decode_clip(clip: Any, index: int, limits: QueryLimits) -> np.ndarray:
    """One `a2r_ros/Clip` (one Image per frame, or packed) -> RGB uint8 [T, H, W, 3], or
    QueryRejected saying what is wrong."""
    if clip.packed_frames:
        return _decode_packed(clip, index, limits)
    n = len(clip.frames)
    if n == 0:
        raise QueryRejected(INVALID, f"clip {index} has no frames")
    if n > limits.max_query_frames:
        raise QueryRejected(TOO_LARGE, f"clip {index} has {n} frames, max_query_frames is {limits.max_query_frames}")
    _check_stamps(clip, index, n)
    first = clip.frames[0]
    out: np.ndarray | None = None
    for f, frame in enumerate(clip.frames):
        if int(frame.height) * int(frame.width) > limits.max_frame_pixels:
            raise QueryRejected(TOO_LARGE, f"clip {index} frame {f} is {frame.width}x{frame.height}, "
                                           f"max_frame_pixels is {limits.max_frame_pixels}")
        try:
            rgb = image_msg_to_rgb(frame)
        except InputError as exc:
            raise QueryRejected(INVALID, f"clip {index} frame {f}: {exc}") from None
        if out is None:  # one contiguous buffer per clip, filled frame by frame: no second stack copy
            out = np.empty((n, *rgb.shape), dtype=np.uint8)
        elif rgb.shape != out.shape[1:]:
            raise QueryRejected(INVALID, f"clip {index} mixes frame sizes {first.width}x{first.height} and "
                                         f"{frame.width}x{frame.height}")
        out[f] = rgb
    assert out is not None
    return out


def decode_query(request: QueryReward.Request, limits: QueryLimits) -> tuple[list[np.ndarray], list[str]]:
    """Check a scoring request against the limits and decode its frames -> (clips, instructions);
    QueryRejected when it cannot be scored. Instructions go through the one instruction check."""
    if not request.instructions:
        raise QueryRejected(INVALID, "no instructions given; give at least one non-empty instruction")
    if not request.clips:
        raise QueryRejected(INVALID, "no clips")
    try:
        instructions = check_instructions(list(request.instructions), limits.max_query_instructions,
                                          "max_query_instructions")
    except InstructionLimitError as exc:
        raise QueryRejected(TOO_LARGE, str(exc)) from None
    except InputError as exc:
        raise QueryRejected(INVALID, str(exc)) from None
    if len(request.clips) > limits.max_query_clips:
        raise QueryRejected(TOO_LARGE, f"{len(request.clips)} clips, max_query_clips is {limits.max_query_clips}")
    return [decode_clip(clip, c, limits) for c, clip in enumerate(request.clips)], instructions


ScoreFn = Callable[[Sequence[np.ndarray], Sequence[str]], tuple[Any, float]]


def answer_query(request: QueryReward.Request, response: QueryReward.Response, limits: QueryLimits,
                 score: ScoreFn | None, model_input: tuple[int, int] | None) -> tuple[QueryReward.Response, str]:
    """Fill `response` for `request` -> (response, outcome).

    `score(clips, instructions) -> (RewardOutput, latency_ms)` is the node's timed
    `RewardModel.score`; None (with `model_input` None) when no model is loaded: STATUS_NOT_READY.
    `model_input` is (num_frames, image_size). The outcome ("ok", "info", "rejected", "not_ready",
    "model_error", "non_finite") is for the node's counters and logs; `response.message` says why.
    """
    if model_input is not None:
        response.model_num_frames, response.model_image_size = (int(v) for v in model_input)
    if score is None or model_input is None:
        response.status, response.message = NOT_READY, "no model is loaded (the node is not configured and active)"
        return response, "not_ready"
    if is_info_request(request):
        response.status = OK
        return response, "info"
    try:
        clips, instructions = decode_query(request, limits)
        out, latency_ms = score(clips, instructions)
    except QueryRejected as exc:
        response.status, response.message = exc.status, str(exc)
        return response, "rejected"
    except InputError as exc:
        response.status, response.message = INVALID, str(exc)
        return response, "rejected"
    except Exception as exc:  # noqa: BLE001 - a service must answer, whatever the model does
        response.status, response.message = MODEL_ERROR, f"{type(exc).__name__}: {exc}"
        return response, "model_error"
    if not (np.isfinite(out.reward).all() and np.isfinite(out.success_prob).all()):
        response.status, response.message = MODEL_ERROR, "the model returned non-finite scores"
        return response, "non_finite"
    response.status = OK
    response.num_clips, response.num_instructions = len(clips), len(instructions)
    response.rewards = array.array("f", out.reward.astype(np.float32).tobytes())
    response.success_probabilities = array.array("f", out.success_prob.astype(np.float32).tobytes())
    response.most_likely_failure_modes = array.array("i", out.most_likely_failure_mode.astype(np.int32).tobytes())
    response.resolved_tasks = [task or "" for task in out.resolved_tasks]
    response.inference_latency_ms = float(latency_ms)
    return response, "ok"


__all__ = ["QueryLimits", "QueryRejected", "answer_query", "decode_clip", "decode_query", "is_info_request"]
