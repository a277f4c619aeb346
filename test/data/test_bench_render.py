"""`a2r data bench-render --episodes N` makes the clips it says (it made 7 for N = 2 before)."""

from __future__ import annotations

from a2r_core.cli import main


def test_episodes_two_makes_two_clips(capsys) -> None:
    assert main(["data", "bench-render", "--episodes", "2", "--frames", "2", "--sizes", "32"]) == 0
    out = capsys.readouterr().out
    assert "generation: 2 clips" in out, out
