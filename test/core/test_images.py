"""Image / CompressedImage <-> RGB conversion (a2r_core.images), on real message layouts.

The reference for every encoding is OpenCV doing what ROS 2 cv_bridge does for
`imgmsg_to_cv2(msg, "rgb8")` (cv_bridge is not installable from PyPI): cvtColor for channel
orders, GRAY2RGB for grey, convertTo(255/65535) for 16 bits. Messages are built byte by byte with
row padding and both endiannesses, as a camera driver would send them.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from a2r_core.errors import InputError
from a2r_core.images import (
    SUPPORTED_ENCODINGS,
    compressed_to_rgb,
    image_to_rgb,
    message_to_rgb,
    needs_resize,
    resize_frames,
    rgb_to_image_fields,
)

RNG = np.random.default_rng(0)
H, W = 5, 7


def _padded_message(native: np.ndarray, encoding: str, pad: int, bigendian: bool = False,
                    data_kind: str = "bytes") -> SimpleNamespace:
    """A sensor_msgs/Image-shaped message whose rows are followed by `pad` junk bytes."""
    h = native.shape[0]
    if native.dtype == np.uint16:
        native = native.astype(">u2" if bigendian else "<u2")
    rows = np.ascontiguousarray(native).view(np.uint8).reshape(h, -1)
    junk = RNG.integers(0, 256, size=(h, pad), dtype=np.uint8)
    raw = np.concatenate([rows, junk], axis=1)
    data = {"bytes": raw.tobytes(), "ndarray": raw.reshape(-1), "list": raw.reshape(-1).tolist()}[data_kind]
    return SimpleNamespace(height=h, width=native.shape[1], encoding=encoding, is_bigendian=int(bigendian),
                           step=raw.shape[1], data=data)


def _native(encoding: str) -> np.ndarray:
    if encoding == "mono16":
        # include the rounding edges of v / 257 (128, 129 around 0.5) and the extremes
        values = RNG.integers(0, 65536, size=(H, W), dtype=np.uint16)
        values.flat[:6] = [0, 128, 129, 65535, 257 * 100 + 128, 257 * 100 + 129]
        return values
    channels = {"mono8": 1, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}[encoding]
    shape = (H, W) if channels == 1 else (H, W, channels)
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def _cv_bridge_reference(native: np.ndarray, encoding: str) -> np.ndarray:
    """What cv_bridge's cvtColor path produces for `encoding` -> rgb8 (same OpenCV calls)."""
    code = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
            "mono8": cv2.COLOR_GRAY2RGB, "mono16": cv2.COLOR_GRAY2RGB}.get(encoding)
    out = native if code is None else cv2.cvtColor(native, code)
    if encoding == "mono16":
        out = cv2.convertScaleAbs(out, alpha=255.0 / 65535.0)
    return out


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [False, True])
def test_every_encoding_matches_the_cv_bridge_path(encoding: str, pad: int, bigendian: bool) -> None:
    native = _native(encoding)
    msg = _padded_message(native, encoding, pad, bigendian)
    rgb = image_to_rgb(msg)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
    np.testing.assert_array_equal(rgb, _cv_bridge_reference(native, encoding))


def test_rgb8_is_a_zero_copy_read_only_view_and_the_rest_contiguous_copies() -> None:
    native = _native("rgb8")
    msg = _padded_message(native, "rgb8", pad=2, data_kind="ndarray")
    rgb = image_to_rgb(msg)
    assert np.shares_memory(rgb, msg.data) and not rgb.flags.writeable
    for encoding in ("bgr8", "rgba8", "bgra8", "mono8", "mono16"):
        msg = _padded_message(_native(encoding), encoding, pad=2, data_kind="ndarray")
        rgb = image_to_rgb(msg)
        assert not np.shares_memory(rgb, msg.data) and rgb.flags.c_contiguous, encoding


