"""Camera frames out of a bag topic: header stamps + RGB uint8 pixels.

Decoding goes through `a2r_core.images.message_to_rgb`, the same conversion the live reward node
applies to rclpy messages, so a recorded frame and a live frame give identical pixels. The stamp is
the message's header stamp (what the live node's clip buffer uses), not the bag's log time; the log
time is kept alongside so output messages can be placed next to their image on playback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np

from a2r_core.bags.reader import BagReader, TopicInfo
from a2r_core.errors import InputError
from a2r_core.images import SUPPORTED_ENCODINGS, message_to_rgb

SUPPORTED_IMAGE_TYPES: tuple[str, ...] = (
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CompressedImage",
)
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class BagFrame:
    """One decoded camera frame of a bag."""

    stamp_ns: int      # header.stamp in nanoseconds: the clip buffer's clock
    log_time_ns: int   # when the recorder received it: where derived messages go in a new bag
    frame_id: str
    rgb: np.ndarray    # uint8 [H, W, 3], read-only (may view the message buffer)


@dataclass
class DecodeStats:
    """Messages of the image topic that were read but could not be turned into a frame."""

    skipped: int = 0
    first_error: str = ""

    def note(self, message: str) -> None:
        self.skipped += 1
        if not self.first_error:
            self.first_error = message


def image_topic(reader: BagReader, topic: str) -> TopicInfo:
    """The bag's `topic`, checked to exist and to carry a supported image type.

    InputError otherwise, listing the topics that exist (with their types) or naming the supported
    message types and encodings, so the user can fix the command line without another tool.
    """
    topics = reader.topics
    info = topics.get(topic)
    if info is None:
        raise InputError(
            f"topic {topic!r} is not in bag {reader.path}; its topics are:\n{reader.describe_topics()}"
        )
    if info.msgtype not in SUPPORTED_IMAGE_TYPES:
        raise InputError(
            f"topic {topic!r} in bag {reader.path} carries {info.msgtype}, which a2r cannot score; "
            f"supported message types: {', '.join(SUPPORTED_IMAGE_TYPES)} "
            f"(Image encodings: {', '.join(SUPPORTED_ENCODINGS)}; CompressedImage: any format "
            "OpenCV decodes, e.g. jpeg, png)"
        )
    return info


def iter_frames(reader: BagReader, topic: str, stats: DecodeStats | None = None) -> Iterator[BagFrame]:
    """Decoded frames of `topic` in storage order; undecodable messages are counted and skipped.

    A message that does not deserialise or whose pixels are malformed is skipped (as the live node
    skips it with a warning) and counted in `stats`, so the caller can report the loss.
    """
    stats = stats if stats is not None else DecodeStats()
    for _, frame in iter_topic_frames(reader, [topic], {topic: stats}):
        yield frame


def iter_topic_frames(
    reader: BagReader, topics: Sequence[str], stats: Mapping[str, DecodeStats] | None = None
) -> Iterator[tuple[str, BagFrame]]:
    """(topic, frame) of several image topics in one pass over the bag, in storage order.

    One pass because a bag is read sequentially: scoring N cameras should cost one read, not N.
    Every topic is checked first (`image_topic`); undecodable messages are counted per topic in
    `stats` (a mapping topic -> DecodeStats; missing topics are not counted) and skipped.
    """
    for topic in topics:
        image_topic(reader, topic)
    stats = stats if stats is not None else {}
    for raw in reader.messages(list(topics)):
        try:
            msg = reader.deserialize(raw)
            rgb = message_to_rgb(msg)
        except InputError as exc:
            if raw.topic in stats:
                stats[raw.topic].note(f"{raw.topic} message at log time {raw.log_time_ns} ns: {exc}")
            continue
        header = msg.header  # type: ignore[attr-defined]
        stamp_ns = int(header.stamp.sec) * NS_PER_S + int(header.stamp.nanosec)
        yield raw.topic, BagFrame(stamp_ns, raw.log_time_ns, str(header.frame_id), rgb)


def image_topics(reader: BagReader) -> list[TopicInfo]:
    """Every topic of the bag that carries a supported image type, sorted by name."""
    return sorted((t for t in reader.topics.values() if t.msgtype in SUPPORTED_IMAGE_TYPES),
                  key=lambda t: t.name)
