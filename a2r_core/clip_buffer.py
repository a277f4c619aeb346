"""Stamped camera frames -> clips for the reward model: the ONE clip buffer of a2r.

The live reward node (a2r_ros.reward_node) and offline bag scoring both feed frames through a
`ClipBuffer`, so the same frames with the same stamps give the same clips, and so the same rewards,
whether they come from a camera or from a recorded bag.

Everything is driven by the frames' header stamps, never by arrival order or wall time:

- frames are kept sorted by stamp, so a frame arriving out of order lands in its place;
- the window is the newest `window_s` seconds and/or the newest `window_frames` frames;
- clips are due on a fixed grid in stamp time: the first when the window holds `min_frames`
  frames, then one each time the newest stamp reaches the next grid point (previous due time +
  `stride_s`, NOT the frame that triggered the last clip + `stride_s`), so the mean clip rate is
  exactly 1/stride_s for any camera faster than that (a 30 Hz camera at stride 0.25 s gives
  4.0 clips/s, not the 3.75 that rounding the period up to whole frames gave). A frame late by
  less than a stride still serves its grid point (stamp jitter costs no clips); when the newest
  stamp is a whole stride or more past the next grid point (a pause in the stamps, or a camera
  slower than the rate) the grid is re-anchored at that frame: never a burst of catch-up clips.
  With `stride_frames` a clip is emitted every that many arrived frames instead;
- a clip's frames are picked at `num_frames` instants evenly spaced between the window's oldest
  and newest stamps (the nearest frame to each), so a camera with jittery or dropped frames still
  gives clips that span the same time;
- a stamp jumping backwards by more than `reset_backwards_s` (a bag restarting, a simulator reset)
  clears the buffer and the grid (the next clip re-anchors it); a frame of a different size than
  the buffered ones clears them too (the camera changed resolution: one clip must have one frame
  size);
- at most `max_frames` frames are held (the oldest go first): memory is bounded whatever the rate.

Pure Python + numpy, no ROS import.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from a2r_core.errors import ConfigError, InputError

NS_PER_S = 1_000_000_000
# Grid comparisons tolerate this much stamp jitter, so a 0.5 s stride over 30 Hz stamps
# (15 frames = 0.499999995 s) emits every 15 frames rather than every 16.
STRIDE_TOLERANCE_NS = 1_000_000


@dataclass
class ClipBufferConfig:
    """How frames are windowed and sampled into clips (see the module docstring)."""

    num_frames: int = 8            # T: frames per emitted clip (fewer while the buffer fills)
    window_s: float = 2.0          # window duration in seconds of stamp time (0: no duration limit)
    window_frames: int = 0         # window length in frames (0: no count limit)
    stride_s: float = 0.5          # stamp time between emitted clips (used when stride_frames == 0)
    stride_frames: int = 0         # frames between emitted clips (0: use stride_s)
    min_frames: int = 2            # no clip until the window holds this many frames
    max_frames: int = 300          # hard bound on buffered frames (memory)
    reset_backwards_s: float = 1.0  # a stamp this far behind the newest clears the buffer

    def __post_init__(self) -> None:
        def need(cond: bool, message: str) -> None:
            if not cond:
                raise ConfigError(f"clip buffer: {message}")

        need(isinstance(self.num_frames, int) and self.num_frames >= 1, f"num_frames must be >= 1, got {self.num_frames!r}")
        need(self.window_s >= 0 and np.isfinite(self.window_s), f"window_s must be finite and >= 0, got {self.window_s!r}")
        need(isinstance(self.window_frames, int) and self.window_frames >= 0, f"window_frames must be >= 0, got {self.window_frames!r}")
        need(self.window_s > 0 or self.window_frames > 0, "set window_s > 0 or window_frames > 0 (or both)")
        need(self.stride_s >= 0 and np.isfinite(self.stride_s), f"stride_s must be finite and >= 0, got {self.stride_s!r}")
        need(isinstance(self.stride_frames, int) and self.stride_frames >= 0, f"stride_frames must be >= 0, got {self.stride_frames!r}")
        need(isinstance(self.min_frames, int) and self.min_frames >= 1, f"min_frames must be >= 1, got {self.min_frames!r}")
        need(isinstance(self.max_frames, int) and self.max_frames >= self.min_frames,
             f"max_frames ({self.max_frames!r}) must be >= min_frames ({self.min_frames})")
        need(self.window_frames == 0 or self.window_frames >= self.min_frames,
             f"window_frames ({self.window_frames}) must be 0 or >= min_frames ({self.min_frames})")
        need(self.reset_backwards_s > 0 and np.isfinite(self.reset_backwards_s),
             f"reset_backwards_s must be > 0, got {self.reset_backwards_s!r}")


@dataclass
class Clip:
    """One clip ready for `RewardModel.score`: frames oldest first, with their stamps."""

    frames: np.ndarray     # uint8 [n, H, W, 3], contiguous (a copy: safe to hand to another thread)
    stamps_ns: np.ndarray  # int64 [n], non-decreasing
    frame_id: str = ""

    @property
    def start_ns(self) -> int:
        return int(self.stamps_ns[0])

    @property
    def end_ns(self) -> int:
        """The newest frame's stamp: what a reward for this clip is stamped with."""
        return int(self.stamps_ns[-1])

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class PushResult:
    """What one `push` did: maybe a clip, maybe an event worth a log line."""

    clip: Clip | None = None
    accepted: bool = True
    event: str | None = None   # e.g. "reset: stamp went back 3.200 s"