@pytest.mark.parametrize("data_kind", ["bytes", "ndarray", "list"])
def test_data_field_kinds_of_rclpy_rosbags_and_hand_built_messages(data_kind: str) -> None:
    import array

    native = _native("bgr8")
    msg = _padded_message(native, "bgr8", pad=1, data_kind=data_kind)
    np.testing.assert_array_equal(image_to_rgb(msg), native[:, :, ::-1])
    if data_kind == "bytes":  # rclpy's uint8[] is array.array('B')
        msg.data = array.array("B", msg.data)
        np.testing.assert_array_equal(image_to_rgb(msg), native[:, :, ::-1])


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_scaling_over_every_16_bit_value(bigendian: bool) -> None:
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    rgb = image_to_rgb(_padded_message(values, "mono16", pad=1, bigendian=bigendian))  # odd step: unaligned
    expected = np.round(values.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    np.testing.assert_array_equal(rgb[..., 0], expected)
    np.testing.assert_array_equal(rgb[..., 0], (values.astype(np.uint32) + 128) // 257)
    assert (rgb[..., 0] == rgb[..., 2]).all()


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_rosbags_deserialised_messages_convert_like_hand_built_ones(encoding: str) -> None:
    """Bag scoring gets rosbags messages (numpy data, read-only): the same bytes, the same pixels."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    native = _native(encoding)
    fields = vars(_padded_message(native, encoding, pad=5, bigendian=encoding == "mono16"))
    header = types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id="cam")
    msg = types["sensor_msgs/msg/Image"](header=header, **{**fields, "data": np.frombuffer(fields["data"], np.uint8)})
    decoded = store.deserialize_cdr(store.serialize_cdr(msg, "sensor_msgs/msg/Image"), "sensor_msgs/msg/Image")
    np.testing.assert_array_equal(image_to_rgb(decoded), _cv_bridge_reference(native, encoding))
    ok, png = cv2.imencode(".png", cv2.cvtColor(_cv_bridge_reference(native, encoding), cv2.COLOR_RGB2BGR))
    compressed = types["sensor_msgs/msg/CompressedImage"](header=header, format="png", data=png.reshape(-1))
    decoded = store.deserialize_cdr(store.serialize_cdr(compressed, "sensor_msgs/msg/CompressedImage"),
                                    "sensor_msgs/msg/CompressedImage")
    np.testing.assert_array_equal(message_to_rgb(decoded), _cv_bridge_reference(native, encoding))


def test_mono16_endianness_is_honoured() -> None:
    native = np.full((2, 3), 0x0102, dtype=np.uint16)  # bytes 01 02 read the wrong way = 0x0201
    little = _padded_message(native, "mono16", pad=0, bigendian=False)
    as_big = SimpleNamespace(**{**vars(little), "is_bigendian": 1})
    assert image_to_rgb(little)[0, 0, 0] == (0x0102 + 128) // 257
    assert image_to_rgb(as_big)[0, 0, 0] == (0x0201 + 128) // 257


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_reverse_then_forward_round_trip(encoding: str) -> None:
    rgb = RNG.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    fields = rgb_to_image_fields(rgb, encoding)
    assert fields["step"] * fields["height"] == len(fields["data"])
    back = image_to_rgb(SimpleNamespace(**fields))
    if encoding.startswith("mono"):
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        np.testing.assert_array_equal(back, np.repeat(grey[:, :, None], 3, axis=2))
    else:
        np.testing.assert_array_equal(back, rgb)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_compressed_png_and_jpeg_decode(ext: str) -> None:
    # smooth image so the JPEG error is small and measurable
    yy, xx = np.mgrid[0:32, 0:48]
    rgb = np.stack([xx * 5, yy * 7, (xx + yy) * 3], axis=2).astype(np.uint8)
    ok, encoded = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = SimpleNamespace(format=ext[1:], data=encoded.tobytes())
    out = compressed_to_rgb(msg)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    if ext == ".png":
        np.testing.assert_array_equal(out, rgb)
    else:
        assert np.abs(out.astype(int) - rgb).mean() < 3.0  # lossy, but the channel order is right
    assert message_to_rgb(msg).shape == rgb.shape


def test_compressed_grey_and_16_bit_png() -> None:
    grey16 = np.array([[0, 128, 129, 65535]], dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", grey16)
    assert ok
    out = compressed_to_rgb(SimpleNamespace(format="mono16; png compressed", data=encoded.tobytes()))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 1, 255])
    assert (out[..., 0] == out[..., 2]).all()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"encoding": "yuv422"}, "unsupported image encoding"),
        ({"encoding": "32FC1"}, "supported: rgb8"),
        ({"height": 0, "data": b""}, "zero-size"),
        ({"width": 0}, "zero-size"),
        ({"step": 5}, "smaller than one row"),
        ("truncate", r"expected step\*height"),
        ("extend", r"expected step\*height"),
    ],
)
def test_malformed_images_raise_input_error(change, message: str) -> None:
    msg = _padded_message(_native("rgb8"), "rgb8", pad=2)
    if change == "truncate":
        msg.data = msg.data[:-1]
    elif change == "extend":
        msg.data = msg.data + b"\0"
    else:
        for key, value in change.items():
            setattr(msg, key, value)
    with pytest.raises(InputError, match=message):
        image_to_rgb(msg)


def test_malformed_compressed_images_raise_input_error() -> None:
    with pytest.raises(InputError, match="no data"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b""))
    with pytest.raises(InputError, match="could not be decoded"):
        compressed_to_rgb(SimpleNamespace(format="jpeg", data=b"not a jpeg at all"))
    with pytest.raises(InputError, match="not a sensor_msgs/Image"):
        image_to_rgb(SimpleNamespace(height=1))


def test_reverse_rejects_non_rgb_frames() -> None:
    with pytest.raises(InputError, match=r"RGB uint8 \[H, W, 3\]"):
        rgb_to_image_fields(np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match="unsupported"):
        rgb_to_image_fields(np.zeros((4, 4, 3), np.uint8), "yuv422")


def test_conversion_and_buffer_modules_import_no_ros() -> None:
    """Bag scoring runs without rclpy: these modules must not pull it in (fresh interpreter)."""
    import subprocess

    code = ("import sys, a2r_core.images, a2r_core.clip_buffer; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rosidl_runtime_py', 'sensor_msgs')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _camera_like(count: int, height: int, width: int) -> np.ndarray:
    """Smooth-ish frames with edges (noise blurred, plus a bright bar), like a camera image."""
    frames = RNG.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    frames = cv2.GaussianBlur(frames.reshape(count * height, width, 3), (0, 0), 2).reshape(count, height, width, 3)
    frames[:, :, width // 3: width // 3 + 9] = 250
    return frames


def test_resize_frames_is_the_model_filter_rounded_to_uint8() -> None:
    """The preprocessing filter (antialiased bilinear, as preprocess_clips runs it in float), each
    output pixel within 1 level of the float result."""
    import torch
    import torch.nn.functional as F

    frames = _camera_like(3, 480, 640)
    small = resize_frames(frames, 112)
    assert small.shape == (3, 112, 112, 3) and small.dtype == np.uint8 and small.flags.c_contiguous
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    ref = F.interpolate(x, size=(112, 112), mode="bilinear", align_corners=False, antialias=True)
    diff = np.abs(small.astype(np.float32) - ref.permute(0, 2, 3, 1).numpy())
    assert diff.max() < 1.0 and diff.mean() < 0.4


@pytest.mark.parametrize("shape,size", [((480, 640), 112), ((121, 97), 32), ((64, 64), 32)])
def test_resize_frames_one_by_one_equals_a_whole_clip(shape, size) -> None:
    """Frame-by-frame on arrival (the reward node) == a whole clip at once (RewardModel.score)."""
    frames = _camera_like(5, *shape)
    clip = resize_frames(frames, size)
    one_by_one = np.stack([resize_frames(f, size) for f in frames])
    np.testing.assert_array_equal(clip, one_by_one)
    batch = resize_frames(np.stack([frames, frames[::-1]]), size)  # [B, T, H, W, 3]
    assert batch.shape == (2, 5, size, size, 3)
    np.testing.assert_array_equal(batch[0], clip)
    np.testing.assert_array_equal(batch[1], clip[::-1])


def test_resize_frames_leaves_small_and_model_size_frames_alone() -> None:
    for shape in [(32, 32), (24, 40), (40, 24), (10, 10)]:
        frame = RNG.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
        assert resize_frames(frame, 32) is frame
        assert not needs_resize(*shape, 32)
    assert needs_resize(33, 32, 32) and needs_resize(480, 640, 112)


def test_resize_frames_reads_a_read_only_message_view_without_warnings() -> None:
    import warnings

    frame = _camera_like(1, 48, 64)[0]
    msg = SimpleNamespace(height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3, data=frame.tobytes())
    view = image_to_rgb(msg)
    assert not view.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = resize_frames(view, 32)
    np.testing.assert_array_equal(small, resize_frames(frame, 32))
    assert small.flags.writeable  # owns its pixels: the message can be freed


def test_resize_frames_rejects_non_rgb_input() -> None:
    for bad in [np.zeros((40, 40), np.uint8), np.zeros((40, 40, 4), np.uint8), np.zeros((40, 40, 3), np.float32)]:
        with pytest.raises(InputError, match="resize_frames"):
            resize_frames(bad, 32)


def test_resize_frames_takes_flipped_views() -> None:
    """MuJoCo renders through gymnasium come as flipped views (negative strides); torch cannot
    wrap those, so resize_frames copies them first and gives the contiguous copy's pixels."""
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 256, size=(3, 48, 40, 3), dtype=np.uint8)
    flipped = frames[:, ::-1]
    assert any(s < 0 for s in flipped.strides)
    np.testing.assert_array_equal(resize_frames(flipped, 16), resize_frames(np.ascontiguousarray(flipped), 16))
