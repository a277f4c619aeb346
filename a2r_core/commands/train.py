"""`a2r train`: train an Adapt2Reward model from a YAML config (single process or under torchrun)."""

from __future__ import annotations

import argparse
import math
import os

NAME = "train"
HELP = "train a reward model from a YAML config (a2r, no-failure-data, BCE-only or DVD objective)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="FILE.yaml", help="training config (see docs/training.md)")
    parser.add_argument("--output", metavar="DIR", default=None,
                        help="output directory (default: output_dir from the config)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the output directory from its last/ checkpoint")
    parser.add_argument("--init-from", metavar="CHECKPOINT", default=None,
                        help="start from this checkpoint's weights (fine-tuning; overrides init_from in the config)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="override optim.epochs (the schedule length) from the config")


def run(args: argparse.Namespace) -> int:
    """Train; print where the checkpoints are and the best validation metric."""
    import dataclasses

    from a2r_core.errors import ConfigError
    from a2r_core.train import train
    from a2r_core.training.config import load_config

    config = load_config(args.config)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ConfigError(f"--epochs: must be >= 1, got {args.epochs}")
        config.optim = dataclasses.replace(config.optim, epochs=args.epochs)
    if args.init_from is not None:
        config = dataclasses.replace(config, init_from=args.init_from)
    result = train(config, output_dir=args.output, resume=args.resume)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, only rank 0 reports
        return 0
    best = f"{result.best_metric:.4f}" if math.isfinite(result.best_metric) else "n/a"
    print(f"a2r train: {result.epochs_done} epochs, {result.step} steps; best {result.metric_name} = {best}")
    print(f"  best checkpoint: {result.best_dir}")
    print(f"  last checkpoint: {result.last_dir}")
    print(f"  logs: {result.output_dir / 'epochs.csv'}, {result.output_dir / 'curves.png'}")
    return 0