@dataclass
class ClipBufferStats:
    """Counters for diagnostics: everything the buffer refused or threw away."""

    pushed: int = 0
    late: int = 0              # older than the window: dropped
    duplicates: int = 0        # same stamp as a buffered frame: dropped
    evicted_max_frames: int = 0
    resets_backwards: int = 0
    resets_size: int = 0
    clips: int = 0
    reanchors: int = 0         # the newest stamp was past the next grid point: grid restarted there

    @property
    def dropped(self) -> int:
        return self.late + self.duplicates


class ClipBuffer:
    """Rolling, stamp-ordered window of frames that emits clips at a stamp-time stride.

    Not thread-safe: one producer pushes (the node's image callback, or the bag reader loop).
    """

    def __init__(self, config: ClipBufferConfig | None = None) -> None:
        self.config = config or ClipBufferConfig()
        self.stats = ClipBufferStats()
        self._stamps: list[int] = []
        self._frames: list[np.ndarray] = []
        self._shape: tuple[int, ...] | None = None
        self._next_due_ns: int | None = None  # the stamp-time grid point of the next clip
        self._emitted = False                 # a clip was cut since the last reset
        self._since_emit = 0
        self.frame_id = ""

    # -- state -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._frames)

    @property
    def newest_ns(self) -> int | None:
        return self._stamps[-1] if self._stamps else None

    @property
    def fill(self) -> float:
        """How full the window is, in [0, 1]: the fraction of `window_frames`, or of `window_s`
        covered by the buffered stamps (whichever limit is set; the larger when both are)."""
        cfg = self.config
        parts = []
        if cfg.window_frames:
            parts.append(len(self._frames) / cfg.window_frames)
        if cfg.window_s and len(self._stamps) >= 2:
            parts.append((self._stamps[-1] - self._stamps[0]) / (cfg.window_s * NS_PER_S))
        elif cfg.window_s:
            parts.append(0.0)
        return float(min(1.0, max(parts)))

    def reset(self) -> None:
        """Forget every frame and the clip grid (counters are kept)."""
        self._stamps.clear()
        self._frames.clear()
        self._shape = None
        self._next_due_ns = None
        self._emitted = False
        self._since_emit = 0

    # -- input -------------------------------------------------------------------------------
    def push(self, stamp_ns: int, frame: np.ndarray, frame_id: str = "") -> PushResult:
        """Add one RGB uint8 [H, W, 3] frame stamped `stamp_ns` (header stamp, nanoseconds).

        Returns the clip this frame completes, if any. Raises InputError for a frame that is not
        RGB uint8 [H, W, 3] (nothing is buffered then).
        """
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            desc = f"{frame.dtype} {tuple(frame.shape)}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise InputError(f"clip buffer: expected an RGB uint8 [H, W, 3] frame, got {desc}")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise InputError(f"clip buffer: zero-size frame {tuple(frame.shape)}")
        stamp_ns = int(stamp_ns)
        cfg = self.config
        self.stats.pushed += 1
        event = None

        if self._shape is not None and frame.shape != self._shape:
            event = f"reset: frame size changed from {self._shape[1]}x{self._shape[0]} to {frame.shape[1]}x{frame.shape[0]}"
            self.stats.resets_size += 1
            self.reset()
        newest = self.newest_ns
        if newest is not None and stamp_ns < newest - int(cfg.reset_backwards_s * NS_PER_S):
            event = f"reset: stamp went back {(newest - stamp_ns) / NS_PER_S:.3f} s"
            self.stats.resets_backwards += 1
            self.reset()
            newest = None

        if newest is not None and stamp_ns < newest:
            if cfg.window_s and stamp_ns < newest - int(cfg.window_s * NS_PER_S):
                self.stats.late += 1
                return PushResult(accepted=False, event="dropped: frame older than the window")
        index = bisect.bisect_left(self._stamps, stamp_ns)
        if index < len(self._stamps) and self._stamps[index] == stamp_ns:
            self.stats.duplicates += 1
            return PushResult(accepted=False, event="dropped: duplicate stamp")
        self._stamps.insert(index, stamp_ns)
        self._frames.insert(index, frame)
        self._shape = frame.shape
        self.frame_id = frame_id or self.frame_id
        self._since_emit += 1
        self._trim()
        return PushResult(clip=self._maybe_emit(), event=event)

    def _trim(self) -> None:
        """Drop frames outside the window and beyond the memory bound (oldest first)."""
        cfg = self.config
        drop = 0
        if cfg.window_s:
            start = self._stamps[-1] - int(cfg.window_s * NS_PER_S)
            drop = bisect.bisect_left(self._stamps, start)
        if cfg.window_frames:
            drop = max(drop, len(self._stamps) - cfg.window_frames)
        over = len(self._stamps) - drop - cfg.max_frames
        if over > 0:
            self.stats.evicted_max_frames += over
            drop += over
        if drop:
            del self._stamps[:drop]
            del self._frames[:drop]

    @property
    def next_due_ns(self) -> int | None:
        """The stamp at (or after) which the next clip is cut; None before the first clip or with
        `stride_frames` (clips by frame count)."""
        return None if self.config.stride_frames else self._next_due_ns

    def _maybe_emit(self) -> Clip | None:
        cfg = self.config
        if len(self._frames) < cfg.min_frames:
            return None
        newest = self._stamps[-1]
        if cfg.stride_frames:
            if self._emitted and self._since_emit < cfg.stride_frames:
                return None
        elif self._next_due_ns is not None and newest < self._next_due_ns - STRIDE_TOLERANCE_NS:
            return None
        clip = self.sample()
        self._emitted = True
        if not cfg.stride_frames:
            self._advance_grid(newest)
        self._since_emit = 0
        self.stats.clips += 1
        return clip

    def _advance_grid(self, newest: int) -> None:
        """After a clip: the next grid point is the previous one + stride (camera time keeps the
        mean rate exact). A frame late by less than a stride (jitter around a camera rate just
        above the clip rate) still serves its grid point, so the next frame may be due at once;
        when `newest` is a whole stride or more past the next point (a pause in the stamps, or a
        camera slower than the rate), the grid is re-anchored at `newest` + stride: at most one
        such catch-up clip, never a burst. The first clip anchors the grid."""
        stride = int(round(self.config.stride_s * NS_PER_S))
        if self._next_due_ns is None or stride == 0:  # stride 0: every frame makes a clip
            self._next_due_ns = newest + stride
            return
        self._next_due_ns += stride
        if newest >= self._next_due_ns + stride - STRIDE_TOLERANCE_NS:
            self._next_due_ns = newest + stride
            self.stats.reanchors += 1

    # -- output ------------------------------------------------------------------------------
    def sample(self) -> Clip | None:
        """The current window sampled to at most `num_frames` frames by stamp (None if empty).

        With n <= T frames buffered, all n are returned (the model's preprocessing resamples to
        its own T). Otherwise the frames nearest to T instants evenly spaced from the oldest to
        the newest stamp (ties go to the older frame), so the clip always starts at the oldest
        and ends at the newest frame.
        """
        n = len(self._frames)
        if n == 0:
            return None
        stamps = np.asarray(self._stamps, dtype=np.int64)
        if n <= self.config.num_frames:
            index = np.arange(n)
        else:
            targets = np.linspace(stamps[0], stamps[-1], self.config.num_frames)
            right = np.clip(np.searchsorted(stamps, targets, side="left"), 1, n - 1)
            left = right - 1
            nearer_left = (targets - stamps[left]) <= (stamps[right] - targets)
            index = np.where(nearer_left, left, right)
        frames = np.stack([self._frames[i] for i in index])  # the single copy of the pixels
        return Clip(frames=frames, stamps_ns=stamps[index], frame_id=self.frame_id)
