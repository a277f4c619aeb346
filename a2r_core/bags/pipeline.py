"""Score image topics of a bag: frames -> StreamScorer (the clip buffer + scoring loop) -> rows.

Kept apart from the CLI so tests and notebooks can score a bag and get rows back without files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from a2r_core.bags.frames import DecodeStats, image_topic, image_topics, iter_topic_frames
from a2r_core.bags.plot import thumbnail
from a2r_core.bags.reader import BagReader, ReadReport, TopicInfo
from a2r_core.clip_buffer import ClipBufferConfig
from a2r_core.errors import InputError
from a2r_core.scoring import ScoreRow, StreamScorer

if TYPE_CHECKING:
    from a2r_core.reward import RewardModel


@dataclass
class BagScoreResult:
    """Rows plus everything needed to say how complete they are."""

    bag: Path
    topic: TopicInfo
    storage: str
    rows: list[ScoreRow]
    frames_read: int
    decode: DecodeStats
    report: ReadReport
    events: list[str] = field(default_factory=list)
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        """Every loss, one sentence each: damage of the bag and messages that did not decode."""
        out = list(self.report.problems)
        if self.decode.skipped:
            out.append(
                f"{self.decode.skipped} message(s) on {self.topic.name} could not be decoded and were "
                f"skipped (first: {self.decode.first_error})"
            )
        return out

    @property
    def complete(self) -> bool:
        return not self.problems


def open_image_topic(bag: str | Path, topic: str) -> tuple[BagReader, TopicInfo]:
    """Open `bag` and check `topic` (InputError listing topics / supported types); caller closes."""
    reader = BagReader(bag)
    reader.open()
    try:
        info = image_topic(reader, topic)
    except BaseException:
        reader.close()
        raise
    return reader, info


def resolve_image_topics(bag: str | Path, topics: Sequence[str] | None) -> list[TopicInfo]:
    """The image topics to score: `topics` checked (duplicates dropped), or, when None or empty,
    the bag's only image topic.

    InputError, listing the bag's topics, when a given topic is missing or not an image, when the
    bag has no image topic, or when it has several and none was chosen (the user picks with
    --topic, which may be repeated to score several cameras).
    """
    with BagReader(bag) as reader:
        if topics:
            return [image_topic(reader, t) for t in dict.fromkeys(topics)]
        found = image_topics(reader)
        if len(found) == 1:
            return found
        if not found:
            raise InputError(f"bag {reader.path} has no image topic (sensor_msgs/msg/Image or "
                             f"CompressedImage); its topics are:\n{reader.describe_topics()}")
        listed = "\n".join(f"  {t.name}  [{t.msgtype}]" for t in found)
        raise InputError(f"bag {reader.path} has {len(found)} image topics; choose with --topic "
                         f"(repeat it to score several):\n{listed}")


def score_bag(
    bag: str | Path,
    topic: str,
    model: "RewardModel",
    instructions: Sequence[str],
    buffer_config: ClipBufferConfig | None = None,
    batch_size: int = 8,
    progress: bool = True,
    keep_thumbnails: bool = True,
) -> BagScoreResult:
    """Score every clip the live node's buffer would emit from `topic`, for every instruction."""
    return score_bag_topics(bag, [topic], model, instructions, buffer_config, batch_size=batch_size,
                            progress=progress, keep_thumbnails=keep_thumbnails)[0]


def score_bag_topics(
    bag: str | Path,
    topics: Sequence[str],
    model: "RewardModel",
    instructions: Sequence[str],
    buffer_config: ClipBufferConfig | None = None,
    batch_size: int = 8,
    progress: bool = True,
    keep_thumbnails: bool = True,
) -> list[BagScoreResult]:
    """Score several cameras of one bag in a single read: one clip buffer (the live node's, as if
    one reward node ran per camera) and one result per topic, in the order of `topics`.

    The results share the bag's ReadReport (one pass read them all).
    """
    topics = list(dict.fromkeys(topics))
    if not topics:
        raise InputError("no image topic to score")
    scorers = {t: StreamScorer(model, instructions, buffer_config, batch_size=batch_size) for t in topics}
    rows: dict[str, list[ScoreRow]] = {t: [] for t in topics}
    thumbs: dict[str, dict[int, np.ndarray]] = {t: {} for t in topics}
    decode = {t: DecodeStats() for t in topics}
    frames = dict.fromkeys(topics, 0)
    reader = BagReader(bag)
    reader.open()
    try:
        infos = {t: image_topic(reader, t) for t in topics}
        counts = [i.count for i in infos.values()]
        total = sum(counts) if all(c > 0 for c in counts) else None
        desc = f"scoring {topics[0]}" if len(topics) == 1 else f"scoring {len(topics)} cameras"
        with tqdm(total=total, unit="frame", desc=desc, disable=not progress) as bar:
            for topic, frame in iter_topic_frames(reader, topics, decode):
                frames[topic] += 1
                scorer = scorers[topic]
                new = scorer.push(frame.stamp_ns, frame.rgb, frame.frame_id, frame.log_time_ns)
                clip = scorer.last_clip
                if keep_thumbnails and clip is not None:  # a small copy of the clip's newest frame
                    thumbs[topic][clip.end_ns] = thumbnail(clip.frames[-1])
                rows[topic].extend(new)
                bar.update(1)
            for topic, scorer in scorers.items():
                rows[topic].extend(scorer.flush())
    finally:
        reader.close()
    return [
        BagScoreResult(
            bag=Path(bag),
            topic=infos[t],
            storage=reader.storage,
            rows=rows[t],
            frames_read=frames[t],
            decode=decode[t],
            report=reader.report,
            events=list(scorers[t].events),
            thumbnails=thumbs[t],
        )
        for t in topics
    ]
