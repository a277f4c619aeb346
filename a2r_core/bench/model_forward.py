"""Model forward: clips/s and achieved FLOP/s (share of the measured GEMM peak) vs batch size.

What is timed is `RewardModel.score(clips, [instruction])` on uint8 clips already at the model's
input size and frame count (the path every consumer uses; text features are cached after the
warm-up call, as in a running node). So a row covers preprocessing (uint8 -> normalised float),
the video encoder and the reward/success heads, but no resize from camera resolution (that cost
is in the `node` section).

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` over one such call (matmuls,
convolutions and attention; elementwise ops are not counted, which is the usual convention for
"achieved FLOP/s"). Achieved FLOP/s = counted FLOPs / measured time; its fraction of the peak is
against the same-dtype GEMM peak measured by the `gemm` section of the same run.

Full runs add `a2r-small compiled` rows (bf16, batches 16 and 64): the same calls through
`RewardModel(compile=True)`, the opt-in torch.compile path; compilation happens in the warm-up
calls and is not timed.

Models: the default `a2r-small` (A2RConfig() defaults: 8 frames, 112 px; random weights unless
`--checkpoint` is given) and an X-CLIP base/32-sized model (transformers' `XCLIPConfig()` defaults:
ViT-B/32, 8 frames at 224 px, ~200M parameters) with RANDOM weights built from the config alone
(no download): speed does not depend on the weights' values.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from a2r_core.bench.table import BenchContext, BenchRow

INSTRUCTION = "open the drawer"
TASKS = {"drawer-open": [INSTRUCTION]}
FULL_BATCHES = {"a2r-small": (1, 2, 4, 8, 16, 32, 64), "xclip-base/32": (1, 2, 4, 8)}
QUICK_BATCHES = {"a2r-small": (1, 8), "xclip-base/32": (1,)}
# The compiled rows (full runs only: each batch size costs tens of seconds of compilation).
COMPILED_BATCHES = (16, 64)


def build_small(checkpoint: str | None = None):
    """The default a2r-small model (random weights), or the model of `checkpoint`."""
    from a2r_core.model import A2RConfig, Adapt2Reward

    if checkpoint:
        from a2r_core.model import load_checkpoint

        model, _, _ = load_checkpoint(Path(checkpoint))
        return model
    torch.manual_seed(0)
    return Adapt2Reward(A2RConfig(tasks=list(TASKS), task_instructions=TASKS))


def _write_xclip_assets(directory: Path) -> None:
    """An X-CLIP base/32 config and a small CLIP tokenizer in `directory`: what the xclip adapter
    needs to build the architecture with random weights (the tokenizer only affects the cached
    text features, never the timed video path)."""
    from transformers import CLIPTokenizer, XCLIPConfig

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {ch: i for i, ch in enumerate(letters)}
    vocab.update({ch + "</w>": len(letters) + i for i, ch in enumerate(letters)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    CLIPTokenizer(vocab=vocab, merges=[]).save_pretrained(str(directory))
    XCLIPConfig().save_pretrained(str(directory))


def build_xclip_base() -> "torch.nn.Module":
    """An Adapt2Reward model on an X-CLIP base/32-sized backbone with random weights."""
    from a2r_core.model import A2RConfig, Adapt2Reward

    with tempfile.TemporaryDirectory(prefix="a2r_bench_xclip_") as tmp:
        _write_xclip_assets(Path(tmp))
        torch.manual_seed(0)
        cfg = A2RConfig(backbone="xclip", backbone_path=tmp, tasks=list(TASKS), task_instructions=TASKS)
        return Adapt2Reward(cfg, assets_dir=Path(tmp))


def count_flops(fn) -> int:
    """FLOPs that `FlopCounterMode` counts during one call of `fn()`."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def time_calls(fn, min_time_s: float, min_calls: int = 2) -> tuple[float, int]:
    """Seconds per call of `fn()`, averaged over calls filling `min_time_s` (at least `min_calls`)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= min_calls and elapsed >= min_time_s:
            return elapsed / calls, calls


def bench_model(name: str, model, batches, dtypes, ctx: BenchContext, min_time_s: float,
                compile: bool = False) -> list[BenchRow]:
    """Rows for one model: every (dtype, batch) plus the best batch of each dtype; `compile`:
    through `RewardModel(compile=True)` (the rows' name says so; compilation is not timed)."""
    from a2r_core.reward import RewardModel

    eager = model.eval()
    if compile:
        import copy

        model = copy.deepcopy(model)  # compiling patches the module in place; keep the eager one eager
        name = f"{name} compiled"
    model.eval()
    t, s = int(model.config.num_frames), int(model.config.image_size)
    rng = np.random.default_rng(0)
    rows = []
    for dtype in dtypes:
        best: BenchRow | None = None
        for batch in batches:
            rm = RewardModel.from_module(model, model_id=name, dtype=dtype, batch_size=batch,
                                         compile=compile and batch == batches[0])
            clips = rng.integers(0, 256, size=(batch, t, s, s, 3), dtype=np.uint8)
            for _ in range(2):  # warm-up: caches the text features; oneDNN picks/compiles kernels per shape
                rm.score(clips, [INSTRUCTION])
            # FLOPs of the eager module (the same computation; the counter does not see into compiled code)
            counted = RewardModel.from_module(eager, dtype=dtype, batch_size=batch) if compile else rm
            flops = count_flops(lambda: counted.score(clips, [INSTRUCTION]))
            seconds, calls = time_calls(lambda: rm.score(clips, [INSTRUCTION]), min_time_s)
            achieved = flops / seconds
            peak = ctx.peak_flops.get(dtype)
            row = BenchRow("model", f"{name} forward", f"batch {batch}, {dtype}", batch / seconds, "clips/s",
                           fraction_of_peak=achieved / peak if peak else None,
                           extra={"model": name, "dtype": dtype, "batch": batch, "frames": t, "image_size": s,
                                  "gflop_per_clip": flops / batch / 1e9, "achieved_tflops": achieved / 1e12,
                                  "ms_per_call": seconds * 1e3, "calls_timed": calls})
            rows.append(row)
            if best is None or row.value > best.value:
                best = row
        assert best is not None
        rows.append(BenchRow("model", f"{name} forward, best batch", f"batch {best.extra['batch']}, {dtype}",
                             best.value, "clips/s", best.fraction_of_peak,
                             extra={k: v for k, v in best.extra.items() if k != "batch"} | {"best_batch": best.extra["batch"]}))
    return rows


def run(ctx: BenchContext) -> list[BenchRow]:
    """a2r-small and X-CLIP-base rows, fp32 and bf16 (bf16 only where the CPU has native bf16;
    elsewhere bf16 autocast is emulated and not worth reporting)."""
    batches = QUICK_BATCHES if ctx.quick else FULL_BATCHES
    min_time = 0.2 if ctx.quick else 2.0
    dtypes = ["float32"] + (["bfloat16"] if native_bf16() else [])
    small = build_small(ctx.checkpoint)
    rows = bench_model("a2r-small", small, batches["a2r-small"], dtypes, ctx, min_time)
    if not ctx.quick and "bfloat16" in dtypes:  # the opt-in compiled path, at the batches planners send
        rows += bench_model("a2r-small", small, COMPILED_BATCHES, ["bfloat16"], ctx, min_time, compile=True)
    xclip = build_xclip_base()
    rows += bench_model("xclip-base/32", xclip, batches["xclip-base/32"], dtypes, ctx, min_time)
    return rows


def native_bf16() -> bool:
    """True where the CPU runs bf16 matmuls natively (AVX512-BF16 or AMX); every section runs on
    the CPU, so a GPU does not count."""
    checks = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(c() for c in checks if c is not None)


__all__ = ["build_small", "build_xclip_base", "bench_model", "count_flops", "time_calls", "native_bf16", "run"]
