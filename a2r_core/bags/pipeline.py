"""Score one image topic of a bag: frames -> StreamScorer (the live node's loop) -> rows.

Kept apart from the CLI so tests and notebooks can score a bag and get rows back without files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from tqdm import tqdm

from a2r_core.bags.frames import DecodeStats, image_topic, iter_frames
from a2r_core.bags.plot import thumbnail
from a2r_core.bags.reader import BagReader, ReadReport, TopicInfo
from a2r_core.clip_buffer import ClipBufferConfig
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
    scorer = StreamScorer(model, instructions, buffer_config, batch_size=batch_size)
    reader, info = open_image_topic(bag, topic)
    rows: list[ScoreRow] = []
    thumbs: dict[int, np.ndarray] = {}
    decode = DecodeStats()
    frames = 0
    try:
        bar = tqdm(total=info.count if info.count > 0 else None, unit="frame", desc=f"scoring {topic}", disable=not progress)
        with bar:
            for frame in iter_frames(reader, topic, decode):
                frames += 1
                new = scorer.push(frame.stamp_ns, frame.rgb, frame.frame_id, frame.log_time_ns)
                clip = scorer.last_clip
                if keep_thumbnails and clip is not None:  # a small copy of the clip's newest frame
                    thumbs[clip.end_ns] = thumbnail(clip.frames[-1])
                rows.extend(new)
                bar.update(1)
            rows.extend(scorer.flush())
    finally:
        reader.close()
    return BagScoreResult(
        bag=Path(bag),
        topic=info,
        storage=reader.storage,
        rows=rows,
        frames_read=frames,
        decode=decode,
        report=reader.report,
        events=list(scorer.events),
        thumbnails=thumbs,
    )
