"""The reward node with real rclpy publishers, subscribers, services and parameters.

Every node runs on a MultiThreadedExecutor in a background thread (as `ros2 run` / `a2r ros up`
run it) while the test publishes and waits. Each test uses its own namespace so nodes of different
tests never see each other's topics. Scores are compared with `RewardModel.score` on the same
frames, loaded from the same checkpoint.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ament_index_python.packages import get_package_prefix
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, SetParameters
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from a2r_core.clip_buffer import ClipBuffer
from a2r_core.errors import CheckpointError, ConfigError
from a2r_core.images import image_to_rgb
from a2r_core.waiting import wait_until as _wait
from a2r_ros import bringup_spec
from a2r_ros.image_conversion import ns_to_stamp, rgb_to_image_msg, stamp_to_ns
from a2r_ros.msg import Clip, RewardScore
from a2r_ros.reward_client import RewardClient, RewardQueryError
from a2r_ros.node_util import DropOldestQueue
from a2r_ros.reward_node import RewardNode
from a2r_ros.srv import QueryReward

RELIABLE = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
HZ30 = 1_000_000_000 // 30
T0 = 1_000 * 1_000_000_000
_NAMESPACES = itertools.count()


def _frames(count: int, seed: int = 0, size: tuple[int, int] = (24, 32)) -> np.ndarray:
    """Distinct frames (random texture + a bar moving right), so every clip scores differently."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(count, *size, 3), dtype=np.uint8)
    for i in range(count):
        frames[i, :, (i * 3) % size[1]] = 255
    return frames


def _stamped(frame: np.ndarray, stamp_ns: int, encoding: str = "bgr8") -> Image:
    return rgb_to_image_msg(frame, encoding, stamp=ns_to_stamp(stamp_ns), frame_id="camera_optical")


class _Rig:
    """A reward node + a feeder node (publishers, subscribers, clients) spinning in the background."""

    def __init__(self, ros, checkpoint: Path, **params) -> None:
        self.ns = f"rn{os.getpid()}_{next(_NAMESPACES)}"
        # stale_timeout_s: these tests publish in bursts with pauses between them, and check
        # last_warning; the input watch (stale / lost frames) is test_reward_node_input.py's subject.
        values = {"checkpoint": str(checkpoint), "image_qos": "reliable", "image_qos_depth": 200,
                  "queue_size": 1000, "diagnostics_period_s": 0.2, "stale_timeout_s": 600.0, **params}
        self.params = {**{p.name: p.default for p in bringup_spec.REWARD_NODE_PARAMETERS}, **values}
        self.node = RewardNode(context=ros.context, namespace=self.ns,
                               parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])
        self.feeder = Node("feeder", context=ros.context, namespace=self.ns)
        self.rewards: list[RewardScore] = []
        self.diagnostics: list = []
        self.images = self.feeder.create_publisher(Image, "camera/image_raw", RELIABLE)
        self.instruction = self.feeder.create_publisher(String, "a2r/instruction", RELIABLE)
        self.feeder.create_subscription(RewardScore, "a2r/reward", self.rewards.append, RELIABLE)
        self.feeder.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, RELIABLE)
        self.query = self.feeder.create_client(QueryReward, "a2r/query_reward")
        self.set_params = self.feeder.create_client(SetParameters, "reward_node/set_parameters")
        self.describe = self.feeder.create_client(DescribeParameters, "reward_node/describe_parameters")
        self.executor = MultiThreadedExecutor(num_threads=4, context=ros.context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.feeder)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        raw = self.params["image_transport"] == "raw"
        assert _wait(lambda: (self.images.get_subscription_count() > 0 or not raw) and self.query.service_is_ready()
                     and self.set_params.service_is_ready()), "node not discovered"
        assert _wait(lambda: self.instruction.get_subscription_count() > 0)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        self.diagnostics.extend(s for s in msg.status if s.name == f"a2r: /{self.ns}/reward_node")

    def publish(self, frames: np.ndarray, stamps_ns, encoding: str = "bgr8", period_s: float = 1 / 30) -> None:
        """Publish frames at `period_s` wall-clock intervals (30 Hz by default)."""
        next_t = time.monotonic()
        for frame, stamp in zip(frames, stamps_ns):
            self.images.publish(_stamped(frame, int(stamp), encoding))
            next_t += period_s
            time.sleep(max(0.0, next_t - time.monotonic()))

    def call(self, client, request, timeout: float = 60.0):
        future = client.call_async(request)
        assert _wait(future.done, timeout), "no service response"
        return future.result()

    def diag_values(self) -> dict[str, str]:
        count = len(self.diagnostics)
        assert _wait(lambda: len(self.diagnostics) > count, 10.0), "no fresh diagnostics"
        return {kv.key: kv.value for kv in self.diagnostics[-1].values}

    def diag_values_when(self, predicate, attempts: int = 30) -> dict[str, str]:
        """The first fresh diagnostics for which `predicate` holds (counters the image callback
        updates may trail the reward that made the test look), else the last one seen."""
        for _ in range(attempts):
            values = self.diag_values()
            if predicate(values):
                break
        return values

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=10)
        self.node.destroy_node()
        self.feeder.destroy_node()


