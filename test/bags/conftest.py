"""Fixtures for bag scoring: real simulator frames, real rosbag2 bags, a small real checkpoint.

Frames are rendered by MuJoCo from a tiny MJCF scene written here (a gripper-like slider pushing a
red block across a table, seen by a fixed camera): real simulator frames, cheap enough to render
in about a second. Bags are written with the rosbags writer in MCAP and sqlite3 storage, exactly
as `ros2 bag record` lays them out (metadata.yaml + storage file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

SCENE = """
<mujoco model="a2r_bag_scene">
  <option timestep="0.01"/>
  <visual><global offwidth="320" offheight="240"/></visual>
  <worldbody>
    <light pos="0 -0.5 2" dir="0 0.3 -1" diffuse="0.9 0.9 0.9"/>
    <geom name="table" type="plane" size="1 1 0.05" rgba="0.55 0.45 0.35 1"/>
    <body name="block" pos="0 0 0.05">
      <joint name="block_x" type="slide" axis="1 0 0" damping="1"/>
      <geom type="box" size="0.05 0.05 0.05" rgba="0.9 0.1 0.1 1" mass="0.2"/>
    </body>
    <body name="pusher" pos="-0.4 0 0.06">
      <joint name="pusher_x" type="slide" axis="1 0 0"/>
      <geom type="capsule" fromto="0 0 0 0 0 0.25" size="0.03" rgba="0.2 0.3 0.9 1" mass="1"/>
    </body>
    <camera name="front" pos="0 -1.1 0.7" xyaxes="1 0 0 0 0.55 0.83"/>
  </worldbody>
  <actuator><position joint="pusher_x" kp="200"/></actuator>
