"""Live replay equivalence: a bag's frames published to the live reward node give score-bag's rewards.

The bag's serialised camera messages are deserialised by rclpy (the bytes `ros2 bag play` would
publish) and published on a real rclpy publisher to a real `RewardNode` running in this process;
its RewardScore messages must equal `a2r score-bag`'s rows on the same bag: same clips (stamps,
frame counts), same instructions, same scores.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time

import pytest

from a2r_core.cli import main
from a2r_core.waiting import wait_until as _wait

from .conftest import INSTRUCTIONS, write_image_bag

_NAMESPACES = itertools.count()


@pytest.mark.ros
@pytest.mark.parametrize("storage,encoding,transport", [("mcap", "rgb8", "raw"), ("sqlite3", "png", "compressed")])
def test_live_node_publishes_score_bags_rewards(ros, tmp_path, capsys, sim_frames, checkpoint,
                                                storage, encoding, transport) -> None:
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CompressedImage, Image

    from a2r_core.bags import BagReader
    from a2r_ros.msg import RewardScore
    from a2r_ros.reward_node import RewardNode

    frames = sim_frames[:30]
    bag = write_image_bag(tmp_path / "bag", frames, storage=storage, encoding=encoding)
    argv = ["score-bag", str(bag.path), "--topic", bag.topic, "--checkpoint", str(checkpoint),
            "--out", str(tmp_path / "scores"), "--no-progress"]
    for text in INSTRUCTIONS:
        argv += ["--instruction", text]
    assert main(argv) == 0, capsys.readouterr().err
    offline = json.loads((tmp_path / "scores" / "scores.json").read_text())["rows"]
    assert offline

    msg_type = CompressedImage if transport == "compressed" else Image
    with BagReader(bag.path) as reader:
        replay = [deserialize_message(raw.data, msg_type) for raw in reader.messages([bag.topic])]
    assert len(replay) == len(frames)

    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200, reliability=ReliabilityPolicy.RELIABLE)
    ns = f"replay{os.getpid()}_{next(_NAMESPACES)}"
    # Node defaults for the clip buffer (what score-bag used); no dropped frames or clips.
    params = {"checkpoint": str(checkpoint), "instructions": INSTRUCTIONS, "image_transport": transport,
              "image_qos": "reliable", "image_qos_depth": 200, "queue_size": 1000}
    node = RewardNode(context=ros.context, namespace=ns,
                      parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    feeder = Node("bag_player", context=ros.context, namespace=ns)
    received: list = []
    camera_topic = "camera/image_raw/compressed" if transport == "compressed" else "camera/image_raw"
    publisher = feeder.create_publisher(msg_type, camera_topic, reliable)
    feeder.create_subscription(RewardScore, "a2r/reward", received.append, reliable)
    executor = MultiThreadedExecutor(num_threads=3, context=ros.context)
    executor.add_node(node)
    executor.add_node(feeder)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert _wait(lambda: publisher.get_subscription_count() > 0, 30), "reward node not discovered"
        assert _wait(lambda: feeder.count_publishers(f"/{ns}/a2r/reward") > 0, 30)
        for msg in replay:
            publisher.publish(msg)
            time.sleep(0.01)
        assert _wait(lambda: len(received) >= len(offline), 60), (len(received), len(offline))
        time.sleep(0.3)  # nothing extra may follow
    finally:
        executor.shutdown()
        spinner.join(timeout=10)
        node.destroy_node()
        feeder.destroy_node()

    assert len(received) == len(offline)
    live = sorted(received, key=lambda m: (m.header.stamp.sec, m.header.stamp.nanosec, INSTRUCTIONS.index(m.instruction)))
    for msg, row in zip(live, offline):
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == row["stamp_ns"]
        assert msg.clip_start.sec * 10**9 + msg.clip_start.nanosec == row["clip_start_ns"]
        assert msg.instruction == row["instruction"] and msg.frame_count == row["frame_count"]
        assert abs(msg.reward - row["reward"]) < 1e-5
        assert abs(msg.success_probability - row["success_probability"]) < 1e-5
        assert msg.most_likely_failure_mode == row["most_likely_failure_mode"]
        assert list(msg.failure_mode_scores) == pytest.approx(row["failure_mode_scores"], abs=1e-5)
