"""What the reward node's messages and diagnostics say (issue 15, items 5 and 6).

A real reward node (tiny random checkpoint, trained tasks "open the drawer" / "close the drawer",
3 failure prompts each) and a feeder node in this process (the rig of test_reward_node.py).
- Item 5: RewardScore.msg documents `failure_mode_scores` as empty and `most_likely_failure_mode`
  as -1 when the model has no failure prompts for the instruction's task; the node used to send
  K zeros. An instruction of a trained task gets K probabilities.
- Item 6: a malformed camera frame is logged (throttled), but a NEW rejection reason is logged at
  once, and /diagnostics counts rejections per reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from rcl_interfaces.msg import Log

from a2r_core.waiting import wait_until as _wait
from a2r_ros.image_conversion import rgb_to_image_msg
from a2r_ros.msg import Clip
from a2r_ros.srv import QueryReward
from test_reward_node import HZ30, RELIABLE, T0, _frames, _stamped, rig

SEEN, UNSEEN = "open the drawer", "wave at the camera"


@pytest.mark.ros
def test_failure_modes_are_empty_and_minus_one_without_failure_prompts(ros, tiny_checkpoint, reward_model) -> None:
    k = reward_model.num_failure_modes
    assert k >= 2
    frames = _frames(20, seed=31)
    with rig(ros, tiny_checkpoint, rate_hz=3.0, window_s=1.0, min_frames=4, instructions=[SEEN, UNSEEN]) as r:
        r.publish(frames, T0 + HZ30 * np.arange(20), period_s=0.0)
        assert _wait(lambda: len(r.rewards) >= 4), f"{len(r.rewards)} rewards"
        for msg in r.rewards[:4]:
            if msg.instruction == SEEN:
                assert len(msg.failure_mode_scores) == k
                assert sum(msg.failure_mode_scores) == pytest.approx(1.0, abs=1e-4)
                assert msg.most_likely_failure_mode == int(np.argmax(msg.failure_mode_scores))
            else:
                assert msg.instruction == UNSEEN
                assert list(msg.failure_mode_scores) == [] and msg.most_likely_failure_mode == -1
        assert {m.instruction for m in r.rewards[:4]} == {SEEN, UNSEEN}
        # the service carries only the modes: -1 for the instruction without prompts
        clip = Clip(frames=[rgb_to_image_msg(f) for f in frames[:4]])
        response = r.call(r.query, QueryReward.Request(instructions=[SEEN, UNSEEN], clips=[clip]))
        assert response.status == QueryReward.Response.STATUS_OK, response.message
        assert 0 <= response.most_likely_failure_modes[0] < k and response.most_likely_failure_modes[1] == -1


@pytest.mark.ros
def test_each_new_rejection_reason_is_logged_at_once_and_counted_per_reason(ros, tiny_checkpoint) -> None:
    frames = _frames(20, seed=32)
    stamps = T0 + HZ30 * np.arange(20)
    with rig(ros, tiny_checkpoint, rate_hz=10.0, window_s=0.5, min_frames=3) as r:
        logs: list[Log] = []
        node_name = r.node.get_logger().name
        r.feeder.create_subscription(Log, "/rosout", lambda m: logs.append(m) if m.name == node_name else None,
                                     RELIABLE)
        assert _wait(lambda: r.node.count_subscribers("/rosout") >= 1)
        r.publish(frames[:6], stamps[:6], period_s=0.0)
        assert _wait(lambda: len(r.rewards) >= 1, 120.0)
        short = _stamped(frames[6], int(stamps[6]))
        short.data = short.data[: len(short.data) // 2]
        unsupported = _stamped(frames[6], int(stamps[6]))
        unsupported.encoding = "32FC1"
        # four of one kind, then one of another, well inside the 5 s throttle of repeats
        for msg in [short, short, short, short, unsupported]:
            r.images.publish(msg)
        assert _wait(lambda: r.node.stats.frames_rejected == 5, 60.0), r.node.stats.frames_rejected
        r.publish(frames[6:], stamps[6:], period_s=0.0)  # and scoring goes on
        seen = len(r.rewards)
        assert _wait(lambda: len(r.rewards) > seen or r.node.stats.clips_scored > 1, 120.0)

        def lines(word: str) -> list[str]:
            return [m.msg for m in logs if "rejected camera frame" in m.msg and word in m.msg]

        # the second reason is not hidden by the first one's throttle
        assert _wait(lambda: lines("data holds") and lines("'32FC1'"), 30.0), [m.msg for m in logs]
        assert len(lines("data holds")) < 4  # repeats are throttled
        values = r.diag_values_when(lambda v: any(k.startswith("rejected: ") for k in v))
        per_reason = {k: int(v) for k, v in values.items() if k.startswith("rejected: ")}
        assert per_reason == {
            "rejected: image data holds N bytes, expected step*height = N*N = N": 4,
            "rejected: unsupported image encoding '32FC1'": 1,
        }, per_reason
        assert values["frames_rejected"] == "5"
