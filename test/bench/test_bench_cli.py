"""`a2r bench` through the real CLI: what it prints and writes. Behaviour only, no timing targets
(speed depends on the machine and its load; the numbers are for people, see docs/performance.md)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from a2r_core.cli import main
from a2r_core.commands.bench import SECTIONS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table_sections(text: str) -> set[str]:
    """Section names in the first column of the printed table (rows below the dashed rule)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("-------"))
    out = set()
    for line in lines[rule + 1:]:
        if not line.strip() or line.startswith("written:"):
            break
        out.add(line.split()[0])
    return out


@pytest.mark.slow
@pytest.mark.ros
def test_quick_run_prints_every_section_and_writes_json_and_png(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[1].startswith("machine: ")
    assert _table_sections(printed) == set(SECTIONS)
    assert (out / "bench.txt").read_text().strip() in printed
    assert (out / "bench.png").read_bytes()[:8] == PNG_MAGIC

    report = json.loads((out / "bench.json").read_text())
    assert report["quick"] is True and report["sections"] == list(SECTIONS) and report["skipped"] == {}
    rows = report["rows"]
    assert {r["section"] for r in rows} == set(SECTIONS)
    # The reference peak is measured in the run, and every model row is read against it.
    peaks = {r["extra"]["dtype"]: r["value"] for r in rows if r["measurement"] == "peak (reference)"}
    assert "float32" in peaks and all(v > 0 for v in peaks.values())
    model = [r for r in rows if r["section"] == "model" and "batch" in r["extra"]]
    assert {r["extra"]["model"] for r in model} == {"a2r-small", "xclip-base/32"}
    for r in model:
        assert r["value"] > 0 and r["unit"] == "clips/s"
        assert r["extra"]["gflop_per_clip"] > 0
        assert 0 < r["fraction_of_peak"] == pytest.approx(r["extra"]["achieved_tflops"] / peaks[r["extra"]["dtype"]])
    # X-CLIP base/32 really is base-sized (ViT-B/32, 8 frames at 224 px: tens of GFLOPs per clip)
    # and a2r-small is the small default (112 px), far cheaper.
    small = next(r for r in model if r["extra"]["model"] == "a2r-small")
    xclip = next(r for r in model if r["extra"]["model"] == "xclip-base/32")
    assert xclip["extra"]["image_size"] == 224 and xclip["extra"]["gflop_per_clip"] > 20
    assert small["extra"]["image_size"] == 112 and small["extra"]["gflop_per_clip"] < xclip["extra"]["gflop_per_clip"] / 10
    # The node published rewards for the stream and the service answered 64-clip requests.
    latency = [r for r in rows if r["measurement"] == "stamp -> reward latency p50"]
    assert latency and all(r["extra"]["rewards"] > 0 and r["value"] > 0 for r in latency)
    service = [r for r in rows if r["section"] == "service"]
    assert service and all("64 clips" in r["setting"] and math.isfinite(r["value"]) for r in service)
    throughput = [r for r in service if r["unit"] == "clips/s"]
    assert {r["extra"]["client"] for r in throughput} == {"cut to model input, packed (default)", "frames as given"}
    assert all(r["value"] > 0 for r in throughput)
    # the breakdown: every stage timed, and the default client's request is the smaller one
    mb = {r["extra"]["client"]: r["value"] for r in service if r["measurement"] == "breakdown: request MB"}
    assert 0 < mb["cut to model input, packed (default)"] < mb["frames as given"]
    memory = [r for r in rows if r["measurement"] == "process RSS at stream end"]
    assert memory and all(r["value"] > 0 and r["extra"]["samples"] >= 3 for r in memory)
    # the reward node ran in its own process (as deployed), not in the benchmark's
    assert all(r["extra"]["node_pid"] != os.getpid() for r in memory)
    for r in rows:
        if r["section"] in ("sim", "train", "gemm"):
            assert math.isfinite(r["value"]) and r["value"] > 0, r


def test_section_subset_runs_only_those_and_keeps_a2r_core_free_of_rclpy(tmp_path: Path) -> None:
    """A run of the non-ROS sections in a fresh interpreter: only the chosen sections, no rclpy."""
    out = tmp_path / "b"
    code = ("import sys; from a2r_core.cli import main; "
            f"rc = main(['bench', '--quick', '--sections', 'sim,gemm', '--out', {str(out)!r}]); "
            "assert 'rclpy' not in sys.modules, 'rclpy was imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _table_sections(proc.stdout) == {"gemm", "sim"}
    report = json.loads((out / "bench.json").read_text())
    assert report["sections"] == ["gemm", "sim"]  # canonical order, whatever order was given
    sims = {r["measurement"] for r in report["rows"] if r["section"] == "sim"}
    assert {"pybullet tabletop render", "pybullet tabletop candidate rollout",
            "metaworld drawer-close-v3 render", "metaworld drawer-close-v3 candidate rollout"} <= sims
    assert all(r["fraction_of_peak"] == 1.0 for r in report["rows"] if r["measurement"] == "peak (reference)")


def test_bad_sections_and_used_output_directory_are_refused(tmp_path: Path, capsys) -> None:
    assert main(["bench", "--sections", "gemm,warp", "--out", str(tmp_path / "x")]) == 1
    assert "warp" in capsys.readouterr().err
    used = tmp_path / "used"
    used.mkdir()
    (used / "bench.json").write_text("{}")
    assert main(["bench", "--sections", "gemm", "--out", str(used)]) == 1
    err = capsys.readouterr().err
    assert str(used) in err and "not an empty directory" in err
    assert (used / "bench.json").read_text() == "{}"  # nothing overwritten
    assert not (tmp_path / "x").exists()
