"""Video files and manifests: real encodes with PyAV, real files on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from a2r_core.data.manifest import append_records, read_manifest, record_to_dict, write_manifest
from a2r_core.data.records import ClipRecord
from a2r_core.data.video_io import read_video, sample_indices, video_info, write_video
from a2r_core.errors import DataError, InputError


def _ramp_clip(frames: int = 12, size: int = 32) -> np.ndarray:
    """A clip whose frame t is a flat grey of level 20 * t: frames are told apart by brightness."""
    levels = (np.arange(frames) * 20).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (frames, size, size, 3)).copy()


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_write_read_roundtrip(tmp_path, ext):
    clip = _ramp_clip()
    path = write_video(tmp_path / f"clip{ext}", clip, fps=10.0)
    info = video_info(path)
    assert (info.num_frames, info.width, info.height) == (12, 32, 32)
    assert info.fps == pytest.approx(10.0)
    back = read_video(path)
    assert back.shape == clip.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - clip).mean() < 3
    # sampled frames are the ones asked for: brightness identifies the frame index
    picked = read_video(path, indices=[0, 5, -1])
    assert np.allclose(picked.mean(axis=(1, 2, 3)), [0, 100, 220], atol=3)
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_sample_indices_uniform_and_jittered():
    assert sample_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert sample_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]  # short video repeats, stays ordered
    rng = np.random.default_rng(0)
    draws = np.stack([sample_indices(80, 8, rng) for _ in range(50)])
    assert np.all(np.diff(draws, axis=1) >= 0)
    assert np.all(draws // 10 == np.arange(8))  # each index stays in its segment
    assert len({tuple(d) for d in draws}) > 1  # jitter really varies


def test_corrupt_and_missing_videos_raise_data_error(tmp_path):
    good = write_video(tmp_path / "good.mp4", _ramp_clip(), fps=10.0)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.webm"
    garbage.write_bytes(b"not a video" * 50)
    for path in (truncated, garbage, tmp_path / "missing.mp4"):
        with pytest.raises(DataError, match=path.name):
            read_video(path)


def test_write_rejects_bad_frames(tmp_path):
    with pytest.raises(InputError, match="even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 31, 32, 3), np.uint8), fps=5)
    with pytest.raises(InputError, match="uint8"):
        write_video(tmp_path / "f.mp4", np.zeros((2, 32, 32, 3), np.float32), fps=5)


def _record(i: int, success: bool = True) -> ClipRecord:
    return ClipRecord(task="drawer-close-v3", instruction="close the drawer", domain="robot",
                      success=success, path=f"clips/{i}.mp4", failure_source=None if success else "noise",
                      seed=i, num_frames=8, fps=6.5, extra={"clip_id": str(i)})


def test_manifest_roundtrip_and_append(tmp_path):
    path = tmp_path / "manifest.jsonl"
    write_manifest(path, [_record(0), _record(1, success=False)])
    append_records(path, [_record(2)])
    records = read_manifest(path)
    assert [r.seed for r in records] == [0, 1, 2]
    assert records[1] == _record(1, success=False) and records[1].failure_source == "noise"


@pytest.mark.parametrize("bad, message", [
    ("{not json", "invalid JSON"),
    (json.dumps({**record_to_dict(_record(9)), "domain": "martian"}), "domain"),
    (json.dumps({**record_to_dict(_record(9)), "success": "yes"}), "success"),
    (json.dumps({**record_to_dict(_record(9)), "colour": "red"}), "unknown keys"),
    (json.dumps({k: v for k, v in record_to_dict(_record(9)).items() if k != "task"}), "missing keys"),
    (json.dumps({**record_to_dict(_record(9)), "num_frames": -1}), "num_frames"),
])
def test_manifest_errors_name_the_line(tmp_path, bad, message):
    path = tmp_path / "manifest.jsonl"
    write_manifest(path, [_record(0), _record(1)])
    with path.open("a") as handle:
        handle.write("\n" + bad + "\n")  # a blank line 3, the bad record on line 4
    with pytest.raises(DataError, match=rf"manifest\.jsonl line 4: .*{message}"):
        read_manifest(path)


def test_manifest_torn_tail_only_when_allowed(tmp_path):
    path = tmp_path / "manifest.jsonl"
    write_manifest(path, [_record(0)])
    with path.open("a") as handle:
        handle.write('{"task": "drawer-cl')  # a run killed mid-write
    with pytest.raises(DataError, match="line 2"):
        read_manifest(path)
    assert [r.seed for r in read_manifest(path, allow_torn_tail=True)] == [0]