</mujoco>
"""

FRAME_H, FRAME_W = 120, 160   # 57.6 kB a frame: a 48-frame bag spans 3 MCAP chunks (1 MiB each)
NUM_FRAMES = 48
PERIOD_NS = 100_000_000       # 10 Hz header stamps
STAMP0_NS = 1_700_000_000 * 1_000_000_000
LOG_DELAY_NS = 3_000_000      # the recorder receives each frame 3 ms after its stamp


def render_frames(count: int = NUM_FRAMES) -> np.ndarray:
    """[count, H, W, 3] uint8 frames of the pusher driving the block to the right."""
    import mujoco

    model = mujoco.MjModel.from_xml_string(SCENE)
    data = mujoco.MjData(model)
    renderer = mujoco.Renderer(model, FRAME_H, FRAME_W)
    frames = []
    try:
        for i in range(count):
            data.ctrl[0] = 0.6 * i / count
            for _ in range(10):  # 0.1 s of physics between frames, matching the 10 Hz stamps
                mujoco.mj_step(model, data)
            renderer.update_scene(data, camera="front")
            frames.append(renderer.render().copy())
    finally:
        renderer.close()
    return np.stack(frames)


@pytest.fixture(scope="session")
def sim_frames() -> np.ndarray:
    frames = render_frames()
    # The scene must actually change over time, or equal rewards would prove nothing.
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0
    return frames


def stamps_ns(count: int = NUM_FRAMES) -> np.ndarray:
    return STAMP0_NS + PERIOD_NS * np.arange(count, dtype=np.int64)


@dataclass
class WrittenBag:
    path: Path
    storage: str
    topic: str
    stamps_ns: np.ndarray
    log_times_ns: np.ndarray


def write_image_bag(
    path: Path,
    frames: np.ndarray,
    storage: str = "mcap",
    topic: str = "/camera/image_raw",
    encoding: str = "rgb8",
    stamps: Sequence[int] | None = None,
    extra_topics: bool = True,
    corrupt: Sequence[int] = (),
) -> WrittenBag:
    """Write `frames` as sensor_msgs/Image (encoding rgb8/bgr8/...) or CompressedImage ("png",
    "jpeg") on `topic`, plus a std_msgs/String topic; messages at indices in `corrupt` get image
    data that is too short for their header (a malformed message, as a buggy driver records)."""
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer

    from a2r_core.bags.typestore import a2r_typestore
    from a2r_core.images import rgb_to_image_fields

    store = a2r_typestore()
    types = store.types
    Time, Header = types["builtin_interfaces/msg/Time"], types["std_msgs/msg/Header"]
    compressed = encoding in ("png", "jpeg")
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    stamps = np.asarray(stamps if stamps is not None else stamps_ns(len(frames)), dtype=np.int64)
    log_times = stamps + LOG_DELAY_NS
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conn = writer.add_connection(topic, msgtype, typestore=store)
        other = writer.add_connection("/robot/status", "std_msgs/msg/String", typestore=store) if extra_topics else None
        for i, (frame, stamp, log_time) in enumerate(zip(frames, stamps, log_times)):
            header = Header(stamp=Time(sec=int(stamp // 10**9), nanosec=int(stamp % 10**9)), frame_id="front")
            if compressed:
                ok, buf = cv2.imencode("." + encoding, np.ascontiguousarray(frame[:, :, ::-1]))
                assert ok
                msg = types[msgtype](header=header, format=encoding, data=buf.reshape(-1))
            else:
                fields = rgb_to_image_fields(frame, encoding)
                data = np.frombuffer(fields.pop("data"), dtype=np.uint8)
                if i in corrupt:
                    data = data[: data.size // 2]
                msg = types[msgtype](header=header, data=data, **fields)
            writer.write(conn, int(log_time), store.serialize_cdr(msg, msgtype))
            if other is not None:
                status = types["std_msgs/msg/String"](data=f"step {i}")
                writer.write(other, int(log_time), store.serialize_cdr(status, "std_msgs/msg/String"))
    return WrittenBag(path, storage, topic, stamps, log_times)


def write_camera_bag(
    path: Path,
    cameras: dict[str, tuple[np.ndarray, str, int]],
    storage: str = "mcap",
) -> dict[str, np.ndarray]:
    """A bag with several cameras, as a robot with two cameras records it: `cameras` maps a topic
    to (frames, encoding, stamp offset ns); messages of all cameras are interleaved by log time,
    plus a std_msgs/String topic. Returns each camera's header stamps."""
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer

    from a2r_core.bags.typestore import a2r_typestore
    from a2r_core.images import rgb_to_image_fields

    store = a2r_typestore()
    types = store.types
    Time, Header = types["builtin_interfaces/msg/Time"], types["std_msgs/msg/Header"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    stamps = {t: stamps_ns(len(f)) + offset for t, (f, _, offset) in cameras.items()}
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = {}
        for topic, (_, encoding, _) in cameras.items():
            msgtype = "sensor_msgs/msg/CompressedImage" if encoding in ("png", "jpeg") else "sensor_msgs/msg/Image"
            conns[topic] = (writer.add_connection(topic, msgtype, typestore=store), msgtype, encoding)
        status = writer.add_connection("/robot/status", "std_msgs/msg/String", typestore=store)
        events = sorted((int(s) + LOG_DELAY_NS, topic, i) for topic in cameras for i, s in enumerate(stamps[topic]))
        for log_time, topic, i in events:
            conn, msgtype, encoding = conns[topic]
            frame, stamp = cameras[topic][0][i], int(stamps[topic][i])
            header = Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=topic.strip("/").split("/")[0])
            if msgtype.endswith("CompressedImage"):
                ok, buf = cv2.imencode("." + encoding, np.ascontiguousarray(frame[:, :, ::-1]))
                assert ok
                msg = types[msgtype](header=header, format=encoding, data=buf.reshape(-1))
            else:
                fields = rgb_to_image_fields(frame, encoding)
                msg = types[msgtype](header=header, data=np.frombuffer(fields.pop("data"), dtype=np.uint8), **fields)
            writer.write(conn, log_time, store.serialize_cdr(msg, msgtype))
            writer.write(status, log_time, store.serialize_cdr(types["std_msgs/msg/String"](data=topic), "std_msgs/msg/String"))
    return stamps


def storage_file(bag: Path) -> Path:
    files = [*bag.glob("*.mcap"), *bag.glob("*.db3")]
    assert len(files) == 1, files
    return files[0]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A small random-weight a2r-small checkpoint (real model code, untrained weights)."""
    import torch

    from a2r_core.model.checkpoint import save_checkpoint
    from a2r_core.model.configuration_a2r import A2RConfig
    from a2r_core.model.modeling_a2r import Adapt2Reward

    torch.manual_seed(0)
    config = A2RConfig(
        num_frames=4,
        image_size=32,
        patch_size=8,
        video_width=64,
        video_depth=2,
        video_heads=2,
        embed_dim=64,
        success_head_hidden=64,
        num_failure_prompts=3,
        tasks=["push-block"],
        task_instructions={"push-block": ["push the red block to the right"]},
    )
    model = Adapt2Reward(config)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "bag-test-model")


@pytest.fixture(scope="session")
def reward_model(checkpoint):
    from a2r_core.reward import RewardModel

    return RewardModel.load(checkpoint)


INSTRUCTIONS = ["push the red block to the right", "open the drawer"]
