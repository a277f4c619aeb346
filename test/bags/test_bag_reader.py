"""Reading real rosbag2 bags: topics, frames in every storage, and salvage of damaged files."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from a2r_core.bags import BagReader, image_topic, iter_frames
from a2r_core.bags.frames import DecodeStats
from a2r_core.errors import DataError, InputError

from .conftest import storage_file, write_image_bag


@pytest.mark.parametrize(
    "storage,encoding",
    [("mcap", "rgb8"), ("sqlite3", "bgr8"), ("mcap", "png"), ("sqlite3", "rgba8")],
)
def test_frames_come_back_pixel_exact_with_header_stamps(tmp_path, sim_frames, storage, encoding) -> None:
    frames = sim_frames[:12]
    bag = write_image_bag(tmp_path / "bag", frames, storage=storage, encoding=encoding)
    with BagReader(bag.path) as reader:
        assert reader.storage == storage
        topics = reader.topics
        assert topics[bag.topic].count == 12 and topics["/robot/status"].msgtype == "std_msgs/msg/String"
        got = list(iter_frames(reader, bag.topic))
        assert reader.report.complete, reader.report.problems
    assert [f.stamp_ns for f in got] == bag.stamps_ns.tolist()
    assert [f.log_time_ns for f in got] == bag.log_times_ns.tolist()
    assert all(f.frame_id == "front" for f in got)
    np.testing.assert_array_equal(np.stack([f.rgb for f in got]), frames)


def test_jpeg_frames_decode_close_to_the_originals(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames[:4], encoding="jpeg")
    with BagReader(bag.path) as reader:
        got = np.stack([f.rgb for f in iter_frames(reader, bag.topic)])
    assert got.shape == (4, *sim_frames.shape[1:])
    assert np.abs(got.astype(int) - sim_frames[:4].astype(int)).mean() < 6.0


def test_bare_storage_file_opens_without_metadata(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames[:5], storage="mcap")
    with BagReader(storage_file(bag.path)) as reader:
        assert len(list(iter_frames(reader, bag.topic))) == 5
        assert reader.report.complete


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_yields_the_readable_prefix_and_says_what_was_lost(tmp_path, sim_frames, storage) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames, storage=storage)
    file = storage_file(bag.path)
    os.truncate(file, int(file.stat().st_size * 0.6))
    with BagReader(bag.path) as reader:
        got = list(iter_frames(reader, bag.topic))
        report = reader.report
    n = len(got)
    assert 0 < n < len(sim_frames), n
    # The salvaged frames are the first n recorded ones, intact.
    np.testing.assert_array_equal(np.stack([f.rgb for f in got]), sim_frames[:n])
    assert [f.stamp_ns for f in got] == bag.stamps_ns[:n].tolist()
    assert not report.complete
    assert report.lost(bag.topic) == len(sim_frames) - n
    text = report.summary()
    assert str(file) in text and f"read {n} of {len(sim_frames)} messages" in text


def test_missing_topic_lists_the_topics_with_types(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames[:3], storage="sqlite3")
    with BagReader(bag.path) as reader, pytest.raises(InputError) as exc:
        image_topic(reader, "/camera/color/image_raw")
    message = str(exc.value)
    assert "/camera/color/image_raw" in message
    assert "/camera/image_raw  [sensor_msgs/msg/Image]  3 messages" in message
    assert "/robot/status  [std_msgs/msg/String]" in message


def test_unsupported_type_names_the_supported_ones(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames[:3])
    with BagReader(bag.path) as reader, pytest.raises(InputError) as exc:
        image_topic(reader, "/robot/status")
    message = str(exc.value)
    assert "std_msgs/msg/String" in message
    assert "sensor_msgs/msg/Image" in message and "sensor_msgs/msg/CompressedImage" in message


def test_malformed_image_messages_are_skipped_and_counted(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames[:6], corrupt=[2, 4])
    stats = DecodeStats()
    with BagReader(bag.path) as reader:
        got = list(iter_frames(reader, bag.topic, stats))
    assert [f.stamp_ns for f in got] == bag.stamps_ns[[0, 1, 3, 5]].tolist()
    assert stats.skipped == 2 and str(bag.stamps_ns[2] + 3_000_000) in stats.first_error


def test_not_a_bag_is_a_clear_error(tmp_path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a rosbag2 bag"):
        BagReader(junk).open()
    garbage = tmp_path / "garbage.mcap"
    garbage.write_bytes(b"this is not an mcap file at all" * 10)
    with pytest.raises(DataError, match="garbage.mcap"):
        BagReader(garbage).open()
    with pytest.raises(InputError, match="does not exist"):
        BagReader(tmp_path / "nowhere").open()


def test_bag_directory_without_metadata_is_salvaged_from_its_storage_file(tmp_path, sim_frames) -> None:
    """A recorder killed before writing metadata.yaml leaves only the storage file."""
    bag = write_image_bag(tmp_path / "bag", sim_frames[:5], storage="sqlite3")
    (bag.path / "metadata.yaml").unlink()
    with BagReader(bag.path) as reader:
        assert len(list(iter_frames(reader, bag.topic))) == 5
    shutil.rmtree(bag.path)


def test_mcap_with_a_broken_index_is_read_whole_and_counts_as_complete(tmp_path, sim_frames) -> None:
    """Damage after the data section (summary, footer) loses no message: say how it was read only."""
    bag = write_image_bag(tmp_path / "bag", sim_frames[:20], storage="mcap")
    file = storage_file(bag.path)
    data = bytearray(file.read_bytes())
    data[-8:] = b"\0" * 8  # the closing magic: rosbags refuses the file
    file.write_bytes(bytes(data))
    with BagReader(bag.path) as reader:
        got = list(iter_frames(reader, bag.topic))
        assert len(got) == 20 and reader.report.complete, reader.report.problems
        assert any("rosbags cannot open it" in note for note in reader.report.notes)


def test_sqlite3_with_a_damaged_page_stops_there_and_says_so(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames, storage="sqlite3")
    file = storage_file(bag.path)
    with file.open("r+b") as fh:
        fh.seek(file.stat().st_size // 2)
        fh.write(bytes(range(256)) * 16)  # 4 KiB of garbage over b-tree pages
    with BagReader(bag.path) as reader:
        got = list(iter_frames(reader, bag.topic))
        report = reader.report
    assert 0 < len(got) < len(sim_frames)
    np.testing.assert_array_equal(np.stack([f.rgb for f in got]), sim_frames[: len(got)])
    assert not report.complete and report.lost(bag.topic) == len(sim_frames) - len(got)


def test_truncated_bare_mcap_file_reports_the_damage_without_counts(tmp_path, sim_frames) -> None:
    bag = write_image_bag(tmp_path / "bag", sim_frames, storage="mcap")
    file = storage_file(bag.path)
    os.truncate(file, int(file.stat().st_size * 0.6))
    with BagReader(file) as reader:
        assert "/camera/image_raw  [sensor_msgs/msg/Image]  message count unknown" in reader.describe_topics()
        got = list(iter_frames(reader, bag.topic))
        report = reader.report
    assert 0 < len(got) < len(sim_frames) and report.lost(bag.topic) is None
    assert not report.complete and "MCAP data ends or is damaged at byte" in report.summary()
