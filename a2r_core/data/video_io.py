"""Clip files: write uint8 [T, H, W, 3] frames as a compressed video, read them back sampled.

Why PyAV: it links FFmpeg's encoders (h264 for a2r's own clips, VP9/VP8 for the .webm files of
Something-Something-v2) without a subprocess per clip. Writes are atomic (temp file + rename) so an
interrupted generation never leaves a half-written clip that a resumed run would trust. Every read
failure (missing, truncated, not a video, no frames) becomes one `DataError` naming the file, which
datasets count and skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from a2r_core.errors import DataError, InputError

PathLike = Union[str, Path]

# extension -> (container format, encoder candidates in order of preference)
_ENCODERS = {
    ".mp4": ("mp4", ("libx264", "h264", "mpeg4")),
    ".webm": ("webm", ("libvpx-vp9", "libvpx")),
    ".mkv": ("matroska", ("libx264", "libvpx-vp9")),
}


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: decoded frame count, frames per second and frame size."""

    num_frames: int
    fps: float
    width: int
    height: int


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError(f"frames must be [T, H, W, 3], got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise InputError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] < 1:
        raise InputError("a clip needs at least one frame")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise InputError(f"frame height and width must be even for yuv420p video, got {frames.shape[1:3]}")
    return frames


def write_video(path: PathLike, frames: np.ndarray, fps: float, crf: int = 18) -> Path:
    """Encode `frames` (uint8 [T, H, W, 3] RGB) to `path` (.mp4 h264, .webm VP9, .mkv) atomically.

    `crf` is the constant-rate quality (lower = better, 18 is visually near-lossless for h264).
    Encoding is single-threaded with x264's macroblock-tree off, so the same frames give the same
    bytes every time (tested), which makes "same seed, same clips" checkable on files.
    """
    import av

    frames = _check_frames(frames)
    if not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}")
    path = Path(path)
    if path.suffix not in _ENCODERS:
        raise InputError(f"unsupported video extension {path.suffix!r} for {path}; use one of {list(_ENCODERS)}")
    fmt, candidates = _ENCODERS[path.suffix]
    codec = next((c for c in candidates if c in av.codecs_available), None)
    if codec is None:
        raise DataError(f"this FFmpeg build has none of the encoders {candidates} for {path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    rate = Fraction(fps).limit_denominator(1000)
    try:
        with av.open(str(tmp), mode="w", format=fmt) as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
            stream.pix_fmt = "yuv420p"
            stream.thread_count = 1
            if codec in ("libx264", "h264"):
                # mbtree off: with it, x264 here gave different bytes (and pixels) for the same
                # frames from one call to the next; measured deterministic without it.
                stream.options = {"crf": str(crf), "preset": "medium", "threads": "1",
                                  "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0:mbtree=0"}
            elif codec.startswith("libvpx"):
                stream.options = {"crf": str(max(crf, 4)), "b": "0", "deadline": "good", "cpu-used": "4"}
            stream.codec_context.time_base = 1 / rate
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                frame.time_base = 1 / rate
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _decode(path: Path) -> tuple[list, float]:
    import av

    if not path.is_file():
        raise DataError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            decoded = list(container.decode(stream))
    except DataError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot decode video {path}: {exc}") from exc
    if not decoded:
        raise DataError(f"{path}: the video has no decodable frames")
    return decoded, fps


def video_info(path: PathLike) -> VideoInfo:
    """Decode `path` once and report its frame count, fps and size (DataError if unreadable)."""
    decoded, fps = _decode(Path(path))
    return VideoInfo(len(decoded), fps, int(decoded[0].width), int(decoded[0].height))


def sample_indices(num_frames: int, count: int, rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """`count` frame indices spread uniformly over `num_frames` (TSN-style segments).

    Without `rng`: the centre of each of `count` equal segments (evaluation, deterministic).
    With `rng`: a random position inside each segment (training jitter). Short videos repeat frames
    rather than fail, so a 5-frame clip still gives 8 indices in time order.
    """
    if num_frames < 1 or count < 1:
        raise InputError(f"need num_frames >= 1 and count >= 1, got {num_frames}, {count}")
    edges = np.linspace(0.0, num_frames, count + 1)
    if rng is None:
        points = (edges[:-1] + edges[1:]) / 2.0
    else:
        points = edges[:-1] + rng.random(count) * (edges[1:] - edges[:-1])
    return np.clip(np.floor(points).astype(np.int64), 0, num_frames - 1)


def read_video(path: PathLike, num_frames: Optional[int] = None,
               indices: Optional[Sequence[int]] = None,
               rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Decode `path` -> uint8 [T, H, W, 3] RGB.

    All frames by default; `num_frames` samples that many uniformly (jittered when `rng` is
    given); `indices` picks exact frames (negative = from the end). Only the chosen frames are
    converted to RGB. Raises DataError for a missing, corrupt or empty file.
    """
    path = Path(path)
    decoded, _ = _decode(path)
    total = len(decoded)
    if indices is not None:
        chosen = np.asarray(indices, dtype=np.int64)
        if chosen.size and (chosen.max() >= total or chosen.min() < -total):
            raise InputError(f"{path}: frame index out of range for {total} frames: {list(chosen)}")
        chosen = np.where(chosen < 0, chosen + total, chosen)
    elif num_frames is not None:
        chosen = sample_indices(total, num_frames, rng)
    else:
        chosen = np.arange(total)
    try:
        return np.stack([decoded[int(i)].to_ndarray(format="rgb24") for i in chosen])
    except ValueError as exc:  # frames of different sizes inside one file
        raise DataError(f"{path}: inconsistent frames: {exc}") from exc
