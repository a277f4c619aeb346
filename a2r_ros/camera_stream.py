"""A synthetic camera process and a frame counter: does the camera path deliver frames?

Why this exists: a camera driver runs in its own process and publishes raw `sensor_msgs/Image`
with sensor-data (best-effort) QoS. With Fast DDS's defaults, frames larger than its 512 KB
shared-memory segment go over UDP fragments, and best effort loses most of them (11 of 180
640x480 frames measured, issue 15). Tests and `a2r bench` feed the node from another process with
this module so that they see what a user's camera sees, and a user can check a machine with it:

    python -m a2r_ros.camera_stream count --topic camera/image_raw --frames 180 &
    python -m a2r_ros.camera_stream publish --topic camera/image_raw --size 640x480 --frames 180

Each prints one JSON line (`{"sent": ...}` / `{"received": ...}`). The publisher waits for a
subscriber before it starts, so discovery time is not counted as loss. Frames are stamped with
the wall clock at publishing (a camera's capture time) and paced at `--rate` Hz.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any, Sequence

import numpy as np

DEFAULT_TOPIC = "camera/image_raw"
DEFAULT_RATE_HZ = 30.0
DISTINCT_FRAMES = 8  # messages reused round-robin: building a 6 MB frame per tick would cost the pacing


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (width, height); ValueError with the expected form otherwise."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size {text!r}: width and height must be positive")
    return width, height


def synthetic_frames(width: int, height: int, count: int = DISTINCT_FRAMES, seed: int = 0) -> np.ndarray:
    """Distinct RGB uint8 frames [count, H, W, 3]: noise plus a bar that moves, so clips differ."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    bar = max(1, width // 40)
    for i in range(count):
        x = (i * 7 * bar) % max(1, width - bar)
        frames[i, :, x:x + bar] = 255
    return frames


def _with_context(run: Any) -> Any:
    """Run `run(context, stop)` on a private rclpy context (`stop`: an Event a caller may set)."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(args=[sys.argv[0]], context=context)
    try:
        return run(context, threading.Event())
    finally:
        rclpy.try_shutdown(context=context)


def publish(topic: str, width: int, height: int, frames: int, rate_hz: float = DEFAULT_RATE_HZ,
            wait_s: float = 60.0, linger_s: float = 1.0) -> dict[str, Any]:
    """Publish `frames` rgb8 images at `rate_hz` with sensor-data QoS once a subscriber is matched.

    Returns {"sent", "subscribers", "seconds"}. `linger_s`: time the process stays up after the
    last frame, so best-effort frames still in flight are not cut off by the exit."""
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from a2r_ros.image_conversion import ns_to_stamp, rgb_frames_to_image_msgs

    def run(context: Any, stop: threading.Event) -> dict[str, Any]:
        node = Node("a2r_camera_stream", context=context)
        try:
            pub = node.create_publisher(Image, topic, qos_profile_sensor_data)
            messages = rgb_frames_to_image_msgs(synthetic_frames(width, height), frame_id="camera_optical")
            deadline = time.monotonic() + wait_s
            while pub.get_subscription_count() == 0 and not stop.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no subscriber on {pub.topic_name} within {wait_s:.0f} s")
                time.sleep(0.05)
            time.sleep(0.2)  # let the match settle on both sides
            period = 1.0 / rate_hz
            start = next_t = time.monotonic()
            sent = 0
            for i in range(frames):
                if stop.is_set():
                    break
                msg = messages[i % len(messages)]
                msg.header.stamp = ns_to_stamp(time.time_ns())
                pub.publish(msg)
                sent += 1
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
            seconds = time.monotonic() - start
            stop.wait(linger_s)
            return {"sent": sent, "subscribers": pub.get_subscription_count(), "seconds": round(seconds, 3),
                    "size": f"{width}x{height}", "rate_hz": rate_hz, "topic": pub.topic_name}
        finally:
            node.destroy_node()

    return _with_context(run)


def count(topic: str, frames: int = 0, timeout_s: float = 60.0, idle_s: float = 2.0,
          ready_file: str = "") -> dict[str, Any]:
    """Count images on `topic` (sensor-data QoS) until `frames` arrived, `idle_s` passed without
    one after the first, or `timeout_s`. Returns {"received", "first_stamp_ns", "last_stamp_ns"}.

    `ready_file`: written once the subscription exists (a test starts the camera after it)."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from a2r_ros.image_conversion import stamp_to_ns

    def run(context: Any, stop: threading.Event) -> dict[str, Any]:
        node = Node("a2r_frame_counter", context=context)
        stamps: list[int] = []
        last_arrival = [0.0]

        def on_image(msg: Image) -> None:
            stamps.append(stamp_to_ns(msg.header.stamp))
            last_arrival[0] = time.monotonic()

        sub = node.create_subscription(Image, topic, on_image, qos_profile_sensor_data)
        topic_name = sub.topic_name
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        if ready_file:
            with open(ready_file, "w") as handle:
                handle.write(topic_name)
        deadline = time.monotonic() + timeout_s
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
                if frames and len(stamps) >= frames:
                    break
                if stamps and time.monotonic() - last_arrival[0] > idle_s:
                    break
        finally:
            executor.shutdown()
            node.destroy_node()
        return {"received": len(stamps), "first_stamp_ns": stamps[0] if stamps else None,
                "last_stamp_ns": stamps[-1] if stamps else None, "topic": topic_name}

    return _with_context(run)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m a2r_ros.camera_stream publish|count ...`: one JSON line on stdout; exit 1 with a
    one-line reason on stderr (no subscriber, bad size)."""
    parser = argparse.ArgumentParser(prog="python -m a2r_ros.camera_stream", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="publish synthetic rgb8 frames with sensor-data QoS")
    pub.add_argument("--topic", default=DEFAULT_TOPIC)
    pub.add_argument("--size", default="640x480", help="WIDTHxHEIGHT")
    pub.add_argument("--rate", type=float, default=DEFAULT_RATE_HZ, help="frames per second")
    pub.add_argument("--frames", type=int, default=180)
    pub.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a subscriber")
    cnt = sub.add_parser("count", help="count frames received with sensor-data QoS")
    cnt.add_argument("--topic", default=DEFAULT_TOPIC)
    cnt.add_argument("--frames", type=int, default=0, help="stop after this many (0: on idle or timeout)")
    cnt.add_argument("--timeout", type=float, default=60.0)
    cnt.add_argument("--idle", type=float, default=2.0, help="stop this long after the last frame")
    cnt.add_argument("--ready-file", default="", help="written once subscribed")
    args = parser.parse_args(argv)
    try:
        if args.command == "publish":
            width, height = parse_size(args.size)
            result = publish(args.topic, width, height, args.frames, args.rate, args.wait)
        else:
            result = count(args.topic, args.frames, args.timeout, args.idle, args.ready_file)
    except (ValueError, TimeoutError) as exc:
        print(f"camera_stream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