@contextlib.contextmanager
def rig(ros, checkpoint, **params):
    r = _Rig(ros, checkpoint, **params)
    try:
        yield r
    finally:
        r.close()


def _expected_rewards(model, frames_rgb, stamps_ns, params, instructions):
    """What the node must publish: the same ClipBuffer over the same frames, RewardModel.score."""
    buffer = ClipBuffer(bringup_spec.clip_buffer_config(params, model.num_frames))
    expected = []
    for frame, stamp in zip(frames_rgb, stamps_ns):
        clip = buffer.push(int(stamp), frame, "camera_optical").clip
        if clip is not None:
            out = model.score(clip.frames[None], instructions)
            expected.append((clip, out))
    return expected


def _set_instructions(r: _Rig, values) -> tuple[bool, str]:
    value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=list(values))
    response = r.call(r.set_params, SetParameters.Request(parameters=[ParameterMsg(name="instructions", value=value)]))
    return response.results[0].successful, response.results[0].reason


@pytest.mark.ros
def test_frames_at_30hz_give_rewards_with_the_right_stamps_counts_and_scores(ros, tiny_checkpoint, reward_model) -> None:
    frames = _frames(45)
    stamps = T0 + HZ30 * np.arange(45)
    with rig(ros, tiny_checkpoint, rate_hz=2.0, window_s=1.0, min_frames=4) as r:
        expected = _expected_rewards(reward_model, [image_to_rgb(_stamped(f, 0)) for f in frames], stamps,
                                     r.params, ["open the drawer"])
        assert len(expected) == 3  # frames 3, 18, 33: a clip every 15 frames (0.5 s of 30 Hz stamps)
        r.publish(frames, stamps)
        assert _wait(lambda: len(r.rewards) >= len(expected)), f"{len(r.rewards)} rewards"
        time.sleep(0.3)
        assert len(r.rewards) == len(expected)
        for msg, (clip, out) in zip(r.rewards, expected):
            assert stamp_to_ns(msg.header.stamp) == clip.end_ns == stamp_to_ns(msg.clip_end)
            assert stamp_to_ns(msg.clip_start) == clip.start_ns
            assert msg.header.frame_id == "camera_optical"
            assert msg.frame_count == clip.num_frames == reward_model.num_frames
            assert msg.instruction == "open the drawer"
            assert msg.reward == pytest.approx(float(out.reward[0, 0]), abs=1e-5)
            assert msg.success_probability == pytest.approx(float(out.success_prob[0, 0]), abs=1e-5)
            assert msg.most_likely_failure_mode == int(out.most_likely_failure_mode[0, 0])
            np.testing.assert_allclose(msg.failure_mode_scores, out.failure_mode_probs[0, 0], atol=1e-5)
            assert msg.model_id == reward_model.model_id and msg.inference_latency_ms > 0
        assert [stamp_to_ns(m.header.stamp) for m in r.rewards] == [int(stamps[i]) for i in (3, 18, 33)]


