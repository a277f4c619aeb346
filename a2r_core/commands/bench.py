"""`a2r bench [--quick] [--sections gemm,model,sim,planning,train,node,service] [--out DIR]`.

Prints one table per run (the machine line, then every measured row with its fraction of the
GEMM peak measured in the same run) and writes bench.txt, bench.json and bench.png to DIR. The
ROS sections (`node`, `service`) import a2r_ros inside `run()`, so a2r_core never imports rclpy
and the command works (without them) where ROS is not installed. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from a2r_core.errors import ConfigError

NAME = "bench"
HELP = "benchmark: GEMM peak, model forward, reward node, query service, simulators, planning, training"

# In the order they run (and are printed): gemm first, its peak is the reference of the model
# rows; the ROS sections last, in one feeder process.
SECTIONS = ("gemm", "model", "sim", "planning", "train", "node", "service")
ROS_SECTIONS = ("node", "service")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and short streams (a smoke run of every section, ~1-2 min)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory for bench.txt/json/png (must not exist; "
                             "default runs/bench/<UTC time>)")
    parser.add_argument("--checkpoint", default=None,
                        help="benchmark this a2r-small checkpoint instead of random weights (model, node, service, planning)")
    parser.add_argument("--soak", action="store_true",
                        help="node section: stream 10 minutes at 30 Hz (memory over a long stream)")


def parse_sections(text: str) -> list[str]:
    """'gemm,model' -> ['gemm', 'model'] in the canonical order; ConfigError for unknown names."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown or not names:
        raise ConfigError(f"--sections: unknown section(s) {unknown or '(none given)'}; choose from {', '.join(SECTIONS)}")
    return [s for s in SECTIONS if s in names]


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from a2r_core.bench import gemm, model_forward, planning, sim, training
    from a2r_core.bench.table import BenchContext, BenchReport, machine_info

    sections = parse_sections(args.sections)
    if args.checkpoint and not Path(args.checkpoint).is_dir():
        raise ConfigError(f"--checkpoint {args.checkpoint}: not a checkpoint directory")
    out = args.out or Path("runs/bench") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: already exists and is not an empty directory; choose a new one")
    ctx = BenchContext(quick=args.quick, soak=args.soak, checkpoint=args.checkpoint)
    report = BenchReport(machine=machine_info(), quick=args.quick, sections=sections)
    started = time.perf_counter()
    # gemm first: the model rows are read against its peak.
    steps = [s for s in sections if s not in ROS_SECTIONS]
    if any(s in sections for s in ROS_SECTIONS):
        steps.append("ros")
    bar = tqdm(steps, desc="a2r bench", unit="section")
    for step in bar:
        bar.set_postfix_str(step)
        if step == "gemm":
            report.rows += gemm.run(ctx)
        elif step == "model":
            report.rows += model_forward.run(ctx)
        elif step == "sim":
            rows, skipped = sim.run(ctx)
            report.rows += rows
            report.skipped.update(skipped)
        elif step == "planning":
            report.rows += planning.run(ctx)
        elif step == "train":
            report.rows += training.run(ctx)
        else:
            wanted = [s for s in ROS_SECTIONS if s in sections]
            try:
                from a2r_ros import bench_node
            except ImportError as exc:  # no rclpy or the package is not built
                report.skipped.update({s: f"a2r_ros not importable: {exc}" for s in wanted})
                continue
            report.rows += bench_node.run(ctx, wanted)
    report.wall_s = time.perf_counter() - started
    print(report.render())
    report.write(out)
    print(f"written: {out}/bench.txt, bench.json, bench.png")
    return 0
