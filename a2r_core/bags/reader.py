"""Read rosbag2 bags (MCAP or sqlite3 storage) without a ROS install, salvaging damaged ones.

`BagReader` wraps `rosbags.rosbag2.Reader` (a bag directory with metadata.yaml, or a bare `.mcap`
/ `.db3` file). Recorded bags are often damaged: a recorder killed mid-write leaves an MCAP file
without its footer and index, a full disk leaves a truncated sqlite3 database. rosbags refuses
those outright, so when it cannot open a storage file, or fails part way through its messages,
the reader falls back to a sequential salvage pass (`a2r_core.bags.salvage`) that yields every
message up to the damage. Whatever could not be read is recorded in `BagReader.report` so the
caller can say what was lost and exit non-zero instead of pretending the bag was whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Iterator, Sequence

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosbags.typesys.store import Typestore

from a2r_core.bags import salvage
from a2r_core.bags.typestore import a2r_typestore
from a2r_core.errors import DataError, InputError

# Exceptions that a damaged storage file makes rosbags' readers (and apsw/struct underneath them)
# raise. Caught only around the library's own read calls, where they mean "this file is damaged".
_DAMAGE_ERRORS: tuple[type[BaseException], ...] = (Exception,)


@dataclass(frozen=True)
class TopicInfo:
    """One topic of a bag: name, ROS type (e.g. sensor_msgs/msg/Image) and its message count
    (-1 when a damaged bag without metadata.yaml does not say)."""

    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class RawMessage:
    """A serialised (CDR) message as stored: topic, type, log time (receive time, ns) and bytes."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


@dataclass
class ReadReport:
    """What reading a bag got and what it lost.

    `expected` per topic comes from the bag's own bookkeeping (metadata.yaml, the MCAP summary or
    the sqlite3 index), when it could be read; `read` counts messages actually yielded; `problems`
    are human-readable sentences naming the file and the damage (something was or may have been
    lost); `notes` say how a damaged file was read when nothing turned out to be lost (e.g. an MCAP
    whose index is broken but whose messages are all there).
    """

    expected: dict[str, int] = field(default_factory=dict)
    read: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how it was read (e.g. salvaged); not losses

    @property
    def complete(self) -> bool:
        """True when nothing was lost: no problem recorded."""
        return not self.problems

    def lost(self, topic: str) -> int | None:
        """Messages of `topic` the bag says it holds but were not read (None: count unknown)."""
        if topic not in self.expected:
            return None
        return max(0, self.expected[topic] - self.read.get(topic, 0))

    def summary(self) -> str:
        """The problems, one per line, for a terminal."""
        return "\n".join(self.problems)


