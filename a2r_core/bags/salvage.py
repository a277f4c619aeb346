"""Sequential salvage of damaged rosbag2 storage files.

rosbags reads MCAP through its summary/index at the end of the file and sqlite3 through whole-table
queries, so a file cut short (a recorder killed, a full disk) or with a damaged page cannot be
opened at all. Both formats are written front to back, though, so everything before the damage is
intact. This module reads them the way they were written:

- MCAP: the `mcap` library's StreamReader walks records from the start (chunks included) until the
  data ends or stops parsing; a chunk cut in half is lost whole (its messages are not addressable).
- sqlite3: the standard library's sqlite3 walks the messages table in rowid (= insertion) order
  with the file opened immutable, until SQLite reports the database malformed.

The per-topic message counts written by the recorder (metadata.yaml) tell the caller how much was
lost. Only reading, never repairing: the input bag is not modified.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import yaml

from a2r_core.errors import DataError

# Records bigger than this are treated as damage (a corrupt length field) instead of being
# allocated: no single camera message comes close.
_RECORD_LIMIT = 1 << 30


def storage_kind(path: Path) -> str:
    """'mcap' or 'sqlite3' for a bag directory or a bare storage file; DataError otherwise."""
    if path.is_dir():
        meta = read_metadata(path)
        if meta is not None:
            kind = str(meta.get("storage_identifier", ""))
            if kind in ("mcap", "sqlite3"):
                return kind
            raise DataError(f"bag {path}: storage {kind!r} is not supported (mcap, sqlite3)")
        files = storage_files(path, None)
        if files:
            return "mcap" if files[0].suffix == ".mcap" else "sqlite3"
        raise DataError(f"{path} is not a rosbag2 bag: no metadata.yaml, .mcap or .db3 file in it")
    if path.suffix == ".mcap":
        return "mcap"
    if path.suffix == ".db3":
        return "sqlite3"
    raise DataError(f"{path} is not a rosbag2 bag: expected a bag directory, a .mcap or a .db3 file")


def read_metadata(bag_dir: Path) -> dict | None:
    """The rosbag2_bagfile_information mapping of a bag directory, or None when absent/unreadable."""
    meta_path = bag_dir / "metadata.yaml"
    if not meta_path.is_file():
        return None
    try:
        doc = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    info = doc.get("rosbag2_bagfile_information") if isinstance(doc, dict) else None
    return info if isinstance(info, dict) else None


def storage_files(bag_dir: Path, meta: dict | None) -> list[Path]:
    """The storage files of a bag directory, in recording order."""
    if meta is not None and isinstance(meta.get("relative_file_paths"), list):
        return [bag_dir / Path(str(p)).name for p in meta["relative_file_paths"]]
    return sorted([*bag_dir.glob("*.mcap"), *bag_dir.glob("*.db3")])


@dataclass(frozen=True)
class _Msg:
    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


@dataclass
class SalvagedBag:
    """What a salvage pass can offer: topic types, the recorder's counts, and a message stream."""

    path: Path
    files: list[Path]
    read_file: Callable[[Path, set[str] | None, list[str], dict[str, str]], Iterator[_Msg]]
    topic_types: dict[str, str] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def messages(self, wanted: set[str] | None) -> Iterator[_Msg]:
        """Every readable message of the `wanted` topics (all when None), file by file."""
        self.problems = []
        for file in self.files:
            if not file.is_file():
                self.problems.append(f"{file}: storage file is missing")
                continue
            yield from self.read_file(file, wanted, self.problems, self.topic_types)

    def close(self) -> None:
        """Nothing stays open between passes; present for symmetry with the rosbags reader."""


def open_salvage(path: Path, storage: str) -> SalvagedBag:
    """Prepare a salvage pass over the bag at `path` (directory or bare storage file)."""
    meta = read_metadata(path) if path.is_dir() else None
    files = storage_files(path, meta) if path.is_dir() else [path]
    if meta is not None and str(meta.get("compression_mode", "")).lower() not in ("", "none"):
        raise DataError(f"bag {path}: compressed bags ({meta.get('compression_mode')}) cannot be salvaged")
    reader = _mcap_messages if storage == "mcap" else _sqlite_messages
    bag = SalvagedBag(path=path, files=files, read_file=reader)
    if meta is not None:
        for entry in meta.get("topics_with_message_count") or []:
            try:
                topic = entry["topic_metadata"]
                bag.topic_types[str(topic["name"])] = str(topic["type"])
                bag.expected[str(topic["name"])] = int(entry["message_count"])
            except (KeyError, TypeError, ValueError):
                continue
    # A quick first pass learns the topics the file itself declares (needed before messages are
    # wanted, e.g. to list them when the requested topic does not exist).
    declared: dict[str, str] = {}
    for file in files:
        if file.is_file():
            declared.update(_declared_topics(file, storage))
    for name, msgtype in declared.items():
        bag.topic_types.setdefault(name, msgtype)
    if not bag.topic_types:
        raise DataError(f"bag {path}: no topic could be read from its storage files")
    return bag


