"""`a2r bench` runs its sections in the order docs/performance.md states, whatever order is given."""

from __future__ import annotations

import re
from pathlib import Path

from a2r_core.commands.bench import SECTIONS, parse_sections

ROOT = Path(__file__).resolve().parents[2]


def test_sections_run_in_the_documented_order() -> None:
    doc = (ROOT / "docs" / "performance.md").read_text()
    row = next(line for line in doc.splitlines() if line.startswith("| `--sections LIST` |"))
    documented = re.search(r"subset of `([a-z,]+)`", row).group(1).split(",")
    assert list(SECTIONS) == documented
    assert parse_sections("service,train,gemm,node") == ["gemm", "train", "node", "service"]
    # The "What each section measures" paragraphs follow the same order.
    heads = re.findall(r"(?m)^\*\*([a-z]+)\*\*", doc.split("## What each section measures", 1)[1])
    assert heads[: len(SECTIONS)] == list(SECTIONS)
