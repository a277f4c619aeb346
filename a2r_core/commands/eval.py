"""`a2r eval`: the reward-quality benchmark (docs/evaluation.md).

    a2r eval --profile quick --out runs/eval_quick            # CI smoke: every stage, tiny
    a2r eval --profile full --out runs/eval_full
    a2r eval --config my_eval.yaml --out runs/eval_mine       # any eval config

Writes OUT/results.json, OUT/results.md, OUT/reward_curves.png, OUT/reward_histograms.png, the
trained rows' checkpoints under OUT/runs/<suite>/<row>/ and, when the config generates its MetaWorld
set in-run (the quick profile), that set under OUT/data/metaworld/. The full profile's MetaWorld
suite reads data/default/ (make it first with scripts/generate_default_data.sh).
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "eval"
HELP = ("reward-quality benchmark (synthetic, PyBullet, MetaWorld): train rows on the same data, offline metrics, "
        "best-of-N, MPC; table/JSON/plots")

PROFILES = {"quick": "eval_quick.yaml", "full": "eval_full.yaml"}


def _config_dir() -> Path:
    """config/ of the source tree (the package is installed editable)."""
    return Path(__file__).resolve().parents[2] / "config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick",
                        help="which shipped config to run (ignored with --config)")
    parser.add_argument("--config", type=Path, default=None, help="an eval YAML config (overrides --profile)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (must not exist or be empty)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")


def run(args: argparse.Namespace) -> int:
    from a2r_core.eval.benchmark import load_eval_config, run_benchmark

    path = args.config or _config_dir() / PROFILES[args.profile]
    cfg = load_eval_config(path)
    if args.no_progress:
        cfg.progress = False
    profile = args.profile if args.config is None else Path(path).stem
    results = run_benchmark(cfg, args.out, profile=profile)
    print((Path(args.out) / "results.md").read_text())
    print(f"a2r eval: wrote {args.out}/results.json, results.md, reward_curves.png, reward_histograms.png "
          f"({results['wall_seconds']} s)")
    return 0
