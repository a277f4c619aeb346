"""`a2r pybullet bench|mpc` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from a2r_core.cli import main


def test_bench_reports_frames_and_rollouts_per_second(tmp_path: Path, capsys):
    out = tmp_path / "bench.json"
    assert main(["pybullet", "bench", "--sizes", "32", "--frames", "2", "--rollouts", "2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    whats = [r["what"] for r in rows]
    assert any("render 32x32 (simple mesh)" in w for w in whats)
    assert any("render 32x32 (full mesh)" in w for w in whats)
    assert sum("candidate rollout" in w for w in whats) == 2
    assert all(r["per_s"] > 0 for r in rows)
    assert "candidate rollout" in capsys.readouterr().out


def test_mpc_writes_json_markdown_png_atomically(tmp_path: Path, capsys):
    out = tmp_path / "mpc"
    argv = ["pybullet", "mpc", "--tasks", "push_right", "--seeds", "0", "--max-steps", "12",
            "--samples", "16", "--iterations", "2", "--elites", "4", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "mpc_oracle.json").read_text())
    assert summary["episodes"][0]["task"] == "push_right"
    assert summary["success_rate"] == float(summary["episodes"][0]["success"])
    assert summary["episodes"][0]["success"], summary["episodes"][0]
    assert (out / "final_frames.png").stat().st_size > 1000
    assert "push_right" in (out / "mpc_oracle.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mpc.")]  # no temp dir left
    # An existing output is not overwritten without --force; unknown tasks are errors (exit 1).
    assert main(argv) == 1
    assert main(argv[:2] + ["--tasks", "push_up", "--out", str(tmp_path / "x")]) == 1
    assert "push_up" in capsys.readouterr().err
