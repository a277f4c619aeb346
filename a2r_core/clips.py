"""The one clip construction of a2r: which frames of an attempt make the clip the reward sees.

Why one module: a reward is only as good as the match between the clips it was trained on and the
clips it is asked about. The trainer's clips (whole episodes, their prefixes and rewound copies),
the planner's candidate clips (the frames executed so far followed by a candidate future) and the
model's own frame sampling all go through `clip_indices`, so training and use cannot drift apart.
(The live node's `ClipBuffer` applies the same rule in stamp time: evenly spaced instants between
its window's oldest and newest stamps, the nearest frame to each; for a steady camera that is this
rule.)

The rule: `num_frames` indices evenly spaced over the available frames, the first and the last
always kept (a reward model judges progress from where the attempt started to where it is now),
rounded to the nearest frame; fewer frames than `num_frames` repeat frames.

Why prefixes and rewound clips: a planner compares partial attempts (history + a short future), not
finished episodes. `prefix_clip` cuts a success episode at an earlier frame: the attempt so far,
which should score lower than a later cut of the same episode. `rewound_clip` plays an episode
forward and then backwards (ReWiND, Zhang et al. 2025): it looks like an attempt that undid its own
progress, which should score below the cut it was rewound from.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from a2r_core.errors import InputError


def clip_indices(num_available: int, num_frames: Optional[int]) -> np.ndarray:
    """Indices (int64 [num_frames]) of the frames that make a clip of `num_available` frames:
    evenly spaced, first and last kept; all of them when `num_frames` is None. One frame asked
    for: the newest."""
    if num_available < 1:
        raise InputError(f"a clip needs at least 1 frame, got {num_available}")
    if num_frames is None:
        return np.arange(num_available, dtype=np.int64)
    if num_frames < 1:
        raise InputError(f"num_frames must be >= 1 or None, got {num_frames}")
    if num_frames == 1:
        return np.array([num_available - 1], dtype=np.int64)
    return np.round(np.linspace(0, num_available - 1, num_frames)).astype(np.int64)


def thin(frames: np.ndarray, num_frames: Optional[int], axis: int = -4) -> np.ndarray:
    """`frames` [..., T, H, W, C] thinned along `axis` to at most `num_frames` by `clip_indices`
    (returned unchanged when they have no more than that: repeating a short clip's frames is left
    to the model, whose preprocessing applies the same rule)."""
    t = frames.shape[axis]
    if num_frames is None or t <= num_frames:
        return frames
    return np.take(frames, clip_indices(t, num_frames), axis=axis)


def prefix_clip(frames: np.ndarray, end: int, num_frames: Optional[int]) -> np.ndarray:
    """The attempt up to and including frame `end` of `frames` [T, H, W, C], thinned."""
    if not 0 <= end < len(frames):
        raise InputError(f"prefix end {end} outside a clip of {len(frames)} frames")
    return thin(frames[: end + 1], num_frames)


def rewound_clip(frames: np.ndarray, end: int, back_to: int, num_frames: Optional[int]) -> np.ndarray:
    """Frames 0..`end` forward, then back down to `back_to` (< end), thinned: an attempt that
    reached frame `end` and then undid its progress to where it was at `back_to`."""
    if not 0 <= back_to < end < len(frames):
        raise InputError(f"rewind needs 0 <= back_to < end < {len(frames)}, got back_to={back_to}, end={end}")
    forward = frames[: end + 1]
    backward = frames[back_to:end][::-1]
    return thin(np.concatenate([forward, backward]), num_frames)


def _kept(total: int, num_frames: Optional[int]) -> np.ndarray:
    """Indices a clip of `total` frames keeps: thinned when longer than `num_frames`, else all
    (repeating short clips' frames is left to the model, which applies `clip_indices` itself)."""
    return clip_indices(total, num_frames if num_frames is not None and total > num_frames else None)


def candidate_future_steps(history: int, horizon: int, num_frames: Optional[int]) -> np.ndarray:
    """Which of a candidate's `horizon` future frames survive thinning when the clip is
    `history` frames executed so far followed by the future (indices into the future, sorted,
    unique). A planner renders only these: with a long history most future frames are thinned away,
    and rendering is what a candidate costs."""
    if history < 0 or horizon < 1:
        raise InputError(f"candidate clip needs history >= 0 and horizon >= 1, got {history}, {horizon}")
    idx = _kept(history + horizon, num_frames)
    return np.unique(idx[idx >= history] - history)


def candidate_clip(history: np.ndarray, future: np.ndarray, future_steps: np.ndarray, horizon: int,
                   num_frames: Optional[int]) -> np.ndarray:
    """The clip of one candidate: `history` [C, H, W, 3] followed by a future of `horizon` frames
    of which those at `future_steps` were rendered (`future` [len(future_steps), H, W, 3], steps
    from `candidate_future_steps`), thinned as `clip_indices` says. Batches work the same with the
    history shared: future [N, k, H, W, 3] gives clips [N, T, H, W, 3]."""
    c = history.shape[0]
    idx = _kept(c + horizon, num_frames)
    where = {int(s): k for k, s in enumerate(future_steps)}
    batched = future.ndim == history.ndim + 1
    parts = []
    for i in idx:
        if i < c:
            frame = history[i]
            parts.append(np.broadcast_to(frame, (future.shape[0], *frame.shape)) if batched else frame)
        else:
            k = where.get(int(i - c))
            if k is None:
                raise InputError(f"candidate_clip: future frame {int(i - c)} was not rendered")
            parts.append(future[:, k] if batched else future[k])
    return np.stack(parts, axis=1 if batched else 0)


def model_input(frames: np.ndarray, num_frames: int, image_size: int) -> np.ndarray:
    """A uint8 clip [T, H, W, 3] (or a batch [..., T, H, W, 3]) cut down to what the model looks
    at: thinned to `num_frames` by `clip_indices`, and shrunk to `image_size` by
    `a2r_core.images.resize_frames` (the model's own filter) where both sides are larger.

    Why here: `RewardModel.score` does exactly this before its forward pass, so a client that sends
    `model_input(clip)` instead of the camera's full-size frames gets the same scores bit for bit
    while sending (and the service decoding) up to 100x fewer bytes; `RewardClient` does it with
    the size the service advertises. Frames smaller than the model are left to the model's float
    preprocessing, and clips with fewer frames to the model's own frame repetition.
    """
    from a2r_core.images import resize_frames

    return resize_frames(thin(frames, num_frames), image_size)


__all__ = ["candidate_clip", "candidate_future_steps", "clip_indices", "model_input", "prefix_clip", "rewound_clip",
           "thin"]