@pytest.mark.ros
def test_camera_frames_are_shrunk_once_on_arrival_and_score_as_direct_scoring(ros, tiny_checkpoint, reward_model) -> None:
    """Frames larger than the model are resized to its input size when they arrive: the buffer
    holds model-size frames, and the rewards equal RewardModel.score on the full-size frames."""
    frames = _frames(40, seed=13, size=(96, 128))
    stamps = T0 + HZ30 * np.arange(40)
    with rig(ros, tiny_checkpoint, rate_hz=3.0, window_s=1.0, min_frames=4) as r:
        rgb = [image_to_rgb(_stamped(f, 0)) for f in frames]
        expected = _expected_rewards(reward_model, rgb, stamps, r.params, ["open the drawer"])
        assert expected[0][0].frames.shape[1:] == (96, 128, 3)  # the reference scores full-size frames
        r.publish(frames, stamps)
        assert _wait(lambda: len(r.rewards) >= len(expected)), f"{len(r.rewards)} of {len(expected)} rewards"
        size = reward_model.image_size
        assert r.node.buffer.sample().frames.shape[1:] == (size, size, 3)
        for msg, (clip, out) in zip(r.rewards, expected):
            assert stamp_to_ns(msg.header.stamp) == clip.end_ns
            assert msg.reward == pytest.approx(float(out.reward[0, 0]), abs=1e-5)
            assert msg.success_probability == pytest.approx(float(out.success_prob[0, 0]), abs=1e-5)


@pytest.mark.ros
def test_reward_mode_parameter_scores_with_that_formula(ros, tiny_checkpoint) -> None:
    """reward_mode:=grounded: the node's rewards are RewardModel.score's in that mode, and differ
    from the checkpoint's own (cosine for this untrained checkpoint)."""
    from a2r_core.reward import RewardModel

    grounded = RewardModel.load(tiny_checkpoint, reward_mode="grounded")
    own = RewardModel.load(tiny_checkpoint)
    frames = _frames(30, seed=5)
    stamps = T0 + HZ30 * np.arange(30)
    with rig(ros, tiny_checkpoint, rate_hz=2.0, window_s=0.5, min_frames=4, reward_mode="grounded") as r:
        rgb = [image_to_rgb(_stamped(f, 0)) for f in frames]
        expected = _expected_rewards(grounded, rgb, stamps, r.params, ["open the drawer"])
        baseline = _expected_rewards(own, rgb, stamps, r.params, ["open the drawer"])
        r.publish(frames, stamps)
        assert _wait(lambda: len(r.rewards) >= len(expected)), f"{len(r.rewards)} of {len(expected)} rewards"
        for msg, (_, out), (_, base) in zip(r.rewards, expected, baseline):
            assert msg.reward == pytest.approx(float(out.reward[0, 0]), abs=1e-5)
            assert msg.reward <= 0 and abs(msg.reward - float(base.reward[0, 0])) > 1e-3


