"""What the reward node took each instruction for (issue 14 item 1): `resolved_task` in every
RewardScore and in the query service's answer, and one log line per new instruction.

A real reward node (tiny random checkpoint: tasks drawer-open "open the drawer" and drawer-close
"close the drawer"; the real all-MiniLM text encoder resolves the paraphrase) and a feeder node
(the rig of test_reward_node.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from rcl_interfaces.msg import Log

from a2r_core.waiting import wait_until as _wait
from a2r_ros.reward_client import build_request
from a2r_ros.srv import QueryReward
from test_reward_node import HZ30, RELIABLE, T0, _frames, rig

SEEN, PARAPHRASE, UNSEEN = "open the drawer", "shut the drawer", "wave at the camera"


@pytest.mark.ros
def test_rewards_and_answers_say_which_task_each_instruction_was_taken_for(ros, tiny_checkpoint) -> None:
    frames = _frames(20, seed=41)
    with rig(ros, tiny_checkpoint, rate_hz=3.0, window_s=1.0, min_frames=4,
             instructions=[SEEN, PARAPHRASE, UNSEEN]) as r:
        logs: list[str] = []
        node_name = r.node.get_logger().name
        r.feeder.create_subscription(Log, "/rosout", lambda m: logs.append(m.msg) if m.name == node_name else None,
                                     RELIABLE)
        assert _wait(lambda: r.node.count_subscribers("/rosout") >= 1)
        r.publish(frames, T0 + HZ30 * np.arange(20), period_s=0.0)
        assert _wait(lambda: len(r.rewards) >= 6), f"{len(r.rewards)} rewards"
        taken = {m.instruction: m.resolved_task for m in r.rewards}
        assert taken == {SEEN: "drawer-open", PARAPHRASE: "drawer-close", UNSEEN: ""}
        by_instruction = {m.instruction: m for m in r.rewards}
        assert len(by_instruction[PARAPHRASE].failure_mode_scores) > 0  # the resolved task's prompts
        assert list(by_instruction[UNSEEN].failure_mode_scores) == []
        # one log line per instruction, however many clips were scored
        assert _wait(lambda: sum("instruction 'shut the drawer': task drawer-close" in t for t in logs) == 1), logs
        assert sum("instruction 'wave at the camera': no trained task" in t for t in logs) == 1, logs
        response = r.call(r.query, build_request(frames[None, :4], [UNSEEN, PARAPHRASE]))
        assert response.status == QueryReward.Response.STATUS_OK, response.message
        assert list(response.resolved_tasks) == ["", "drawer-close"]
        assert sum("instruction 'shut the drawer': task drawer-close" in t for t in logs) == 1, logs
