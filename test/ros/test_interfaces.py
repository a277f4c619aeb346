"""The package's own interfaces build in Python and travel through real rclpy pub/sub and services."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from a2r_ros.msg import Clip, RewardScore
from a2r_ros.srv import QueryReward

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def _image(value: int, sec: int) -> Image:
    img = Image()
    img.header.stamp = Time(sec=sec, nanosec=5)
    img.height, img.width, img.encoding, img.step = 2, 3, "rgb8", 9
    img.data = bytes([value] * 18)
    return img


def _reward() -> RewardScore:
    msg = RewardScore()
    msg.header.stamp = Time(sec=12, nanosec=400_000_000)
    msg.header.frame_id = "camera"
    msg.instruction = "open the drawer"
    msg.reward = 0.75
    msg.success_probability = 0.9
    msg.failure_mode_scores = [0.2, 0.5, 0.3]
    msg.most_likely_failure_mode = 1
    msg.clip_start = Time(sec=10)
    msg.clip_end = Time(sec=12, nanosec=400_000_000)
    msg.frame_count = 8
    msg.model_id = "a2r-small"
    msg.inference_latency_ms = 12.5
    return msg


def test_reward_score_round_trips_through_pub_sub(ros) -> None:
    pub_node = Node("reward_pub", context=ros.context)
    sub_node = Node("reward_sub", context=ros.context)
    received: list[RewardScore] = []
    sub_node.create_subscription(RewardScore, "a2r/reward", received.append, RELIABLE)
    publisher = pub_node.create_publisher(RewardScore, "a2r/reward", RELIABLE)
    sent = _reward()

    def publish_until_received() -> bool:
        if not received:
            publisher.publish(sent)
        return bool(received)

    try:
        assert ros.spin_until(publish_until_received, pub_node, sub_node, timeout=15.0)
    finally:
        pub_node.destroy_node()
        sub_node.destroy_node()
    got = received[0]
    assert got.instruction == "open the drawer"
    assert got.header.stamp == sent.header.stamp and got.header.frame_id == "camera"
    assert np.allclose(got.failure_mode_scores, [0.2, 0.5, 0.3])
    assert got.most_likely_failure_mode == 1 and got.frame_count == 8
    assert got.clip_start == Time(sec=10) and got.model_id == "a2r-small"
    assert abs(got.reward - 0.75) < 1e-6 and abs(got.inference_latency_ms - 12.5) < 1e-6


def test_clip_round_trips_through_pub_sub(ros) -> None:
    pub_node = Node("clip_pub", context=ros.context)
    sub_node = Node("clip_sub", context=ros.context)
    received: list[Clip] = []
    sub_node.create_subscription(Clip, "clip", received.append, RELIABLE)
    publisher = pub_node.create_publisher(Clip, "clip", RELIABLE)
    clip = Clip(frames=[_image(v, sec) for sec, v in enumerate((10, 20, 30))],
                stamps=[Time(sec=s) for s in range(3)])

    def publish_until_received() -> bool:
        if not received:
            publisher.publish(clip)
        return bool(received)

    try:
        assert ros.spin_until(publish_until_received, pub_node, sub_node, timeout=15.0)
    finally:
        pub_node.destroy_node()
        sub_node.destroy_node()
    got = received[0]
    assert [bytes(f.data)[0] for f in got.frames] == [10, 20, 30]
    assert [f.header.stamp.sec for f in got.frames] == [0, 1, 2]
    assert [s.sec for s in got.stamps] == [0, 1, 2]


def test_query_reward_service_round_trip(ros) -> None:
    """A real service (a stand-in scorer: the mean pixel value per clip, times the instruction's
    length) answers a real client; the row-major layout and the status fields survive the trip."""
    server = Node("query_server", context=ros.context)
    client_node = Node("query_client", context=ros.context)

    def handle(request: QueryReward.Request, response: QueryReward.Response) -> QueryReward.Response:
        means = [float(np.mean(np.frombuffer(bytes(c.frames[0].data), np.uint8))) for c in request.clips]
        response.num_clips, response.num_instructions = len(request.clips), len(request.instructions)
        response.rewards = [m * len(i) for m in means for i in request.instructions]
        response.success_probabilities = [0.5] * len(response.rewards)
        response.most_likely_failure_modes = [-1] * len(response.rewards)
        response.status = QueryReward.Response.STATUS_OK
        return response

    server.create_service(QueryReward, "a2r/query_reward", handle)
    client = client_node.create_client(QueryReward, "a2r/query_reward")
    try:
        assert ros.spin_until(lambda: client.service_is_ready(), server, client_node, timeout=15.0)
        request = QueryReward.Request(
            instructions=["ab", "abc"],
            clips=[Clip(frames=[_image(2, 0)]), Clip(frames=[_image(4, 0)])],
        )
        future = client.call_async(request)
        assert ros.spin_until(future.done, server, client_node, timeout=15.0)
    finally:
        server.destroy_node()
        client_node.destroy_node()
    response = future.result()
    assert response.status == QueryReward.Response.STATUS_OK
    assert (response.num_clips, response.num_instructions) == (2, 2)
    assert np.allclose(response.rewards, [4.0, 6.0, 8.0, 12.0])
    assert QueryReward.Response.STATUS_TOO_LARGE != QueryReward.Response.STATUS_INVALID_REQUEST
