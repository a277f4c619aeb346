"""ClipBuffer: stamp-ordered windows, sampling by stamps, stride, resets and the memory bound."""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.clip_buffer import NS_PER_S, ClipBuffer, ClipBufferConfig
from a2r_core.errors import ConfigError, InputError

HZ30 = NS_PER_S // 30  # 33_333_333 ns: 30 Hz stamps do not divide a second exactly


def _frame(value: int, size: tuple[int, int] = (4, 6)) -> np.ndarray:
    """A frame whose pixels all equal `value` (mod 256), so a clip's frames identify themselves."""
    return np.full((*size, 3), value % 256, dtype=np.uint8)


def _feed(buffer: ClipBuffer, indices, period_ns: int = HZ30, t0: int = 10 * NS_PER_S):
    clips = []
    for i in indices:
        result = buffer.push(t0 + i * period_ns, _frame(i))
        if result.clip is not None:
            clips.append(result.clip)
    return clips


def test_stride_in_stamp_time_over_30hz_stamps() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=2.0, stride_s=0.5, min_frames=8))
    clips = _feed(buffer, range(120))  # 4 s of 30 Hz frames
    # first clip when 8 frames exist (frame 7), then every 15 frames (0.5 s) despite 33.33 ms stamps
    ends = [(c.end_ns - 10 * NS_PER_S) // HZ30 for c in clips]
    assert ends == list(range(7, 120, 15))
    for clip in clips:
        assert clip.frames.shape == (8, 4, 6, 3) and clip.frames.dtype == np.uint8
        assert clip.frames.flags.c_contiguous and clip.frames.flags.writeable
        # the clip ends at the newest frame and spans at most the window
        assert clip.frames[-1, 0, 0, 0] == (clip.end_ns - 10 * NS_PER_S) // HZ30 % 256
        assert clip.end_ns - clip.start_ns <= 2 * NS_PER_S
        assert np.all(np.diff(clip.stamps_ns) > 0)


def test_sampling_uses_stamps_not_arrival_order() -> None:
    """Frames arriving shuffled give exactly the clip of the same frames arriving in order."""
    cfg = ClipBufferConfig(num_frames=5, window_s=10.0, stride_frames=1000, min_frames=1, reset_backwards_s=5.0)
    order = np.random.default_rng(3).permutation(21)
    shuffled, ordered = ClipBuffer(cfg), ClipBuffer(cfg)
    _feed(shuffled, order, period_ns=NS_PER_S // 10)
    _feed(ordered, range(21), period_ns=NS_PER_S // 10)
    a, b = shuffled.sample(), ordered.sample()
    np.testing.assert_array_equal(a.stamps_ns, b.stamps_ns)
    np.testing.assert_array_equal(a.frames, b.frames)
    # 21 frames 0.1 s apart, 5 evenly spaced instants over 2 s -> frames 0, 5, 10, 15, 20
    assert a.frames[:, 0, 0, 0].tolist() == [0, 5, 10, 15, 20]


def test_sampling_picks_nearest_frames_when_the_camera_stutters() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=3, window_s=10.0, min_frames=1))
    for value, t in [(1, 0.0), (2, 0.1), (3, 0.2), (4, 1.9), (5, 2.0)]:
        buffer.push(int(t * NS_PER_S), _frame(value))
    clip = buffer.sample()
    # instants 0, 1.0, 2.0: 1.0 is nearer 0.2 (0.8 away) than 1.9 (0.9 away)
    assert clip.frames[:, 0, 0, 0].tolist() == [1, 3, 5]


def test_fewer_frames_than_T_are_all_returned() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=2.0, min_frames=3, stride_frames=1))
    clips = _feed(buffer, range(4))
    assert [c.num_frames for c in clips] == [3, 4]


def test_count_window_and_stride_in_frames() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=4, window_s=0.0, window_frames=10, stride_frames=5, min_frames=10))
    clips = _feed(buffer, range(40))
    assert [int(c.frames[-1, 0, 0, 0]) for c in clips] == [9, 14, 19, 24, 29, 34, 39]
    assert len(buffer) == 10
    # the window holds the newest 10 frames: 30..39, sampled at 30, 33, 36, 39
    assert clips[-1].frames[:, 0, 0, 0].tolist() == [30, 33, 36, 39]
    assert buffer.fill == 1.0


