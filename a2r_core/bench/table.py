"""One benchmark run -> one table (stdout), bench.json and bench.png, written atomically.

Why one flat row type for every section: the lead compares runs (quiet vs busy machine, before vs
after a change) by diffing JSON, and a single list of `(section, measurement, setting, value,
unit, fraction of peak)` rows diffs and plots the same way whatever produced it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from a2r_core.errors import ConfigError

# A 1-minute load average at or above this many runnable tasks per logical CPU, before the bench
# itself starts, marks the run as taken on a busy machine.
BUSY_LOAD_PER_CPU = 0.5


@dataclass
class BenchRow:
    """One measured number. `fraction_of_peak` is set where the row is a FLOP/s figure that can be
    read against the run's measured GEMM peak of the same dtype; `extra` holds the inputs needed to
    interpret or re-derive the value (FLOPs per clip, sample counts, percentiles, ...)."""

    section: str
    measurement: str
    setting: str
    value: float
    unit: str
    fraction_of_peak: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchContext:
    """What every section gets: the run mode and what earlier sections measured.

    `peak_flops` maps "float32"/"bfloat16" to the GEMM FLOP/s measured by the `gemm` section of
    this run (empty when that section was not run: fractions of peak are then left out).
    `checkpoint` is a user checkpoint to benchmark instead of a random-weight default model.
    """

    quick: bool = False
    soak: bool = False
    checkpoint: str | None = None
    peak_flops: dict[str, float] = field(default_factory=dict)


def machine_info() -> dict[str, Any]:
    """The machine line printed above the table: CPU, cores, torch threads, ISA features, versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    features = {}
    for name in ("avx512", "avx512_bf16", "amx_tile"):
        check = getattr(torch.cpu, f"_is_{name}_supported", None)
        features[name] = bool(check()) if check is not None else None
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "features": features,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_avg_1min_at_start": load,
    }


def _machine_line(m: dict[str, Any]) -> str:
    feats = ",".join(k for k, v in m["features"].items() if v) or "none"
    load = m.get("load_avg_1min_at_start")
    load_text = f", load {load:.2f} at start" if load is not None else ""
    return (f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']} with "
            f"{m['torch_threads']} threads, features {feats}{load_text}")


def _fmt_value(v: float) -> str:
    if v != v:  # NaN
        return "nan"
    if abs(v) >= 1e5:
        return f"{v:.3g}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


@dataclass
class BenchReport:
    """Everything one `a2r bench` run measured, plus what it skipped and why."""

    machine: dict[str, Any]
    quick: bool
    sections: list[str]
    rows: list[BenchRow] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    started_utc: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "quick": self.quick, "sections": self.sections,
                "started_utc": self.started_utc, "wall_s": self.wall_s, "skipped": self.skipped,
                "rows": [asdict(r) for r in self.rows]}

    def render(self) -> str:
        """The run's one table: a machine line, then one line per row, sections in run order."""
        header = ("section", "measurement", "setting", "value", "unit", "% of peak")
        body = [(r.section, r.measurement, r.setting, _fmt_value(r.value), r.unit,
                 "" if r.fraction_of_peak is None else f"{100 * r.fraction_of_peak:.1f}%") for r in self.rows]
        body += [(name, "skipped", reason, "", "", "") for name, reason in self.skipped.items()]
        widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
        right = {3, 5}

        def line(cells) -> str:
            return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        mode = "quick" if self.quick else "full"
        out = [f"a2r bench ({mode}, {self.started_utc}, {self.wall_s:.0f} s)", _machine_line(self.machine)]
        load, cpus = self.machine.get("load_avg_1min_at_start"), self.machine.get("logical_cpus") or 1
        if load is not None and load >= BUSY_LOAD_PER_CPU * cpus:
            out.append(f"WARNING: the machine was busy at the start (1-min load {load:.2f} on {cpus} CPUs): "
                       "timings are unreliable, not for reporting")
        out += [line(header), line(["-" * w for w in widths])]
        out += [line(cells) for cells in body]
        return "\n".join(out)

    def plot(self, path: Path) -> None:
        """bench.png: model clips/s and fraction of peak vs batch size; node latency rows as bars."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        model_rows = [r for r in self.rows if r.section == "model" and "batch" in r.extra]
        latency = [r for r in self.rows if r.section == "node" and r.unit == "ms"]
        height = max(5.0, 0.25 * len(latency) + 1.5)
        fig, axes = plt.subplots(1, 3, figsize=(18, height), gridspec_kw={"width_ratios": [1, 1, 1.3]})
        series: dict[str, list[BenchRow]] = {}
        for r in model_rows:
            series.setdefault(f"{r.extra['model']} {r.extra['dtype']}", []).append(r)
        for label, rows in series.items():
            rows = sorted(rows, key=lambda r: r.extra["batch"])
            b = [r.extra["batch"] for r in rows]
            axes[0].plot(b, [r.value for r in rows], marker="o", label=label)
            axes[1].plot(b, [100 * (r.fraction_of_peak or 0.0) for r in rows], marker="o", label=label)
        for ax, title, ylabel in ((axes[0], "model forward throughput", "clips / s"),
                                  (axes[1], "achieved FLOP/s (share of measured GEMM peak)", "% of peak")):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("batch size (clips)")
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.grid(alpha=0.3)
            if series:
                ax.legend(fontsize=8)
            else:
                ax.text(0.5, 0.5, "model section not run", ha="center", va="center", transform=ax.transAxes)
        if series:
            axes[0].set_yscale("log")
        ax = axes[2]
        if latency:
            labels = [f"{r.measurement.split(' (')[0].replace('stamp -> reward ', '')} | "
                      f"{r.setting.split(', ', 1)[1]}" for r in latency]
            ax.barh(range(len(latency)), [r.value for r in latency], color="tab:blue")
            ax.set_yticks(range(len(latency)), labels, fontsize=7)
            ax.axvline(1000 / 30, color="tab:red", linestyle="--", label="one frame at 30 Hz (33.3 ms)")
            ax.invert_yaxis()
            ax.set_xlabel("ms")
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "node section not run", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("reward node: camera stamp -> reward")
        fig.suptitle(_machine_line(self.machine), fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def write(self, out_dir: Path) -> Path:
        """Write bench.txt, bench.json and bench.png into `out_dir` atomically (temp dir + rename).

        `out_dir` must not exist yet, or be an empty directory, so a run never mixes with another.
        """
        out_dir = Path(out_dir)
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise ConfigError(f"--out {out_dir}: already exists and is not an empty directory; choose a new one")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        try:
            (tmp / "bench.txt").write_text(self.render() + "\n")
            (tmp / "bench.json").write_text(json.dumps(self.to_dict(), indent=2))
            self.plot(tmp / "bench.png")
            os.replace(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out_dir


__all__ = ["BenchContext", "BenchRow", "BenchReport", "machine_info"]
