"""The clip manifest: one JSON object per line, one line per clip, next to the clip files.

Why JSONL: generation appends a line as each clip is finished, so an interrupted run can resume by
reading what is already there; a human can `grep` it; and it holds exactly the fields of
`ClipRecord` (task, instruction, domain, success, path, failure_source, variant, seed, num_frames,
fps, extra). `path` is relative to the manifest's directory so a dataset directory can be moved.

Every line is validated on load (types, allowed values, no unknown keys), and errors name the file
and line number.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable, Union

from a2r_core.data.records import DOMAINS, ClipRecord
from a2r_core.errors import DataError

PathLike = Union[str, Path]
MANIFEST_NAME = "manifest.jsonl"

_FIELDS = {f.name: f for f in dataclasses.fields(ClipRecord)}
_REQUIRED = ("task", "instruction", "domain", "success", "path")
_OPTIONAL_STR = ("failure_source",)


def record_to_dict(record: ClipRecord) -> dict[str, Any]:
    """A ClipRecord as the JSON object of one manifest line."""
    return {name: getattr(record, name) for name in _FIELDS}


def _fail(where: str, message: str) -> DataError:
    return DataError(f"{where}: {message}")


def record_from_dict(obj: Any, where: str = "<record>") -> ClipRecord:
    """Validate one manifest object and build its ClipRecord; `where` prefixes error messages
    (e.g. "data/manifest.jsonl line 7")."""
    if not isinstance(obj, dict):
        raise _fail(where, f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise _fail(where, f"unknown keys {unknown}; allowed: {sorted(_FIELDS)}")
    missing = [k for k in _REQUIRED if k not in obj]
    if missing:
        raise _fail(where, f"missing keys {missing}")
    for key in ("task", "instruction", "path", "variant"):
        if key in obj and (not isinstance(obj[key], str) or not obj[key].strip()):
            raise _fail(where, f"{key!r} must be a non-empty string, got {obj[key]!r}")
    if obj["domain"] not in DOMAINS:
        raise _fail(where, f"'domain' must be one of {list(DOMAINS)}, got {obj['domain']!r}")
    if not isinstance(obj["success"], bool):
        raise _fail(where, f"'success' must be true or false, got {obj['success']!r}")
    source = obj.get("failure_source")
    if source is not None and (not isinstance(source, str) or not source):
        raise _fail(where, f"'failure_source' must be a non-empty string or null, got {source!r}")
    seed = obj.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _fail(where, f"'seed' must be an integer or null, got {seed!r}")
    frames = obj.get("num_frames", 0)
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
        raise _fail(where, f"'num_frames' must be an integer >= 0, got {frames!r}")
    fps = obj.get("fps", 0.0)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps < 0:
        raise _fail(where, f"'fps' must be a number >= 0, got {fps!r}")
    extra = obj.get("extra", {})
    if not isinstance(extra, dict):
        raise _fail(where, f"'extra' must be an object, got {type(extra).__name__}")
    values = dict(obj)
    values["fps"] = float(fps)
    values["extra"] = extra
    return ClipRecord(**values)


def read_manifest(path: PathLike, allow_torn_tail: bool = False) -> list[ClipRecord]:
    """Load and validate every line of a JSONL manifest (blank lines ignored).

    `allow_torn_tail`: a last line without its newline that does not parse is dropped instead of
    raising: that is what a run killed mid-write leaves, and a resumed run regenerates that clip.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from exc
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if allow_torn_tail and number == len(lines) and not text.endswith("\n"):
                break
            raise _fail(where, f"invalid JSON: {exc.msg} (column {exc.colno})") from exc
        records.append(record_from_dict(obj, where))
    return records


def _line(record: ClipRecord) -> str:
    return json.dumps(record_to_dict(record), sort_keys=True, ensure_ascii=False) + "\n"


def append_records(path: PathLike, records: Iterable[ClipRecord]) -> None:
    """Append records to a manifest, one whole line per write, flushed to disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(_line(record))
        handle.flush()
        os.fsync(handle.fileno())


def write_manifest(path: PathLike, records: Iterable[ClipRecord]) -> Path:
    """Write a whole manifest atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(_line(record))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resolve_path(manifest_path: PathLike, record: ClipRecord) -> Path:
    """The absolute path of a record's video (relative paths are relative to the manifest)."""
    clip = Path(record.path)
    return clip if clip.is_absolute() else Path(manifest_path).resolve().parent / clip
