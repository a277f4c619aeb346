"""FrameMonitor: received frames against the rate the header stamps imply, gaps, staleness.

Streams are simulated with explicit stamps and arrival times (no clock, no sleeping): a 30 Hz
camera whose frames are all delivered, randomly lost, lost by design, jittered, stopped.
"""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.errors import ConfigError
from a2r_core.frame_monitor import LOSING, NO_INPUT, OK, STALE, WAITING, FrameMonitor, FrameMonitorConfig

HZ = 30.0
PERIOD_NS = int(1e9 / HZ)
T0_NS = 1_000 * 1_000_000_000


def _feed(monitor: FrameMonitor, keep: np.ndarray, seconds: float = 4.0, jitter: np.ndarray | None = None,
          start_s: float = 0.0) -> float:
    """Frames of a 30 Hz camera for `seconds`; frame i is delivered where keep[i]. The timer's
    status() runs every 0.25 s as in the node. Returns the arrival time of the last frame."""
    count = int(seconds * HZ)
    now = start_s
    for i in range(count):
        now = start_s + i / HZ
        if keep[i]:
            offset = int(jitter[i]) if jitter is not None else 0
            monitor.record(T0_NS + i * PERIOD_NS + offset, now)
        if i % 8 == 0:
            monitor.status(now)
    return now


def test_a_full_stream_is_ok_at_the_camera_rate() -> None:
    monitor = FrameMonitor()
    monitor.start(0.0)
    last = _feed(monitor, np.ones(120, bool))
    status = monitor.status(last + 0.01)
    assert status.state == OK and not status.problem
    assert status.stamp_rate_hz == pytest.approx(HZ, rel=1e-3)
    assert status.received_ratio == pytest.approx(1.0)
    assert status.received_rate_hz == pytest.approx(HZ, rel=0.05)
    assert status.frames_received == 120 and status.stamp_gaps == 0


@pytest.mark.parametrize("kept", [0.5, 0.1])
def test_random_loss_is_reported_with_the_fraction_that_arrived(kept: float) -> None:
    keep = np.random.default_rng(3).random(300) < kept
    monitor = FrameMonitor()
    monitor.start(0.0)
    last = _feed(monitor, keep, seconds=10.0)
    status = monitor.status(last + 0.01)
    assert status.state == LOSING and status.problem
    assert status.received_ratio < 0.8
    assert "losing camera frames" in status.message and "%" in status.message
    # the gaps are whole multiples of the period, so the camera rate is found even when most
    # frames are lost (the median gap then spans several periods)
    assert status.stamp_rate_hz == pytest.approx(HZ, rel=1e-3)
    assert status.received_ratio == pytest.approx(kept, abs=0.2)


def test_decimation_by_design_needs_the_known_camera_rate() -> None:
    keep = np.arange(120) % 3 == 0  # every third frame: looks like a 10 Hz camera
    plain = FrameMonitor()
    _feed(plain, keep)
    assert plain.status(4.0).state == OK and plain.status(4.0).stamp_rate_hz == pytest.approx(10.0, rel=1e-3)
    known = FrameMonitor(FrameMonitorConfig(expected_rate_hz=HZ))
    _feed(known, keep)
    status = known.status(4.0)
    assert status.state == LOSING and status.received_ratio == pytest.approx(1 / 3, abs=0.05)


@pytest.mark.parametrize("amplitude", [0.05, 0.3])
def test_jittery_stamps_without_loss_are_never_reported_as_loss(amplitude: float) -> None:
    """Stamp jitter of +-5 % and +-30 % of the period, 20 streams of 10 s each, judged every 8
    frames (as the node's timer does): no false alarm (the period estimate's chance fits)."""
    for seed in range(20):
        jitter = np.random.default_rng(seed).uniform(-amplitude, amplitude, size=300) * PERIOD_NS
        monitor = FrameMonitor()
        count = 300
        for i in range(count):
            monitor.record(T0_NS + i * PERIOD_NS + int(jitter[i]), i / HZ)
            if i % 8 == 0:
                assert monitor.status(i / HZ).state in (OK, WAITING), (seed, i, monitor.status(i / HZ).message)
        assert monitor.status(count / HZ).stamp_rate_hz == pytest.approx(HZ, rel=0.05)


def test_stale_after_the_input_stops_and_no_input_before_the_first_frame() -> None:
    monitor = FrameMonitor(FrameMonitorConfig(stale_after_s=1.0))
    monitor.start(0.0)
    assert monitor.status(0.5).state == WAITING
    status = monitor.status(1.5)
    assert status.state == NO_INPUT and status.problem and "no camera frame" in status.message
    last = _feed(monitor, np.ones(60, bool), seconds=2.0, start_s=2.0)
    assert monitor.status(last + 0.5).state == OK
    status = monitor.status(last + 1.2)
    assert status.state == STALE and status.since_last_frame_s == pytest.approx(1.2)
    assert "no frame for 1.2 s" in status.message


def test_stamp_gaps_are_counted_and_a_restart_starts_a_new_series() -> None:
    monitor = FrameMonitor()
    for i in range(30):
        monitor.record(T0_NS + i * PERIOD_NS, i / HZ)
    monitor.status(1.0)  # the period estimate (the node's timer)
    monitor.record(T0_NS + 60 * PERIOD_NS, 1.01)  # 1 s of frames missing
    status = monitor.status(1.02)
    assert status.stamp_gaps == 1 and status.largest_gap_s == pytest.approx(31 / HZ, rel=1e-3)
    # a bag restarting 10 s back: history starts again, no loss claimed across the jump
    for i in range(60):
        monitor.record(T0_NS - 10 * 1_000_000_000 + i * PERIOD_NS, 1.1 + i / HZ)
    status = monitor.status(1.1 + 60 / HZ)
    assert status.state == OK and status.received_ratio == pytest.approx(1.0)


def test_a_forward_jump_of_the_stamps_is_a_gap_not_a_stretch_of_lost_frames() -> None:
    """A simulator bridge adds episode_gap_s (10 s) to its clock at every reset."""
    monitor = FrameMonitor()
    last = _feed(monitor, np.ones(60, bool), seconds=2.0)
    for i in range(3):  # the first frames of the next episode
        monitor.record(T0_NS + 59 * PERIOD_NS + 10 * 1_000_000_000 + i * PERIOD_NS, last + (i + 1) / HZ)
    status = monitor.status(last + 4 / HZ)
    assert status.state == OK, status.message
    assert status.stamp_gaps == 1 and status.largest_gap_s == pytest.approx(10.0, abs=0.01)


def test_bad_thresholds_are_config_errors() -> None:
    for kwargs in ({"stale_after_s": 0.0}, {"loss_warn_ratio": 1.5}, {"window_s": 0.0},
                   {"expected_rate_hz": -1.0}, {"gap_factor": 1.0}, {"min_frames": 2}):
        with pytest.raises(ConfigError, match="frame monitor"):
            FrameMonitorConfig(**kwargs)