@pytest.mark.ros
def test_instruction_parameter_and_topic_change_what_is_scored(ros, tiny_checkpoint, reward_model) -> None:
    frames = _frames(40, seed=1)
    stamps = T0 + HZ30 * np.arange(40)
    with rig(ros, tiny_checkpoint, rate_hz=3.0, window_s=1.0, min_frames=4) as r:
        r.publish(frames[:10], stamps[:10], period_s=0.0)
        assert _wait(lambda: len(r.rewards) >= 1)
        assert _set_instructions(r, ["close the drawer", "open the drawer"]) == (True, "")
        assert r.node.get_parameter("instructions").value == ["close the drawer", "open the drawer"]
        for bad, reason in [([], "non-empty"), (["open the drawer", "  "], "instruction 1 is empty"),
                            ([f"task {i}" for i in range(9)], "max_instructions is 8")]:
            ok, why = _set_instructions(r, bad)
            assert not ok and reason in why, why
        assert r.node.get_parameter("instructions").value == ["close the drawer", "open the drawer"]
        seen = len(r.rewards)
        r.publish(frames[10:25], stamps[10:25], period_s=0.0)
        assert _wait(lambda: any(m.instruction == "close the drawer" for m in r.rewards[seen:]))
        assert _wait(lambda: len(r.rewards) - seen >= 2 and (len(r.rewards) - seen) % 2 == 0)
        pair = r.rewards[seen:seen + 2]
        assert [m.instruction for m in pair] == ["close the drawer", "open the drawer"]
        assert pair[0].header.stamp == pair[1].header.stamp
        assert pair[0].reward != pair[1].reward  # the instruction changes the score
        # the published pair equals a direct score of the same clip for both instructions
        rgb = [image_to_rgb(_stamped(f, 0)) for f in frames[:25]]
        clips = [c for c, _ in _expected_rewards(reward_model, rgb, stamps[:25], r.params, ["open the drawer"])]
        clip = next(c for c in clips if c.end_ns == stamp_to_ns(pair[0].header.stamp))
        direct = reward_model.score(clip.frames[None], ["close the drawer", "open the drawer"])
        np.testing.assert_allclose([m.reward for m in pair], direct.reward[0], atol=1e-5)

        r.instruction.publish(String(data="push the block"))
        assert _wait(lambda: r.node.get_parameter("instructions").value == ["push the block"])
        r.instruction.publish(String(data="   "))  # rejected, logged; the previous one stays
        time.sleep(0.3)
        assert r.node.get_parameter("instructions").value == ["push the block"]
        seen = len(r.rewards)
        r.publish(frames[25:], stamps[25:], period_s=0.0)
        assert _wait(lambda: len(r.rewards) > seen)
        assert {m.instruction for m in r.rewards[seen:]} == {"push the block"}
        assert "instruction 0 is empty" in r.diag_values()["last_warning"]


@pytest.mark.ros
def test_parameters_are_declared_with_descriptors_matching_the_spec(ros, tiny_checkpoint) -> None:
    with rig(ros, tiny_checkpoint) as r:
        names = [p.name for p in bringup_spec.REWARD_NODE_PARAMETERS]
        response = r.call(r.describe, DescribeParameters.Request(names=names))
        described = {d.name: d for d in response.descriptors}
        for spec in bringup_spec.REWARD_NODE_PARAMETERS:
            d = described[spec.name]
            assert d.description.startswith(spec.description[:30]) and d.read_only == (not spec.dynamic), spec.name
            if spec.type == bringup_spec.DOUBLE and spec.min is not None:
                assert (d.floating_point_range[0].from_value, d.floating_point_range[0].to_value) == (spec.min, spec.max)
            if spec.type == bringup_spec.INTEGER and spec.min is not None:
                assert (d.integer_range[0].from_value, d.integer_range[0].to_value) == (spec.min, spec.max)
        # declared defaults are the spec's (and so the YAML's): a node started without overrides
        overridden = {"checkpoint", "image_qos", "image_qos_depth", "queue_size", "diagnostics_period_s",
                      "stale_timeout_s"}
        for spec in bringup_spec.REWARD_NODE_PARAMETERS:
            if spec.name not in overridden:
                assert r.node.get_parameter(spec.name).value == spec.default, spec.name
        # read-only parameters refuse run-time changes
        value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=5.0)
        result = r.call(r.set_params, SetParameters.Request(parameters=[ParameterMsg(name="rate_hz", value=value)]))
        assert not result.results[0].successful


