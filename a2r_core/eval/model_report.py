"""`a2r eval --checkpoint`: how good is one given model on given clips (no training).

The benchmark (`a2r_core.eval.benchmark`) trains rows and compares them on its own generated
suites; users who already have a model and a set of clips (generated, or recorded on their robot
and listed in a JSONL manifest as docs/data.md says) ask a narrower question. This module answers
it with the benchmark's own numbers: the clips are scored through `RewardModel.score` (one pass for
the reward of every growing prefix and the candidate instructions, one for the success
probability of every whole clip), and the cells come from `a2r_core.eval.cells`, the code the
benchmark's table uses, sliced into an "all" row, one row per task, one per variant and (with
several manifests) one per manifest.

Instructions: every clip is scored for its manifest instruction (what the user wrote), or with
`canonical_instructions` for its task's canonical one where instructions.yaml knows the task (what
the benchmark does on MetaWorld, so the two tables compare). Instruction top-1 picks among one
candidate instruction per task of the given manifests: the canonical one of a known task, else the
task's most frequent manifest instruction.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from a2r_core.data.records import ClipRecord
from a2r_core.errors import ConfigError, DataError
from a2r_core.eval.cells import cell, count_scored, score_clips
from a2r_core.eval.clips import EvalClip

DEFAULT_MAX_PREFIXES = 8  # as config/eval_full.yaml: value order and curves from 8 prefixes per clip
MAX_PLOT_PANELS = 16  # "all" first, then tasks, variants, manifests: a 50-task set stays readable
SCORE_CHUNK = 64  # clips per RewardModel.score call: the progress bar's step, not the encoder's batch

COLUMNS = [("auroc", "AUROC (reward)"), ("auroc_success_prob", "AUROC (p success)"),
           ("instruction_top1", "instruction top-1"), ("value_order_spearman", "value order")]


def manifest_path(data: str | Path) -> Path:
    """A manifest file, or a directory holding `manifest.jsonl` (the layout `a2r data` writes)."""
    from a2r_core.data.manifest import MANIFEST_NAME

    path = Path(data).expanduser()
    if path.is_dir():
        path = path / MANIFEST_NAME
        if not path.is_file():
            raise DataError(f"{data}: a directory without {MANIFEST_NAME} (give the manifest file, or a folder made "
                            "by `a2r data metaworld`)")
    elif not path.is_file():
        raise DataError(f"{data}: no such manifest file or directory")
    return path


def _line_numbers(path: Path) -> list[int]:
    """The file line of each record (read_manifest skips blank lines and validated every other)."""
    return [n for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1) if line.strip()]


def _instruction(record, canonical: bool) -> str:
    from a2r_core.data import instructions

    if canonical:
        try:
            return instructions.canonical(record.task)
        except ConfigError:  # a task instructions.yaml does not know: keep the user's words
            pass
    return record.instruction


def manifest_entries(data: Sequence[str | Path]) -> list[tuple[Path, int, ClipRecord, Path]]:
    """(manifest, line, record, video file) of every clip of the manifests `data` (files or
    directories), checked without decoding anything: each manifest exists, validates and lists
    clips, and every video file it names exists (DataError naming the manifest, line and file)."""
    from a2r_core.data.manifest import read_manifest, resolve_path

    if not data:
        raise ConfigError("no --data given: name one or more manifests (or directories holding manifest.jsonl)")
    out = []
    for d in data:
        path = manifest_path(d)
        records = read_manifest(path)
        if not records:
            raise DataError(f"{path}: the manifest lists no clips")
        for rec, line in zip(records, _line_numbers(path)):
            video = resolve_path(path, rec)
            if not video.is_file():
                raise DataError(f"{path} line {line}: video file not found: {video}")
            out.append((path, line, rec, video))
    return out


def load_manifest_clips(data: Sequence[str | Path] | list[tuple], canonical_instructions: bool = False,
                        progress: bool = True) -> list[EvalClip]:
    """Every clip of the manifests `data` (paths, or `manifest_entries`' answer), all frames
    decoded. extra: manifest, line, path, the manifest instruction."""
    from tqdm import tqdm

    from a2r_core.data.video_io import read_video

    entries = data if data and isinstance(data[0], tuple) else manifest_entries(data)
    out = []
    for path, line, rec, video in tqdm(entries, desc="load clips", unit="clip", disable=not progress):
        try:
            frames = read_video(video)
        except DataError as exc:
            raise DataError(f"{path} line {line}: {exc}") from exc
        out.append(EvalClip(frames=frames, task=rec.task, instruction=_instruction(rec, canonical_instructions),
                            success=rec.success, source=rec.failure_source or ("success" if rec.success else "unknown"),
                            variant=rec.variant, domain=rec.domain,
                            extra={"manifest": str(path), "line": line, "path": rec.path,
                                   "instruction": rec.instruction}))
    return out


def task_candidates(clips: Sequence[EvalClip]) -> dict[str, str]:
    """Task -> the instruction standing for it in top-1 (see the module docstring), sorted by task."""
    from a2r_core.data import instructions

    out = {}
    for task in sorted({c.task for c in clips}):
        try:
            out[task] = instructions.canonical(task)
        except ConfigError:
            out[task] = Counter(c.instruction for c in clips if c.task == task).most_common(1)[0][0]
    return out


class _ChunkedScorer:
    """A row scorer over a loaded RewardModel (one output of `RewardModel.score`) that scores in
    chunks so that a tqdm bar moves; chunking changes nothing but float rounding (reward.py)."""

    def __init__(self, reward_model, output: str, bar, chunk: int = SCORE_CHUNK) -> None:
        self.reward_model, self.output, self.bar, self.chunk = reward_model, output, bar, chunk

    def score(self, clips: Sequence[EvalClip], instructions: Sequence[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(clips), self.chunk):
            part = clips[start:start + self.chunk]
            out = self.reward_model.score([c.frames for c in part], list(instructions))
            parts.append(np.asarray(getattr(out, self.output), dtype=np.float64))
            self.bar.update(len(part))
        return np.concatenate(parts)


def _slices(clips: Sequence[EvalClip]) -> list[tuple[str, str, np.ndarray]]:
    """(key, kind, mask): all, then per task, and per variant and per manifest where there are several."""
    out = [("all", "all", np.ones(len(clips), dtype=bool))]
    for kind, attr in (("task", lambda c: c.task), ("variant", lambda c: c.variant),
                       ("data", lambda c: c.extra["manifest"])):
        values = np.array([attr(c) for c in clips])
        names = sorted(set(values.tolist()))
        if kind != "task" and len(names) < 2:  # one variant / one manifest: the "all" row already
            continue
        out += [(f"{kind}:{v}", kind, values == v) for v in names]
    return out


def evaluate_model(reward_model, clips: Sequence[EvalClip], max_prefixes: Optional[int] = DEFAULT_MAX_PREFIXES,
                   progress: bool = True) -> dict:
    """Score `clips` with `reward_model` and return the results dict that `write_report` writes."""
    from tqdm import tqdm

    clips = list(clips)
    if not clips:
        raise DataError("no clips to evaluate")
    t0 = time.perf_counter()
    candidates = task_candidates(clips)
    bar = tqdm(total=count_scored(clips, max_prefixes) + len(clips), desc="score", unit="clip",
               disable=not progress)
    with bar:
        sc = score_clips(_ChunkedScorer(reward_model, "reward", bar), clips, candidates, max_prefixes)
        own = list(dict.fromkeys(c.instruction for c in clips))
        probs = _ChunkedScorer(reward_model, "success_prob", bar).score(clips, own)
    sc.success_prob = probs[np.arange(len(clips)), [own.index(c.instruction) for c in clips]]
    slices = []
    for key, kind, mask in _slices(clips):
        c = cell(sc, clips, mask)
        if len(candidates) < 2:  # one candidate: top-1 would be 1.0 by construction
            c["instruction_top1"] = float("nan")
        slices.append({"key": key, "kind": kind, **c})
    manifests = list(dict.fromkeys(c.extra.get("manifest", "") for c in clips))
    return {
        "mode": "checkpoint",
        "checkpoint": reward_model.model_id,
        "model": {"reward_mode": reward_model.reward_mode, "num_frames": reward_model.num_frames,
                  "image_size": reward_model.image_size, "dtype": reward_model.dtype,
                  "device": str(reward_model.device)},
        "data": manifests, "candidates": candidates, "variants": sorted({c.variant for c in clips}),
        "max_prefixes": max_prefixes,
        "n_clips": len(clips), "n_success": int(sc.labels.sum()),
        "slices": slices,
        "clips": [{"manifest": c.extra.get("manifest"), "line": c.extra.get("line"), "path": c.extra.get("path"),
                   "task": c.task, "variant": c.variant, "instruction": c.instruction, "success": bool(c.success),
                   "reward": float(sc.final[i]), "success_prob": float(sc.success_prob[i]),
                   "reward_over_time": sc.series[i].tolist()} for i, c in enumerate(clips)],
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def table(results: dict) -> str:
    """The metrics table (Markdown): one line per slice."""
    lines = ["| slice | clips | successes | " + " | ".join(t for _, t in COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    for s in results["slices"]:
        lines.append(f"| {s['key']} | {s['n_clips']} | {s['n_success']} | "
                     + " | ".join(_fmt(s.get(k)) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """results.md: what was scored, the table, and what each column means."""
    m = results["model"]
    n_tasks = len(results["candidates"])
    data = "\n".join(f"- `{d}`" for d in results["data"])
    return "\n".join([
        f"# a2r eval: `{results['checkpoint']}`", "",
        f"{results['n_clips']} clips ({results['n_success']} successes) from:", "", data, "",
        f"Variants: {', '.join(results['variants'])} (one row per variant where there are several).", "",
        f"Model: reward_mode {m['reward_mode']}, {m['num_frames']} frames at {m['image_size']} px, {m['dtype']} on "
        f"{m['device']}. Scoring wall time {results['wall_seconds']} s.", "",
        table(results), "",
        "- AUROC (reward) / AUROC (p success): how well the whole clip's reward / success probability for its own "
        "instruction separates success from failure clips (0.5 = chance).",
        f"- instruction top-1: on success clips, how often the clip's own instruction scores highest among one "
        f"instruction per task of these manifests ({n_tasks} tasks, chance {_fmt(1 / n_tasks)}; n/a with one task).",
        f"- value order: mean Spearman of the reward of each success clip's growing prefixes with time "
        f"({results['max_prefixes'] or 'every frame'} prefixes per clip); 1 = the reward rises as the task advances.",
        "- n/a: undefined on that slice (e.g. no failure clips for AUROC).", "",
        "Plots: `reward_histograms.png` (whole-clip reward, success vs failure), `reward_curves.png` (mean reward "
        "over normalised clip time, success solid, failure dashed); per-clip scores are in `results.json`.", ""])


def _plot_view(results: dict) -> dict:
    """The slices in the shape report.plot_curves/plot_histograms draw: one panel per slice."""
    keys = [s["key"] for s in results["slices"]][:MAX_PLOT_PANELS]
    by_key = {s["key"]: s for s in results["slices"]}
    return {"rows": keys, "columns": [{"key": "clips", "suite": "clips"}],
            "cells": {k: {"clips": by_key[k]} for k in keys}}


def write_report(results: dict, out_dir: str | Path) -> dict[str, Path]:
    """Write results.json, results.md, reward_histograms.png, reward_curves.png into `out_dir`,
    through a staging folder renamed into place (an interrupted run leaves no half folder)."""
    from a2r_core.eval import report
    from a2r_core.output_dirs import published_dir

    out = Path(out_dir)
    check_out_dir(out)
    with published_dir(out) as tmp:  # the mode a plain mkdir gives (a2r_core.output_dirs)
        (tmp / "results.json").write_text(json.dumps(report._finite(results), indent=1, allow_nan=False))
        (tmp / "results.md").write_text(markdown(results))
        view = _plot_view(results)
        report.plot_histograms(view, tmp / "reward_histograms.png")
        report.plot_curves(view, tmp / "reward_curves.png")
    return {name: out / name for name in ("results.json", "results.md", "reward_histograms.png",
                                          "reward_curves.png")}


def check_out_dir(out: str | Path) -> None:
    """Refuse an output folder that already holds something (as the benchmark does)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: already exists and is not an empty directory; choose another --out")
