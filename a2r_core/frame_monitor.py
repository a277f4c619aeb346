"""Are camera frames missing? Received frames against the rate their header stamps imply.

Why: a camera in another process can lose most of its frames on the way (best-effort QoS over
UDP fragments, issue 15) and a reward node that simply gets fewer frames says nothing: its clips
hold 3 frames instead of 8, or none form at all. ROS 2 image headers carry no sequence number,
so the stamps are the evidence: a camera stamps every frame it captures, so over a stretch of
stamp time the camera's period tells how many frames there were, and the frames that arrived
tell how many made it.

- The camera period comes from the gaps between consecutive stamps (the last `history` of
  them). With no loss every gap is one period; a lost frame makes a gap a whole multiple of it.
  So the period is the median gap, or else the largest g/d (g: the smallest gap, d = 1, 2, ...),
  of which at least 90 % of the gaps are whole multiples (within 0.15 period), refined by least
  squares over them: the median while most frames arrive, g/d when most are lost and even the
  smallest gap spans several periods (tried from 20 gaps on: heavy loss is recognised once ~20
  frames have arrived; until then it shows as a low received rate, or as stale input). Stamps too jittery for that test (or too few gaps) give the median gap: jitter never
  raises a false alarm, it can only hide loss. A known camera rate (`expected_rate_hz`)
  replaces the estimate. A camera that drops every other frame by design is indistinguishable
  from one at half the rate; set `expected_rate_hz` to catch that.
- Loss: frames whose stamps lie in the newest `window_s` of stamp time (at least the newest
  `min_frames`, so sparse input is judged too, but never reaching across a stamp gap longer than
  `window_s`: a simulator reset or a paused camera is not loss), against the span of those stamps divided by the
  period (+1). Fewer than `loss_warn_ratio` of them: "losing" (judged once the period is known:
  a given rate, or more than LATTICE_MIN_GAPS gaps seen).
- Gaps: consecutive stamps more than `gap_factor` periods apart (counted, the largest reported).
- Stale: no frame arrived (arrival clock, e.g. time.monotonic()) for `stale_after_s`; before the
  first frame the state is "no_input" once `stale_after_s` has passed since `start()`.

Pure Python + numpy, no ROS import; thread-safe (the node's image callback records, a timer reads).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np

from a2r_core.errors import ConfigError

NS_PER_S = 1_000_000_000
OK, WAITING, NO_INPUT, LOSING, STALE = "ok", "waiting", "no_input", "losing", "stale"
# The period estimate (module docstring): gaps must be whole multiples of the period within
# LATTICE_TOLERANCE periods, for LATTICE_FIT of them; fewer than LATTICE_MIN_GAPS gaps, or no fit up
# to LATTICE_MAX_DIVISOR, give the median gap; the divisors of the smallest gap are tried from
# LATTICE_MIN_GAPS_DIVISORS gaps on. A jittery loss-free series then fits the median or nothing:
# the simulation in test_frame_monitor.py counts chance fits (false alarms) per 10 s stream.
LATTICE_TOLERANCE, LATTICE_FIT, LATTICE_MIN_GAPS, LATTICE_MAX_DIVISOR = 0.15, 0.9, 10, 32
LATTICE_MIN_GAPS_DIVISORS = 20


def _lattice_fit(gaps: np.ndarray, period: float, rounds: int = 3) -> tuple[float, float]:
    """(refined period, fraction of `gaps` that are whole multiples of it). Each round re-fits the
    period by least squares to the gaps that are multiples of the current one: a period taken
    from one jittered gap is a little off, and that error grows with the multiple, so the short
    multiples fix it first and the long ones then fit too."""
    fits = np.zeros(gaps.shape, dtype=bool)
    for _ in range(rounds):
        multiples = gaps / period
        whole = np.round(multiples)
        fits = (np.abs(multiples - whole) <= LATTICE_TOLERANCE) & (whole >= 1)
        if not fits.any():
            break
        period = float(gaps[fits].sum() / whole[fits].sum())
    multiples = gaps / period
    whole = np.round(multiples)
    fits = (np.abs(multiples - whole) <= LATTICE_TOLERANCE) & (whole >= 1)
    return period, float(fits.mean())


@dataclass(frozen=True)
class FrameMonitorConfig:
    """Thresholds of the checks (see the module docstring)."""

    stale_after_s: float = 1.0
    loss_warn_ratio: float = 0.8
    window_s: float = 2.0
    expected_rate_hz: float = 0.0     # 0: estimate the camera period from the stamps
    gap_factor: float = 2.5
    history: int = 300                # stamp gaps kept for the period estimate
    min_frames: int = 4               # the loss window holds at least this many frames (if there are)
    reset_backwards_s: float = 1.0    # a stamp this far back (a bag restart) starts afresh

    def __post_init__(self) -> None:
        checks = [
            (self.stale_after_s > 0, f"stale_after_s must be > 0, got {self.stale_after_s!r}"),
            (0.0 <= self.loss_warn_ratio <= 1.0, f"loss_warn_ratio must be in [0, 1], got {self.loss_warn_ratio!r}"),
            (self.window_s > 0, f"window_s must be > 0, got {self.window_s!r}"),
            (self.expected_rate_hz >= 0, f"expected_rate_hz must be >= 0, got {self.expected_rate_hz!r}"),
            (self.gap_factor > 1, f"gap_factor must be > 1, got {self.gap_factor!r}"),
            (self.history >= 2, f"history must be >= 2, got {self.history!r}"),
            (self.min_frames >= 3, f"min_frames must be >= 3, got {self.min_frames!r}"),
            (self.reset_backwards_s > 0, f"reset_backwards_s must be > 0, got {self.reset_backwards_s!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"frame monitor: {message}")


@dataclass(frozen=True)
class FrameStatus:
    """One verdict on the input (what the node logs and puts in its diagnostics)."""

    state: str                      # ok | waiting | no_input | losing | stale
    message: str                    # one line for a log or a DiagnosticStatus
    frames_received: int            # since start
    frames_in_window: int           # stamps in the newest window_s of stamp time (>= min_frames)
    frames_expected: float          # what the stamps imply for that window (nan: unknown yet)
    received_ratio: float           # frames_in_window / frames_expected (nan: unknown yet)
    stamp_rate_hz: float            # the camera rate the stamps imply (nan: unknown yet)
    received_rate_hz: float         # frames that ARRIVED per second over the last window_s
    stamp_gaps: int                 # gaps of more than gap_factor periods, since start
    largest_gap_s: float            # the largest stamp gap, since start
    since_last_frame_s: float       # arrival time since the newest frame (or since start)

    @property
    def problem(self) -> bool:
        return self.state in (NO_INPUT, LOSING, STALE)


class FrameMonitor:
    """Counts what arrives and judges it (see the module docstring)."""

    def __init__(self, config: FrameMonitorConfig | None = None) -> None:
        self.config = config or FrameMonitorConfig()
        self._lock = threading.Lock()
        self._stamps: collections.deque[int] = collections.deque(maxlen=self.config.history + 1)
        self._arrivals: collections.deque[float] = collections.deque()
        self._started_s: float | None = None
        self._last_arrival_s: float | None = None
        self._received = 0
        self._gaps = 0
        self._largest_gap_ns = 0
        self._newest_ns: int | None = None
        self._period_ns = 0.0  # the last estimate (status() refreshes it; record() only reads it)

    def start(self, now_s: float) -> None:
        """Input is expected from `now_s` on (the node subscribed): staleness counts from here."""
        with self._lock:
            self._started_s = now_s
            self._last_arrival_s = None

    def record(self, stamp_ns: int, now_s: float) -> None:
        """One frame arrived at `now_s` (arrival clock) with header stamp `stamp_ns`. Cheap: a
        couple of deque operations under a lock, fit for an image callback."""
        stamp_ns = int(stamp_ns)
        with self._lock:
            if self._started_s is None:
                self._started_s = now_s
            newest = self._newest_ns
            if newest is not None and stamp_ns < newest - int(self.config.reset_backwards_s * NS_PER_S):
                self._stamps.clear()  # stamps restarted (a bag loop, a simulator reset): new series
                newest = None
            if newest is not None and stamp_ns > newest:
                period = self._period_ns
                gap = stamp_ns - newest
                if period and gap > self.config.gap_factor * period:
                    self._gaps += 1
                    self._largest_gap_ns = max(self._largest_gap_ns, gap)
            self._stamps.append(stamp_ns)
            self._newest_ns = stamp_ns if newest is None else max(newest, stamp_ns)
            self._arrivals.append(now_s)
            self._last_arrival_s = now_s
            self._received += 1
            while self._arrivals and self._arrivals[0] < now_s - self.config.window_s:
                self._arrivals.popleft()

    def _estimate_period_ns(self, stamps: np.ndarray) -> float:
        """The camera period in ns from sorted unique stamps (0.0 while unknown)."""
        if self.config.expected_rate_hz > 0:
            return NS_PER_S / self.config.expected_rate_hz
        gaps = np.diff(stamps).astype(np.float64)
        if gaps.size < 2:
            return 0.0
        median = float(np.median(gaps))
        if gaps.size < LATTICE_MIN_GAPS:
            return median
        base = float(gaps[gaps >= median / 8].min())  # the smallest gap (two stamps ~together: a glitch)
        # The median first: with little loss it is the period, whatever the jitter on the smallest
        # gap. The divisors of the smallest gap only with more evidence (more chances of a chance fit).
        divisors = range(1, LATTICE_MAX_DIVISOR + 1) if gaps.size >= LATTICE_MIN_GAPS_DIVISORS else ()
        for candidate in (median, *(base / d for d in divisors)):
            period, fit = _lattice_fit(gaps, candidate)
            if fit >= LATTICE_FIT:
                return period
        return median

    def status(self, now_s: float) -> FrameStatus:
        """The verdict at `now_s` (arrival clock)."""
        cfg = self.config
        with self._lock:
            started = self._started_s if self._started_s is not None else now_s
            since = now_s - (self._last_arrival_s if self._last_arrival_s is not None else started)
            stamps = np.unique(np.fromiter(self._stamps, dtype=np.int64))  # sorted
            arrivals = sum(1 for t in self._arrivals if t >= now_s - cfg.window_s)
            received = self._received
        period = self._estimate_period_ns(stamps)
        with self._lock:
            self._period_ns = period
            gaps, largest = self._gaps, self._largest_gap_ns / NS_PER_S
        window_ns = int(cfg.window_s * NS_PER_S)
        first = int(np.searchsorted(stamps, stamps[-1] - window_ns)) if stamps.size else 0
        # sparse input: reach back to min_frames frames, but never across a gap longer than the
        # window (a simulator reset or a paused camera is not a stretch of lost frames)
        while first > 0 and stamps.size - first < cfg.min_frames and stamps[first] - stamps[first - 1] <= window_ns:
            first -= 1
        in_window = stamps[first:]
        n = int(in_window.size)
        expected = ratio = rate = float("nan")
        # A loss verdict needs a trustworthy period: a known rate, or LATTICE_MIN_GAPS gaps seen.
        trusted = cfg.expected_rate_hz > 0 or stamps.size > LATTICE_MIN_GAPS
        if period > 0:
            rate = NS_PER_S / period
            if n >= cfg.min_frames and trusted:
                expected = (int(in_window[-1]) - int(in_window[0])) / period + 1.0
                ratio = min(1.0, n / expected)
        received_hz = arrivals / cfg.window_s

        if received == 0:
            state = NO_INPUT if since > cfg.stale_after_s else WAITING
            message = (f"no camera frame in {since:.1f} s since start" if state == NO_INPUT
                       else "waiting for the first camera frame")
        elif since > cfg.stale_after_s:
            state, message = STALE, f"camera input stale: no frame for {since:.1f} s"
        elif np.isfinite(ratio) and ratio < cfg.loss_warn_ratio:
            state = LOSING
            span = (int(in_window[-1]) - int(in_window[0])) / NS_PER_S
            message = (f"losing camera frames: {n} of ~{expected:.0f} arrived over the last {span:.1f} s "
                       f"of stamps ({100 * ratio:.0f} %, stamps imply {rate:.1f} Hz, received {received_hz:.1f} Hz)")
        else:
            state = OK
            message = (f"receiving {received_hz:.1f} Hz of {rate:.1f} Hz stamped" if np.isfinite(ratio)
                       else f"receiving {received_hz:.1f} Hz (too few frames yet to compare with the stamps)")
        return FrameStatus(state=state, message=message, frames_received=received, frames_in_window=n,
                           frames_expected=expected, received_ratio=ratio, stamp_rate_hz=rate,
                           received_rate_hz=received_hz, stamp_gaps=gaps, largest_gap_s=largest,
                           since_last_frame_s=since)