def _clip_msg(frames: np.ndarray, encoding: str = "rgb8", stamps=None) -> Clip:
    msg = Clip(frames=[rgb_to_image_msg(f, encoding) for f in frames])
    if stamps is not None:
        msg.stamps = [ns_to_stamp(s) for s in stamps]
    return msg


@pytest.mark.ros
def test_query_service_scores_equal_reward_model_and_bad_requests_get_statuses(ros, tiny_checkpoint, reward_model) -> None:
    clips = [_frames(6, seed=2), _frames(3, seed=3, size=(40, 30)), _frames(9, seed=4)]
    instructions = ["open the drawer", "close the drawer", "wave at the camera"]
    with rig(ros, tiny_checkpoint, max_query_clips=4, max_query_frames=10, max_frame_pixels=1500,
             max_query_instructions=3) as r:
        request = QueryReward.Request(instructions=instructions,
                                      clips=[_clip_msg(clips[0]), _clip_msg(clips[1], "bgra8"), _clip_msg(clips[2], "mono16")])
        response = r.call(r.query, request)
        assert response.status == QueryReward.Response.STATUS_OK, response.message
        assert (response.num_clips, response.num_instructions) == (3, 3)
        mono = np.stack([image_to_rgb(rgb_to_image_msg(f, "mono16")) for f in clips[2]])  # grey, as the node sees it
        direct = reward_model.score([clips[0], clips[1], mono], instructions)
        np.testing.assert_allclose(response.rewards, direct.reward.reshape(-1), atol=1e-5)
        np.testing.assert_allclose(response.success_probabilities, direct.success_prob.reshape(-1), atol=1e-5)
        assert list(response.most_likely_failure_modes) == direct.most_likely_failure_mode.reshape(-1).tolist()
        assert response.rewards[1 * 3 + 2] == pytest.approx(float(direct.reward[1, 2]), abs=1e-5)  # row-major

        ok_clip = _clip_msg(clips[0][:2])
        truncated = _clip_msg(clips[0][:2])
        truncated.frames[1].data = truncated.frames[1].data[:-7]
        bad_encoding = _clip_msg(clips[0][:2])
        bad_encoding.frames[0].encoding = "yuv422"
        zero = _clip_msg(clips[0][:1])
        zero.frames[0].height = 0
        zero.frames[0].data = []
        mixed = Clip(frames=[rgb_to_image_msg(clips[0][0]), rgb_to_image_msg(clips[1][0])])
        backwards = _clip_msg(clips[0][:3], stamps=[T0 + 2, T0 + 1, T0 + 3])
        miscounted = _clip_msg(clips[0][:3], stamps=[T0, T0 + 1])
        invalid, too_large = QueryReward.Response.STATUS_INVALID_REQUEST, QueryReward.Response.STATUS_TOO_LARGE
        cases = [
            (QueryReward.Request(instructions=[], clips=[ok_clip]), invalid, "no instructions"),
            (QueryReward.Request(instructions=["open the drawer"], clips=[]), invalid, "no clips"),
            (QueryReward.Request(instructions=[""], clips=[ok_clip]), invalid, "instruction 0 is empty"),
            (QueryReward.Request(instructions=["a"], clips=[ok_clip, Clip()]), invalid, "clip 1 has no frames"),
            (QueryReward.Request(instructions=["a"], clips=[truncated]), invalid, "clip 0 frame 1: image data holds"),
            (QueryReward.Request(instructions=["a"], clips=[bad_encoding]), invalid, "unsupported image encoding 'yuv422'"),
            (QueryReward.Request(instructions=["a"], clips=[zero]), invalid, "zero-size"),
            (QueryReward.Request(instructions=["a"], clips=[mixed]), invalid, "mixes frame sizes"),
            (QueryReward.Request(instructions=["a"], clips=[backwards]), invalid, "stamps go backwards"),
            (QueryReward.Request(instructions=["a"], clips=[miscounted]), invalid, "3 frames but 2 stamps"),
            (QueryReward.Request(instructions=["a"], clips=[ok_clip] * 5), too_large, "max_query_clips is 4"),
            (QueryReward.Request(instructions=["a", "b", "c", "d"], clips=[ok_clip]), too_large, "max_query_instructions"),
            (QueryReward.Request(instructions=["a"], clips=[_clip_msg(_frames(11))]), too_large, "max_query_frames is 10"),
            (QueryReward.Request(instructions=["a"], clips=[_clip_msg(_frames(1, size=(40, 40)))]), too_large,
             "max_frame_pixels is 1500"),
        ]
        for req, status, message in cases:
            got = r.call(r.query, req)
            assert got.status == status and message in got.message, (message, got.status, got.message)
            assert len(got.rewards) == 0
        # still answering, with the same scores
        again = r.call(r.query, request)
        assert again.status == QueryReward.Response.STATUS_OK
        np.testing.assert_allclose(again.rewards, response.rewards, atol=1e-6)
        values = r.diag_values()
        assert values["queries"] == str(len(cases) + 2) and values["queries_rejected"] == str(len(cases))


