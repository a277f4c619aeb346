"""Run logs: per-step and per-epoch CSV files, optional TensorBoard, and a PNG of the curves.

Files under the output directory:
- `steps.csv`: one row per optimizer step: epoch, step, lr, loss and each loss part.
- `epochs.csv`: one row per epoch: epoch, step, mean training loss, validation metrics, best flag.
- `curves.png`: training loss parts per step and validation AUROCs per epoch.
- `tensorboard/` (when `runtime.tensorboard`): the same scalars as event files.
On resume, rows past the resumed step are dropped first, so the logs read as one run.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional


class CsvLog:
    """Append-only CSV whose columns are fixed by the first row written (later rows may omit keys)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: Optional[list[str]] = None
        if path.exists():
            with path.open(newline="") as f:
                reader = csv.reader(f)
                self.columns = next(reader, None)

    def truncate_after(self, step: int) -> None:
        """Drop rows with step > `step` (the part of an interrupted run that is being redone)."""
        if not self.path.exists():
            return
        with self.path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [r for r in rows if int(r["step"]) <= step]
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns or [])
            writer.writeheader()
            writer.writerows(keep)
        tmp.replace(self.path)

    def write(self, row: dict) -> None:
        new = self.columns is None
        if new:
            self.columns = list(row)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k, "")) for k in self.columns})

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))


def _fmt(value):
    return f"{value:.6g}" if isinstance(value, float) else value


class RunLogger:
    """The CSV logs, the optional TensorBoard writer and the curve plot of one run (rank 0 only)."""

    def __init__(self, output_dir: Path, tensorboard: bool = False) -> None:
        self.output_dir = output_dir
        self.steps = CsvLog(output_dir / "steps.csv")
        self.epochs = CsvLog(output_dir / "epochs.csv")
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(output_dir / "tensorboard"))

    def resume_at(self, step: int) -> None:
        self.steps.truncate_after(step)
        self.epochs.truncate_after(step)

    def log_step(self, row: dict) -> None:
        self.steps.write(row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and isinstance(v, float):
                    self.tb.add_scalar(f"train/{k}", v, row["step"])

    def log_epoch(self, row: dict) -> None:
        self.epochs.write(row)
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step", "best") and isinstance(v, float):
                    self.tb.add_scalar(f"epoch/{k}", v, row["step"])
            self.tb.flush()
        self.plot()

    def plot(self) -> Path:
        """Write curves.png from the CSV logs (so it always matches them)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps, epochs = self.steps.read(), self.epochs.read()
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        if steps:
            x = [int(r["step"]) for r in steps]
            for key in [k for k in steps[0] if k not in ("epoch", "step", "lr", "seconds")]:
                y = [float(r[key]) if r.get(key) not in (None, "") else float("nan") for r in steps]
                ax1.plot(x, y, label=key, lw=1)
            ax1.set_xlabel("step")
            ax1.set_ylabel("loss")
            ax1.set_title("training losses")
            ax1.legend(fontsize=8)
        if epochs:
            x = [int(r["epoch"]) for r in epochs]
            for key in [k for k in epochs[0] if k.startswith("val_")]:
                y = [float(r[key]) if r.get(key) not in (None, "") else float("nan") for r in epochs]
                ax2.plot(x, y, marker="o", label=key)
            ax2.axhline(0.5, color="grey", ls=":", lw=1)
            ax2.set_xlabel("epoch")
            ax2.set_ylabel("AUROC (success vs failure)")
            ax2.set_ylim(0, 1.02)
            ax2.set_title("held-out validation")
            ax2.legend(fontsize=8)
        fig.tight_layout()
        out = self.output_dir / "curves.png"
        fig.savefig(out, dpi=100)
        plt.close(fig)
        return out

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
