"""The reward-query service as clients meet it: the model's input advertised (info requests),
`RewardClient` sending clips cut to it with unchanged scores, and one instruction limit with one
error text on the service, the parameter and the topic (issue 15 item 4, issue 16 item 3).

Real rclpy nodes on the session's private domain; the tiny random checkpoint of conftest.py
(4 frames, 32 px), so every score is compared with `RewardModel.score` on the same frames.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading

import numpy as np
import pytest
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from a2r_core.clips import model_input
from a2r_core.instructions import MAX_INSTRUCTION_CHARS
from a2r_core.waiting import wait_until
from a2r_ros.reward_client import RewardClient, build_request
from a2r_ros.reward_node import RewardNode
from a2r_ros.srv import QueryReward

_NAMESPACES = itertools.count()
TOO_LONG = "open the drawer " + "x" * MAX_INSTRUCTION_CHARS
TOO_LONG_TEXT = f"instruction 0 is {len(TOO_LONG)} characters long (max {MAX_INSTRUCTION_CHARS})"


@contextlib.contextmanager
def served(ros, checkpoint, **params):
    """A reward node and a client node spinning in the background -> (node, client node)."""
    ns = f"qs{os.getpid()}_{next(_NAMESPACES)}"
    values = {"checkpoint": str(checkpoint), "stale_timeout_s": 600.0, **params}
    node = RewardNode(context=ros.context, namespace=ns,
                      parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
    user = Node("user", context=ros.context, namespace=ns)
    executor = MultiThreadedExecutor(num_threads=3, context=ros.context)
    executor.add_node(node)
    executor.add_node(user)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield node, user
    finally:
        executor.shutdown()
        thread.join(timeout=10)
        node.destroy_node()
        user.destroy_node()


def _call(user: Node, request: QueryReward.Request) -> QueryReward.Response:
    client = user.create_client(QueryReward, "a2r/query_reward")
    try:
        assert client.wait_for_service(timeout_sec=30.0), "service not discovered"
        future = client.call_async(request)
        assert wait_until(future.done, 60.0), "no service response"
        return future.result()
    finally:
        user.destroy_client(client)


def _clips(count: int, frames: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clips = rng.integers(0, 256, size=(count, frames, size, size, 3), dtype=np.uint8)
    clips[:, :, :, : size // 4] = 255  # some structure, so the shrink filter has edges to keep
    return clips


@pytest.mark.ros
def test_info_request_advertises_the_model_input(ros, tiny_checkpoint, reward_model) -> None:
    with served(ros, tiny_checkpoint) as (_, user):
        info = _call(user, QueryReward.Request())
        assert info.status == QueryReward.Response.STATUS_OK, info.message
        assert (info.model_num_frames, info.model_image_size) == (reward_model.num_frames, reward_model.image_size)
        assert info.num_clips == 0 and len(info.rewards) == 0
        # every scoring answer carries it too
        scored = _call(user, build_request(_clips(1, 4, 32), ["open the drawer"]))
        assert scored.status == QueryReward.Response.STATUS_OK, scored.message
        assert (scored.model_num_frames, scored.model_image_size) == (4, 32)


@pytest.mark.ros
def test_client_sends_clips_cut_to_the_model_input_with_the_same_scores(ros, tiny_checkpoint, reward_model) -> None:
    clips = _clips(3, 11, 96, seed=1)  # more frames and larger frames than the model takes
    instructions = ["open the drawer", "close the drawer"]
    direct = reward_model.score(clips, instructions)
    with served(ros, tiny_checkpoint) as (_, user):
        cut = RewardClient(user)
        result = cut.score(clips, instructions, timeout_sec=60.0)
        assert cut.model_input == (4, 32)
        as_given = RewardClient(user, cut_to_model_input=False).score(clips, instructions, timeout_sec=60.0)
        # ragged clips (a list) with stamps: each cut on its own, stamps follow the kept frames
        ragged = [clips[0], clips[1, :7]]
        stamps = [list(range(0, 11 * 10, 10)), list(range(0, 7 * 10, 10))]
        ragged_result = cut.score(ragged, instructions[:1], timeout_sec=60.0, stamps_ns=stamps)
    np.testing.assert_array_equal(result.rewards, as_given.rewards)
    np.testing.assert_array_equal(result.success_probabilities, as_given.success_probabilities)
    np.testing.assert_allclose(result.rewards, direct.reward, atol=1e-5)
    np.testing.assert_allclose(ragged_result.rewards[:, 0], reward_model.score(ragged, instructions[:1]).reward[:, 0],
                               atol=1e-5)
    # what the cut saves: the request's frames are the model's 4 of 32x32 instead of 11 of 96x96
    sent = build_request(model_input(clips, 4, 32), instructions)
    full = build_request(clips, instructions)
    nbytes = lambda req: sum(len(f.data) for c in req.clips for f in c.frames)  # noqa: E731
    assert nbytes(sent) * 20 < nbytes(full)


@pytest.mark.ros
def test_packed_clips_score_as_one_image_per_frame_and_malformed_ones_are_refused(ros, tiny_checkpoint) -> None:
    clips = _clips(2, 4, 32, seed=3)
    stamps = [[10, 20, 30, 40], [10, 20, 30, 40]]
    with served(ros, tiny_checkpoint) as (_, user):
        plain = _call(user, build_request(clips, ["open the drawer"], stamps_ns=stamps))
        packed_request = build_request(clips, ["open the drawer"], stamps_ns=stamps, packed=True)
        assert [len(c.frames) for c in packed_request.clips] == [1, 1]
        packed = _call(user, packed_request)
        assert plain.status == packed.status == QueryReward.Response.STATUS_OK, (plain.message, packed.message)
        np.testing.assert_array_equal(np.asarray(packed.rewards), np.asarray(plain.rewards))
        bad_height = build_request(clips[:1], ["a"], packed=True)
        bad_height.clips[0].packed_frames = 3  # 128 rows are not 3 frames
        two_images = build_request(clips[:1], ["a"], packed=True)
        two_images.clips[0].frames = list(two_images.clips[0].frames) * 2
        wrong_stamps = build_request(clips[:1], ["a"], packed=True, stamps_ns=[[1, 2, 3]])
        for request, text in [(bad_height, "not a multiple of its 3 frames"), (two_images, "holds 2 images, not 1"),
                              (wrong_stamps, "has 4 frames but 3 stamps")]:
            got = _call(user, request)
            assert got.status == QueryReward.Response.STATUS_INVALID_REQUEST and text in got.message, got.message


@pytest.mark.ros
def test_one_instruction_limit_and_error_text_on_service_parameter_and_topic(ros, tiny_checkpoint) -> None:
    with served(ros, tiny_checkpoint) as (node, user):
        response = _call(user, build_request(_clips(1, 4, 32), [TOO_LONG]))
        assert response.status == QueryReward.Response.STATUS_TOO_LARGE
        assert response.message == TOO_LONG_TEXT
        result = node.set_parameters([Parameter("instructions", Parameter.Type.STRING_ARRAY, [TOO_LONG])])[0]
        assert not result.successful and TOO_LONG_TEXT in result.reason
        assert node.instructions == ["open the drawer"]
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        publisher = user.create_publisher(String, "a2r/instruction", reliable)
        assert wait_until(lambda: publisher.get_subscription_count() > 0, 30.0)
        publisher.publish(String(data=TOO_LONG))
        assert wait_until(lambda: TOO_LONG_TEXT in (node.stats.last_warning or ""), 30.0), node.stats.last_warning
        assert node.instructions == ["open the drawer"]
        # the longest allowed instruction is scored, by the service as by the parameter
        longest = "open the drawer " + "x" * (MAX_INSTRUCTION_CHARS - len("open the drawer "))
        ok = _call(user, build_request(_clips(1, 4, 32), [longest]))
        assert ok.status == QueryReward.Response.STATUS_OK, ok.message
