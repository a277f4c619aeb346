"""`a2r eval`: the reward-quality benchmark, or one given model on given clips (docs/evaluation.md).

    a2r eval --profile quick --out runs/eval_quick            # CI smoke: every stage, tiny
    a2r eval --profile full --out runs/eval_full
    a2r eval --config my_eval.yaml --out runs/eval_mine       # any eval config
    a2r eval --checkpoint checkpoints/a2r-small-metaworld --data my_clips/manifest.jsonl --out runs/mine

With `--checkpoint` nothing is trained: the model scores the clips of the `--data` manifests
(a2r_core.eval.model_report) and OUT gets results.json, results.md, reward_histograms.png and
reward_curves.png with the benchmark's offline metrics per task, per variant and overall.

Writes OUT/results.json, OUT/results.md, OUT/reward_curves.png, OUT/reward_histograms.png, the
trained rows' checkpoints under OUT/runs/<suite>/<row>/ and, when the config generates its MetaWorld
set in-run (the quick profile), that set under OUT/data/metaworld/. The full profile's MetaWorld
suite reads data/default/ (make it first with scripts/generate_default_data.sh).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from a2r_core.errors import ConfigError
from a2r_core.reward_modes import REWARD_MODES

NAME = "eval"
HELP = ("reward-quality benchmark (synthetic, PyBullet, MetaWorld): train rows on the same data, offline metrics, "
        "best-of-N, MPC; or --checkpoint: one given model on your manifests' clips; table/JSON/plots")

PROFILES = {"quick": "eval_quick.yaml", "full": "eval_full.yaml"}


def _config_dir() -> Path:
    """config/ of the source tree (the package is installed editable)."""
    return Path(__file__).resolve().parents[2] / "config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="which shipped config to run (default quick; not with --config or --checkpoint)")
    parser.add_argument("--config", type=Path, default=None, help="an eval YAML config (instead of --profile)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (must not exist or be empty)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    parser.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                        help="run only these rows of the config (everything else as written)")
    mine = parser.add_argument_group("one given model on given clips (no training)")
    mine.add_argument("--checkpoint", default=None,
                      help="checkpoint directory or Hugging Face hub id: evaluate it on --data instead of the benchmark")
    mine.add_argument("--data", action="append", default=None, metavar="MANIFEST_OR_DIR",
                      help="a JSONL clip manifest (docs/data.md) or a folder holding manifest.jsonl; repeatable")
    mine.add_argument("--batch-size", type=int, default=None,
                      help="clips per video-encoder call (default: the measured best for the dtype)")
    mine.add_argument("--max-prefixes", type=int, default=8,
                      help="growing prefixes scored per clip for value order and curves (default 8; 0 = every frame)")
    mine.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda (default cpu)")
    mine.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="default float32")
    mine.add_argument("--reward-mode", choices=REWARD_MODES, default=None,
                      help="score with this reward (docs/model.md) instead of the checkpoint's own")
    mine.add_argument("--canonical-instructions", action="store_true",
                      help="score clips of tasks in instructions.yaml for the task's canonical instruction "
                           "(as the benchmark does) instead of the manifest's")


_MODEL_ONLY = ("data", "batch_size", "canonical_instructions", "reward_mode")


def run(args: argparse.Namespace) -> int:
    if args.checkpoint is not None:
        return run_checkpoint(args)
    given = [f"--{k.replace('_', '-')}" for k in _MODEL_ONLY if getattr(args, k)]
    if given:
        raise ConfigError(f"{', '.join(given)}: only with --checkpoint (evaluate a given model on your clips)")
    if args.config is not None and args.profile is not None:
        raise ConfigError("--config and --profile: give one (a profile is a shipped config)")
    from a2r_core.eval.benchmark import load_eval_config, run_benchmark

    args.profile = args.profile or "quick"
    path = args.config or _config_dir() / PROFILES[args.profile]
    cfg = load_eval_config(path, rows=args.rows)
    if args.no_progress:
        cfg.progress = False
    profile = args.profile if args.config is None else Path(path).stem
    results = run_benchmark(cfg, args.out, profile=profile)
    print((Path(args.out) / "results.md").read_text())
    print(f"a2r eval: wrote {args.out}/results.json, results.md, reward_curves.png, reward_histograms.png "
          f"({results['wall_seconds']} s)")
    return 0


def run_checkpoint(args: argparse.Namespace) -> int:
    """`--checkpoint`: score the --data manifests' clips with the given model; write and print the table."""
    from a2r_core.eval import model_report
    from a2r_core.reward import RewardModel

    if args.config is not None or args.profile is not None:
        raise ConfigError(f"{'--config' if args.config is not None else '--profile'} and --checkpoint: give one. "
                          "--checkpoint evaluates that model on --data without training; --config/--profile run "
                          "the benchmark (a given checkpoint goes in its metaworld.checkpoints)")
    if args.rows:
        raise ConfigError("--rows selects rows of a benchmark config; --checkpoint evaluates one given model")
    if not args.data:
        raise ConfigError("--checkpoint needs --data MANIFEST_OR_DIR (a JSONL clip manifest, docs/data.md)")
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch-size: must be >= 1, got {args.batch_size}")
    if args.max_prefixes < 0 or args.max_prefixes == 1:
        raise ConfigError(f"--max-prefixes: must be >= 2, or 0 for every frame, got {args.max_prefixes}")
    model_report.check_out_dir(args.out)
    entries = model_report.manifest_entries(args.data)  # bad manifests fail before the model loads
    model = RewardModel.load(args.checkpoint, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                             reward_mode=args.reward_mode)
    clips = model_report.load_manifest_clips(entries, args.canonical_instructions, progress=not args.no_progress)
    results = model_report.evaluate_model(model, clips, max_prefixes=args.max_prefixes or None,
                                          progress=not args.no_progress)
    model_report.write_report(results, args.out)
    print(model_report.table(results))
    print(f"a2r eval: {results['n_clips']} clips scored by {args.checkpoint} in {results['wall_seconds']} s; wrote "
          f"{args.out}/results.md, results.json, reward_histograms.png, reward_curves.png")
    return 0
