"""Clip-level frame -> Image message conversion: the rgb8 fast path gives exactly what converting
frame by frame gives (fields, bytes, stamps, frame ids), and other encodings still convert."""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.errors import InputError
from a2r_core.images import image_to_rgb
from a2r_ros.image_conversion import ns_to_stamp, rgb_frames_to_image_msgs, rgb_to_image_msg


def _fields(msg) -> tuple:
    return (msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, bytes(msg.data),
            msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id)


def test_clip_conversion_equals_frame_by_frame() -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)[:, ::-1]  # a non-contiguous view
    stamps = [ns_to_stamp(1_000_000_000 * i + 7) for i in range(5)]
    for encoding in ("rgb8", "bgr8", "mono8"):
        fast = rgb_frames_to_image_msgs(frames, encoding, stamps, "cam")
        slow = [rgb_to_image_msg(f, encoding, s, "cam") for f, s in zip(frames, stamps)]
        assert [_fields(m) for m in fast] == [_fields(m) for m in slow]
    back = np.stack([image_to_rgb(m) for m in rgb_frames_to_image_msgs(frames)])
    assert np.array_equal(back, frames)


def test_clip_conversion_rejects_bad_input() -> None:
    with pytest.raises(InputError):
        rgb_frames_to_image_msgs(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InputError, match="stamps"):
        rgb_frames_to_image_msgs(np.zeros((2, 4, 4, 3), np.uint8), stamps=[ns_to_stamp(0)])
    with pytest.raises(InputError):
        rgb_frames_to_image_msgs(np.zeros((2, 4, 4, 3), np.float32))