def test_duration_window_drops_old_frames_and_reports_fill() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=1.0, min_frames=2))
    _feed(buffer, range(15))  # 0.47 s of 30 Hz
    assert 0.4 < buffer.fill < 0.5
    _feed(buffer, range(15, 90))
    assert len(buffer) == 31  # 1 s of 30 Hz stamps, both ends included
    assert buffer.sample().end_ns - buffer.sample().start_ns <= NS_PER_S
    assert buffer.fill == pytest.approx(1.0, abs=1e-6)


def test_backwards_jump_resets_and_small_disorder_does_not() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=4, window_s=2.0, stride_frames=1, min_frames=2,
                                         reset_backwards_s=1.0))
    _feed(buffer, range(60))
    assert len(buffer) == 60
    late = buffer.push(10 * NS_PER_S + 50 * HZ30 + 1, _frame(200))  # 0.3 s behind: inserted in order
    assert late.accepted and late.event is None and buffer.stats.resets_backwards == 0
    restart = buffer.push(10 * NS_PER_S, _frame(7))  # the bag restarted
    assert restart.event.startswith("reset: stamp went back 1.9")
    assert buffer.stats.resets_backwards == 1 and len(buffer) == 1 and restart.clip is None
    clips = _feed(buffer, range(1, 4))
    assert clips and clips[0].start_ns == 10 * NS_PER_S  # nothing from before the restart


def test_frames_older_than_the_window_and_duplicates_are_dropped() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=4, window_s=0.5, min_frames=2, reset_backwards_s=5.0))
    _feed(buffer, range(60))
    before = len(buffer)
    old = buffer.push(10 * NS_PER_S + 10 * HZ30, _frame(1))  # 1.6 s behind, 0.5 s window
    dup = buffer.push(10 * NS_PER_S + 59 * HZ30, _frame(1))
    assert not old.accepted and not dup.accepted and len(buffer) == before
    assert buffer.stats.late == 1 and buffer.stats.duplicates == 1 and buffer.stats.dropped == 2


def test_frame_size_change_resets_so_a_clip_has_one_size() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=4, window_s=2.0, min_frames=2, stride_frames=1))
    _feed(buffer, range(5))
    result = buffer.push(10 * NS_PER_S + 5 * HZ30, _frame(5, size=(8, 8)))
    assert result.event.startswith("reset: frame size changed from 6x4 to 8x8")
    assert buffer.stats.resets_size == 1 and len(buffer) == 1
    result = buffer.push(10 * NS_PER_S + 6 * HZ30, _frame(6, size=(8, 8)))
    assert result.clip.frames.shape == (2, 8, 8, 3)


def test_memory_is_bounded_by_max_frames() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=1000.0, min_frames=2, max_frames=50))
    _feed(buffer, range(1000))
    assert len(buffer) == 50
    assert buffer.stats.evicted_max_frames == 950
    assert buffer.sample().frames[-1, 0, 0, 0] == 999 % 256


def test_bad_frames_and_bad_configs_are_refused() -> None:
    buffer = ClipBuffer()
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8), [1, 2]):
        with pytest.raises(InputError):
            buffer.push(0, bad)
    assert len(buffer) == 0
    for kwargs in ({"num_frames": 0}, {"window_s": 0.0, "window_frames": 0}, {"stride_s": -1.0},
                   {"max_frames": 1, "min_frames": 2}, {"window_s": float("nan")}, {"reset_backwards_s": 0.0}):
        with pytest.raises(ConfigError):
            ClipBufferConfig(**kwargs)


def _clip_ends(buffer: ClipBuffer, stamps_ns) -> list[int]:
    """Push one frame per stamp; the end stamps of the clips that come out."""
    ends = []
    for i, stamp in enumerate(stamps_ns):
        clip = buffer.push(int(stamp), _frame(i)).clip
        if clip is not None:
            ends.append(clip.end_ns)
    return ends


