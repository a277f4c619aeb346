"""Camera messages <-> RGB uint8 frames, without ROS.

Why here and not in a2r_ros: the live reward node (rclpy messages) and offline bag scoring
(`rosbags`-deserialised messages) must turn the same bytes into the same pixels, and bag scoring
runs on machines without rclpy. So the functions are DUCK-TYPED on the fields of
`sensor_msgs/Image` (height, width, encoding, is_bigendian, step, data) and
`sensor_msgs/CompressedImage` (format, data) and import no ROS package.

Results follow ROS 2 `cv_bridge` (`imgmsg_to_cv2(msg, "rgb8")`) exactly, which is what
`a2r_ros.image_conversion` uses where cv_bridge is installed:

- colour orders are swapped and alpha dropped (cv_bridge: `cv::cvtColor`);
- grey images are replicated to three channels;
- mono16 is scaled to 8 bits as `round(v * 255 / 65535)` (cv_bridge: `convertTo(.., 255/65535)`;
  here OpenCV's `convertScaleAbs` with the same factor, identical for unsigned input), which is
  `(v + 128) // 257` for every 16-bit value;
- `step` (row padding) and `is_bigendian` are honoured.

Copies: rgb8 frames come back as a read-only numpy VIEW of the message buffer (np.frombuffer, no
copy; the clip buffer copies once when it assembles a clip). Every other encoding is converted with
OpenCV's `cvtColor` into a new contiguous array (about 0.15 ms for 640x480 on one core): a
channel-swapped, alpha-dropping or grey-broadcasting numpy view would also be zero-copy, but
`np.stack`-ing such strided views into a clip was measured 5-10x slower than converting each frame
with OpenCV, and cvtColor is exactly what cv_bridge runs.

Resizing to the model's input size (`resize_frames`) happens ONCE per frame, as early as possible
(the reward node does it when a frame arrives), on uint8 pixels with the same filter the model's
preprocessing uses (antialiased bilinear, `torch.nn.functional.interpolate`), so a frame costs
~0.14 ms instead of ~2.8 ms of float work per frame inside every clip that contains it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from a2r_core.errors import InputError

# encoding -> (channels, bytes per channel)
ENCODINGS: dict[str, tuple[int, int]] = {
    "rgb8": (3, 1),
    "bgr8": (3, 1),
    "rgba8": (4, 1),
    "bgra8": (4, 1),
    "mono8": (1, 1),
    "mono16": (1, 2),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)

# OpenCV conversion of each non-rgb8 layout to RGB (what cv_bridge's cvtColor path uses).
_CV_CODES = {"bgr8": "COLOR_BGR2RGB", "rgba8": "COLOR_RGBA2RGB", "bgra8": "COLOR_BGRA2RGB",
             "mono8": "COLOR_GRAY2RGB", "mono16": "COLOR_GRAY2RGB"}


def _raw_bytes(data: Any, what: str) -> np.ndarray:
    """The message's data field as a flat uint8 array, without copying when it is a buffer.

    rclpy gives `array.array('B')` (or bytes), rosbags gives a numpy uint8 array; a plain list is
    accepted too (copied).
    """
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise InputError(f"{what}: data must be uint8, got {data.dtype}")
        return data.reshape(-1)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"{what}: data is not a byte buffer ({type(data).__name__}): {exc}") from exc


def image_to_rgb(msg: Any) -> np.ndarray:
    """`sensor_msgs/Image`-like message -> RGB uint8 [H, W, 3] (a read-only view for rgb8).

    Raises InputError for an unknown encoding, a zero-size image, a `step` too small for the row,
    or `data` whose length is not `step * height`.
    """
    try:
        height, width = int(msg.height), int(msg.width)
        encoding = str(msg.encoding).strip().lower()
        step = int(msg.step)
        bigendian = bool(msg.is_bigendian)
        data = msg.data
    except AttributeError as exc:
        raise InputError(f"not a sensor_msgs/Image: {exc}") from exc
    if encoding not in ENCODINGS:
        raise InputError(
            f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    if height <= 0 or width <= 0:
        raise InputError(f"zero-size image ({width}x{height}, encoding {encoding})")
    channels, depth = ENCODINGS[encoding]
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise InputError(
            f"image step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} bytes)"
        )
    buf = _raw_bytes(data, "image")
    if buf.size != step * height:
        raise InputError(
            f"image data holds {buf.size} bytes, expected step*height = {step}*{height} = {step * height} "
            f"({width}x{height} {encoding})"
        )
    rows = buf.reshape(height, step)[:, :row_bytes]  # a view: padding skipped through the stride
    if encoding == "rgb8":
        return _readonly(rows.reshape(height, width, 3))
    import cv2

    if encoding == "mono16":
        values = rows.view(">u2" if bigendian else "<u2")  # [H, W]; last axis is contiguous
        if not values.dtype.isnative or not values.flags.aligned:
            values = values.astype(np.uint16)  # native byte order, aligned: what OpenCV reads
        # cv_bridge's convertTo(CV_8U, 255/65535): round(v / 257); ties cannot occur (257 is odd).
        pixels = cv2.convertScaleAbs(values, alpha=255.0 / 65535.0)
    else:
        pixels = rows.reshape(height, width, channels) if channels > 1 else rows
    return cv2.cvtColor(pixels, getattr(cv2, _CV_CODES[encoding]))


def _readonly(array: np.ndarray) -> np.ndarray:
    """Mark a frame read-only: it may be a view of a message buffer shared with other code."""
    if array.flags.writeable:
        array.flags.writeable = False
    return array


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """`sensor_msgs/CompressedImage`-like message (jpeg, png, ...) -> RGB uint8 [H, W, 3].

    Decoded with OpenCV (`cv2.imdecode`, IMREAD_UNCHANGED, as cv_bridge does); grey images are
    replicated to three channels, 16-bit images scaled like mono16, BGRA loses its alpha. The
    `format` field is informational only: OpenCV detects the codec from the bytes.
    """
    import cv2

    try:
        data, fmt = msg.data, str(getattr(msg, "format", ""))
    except AttributeError as exc:
        raise InputError(f"not a sensor_msgs/CompressedImage: {exc}") from exc
    buf = _raw_bytes(data, "compressed image")
    if buf.size == 0:
        raise InputError(f"compressed image ({fmt or 'no format'}) has no data")
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise InputError(f"compressed image ({fmt or 'no format'}, {buf.size} bytes) could not be decoded")
    if decoded.dtype == np.uint16:
        decoded = ((decoded.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif decoded.dtype != np.uint8:
        raise InputError(f"compressed image decodes to unsupported pixel type {decoded.dtype}")
    if decoded.ndim == 2 or decoded.shape[2] == 1:
        return cv2.cvtColor(decoded, cv2.COLOR_GRAY2RGB)
    # OpenCV decodes to BGR / BGRA.
    return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB if decoded.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def message_to_rgb(msg: Any) -> np.ndarray:
    """Either message kind -> RGB uint8 [H, W, 3]: a `format` field means CompressedImage."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_rgb(msg)
    return image_to_rgb(msg)