def _declared_topics(file: Path, storage: str) -> dict[str, str]:
    if storage == "sqlite3":
        try:
            with closing(_sqlite_connect(file)) as conn:
                return {str(n): str(t) for n, t in conn.execute("SELECT name, type FROM topics")}
        except sqlite3.Error:
            return {}
    found: dict[str, str] = {}
    problems: list[str] = []
    # Walks the file once without keeping messages; channels live inside the first chunk.
    for _ in _mcap_messages(file, set(), problems, found):
        pass
    return found


# -- MCAP ------------------------------------------------------------------------------------------
def _mcap_messages(
    file: Path, wanted: set[str] | None, problems: list[str], topic_types: dict[str, str]
) -> Iterator[_Msg]:
    from mcap.records import Channel, DataEnd, Message, Schema
    from mcap.stream_reader import StreamReader

    schemas: dict[int, str] = {}
    channels: dict[int, tuple[str, str]] = {}
    with file.open("rb") as stream:
        reader = StreamReader(stream, record_size_limit=_RECORD_LIMIT)
        records = iter(reader.records)
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as exc:  # any parse failure of a damaged file marks where it ends
                problems.append(
                    f"{file}: MCAP data ends or is damaged at byte {stream.tell()} of "
                    f"{file.stat().st_size} ({type(exc).__name__}{': ' + str(exc) if str(exc) else ''}); "
                    "messages after that point are lost"
                )
                return
            if isinstance(record, DataEnd):  # the summary follows: no message after this
                return
            if isinstance(record, Schema):
                schemas[record.id] = record.name
            elif isinstance(record, Channel):
                msgtype = schemas.get(record.schema_id, "")
                channels[record.id] = (record.topic, msgtype)
                topic_types.setdefault(record.topic, msgtype)
            elif isinstance(record, Message):
                topic, msgtype = channels.get(record.channel_id, ("", ""))
                if not topic:
                    continue
                if wanted is None or topic in wanted:
                    yield _Msg(topic, msgtype, int(record.log_time), bytes(record.data))


# -- sqlite3 ---------------------------------------------------------------------------------------
def _sqlite_connect(file: Path) -> sqlite3.Connection:
    """Open a possibly truncated database strictly read-only.

    mode=ro&immutable=1: no writes, no locks, no journal, so the damaged file is never touched.
    writable_schema=ON is SQLite's documented switch for reading a file shorter than its header
    says: without it SQLite refuses the whole file ("database disk image is malformed"), with it
    the pages that exist are read and the first missing one raises (where salvage stops). It only
    relaxes a check; nothing can be written through a read-only connection.
    """
    conn = sqlite3.connect(f"file:{file}?mode=ro&immutable=1", uri=True)
    conn.execute("PRAGMA writable_schema=ON")
    return conn


def _sqlite_messages(
    file: Path, wanted: set[str] | None, problems: list[str], topic_types: dict[str, str]
) -> Iterator[_Msg]:
    try:
        conn = _sqlite_connect(file)
        topics = {int(i): (str(n), str(t)) for i, n, t in conn.execute("SELECT id, name, type FROM topics")}
    except sqlite3.Error as exc:
        problems.append(f"{file}: the topics table cannot be read ({exc}); no message is readable")
        return
    for name, msgtype in topics.values():
        topic_types.setdefault(name, msgtype)
    try:
        cursor = conn.execute("SELECT id, topic_id, timestamp, data FROM messages ORDER BY id")
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.Error as exc:
                problems.append(
                    f"{file}: the messages table is damaged ({exc}); messages after that point are lost"
                )
                return
            if row is None:
                return
            _, topic_id, timestamp, data = row
            topic, msgtype = topics.get(int(topic_id), ("", ""))
            if topic and (wanted is None or topic in wanted):
                yield _Msg(topic, msgtype, int(timestamp), bytes(data))
    except sqlite3.Error as exc:
        problems.append(f"{file}: the messages table cannot be read ({exc}); no message is readable")
    finally:
        conn.close()