def test_30hz_at_4hz_gives_exactly_40_clips_in_10_s_on_a_fixed_camera_time_grid() -> None:
    """Issue 15 item 3: the next clip is due a stride after the previous DUE time, not after the
    frame that triggered it, so 30 Hz frames at stride 0.25 s give 4.0 clips/s (rounding the period
    up to whole frames, 8 frames = 0.267 s, gave 3.75)."""
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=2.0, stride_s=0.25, min_frames=2))
    ends = _clip_ends(buffer, 10 * NS_PER_S + HZ30 * np.arange(300))  # 10 s of 30 Hz stamps
    assert len(ends) == 40
    rate = (len(ends) - 1) / ((ends[-1] - ends[0]) / NS_PER_S)
    assert rate == pytest.approx(4.0, rel=0.01)
    # clips alternate 7- and 8-frame periods; every clip is the first frame at or past its grid point
    periods = set(np.diff(ends) // HZ30)
    assert periods <= {7, 8} and len(periods) == 2
    grid = ends[0] + 250_000_000 * np.arange(40)
    assert np.all(np.asarray(ends) >= grid - 1_000_000) and np.all(np.asarray(ends) - grid < HZ30)
    assert buffer.stats.reanchors == 0


@pytest.mark.parametrize("camera_hz", [4.5, 7.0, 15.0, 24.0, 29.97, 60.0, 100.0])
def test_mean_clip_rate_equals_rate_for_any_camera_faster_than_it(camera_hz: float) -> None:
    """With jittery stamps too (+-20 % of the frame period): the grid is in camera time."""
    rng = np.random.default_rng(int(camera_hz * 100))
    period = NS_PER_S / camera_hz
    n = int(60 * camera_hz)  # 60 s of stamps
    stamps = (10 * NS_PER_S + period * np.arange(n) + rng.uniform(-0.2, 0.2, n) * period).astype(np.int64)
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=2.0, stride_s=0.25, min_frames=2))
    ends = _clip_ends(buffer, stamps)
    rate = (len(ends) - 1) / ((ends[-1] - ends[0]) / NS_PER_S)
    assert rate == pytest.approx(4.0, rel=0.01), rate


def test_a_pause_in_the_stamps_re_anchors_the_grid_without_a_burst_of_catch_up_clips() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=8, window_s=2.0, stride_s=0.25, min_frames=2))
    before = 10 * NS_PER_S + HZ30 * np.arange(60)                 # 2 s of frames
    after = before[-1] + 5 * NS_PER_S + HZ30 * np.arange(60)       # 5 s of nothing, then 2 s more
    ends_before = _clip_ends(buffer, before)
    ends_after = _clip_ends(buffer, after)
    assert len(ends_before) == 8
    # no burst: after the pause the clips follow a new grid anchored at the first one (a catch-up
    # would give one clip per frame for the 20 missed grid points); the first comes once min_frames
    # frames are back
    assert ends_after[0] == after[1] and len(ends_after) == 8
    offsets = np.asarray(ends_after) - (after[1] + 250_000_000 * np.arange(8))
    assert np.all((offsets > -1_000_000) & (offsets < HZ30)), offsets
    assert buffer.stats.reanchors == 1
    assert buffer.next_due_ns == after[1] + 8 * 250_000_000


def test_a_camera_slower_than_the_rate_gives_one_clip_per_frame_and_no_more() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=4, window_s=5.0, stride_s=0.25, min_frames=2))
    ends = _clip_ends(buffer, 10 * NS_PER_S + (NS_PER_S // 3) * np.arange(30))  # 3 Hz camera, 4 Hz rate
    assert len(ends) == 29 and len(set(ends)) == 29  # every frame from the second on, each once


def test_a_backwards_reset_restarts_the_grid_at_the_new_stamps() -> None:
    buffer = ClipBuffer(ClipBufferConfig(num_frames=4, window_s=2.0, stride_s=0.25, min_frames=2))
    _clip_ends(buffer, 100 * NS_PER_S + HZ30 * np.arange(90))
    assert buffer.next_due_ns > 102 * NS_PER_S
    restart = 10 * NS_PER_S + HZ30 * np.arange(90)   # the bag restarts 90 s earlier
    ends = _clip_ends(buffer, restart)
    assert buffer.stats.resets_backwards == 1
    # the first clip once two frames are back, then exactly on the new grid: 12 clips in 3 s
    assert ends[0] == restart[1] and len(ends) == 12
    assert np.all(np.asarray(ends) - (restart[1] + 250_000_000 * np.arange(12)) < HZ30)