def needs_resize(height: int, width: int, size: int) -> bool:
    """True when a frame of height x width is DOWNscaled to the model's size x size on arrival.

    Only a shrink in both dimensions is done in uint8 (the common camera case: the antialiasing
    filter then averages many pixels, and rounding to uint8 moves a pixel by < 1 level). Frames
    smaller than the model in either dimension are left to the model's float preprocessing
    (upsampling from uint8 would add rounding and save nothing).
    """
    return (height, width) != (size, size) and height >= size and width >= size


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 [..., H, W, 3] -> [..., size, size, 3] uint8, contiguous, when `needs_resize`.

    Why this filter: it is the model's own (`a2r_core.model.preprocess.preprocess_clips`:
    `F.interpolate(..., mode="bilinear", align_corners=False, antialias=True)`), run by torch's
    uint8 channels-last kernel instead of on float32 copies, so the only difference from resizing
    in float inside the model is the rounding of each output pixel to uint8 (< 1 level; measured
    max 0.89, mean 0.26 on 640x480 -> 112). One frame and a stack of frames give bit-identical
    pixels (the kernel works image by image), so resizing each frame as it arrives (reward node)
    equals resizing a whole clip at once (`RewardModel.score`). Frames that need no resize are
    returned unchanged (not copied). About 0.14 ms for one 640x480 frame on one core (cv2
    INTER_AREA: 0.63 ms, a different filter; float32 interpolate: 2.8 ms).
    """
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim < 3 or arr.shape[-1] != 3:
        raise InputError(f"resize_frames: expected RGB uint8 [..., H, W, 3], got {arr.dtype} {tuple(arr.shape)}")
    height, width = arr.shape[-3], arr.shape[-2]
    if not needs_resize(height, width, size):
        return arr
    import warnings

    import torch
    import torch.nn.functional as F

    lead = arr.shape[:-3]
    flat = arr.reshape(-1, height, width, 3)
    if any(stride < 0 for stride in flat.strides):  # a flipped view (MuJoCo/gymnasium renders): torch needs >= 0
        flat = np.ascontiguousarray(flat)
    with warnings.catch_warnings():  # a read-only message view: torch only reads it here
        warnings.simplefilter("ignore", UserWarning)
        x = torch.from_numpy(flat)
    # [N, H, W, 3] seen as NCHW with channels-last strides: the fast uint8 path, no copy in.
    out = F.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)
    return out.permute(0, 2, 3, 1).contiguous().numpy().reshape(*lead, size, size, 3)


def rgb_to_image_fields(rgb: np.ndarray, encoding: str = "rgb8") -> dict[str, Any]:
    """RGB uint8 [H, W, 3] -> the fields of a `sensor_msgs/Image` in `encoding` (the reverse).

    Returns {height, width, encoding, is_bigendian, step, data (bytes)}, tightly packed
    (step = width * bytes per pixel), little-endian for mono16. Grey is OpenCV's RGB2GRAY
    (what cv_bridge's `cv2_to_imgmsg` after `cvtColor` gives); mono16 scales by 257 so that
    image_to_rgb(rgb_to_image_fields(x, "mono16")) == image_to_rgb(rgb_to_image_fields(x, "mono8")).
    """
    frame = np.asarray(rgb)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"expected an RGB uint8 [H, W, 3] frame, got {frame.dtype} {tuple(frame.shape)}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"zero-size frame {tuple(frame.shape)}")
    encoding = encoding.strip().lower()
    if encoding not in ENCODINGS:
        raise InputError(f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    height, width = frame.shape[:2]
    if encoding == "rgb8":
        out = frame
    elif encoding == "bgr8":
        out = frame[:, :, ::-1]
    elif encoding == "rgba8":
        out = np.concatenate([frame, np.full((height, width, 1), 255, np.uint8)], axis=2)
    elif encoding == "bgra8":
        out = np.concatenate([frame[:, :, ::-1], np.full((height, width, 1), 255, np.uint8)], axis=2)
    else:
        import cv2

        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        out = grey if encoding == "mono8" else (grey.astype("<u2") * 257)
    channels, depth = ENCODINGS[encoding]
    return {
        "height": height,
        "width": width,
        "encoding": encoding,
        "is_bigendian": 0,
        "step": width * channels * depth,
        "data": np.ascontiguousarray(out).tobytes(),
    }
