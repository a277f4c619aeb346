"""Write a copy of a bag with the rewards added on /a2r/reward (one stream per scored camera).

The new bag holds every original message byte for byte (same topics, types, QoS profiles and log
times) plus one `a2r_ros/msg/RewardScore` per clip and instruction, typed from the package's own
.msg definition (a2r_core.bags.typestore). One camera's rewards go on /a2r/reward, the topic the
live node publishes; several cameras' each go on their own topic, /a2r/reward followed by the
camera's topic (`reward_topics`: /cam_left/image_raw -> /a2r/reward/cam_left/image_raw), so a
player or a plot can tell them apart. Each reward is logged at the log time of the newest
frame of its clip, so `ros2 bag play` publishes it right after the image it belongs to, and its
header.stamp is that frame's header stamp, like the live node's.

The bag is written into a temporary directory next to the destination and renamed into place,
so an interrupted run never leaves a half-written bag under the requested name.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from rosbags.interfaces import ConnectionExtRosbag2
from rosbags.rosbag2 import StoragePlugin, Writer

from a2r_core.bags.reader import BagReader
from a2r_core.bags.typestore import REWARD_MSGTYPE
from a2r_core.errors import DataError, InputError
from a2r_core.output_dirs import staging_dir
from a2r_core.scoring import ScoreRow

REWARD_TOPIC = "/a2r/reward"
NS_PER_S = 1_000_000_000


def reward_topics(camera_topics: Sequence[str]) -> dict[str, str]:
    """Camera topic -> the topic its rewards go on in an output bag.

    One camera: /a2r/reward (what the live reward node publishes). Several: /a2r/reward followed
    by the camera's own (absolute) topic name, e.g. /a2r/reward/cam_left/image_raw.
    """
    cameras = list(dict.fromkeys(camera_topics))
    if len(cameras) == 1:
        return {cameras[0]: REWARD_TOPIC}
    return {c: REWARD_TOPIC + "/" + c.strip("/") for c in cameras}


def reward_message(reader: BagReader, row: ScoreRow) -> object:
    """The RewardScore message of one row, built with the typestore's generated class."""
    types = reader.typestore.types
    time_cls = types["builtin_interfaces/msg/Time"]
    header_cls = types["std_msgs/msg/Header"]
    score_cls = types[REWARD_MSGTYPE]

    def stamp(ns: int) -> object:
        return time_cls(sec=int(ns // NS_PER_S), nanosec=int(ns % NS_PER_S))

    import numpy as np

    return score_cls(
        header=header_cls(stamp=stamp(row.stamp_ns), frame_id=row.frame_id),
        instruction=row.instruction,
        reward=float(row.reward),
        success_probability=float(row.success_probability),
        failure_mode_scores=np.asarray(row.failure_mode_scores, dtype=np.float32),
        most_likely_failure_mode=int(row.most_likely_failure_mode),
        resolved_task=row.resolved_task,
        clip_start=stamp(row.clip_start_ns),
        clip_end=stamp(row.stamp_ns),
        frame_count=int(row.frame_count),
        model_id=row.model_id,
        inference_latency_ms=float(row.inference_latency_ms),
    )


def write_scored_bag(
    source: str | Path,
    destination: str | Path,
    rows: Sequence[ScoreRow] | Mapping[str, Sequence[ScoreRow]],
    storage: str | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Copy bag `source` to `destination` adding reward messages; returns the bag path.

    `rows` is a list of rows (all on /a2r/reward) or a mapping reward topic -> rows (several
    cameras: see `reward_topics`). `storage` is "mcap" or "sqlite3" (default: the source's). Rows
    need `log_time_ns` >= 0 (bag scoring sets it). Topics whose type the typestore does not know
    and whose definition the source does not carry cannot be re-declared and are left out; each is
    named in `notes`. Reading goes through BagReader, so a damaged source contributes what is
    readable.
    """
    destination = Path(destination)
    streams = dict(rows) if isinstance(rows, Mapping) else {REWARD_TOPIC: list(rows)}
    if destination.exists():
        raise InputError(f"output bag {destination} exists already; choose a new path")
    if any(r.log_time_ns < 0 for stream in streams.values() for r in stream):
        raise InputError("every reward row needs the log time of its newest frame to be placed in a bag")
    notes = notes if notes is not None else []
    # stable sort: clip-major order within a time, streams in the order given
    ordered = sorted(((r, topic) for topic, stream in streams.items() for r in stream),
                     key=lambda item: item[0].log_time_ns)
    tmp_root = staging_dir(destination)
    try:
        with BagReader(source) as reader:
            kind = storage or reader.storage
            if kind not in ("mcap", "sqlite3"):
                raise InputError(f"output storage must be mcap or sqlite3, got {kind!r}")
            plugin = StoragePlugin.MCAP if kind == "mcap" else StoragePlugin.SQLITE3
            tmp_bag = tmp_root / destination.name
            with Writer(tmp_bag, version=9, storage_plugin=plugin) as writer:
                conns = _declare_topics(writer, reader, notes, set(streams))
                reward_conns = {topic: writer.add_connection(topic, REWARD_MSGTYPE, typestore=reader.typestore)
                                for topic in streams}
                queue = iter(ordered)
                pending = next(queue, None)
                for raw in reader.messages(list(conns)):
                    while pending is not None and pending[0].log_time_ns <= raw.log_time_ns:
                        _write_reward(writer, reward_conns[pending[1]], reader, pending[0])
                        pending = next(queue, None)
                    writer.write(conns[raw.topic], raw.log_time_ns, raw.data)
                while pending is not None:
                    _write_reward(writer, reward_conns[pending[1]], reader, pending[0])
                    pending = next(queue, None)
            notes.extend(reader.report.problems)
        tmp_bag.rename(destination)
    except OSError as exc:
        raise DataError(f"cannot write output bag {destination}: {exc}") from None
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return destination


def _write_reward(writer: Writer, conn: object, reader: BagReader, row: ScoreRow) -> None:
    data = reader.typestore.serialize_cdr(reward_message(reader, row), REWARD_MSGTYPE)
    writer.write(conn, row.log_time_ns, data)  # type: ignore[arg-type]


def _declare_topics(writer: Writer, reader: BagReader, notes: list[str], replaced: set[str]) -> dict[str, object]:
    """Re-declare the source's topics in the new bag, except the reward topics being written
    (`replaced`); topic -> writer connection."""
    source_conns = {c.topic: c for c in reader.connections()}
    known = reader.typestore.types
    conns: dict[str, object] = {}
    for topic in reader.topics.values():
        if topic.name in replaced:
            notes.append(f"{topic.name} exists in the source bag; its old messages are not copied")
            continue
        src = source_conns.get(topic.name)
        qos: Iterable = ()
        if src is not None and isinstance(src.ext, ConnectionExtRosbag2):
            qos = src.ext.offered_qos_profiles
        if topic.msgtype in known:
            conns[topic.name] = writer.add_connection(
                topic.name, topic.msgtype, typestore=reader.typestore, offered_qos_profiles=list(qos)
            )
        elif src is not None and src.msgdef.data and src.digest:
            conns[topic.name] = writer.add_connection(
                topic.name, topic.msgtype, msgdef=src.msgdef.data, rihs01=src.digest,
                offered_qos_profiles=list(qos),
            )
        else:
            notes.append(
                f"{topic.name} [{topic.msgtype}] is not copied: its message definition is unknown"
            )
    return conns
