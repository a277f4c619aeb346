"""sensor_msgs Image / CompressedImage <-> RGB uint8 frames for the nodes.

Where ROS 2 `cv_bridge` is importable (system ROS installs) it does the conversion, as the issue
asks; where it is not (the PyPI wheels have no cv_bridge) `a2r_core.images` does, which follows
cv_bridge's `imgmsg_to_cv2(msg, "rgb8")` operation for operation (see that module) and is the
code bag scoring uses. `BACKEND` says which one is active; the reward node reports it in its
diagnostics. Either way, problems come out as `a2r_core.errors.InputError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import Image

from a2r_core import images
from a2r_core.errors import InputError

try:  # pragma: no cover - depends on the installation
    from cv_bridge import CvBridge, CvBridgeError

    _BRIDGE: Any = CvBridge()
    BACKEND = "cv_bridge"
except ImportError:
    _BRIDGE = None
    CvBridgeError = None  # type: ignore[assignment,misc]
    BACKEND = "a2r_core.images"


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """Image or CompressedImage message -> RGB uint8 [H, W, 3]; InputError when malformed."""
    if _BRIDGE is None:
        return images.message_to_rgb(msg)
    is_compressed = hasattr(msg, "format") and not hasattr(msg, "encoding")
    if not is_compressed:
        # cv_bridge accepts some of these silently (or crashes in C++); keep one set of checks.
        encoding = str(msg.encoding).strip().lower()
        if encoding not in images.ENCODINGS:
            raise InputError(f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(images.SUPPORTED_ENCODINGS)}")
        if msg.height == 0 or msg.width == 0:
            raise InputError(f"zero-size image ({msg.width}x{msg.height}, encoding {encoding})")
        if len(msg.data) != msg.step * msg.height:
            raise InputError(f"image data holds {len(msg.data)} bytes, expected step*height = {msg.step * msg.height}")
    try:  # pragma: no cover - cv_bridge is not installable here
        if is_compressed:
            return np.asarray(_BRIDGE.compressed_imgmsg_to_cv2(msg, "rgb8"))
        return np.asarray(_BRIDGE.imgmsg_to_cv2(msg, "rgb8"))
    except (CvBridgeError, TypeError, ValueError) as exc:  # pragma: no cover
        raise InputError(f"cv_bridge could not convert the image: {exc}") from exc


def rgb_to_image_msg(rgb: np.ndarray, encoding: str = "rgb8", stamp: Any = None, frame_id: str = "") -> Image:
    """RGB uint8 [H, W, 3] -> a `sensor_msgs/Image` in `encoding` (for publishing frames)."""
    msg = Image(**images.rgb_to_image_fields(rgb, encoding))
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def rgb_frames_to_image_msgs(frames: np.ndarray, encoding: str = "rgb8", stamps: Any = None,
                             frame_id: str = "") -> list[Image]:
    """RGB uint8 frames [T, H, W, 3] -> one `sensor_msgs/Image` each (a clip's frames).

    Why a clip-level call: planners send and bridges return dozens of clips per request, and the
    rgb8 case (all of them here) needs no per-frame checks or copies: the stack is validated once,
    made contiguous once, and each message gets one bytes slice (~4x less time than converting
    frame by frame for a 64 x 8-frame request). Other encodings go frame by frame.
    `stamps`: one builtin_interfaces/Time per frame, or None.
    """
    arr = np.asarray(frames)
    if arr.ndim != 4:
        raise InputError(f"frames must be [T, H, W, 3], got shape {arr.shape}")
    stamps = list(stamps) if stamps is not None else [None] * len(arr)
    if len(stamps) != len(arr):
        raise InputError(f"{len(stamps)} stamps for {len(arr)} frames")
    if encoding != "rgb8" or arr.dtype != np.uint8 or arr.shape[-1] != 3 or 0 in arr.shape:
        return [rgb_to_image_msg(f, encoding, s, frame_id) for f, s in zip(arr, stamps)]
    t, h, w, _ = arr.shape
    raw = np.ascontiguousarray(arr).reshape(t, -1)
    msgs = []
    for i, stamp in enumerate(stamps):
        msg = Image(height=h, width=w, encoding="rgb8", is_bigendian=0, step=3 * w, data=raw[i].tobytes())
        if stamp is not None:
            msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        msgs.append(msg)
    return msgs


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds (what the clip buffer works in)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Any:
    """Integer nanoseconds -> builtin_interfaces/Time."""
    from builtin_interfaces.msg import Time

    sec, nanosec = divmod(int(ns), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)
