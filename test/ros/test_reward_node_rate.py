"""The reward node publishes at exactly `rate_hz` of camera time (issue 15, item 3).

A real reward node (tiny random checkpoint) and a feeder node in this process (the rig of
test_reward_node.py): 10 s of a 30 Hz camera's header stamps, published quickly (the node is
driven by stamps, not by arrival time), at rate_hz 4. The node used to schedule each clip a stride
after the frame that triggered the previous one, which rounds the period up to whole frames
(8 frames = 0.267 s: 3.75 Hz); on a fixed grid in camera time it is 4.0 Hz. Counted by the
rewards' stamps, never by wall time.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from a2r_core.waiting import wait_until as _wait
from a2r_ros.image_conversion import stamp_to_ns
from test_reward_node import HZ30, T0, _frames, rig


@pytest.mark.ros
def test_a_30hz_stream_at_rate_4_gives_4_rewards_per_second_of_camera_time(ros, tiny_checkpoint) -> None:
    frames = _frames(30, seed=21)
    stamps = T0 + HZ30 * np.arange(300)  # 10 s of 30 Hz header stamps
    with rig(ros, tiny_checkpoint, rate_hz=4.0, window_s=1.0, min_frames=2) as r:
        # paced as the camera would (30 Hz): published faster, a busy CI machine's node fell behind
        # and the reliable KEEP_LAST history overwrote frames (226 of 300 arrived once at 250 Hz)
        r.publish(np.stack([frames[i % len(frames)] for i in range(300)]), stamps, period_s=1 / 30)
        assert _wait(lambda: r.node.stats.frames_received == 300, 60.0), r.node.stats.frames_received
        assert _wait(lambda: len(r.rewards) >= 40, 120.0), f"{len(r.rewards)} rewards"
        time.sleep(0.5)  # nothing more may come
        ends = [stamp_to_ns(m.header.stamp) for m in r.rewards]
        assert r.node.stats.frames_rejected == 0 and r.node._queue.dropped == 0
        assert len(ends) == 40 and ends == sorted(ends)
        rate_hz = (len(ends) - 1) / ((ends[-1] - ends[0]) / 1e9)
        assert rate_hz == pytest.approx(4.0, rel=0.01)
        # and every reward is the first frame at or after its grid point
        grid = ends[0] + 250_000_000 * np.arange(40)
        offsets = np.asarray(ends) - grid
        assert np.all((offsets > -1_000_000) & (offsets < HZ30)), offsets