class BagReader:
    """A rosbag2 bag opened for reading; use as a context manager.

    Opening never raises for a damaged storage file that can be salvaged: the damage goes to
    `report` and `messages()` yields what is readable. It raises DataError when nothing at all can
    be read (not a bag, missing metadata, unknown storage).
    """

    def __init__(self, path: str | Path, typestore: Typestore | None = None) -> None:
        self.path = Path(path)
        self.typestore = typestore or a2r_typestore()
        self.report = ReadReport()
        self.storage: str = ""  # "mcap" | "sqlite3"
        self._reader: Reader | None = None
        self._salvage: salvage.SalvagedBag | None = None
        self._topics: dict[str, TopicInfo] = {}

    # -- opening -------------------------------------------------------------------------------
    def __enter__(self) -> "BagReader":
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Open the bag with rosbags, or salvage it when its storage file is damaged."""
        if not self.path.exists():
            raise InputError(f"bag {self.path} does not exist")
        self.storage = salvage.storage_kind(self.path)
        try:
            reader = Reader(self.path)
            reader.open()
        except _DAMAGE_ERRORS as exc:
            self._open_salvage(f"{self.path}: rosbags cannot open it ({_describe(exc)})")
            return
        self._reader = reader
        for conn in reader.connections:
            prev = self._topics.get(conn.topic)
            count = conn.msgcount + (prev.count if prev else 0)
            self._topics[conn.topic] = TopicInfo(conn.topic, conn.msgtype, count)
        self.report.expected = {t.name: t.count for t in self._topics.values()}

    def _open_salvage(self, why: str) -> None:
        try:
            self._salvage = salvage.open_salvage(self.path, self.storage)
        except DataError as exc:
            raise DataError(f"{why}; salvage failed too: {exc}") from None
        self.report.notes.append(why + "; read it sequentially instead")
        self._topics = {
            name: TopicInfo(name, msgtype, self._salvage.expected.get(name, -1))
            for name, msgtype in self._salvage.topic_types.items()
        }
        self.report.expected = dict(self._salvage.expected)

    def close(self) -> None:
        """Release the storage files."""
        if self._reader is not None:
            try:
                self._reader.close()
            except _DAMAGE_ERRORS:  # closing a damaged file must not hide the real report
                pass
            self._reader = None
        if self._salvage is not None:
            self._salvage.close()
            self._salvage = None

    # -- contents ------------------------------------------------------------------------------
    @property
    def topics(self) -> dict[str, TopicInfo]:
        """Topic name -> TopicInfo, for every topic the bag declares."""
        return dict(self._topics)

    def describe_topics(self) -> str:
        """The topics as an indented list, for error messages that must say what exists."""
        if not self._topics:
            return "  (the bag has no topics)"
        return "\n".join(
            f"  {t.name}  [{t.msgtype}]  " + (f"{t.count} messages" if t.count >= 0 else "message count unknown")
            for t in sorted(self._topics.values(), key=lambda t: t.name)
        )

    def messages(self, topics: Sequence[str] | None = None) -> Iterator[RawMessage]:
        """Serialised messages of `topics` (all when None) in storage order, damage recorded.

        One pass per reader: `report.read` counts what this pass yielded.

        With rosbags, a read error part way through ends the stream (the rest of that file is
        unreachable through its index) and is recorded in `report`.
        """
        wanted = set(topics) if topics is not None else None
        if self._salvage is not None:
            for msg in self._salvage.messages(wanted):
                msg = RawMessage(msg.topic, msg.msgtype, msg.log_time_ns, msg.data)
                self.report.read[msg.topic] = self.report.read.get(msg.topic, 0) + 1
                yield msg
            self.report.problems.extend(self._salvage.problems)
            self._note_losses(wanted)
            return
        if self._reader is None:
            raise DataError(f"bag {self.path} is not open")
        conns: list[Connection] = [
            c for c in self._reader.connections if wanted is None or c.topic in wanted
        ]
        if not conns:
            return
        stream = self._reader.messages(connections=conns)
        while True:
            try:
                conn, timestamp, data = next(stream)
            except StopIteration:
                break
            except _DAMAGE_ERRORS as exc:
                self.report.problems.append(
                    f"{self.path}: reading stopped part way through ({_describe(exc)})"
                )
                break
            self.report.read[conn.topic] = self.report.read.get(conn.topic, 0) + 1
            yield RawMessage(conn.topic, conn.msgtype, int(timestamp), bytes(data))
        self._note_losses(wanted)

    def _note_losses(self, wanted: set[str] | None) -> None:
        """After a full pass: record every topic that yielded fewer messages than the bag lists."""
        for topic in sorted(wanted if wanted is not None else self.report.expected):
            lost = self.report.lost(topic)
            if lost:
                self.report.problems.append(
                    f"{topic}: read {self.report.read.get(topic, 0)} of "
                    f"{self.report.expected[topic]} messages, {lost} lost"
                )

    def connections(self) -> list[Connection]:
        """rosbags connections (with message definitions) of an intact bag; empty when salvaged."""
        return list(self._reader.connections) if self._reader is not None else []

    def deserialize(self, msg: RawMessage) -> object:
        """Decode a CDR message with the typestore; InputError when the bytes do not parse."""
        try:
            return self.typestore.deserialize_cdr(msg.data, msg.msgtype)
        except _DAMAGE_ERRORS as exc:
            raise InputError(
                f"{self.path}: a {msg.msgtype} message on {msg.topic} at log time "
                f"{msg.log_time_ns} ns does not deserialise ({_describe(exc)})"
            ) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