@pytest.mark.ros
def test_malformed_frames_and_backward_stamps_are_logged_and_scoring_continues(ros, tiny_checkpoint) -> None:
    frames = _frames(30, seed=5)
    stamps = T0 + HZ30 * np.arange(30)
    with rig(ros, tiny_checkpoint, rate_hz=10.0, window_s=0.5, min_frames=3) as r:
        r.publish(frames[:10], stamps[:10], period_s=0.0)
        assert _wait(lambda: len(r.rewards) >= 1)
        short = _stamped(frames[10], int(stamps[10]))
        short.data = short.data[: len(short.data) // 2]
        unsupported = _stamped(frames[10], int(stamps[10]))
        unsupported.encoding = "32FC1"
        empty = _stamped(frames[10], int(stamps[10]))
        empty.height, empty.width, empty.step, empty.data = 0, 0, 0, []
        bad = [short, unsupported, empty]
        for msg in bad:
            r.images.publish(msg)
        seen = len(r.rewards)
        r.publish(frames[10:20], stamps[10:20], period_s=0.0)
        assert _wait(lambda: len(r.rewards) > seen), "no rewards after malformed frames"
        values = r.diag_values()
        assert values["frames_rejected"] == "3"
        assert "data holds" in values["last_warning"] or "zero-size" in values["last_warning"] \
            or "unsupported" in values["last_warning"]
        # a bag restart: stamps go back 10 s -> buffer reset, then rewards resume at the new stamps
        restart = T0 - 10 * 1_000_000_000 + HZ30 * np.arange(10)
        r.publish(frames[20:30], restart, period_s=0.0)
        assert _wait(lambda: stamp_to_ns(r.rewards[-1].header.stamp) >= int(restart[2]) and
                     stamp_to_ns(r.rewards[-1].header.stamp) < T0)
        assert all(stamp_to_ns(m.clip_start) >= int(restart[0]) for m in r.rewards
                   if stamp_to_ns(m.header.stamp) < T0)
        values = r.diag_values_when(lambda v: v["buffer_resets"] != "0")
        assert values["buffer_resets"] == "1" and "stamp went back" in values["last_warning"]
        assert r.diagnostics[-1].level == bytes([1])  # WARN: frames were dropped
        # the camera changes resolution: one clip never mixes sizes, scoring resumes at the new size
        # (a clip of the restart may still be in the queue: judge only rewards of the new frames)
        bigger = _frames(6, seed=11, size=(30, 40))
        r.publish(bigger, restart[-1] + HZ30 * np.arange(1, 7), period_s=0.0)
        after_resize = lambda: [m for m in r.rewards  # noqa: E731
                                if int(restart[-1]) < stamp_to_ns(m.header.stamp) < T0]
        assert _wait(lambda: len(after_resize()) >= 1)
        assert all(stamp_to_ns(m.clip_start) > int(restart[-1]) for m in after_resize())
        values = r.diag_values_when(lambda v: v["buffer_resets"] == "2")
        assert values["buffer_resets"] == "2" and "frame size changed from 32x24 to 40x30" in values["last_warning"]


@pytest.mark.ros
def test_diagnostics_report_latency_fill_and_work_accounting(ros, tiny_checkpoint) -> None:
    frames = _frames(60, seed=6)
    stamps = T0 + HZ30 * np.arange(60)
    # every frame makes a clip and the queue holds one: under a burst the worker must drop work
    with rig(ros, tiny_checkpoint, rate_hz=100.0, window_s=0.5, min_frames=2, queue_size=1) as r:
        r.publish(frames, stamps, period_s=0.0)
        stats = r.node.stats
        assert _wait(lambda: stats.clips_scored + r.node._queue.dropped == 59), "clips unaccounted for"
        assert _wait(lambda: len(r.rewards) == stats.rewards_published)
        values = r.diag_values()
        emitted, scored, dropped = int(values["clips_emitted"]), int(values["clips_scored"]), int(values["work_dropped"])
        assert emitted == 59 and scored + dropped == emitted and scored >= 1
        assert int(values["rewards_published"]) == scored == len(r.rewards)
        assert float(values["inference_latency_ms_mean"]) > 0 and float(values["inference_latency_ms_max"]) > 0
        assert float(values["buffer_fill"]) == pytest.approx(1.0, abs=0.04)
        assert values["frames_received"] == "60" and values["instructions"] == "open the drawer"
        assert values["model_id"] and values["image_backend"]
        # rewards stay in stamp order even when work was dropped
        published = [stamp_to_ns(m.header.stamp) for m in r.rewards]
        assert published == sorted(published)


def test_drop_oldest_queue_keeps_the_newest_items() -> None:
    queue = DropOldestQueue(2)
    for item in range(5):
        queue.put(item)
    assert queue.dropped == 3 and [queue.get(0.0), queue.get(0.0), queue.get(0.0)] == [3, 4, None]


@pytest.mark.ros
def test_missing_and_empty_checkpoints_are_clear_errors_in_process(ros, tmp_path) -> None:
    with pytest.raises(CheckpointError) as info:
        RewardNode(context=ros.context, namespace="missing_ckpt",
                   parameter_overrides=[Parameter("checkpoint", value=str(tmp_path / "nope"))])
    assert "nope" in str(info.value)
    with pytest.raises(ConfigError, match="checkpoint is empty"):
        RewardNode(context=ros.context, namespace="empty_ckpt")
    with pytest.raises(ConfigError, match="instructions"):
        RewardNode(context=ros.context, namespace="bad_instr",
                   parameter_overrides=[Parameter("checkpoint", value=str(tmp_path)),
                                        Parameter("instructions", value=["  "])])
    with pytest.raises(ConfigError, match="rate_hz"):
        RewardNode(context=ros.context, namespace="bad_rate",
                   parameter_overrides=[Parameter("rate_hz", value=1000.0)])


@pytest.mark.ros
def test_installed_executable_exits_1_without_traceback_on_a_corrupt_checkpoint(tiny_checkpoint, tmp_path) -> None:
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_checkpoint, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    exe = Path(get_package_prefix("a2r_ros")) / "lib" / "a2r_ros" / "reward_node"
    proc = subprocess.run([str(exe), "--ros-args", "-r", "__ns:=/corrupt_ckpt", "-p", f"checkpoint:={corrupt}"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 1, proc.stderr
    assert "cannot start" in proc.stderr and str(corrupt) in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.ros
def test_compressed_transport_gives_the_same_rewards_as_raw(ros, tiny_checkpoint, reward_model) -> None:
    import cv2

    frames = _frames(20, seed=8)
    stamps = T0 + HZ30 * np.arange(20)
    with rig(ros, tiny_checkpoint, image_transport="compressed", rate_hz=3.0, window_s=1.0, min_frames=4) as r:
        publisher = r.feeder.create_publisher(CompressedImage, "camera/image_raw/compressed", RELIABLE)
        assert _wait(lambda: publisher.get_subscription_count() > 0)
        for frame, stamp in zip(frames, stamps):
            ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            msg = CompressedImage(format="png", data=png.tobytes())
            msg.header.stamp = ns_to_stamp(int(stamp))
            msg.header.frame_id = "camera_optical"
            publisher.publish(msg)
        expected = _expected_rewards(reward_model, frames, stamps, r.params, ["open the drawer"])
        assert _wait(lambda: len(r.rewards) == len(expected) == 2)  # frames 3 and 13
        for msg, (clip, out) in zip(r.rewards, expected):
            assert stamp_to_ns(msg.header.stamp) == clip.end_ns
            assert msg.reward == pytest.approx(float(out.reward[0, 0]), abs=1e-5)


@pytest.mark.ros
def test_reward_client_blocking_and_async(ros, tiny_checkpoint, reward_model) -> None:
    clips = np.stack([_frames(5, seed=9), _frames(5, seed=10)])
    instructions = ["open the drawer", "close the drawer"]
    direct = reward_model.score(clips, instructions)
    with rig(ros, tiny_checkpoint, max_query_clips=2) as r:
        # a node nobody spins: the blocking call spins it itself
        planner = Node("planner", context=ros.context, namespace=r.ns)
        try:
            result = RewardClient(planner).score(clips, instructions, timeout_sec=60.0)
        finally:
            planner.destroy_node()
        np.testing.assert_allclose(result.rewards, direct.reward, atol=1e-5)
        np.testing.assert_allclose(result.success_probabilities, direct.success_prob, atol=1e-5)
        assert result.rewards.shape == (2, 2) and result.most_likely_failure_modes.dtype == np.int32
        # a node an executor already spins (the feeder): the blocking call just waits
        client = RewardClient(r.feeder)
        again = client.score(list(clips), instructions, timeout_sec=60.0)
        np.testing.assert_allclose(again.rewards, direct.reward, atol=1e-5)
        # async: a future of the result; a rejected request is an error, never scores
        future = client.score_async(clips, instructions[:1])
        assert _wait(future.done, 60.0)
        np.testing.assert_allclose(future.result().rewards, direct.reward[:, :1], atol=1e-5)
        with pytest.raises(RewardQueryError, match=r"TOO_LARGE.*max_query_clips is 2") as info:
            client.score(np.concatenate([clips, clips]), instructions, timeout_sec=60.0)
        assert info.value.status == QueryReward.Response.STATUS_TOO_LARGE


@pytest.mark.ros
def test_non_finite_model_outputs_are_never_published(ros, tiny_checkpoint, tmp_path) -> None:
    """A diverged checkpoint (NaN in the success head, saved for real) must not leak NaN rewards."""
    import torch

    from a2r_core.model.checkpoint import load_checkpoint, save_checkpoint

    model, _, _ = load_checkpoint(tiny_checkpoint)
    with torch.no_grad():
        for param in model.success_head.parameters():
            param.fill_(float("nan"))
    diverged = save_checkpoint(model, tmp_path / "diverged")
    frames = _frames(12, seed=12)
    with rig(ros, diverged, rate_hz=10.0, window_s=0.5, min_frames=3) as r:
        r.publish(frames, T0 + HZ30 * np.arange(12), period_s=0.0)
        assert _wait(lambda: r.node.stats.non_finite >= 1)
        response = r.call(r.query, QueryReward.Request(instructions=["open the drawer"], clips=[_clip_msg(frames[:4])]))
        assert response.status == QueryReward.Response.STATUS_MODEL_ERROR and "non-finite" in response.message
        assert len(response.rewards) == 0
        values = r.diag_values()
        assert r.diagnostics[-1].level == bytes([2]) and int(values["non_finite_outputs"]) >= 2
        assert r.rewards == [] and values["rewards_published"] == "0"
