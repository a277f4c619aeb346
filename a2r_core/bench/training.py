"""Training throughput: clips/s of the real trainer on the default a2r-small model.

What is timed: the trainer's own per-step wall time (`seconds` in its steps.csv: labels,
preprocessing, forward with failure prompts, the a2r objective, backward, gradient clipping and the
AdamW step), summed over every step but the first (warm-up), for batches of 8 human + 8 robot
success + 8 robot failure clips (the paper's default composition) from the synthetic dataset
rendered at the model's input size (112 px, 8 frames); `--quick` uses 4+4+4 and 2 steps. Data loading, re-clustering, validation and
checkpoint writing are outside the timed steps. Runs go to a temporary directory.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from a2r_core.bench.table import BenchContext, BenchRow

def train_config(steps: int, bf16: bool, per_kind: int = 8) -> dict:
    """The benchmark's training config (plain dict for `config_from_dict`): the default model,
    batches of `per_kind` human + `per_kind` success + `per_kind` failure clips."""
    split = {"num_tasks": 6, "robot_tasks": 4, "num_frames": 8, "size": 112}
    return {
        "model": {},  # A2RConfig defaults: the shipped a2r-small
        "data": {"kind": "synthetic",
                 "train": {**split, "success_per_task": per_kind, "failure_per_task": per_kind,
                           "human_per_task": per_kind, "seed": 0},
                 "val": {**split, "success_per_task": 1, "failure_per_task": 1, "human_per_task": 0, "seed": 1}},
        "sampler": {"batch_human": per_kind, "batch_success": per_kind, "batch_failure": per_kind,
                    "batches_per_epoch": steps},
        "optim": {"epochs": 1},
        "runtime": {"device": "cpu", "bf16": bf16, "progress": False, "tensorboard": False},
    }


def measure(steps: int, bf16: bool, per_kind: int = 8) -> BenchRow:
    """Train one epoch of `steps` steps in a temporary directory and read its step times."""
    from a2r_core.train import train
    from a2r_core.training.config import config_from_dict

    cfg = config_from_dict(train_config(steps, bf16, per_kind), "a2r bench train")
    with tempfile.TemporaryDirectory(prefix="a2r_bench_train_") as tmp:
        out = Path(tmp) / "run"
        train(cfg, output_dir=out)
        with (out / "steps.csv").open(newline="") as f:
            seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    if len(seconds) < 2:
        raise RuntimeError(f"training bench: expected {steps} logged steps, got {len(seconds)}")
    clips = 3 * per_kind
    timed = seconds[1:]
    dtype = "bfloat16" if bf16 else "float32"
    return BenchRow("train", "a2r-small training", f"batch {clips} ({per_kind}h+{per_kind}s+{per_kind}f), {dtype}",
                    clips * len(timed) / sum(timed), "clips/s",
                    extra={"dtype": dtype, "steps_timed": len(timed), "ms_per_step": 1e3 * sum(timed) / len(timed),
                           "batch": clips})


def run(ctx: BenchContext) -> list[BenchRow]:
    """fp32 always; bf16 autocast too where the CPU has native bf16 (full runs only)."""
    from a2r_core.bench.model_forward import native_bf16

    if ctx.quick:  # a smoke run: 2 steps of 4+4+4 clips (1 timed)
        return [measure(2, bf16=False, per_kind=4)]
    rows = [measure(12, bf16=False)]
    if native_bf16():
        rows.append(measure(12, bf16=True))
    return rows


__all__ = ["train_config", "measure", "run"]
