"""The machine's fp32 and bf16 matrix-multiply throughput: the reference every model row is read
against.

Why measure it in every run instead of quoting a spec sheet: on a shared 2-core VM the usable peak
depends on the host, on AMX/AVX-512 being exposed, on torch's oneDNN build and on what else runs.
Measuring it in the same run as the model means "x% of peak" compares like with like. The peak of
a dtype is the best of a few square GEMM sizes (big enough to be compute-bound, small enough to
finish in a fraction of a second on 2 cores).
"""

from __future__ import annotations

import time

import torch

from a2r_core.bench.table import BenchContext, BenchRow

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
FULL_SIZES = (1024, 2048, 3072)
QUICK_SIZES = (1024,)


def gemm_flops_per_s(n: int, dtype: torch.dtype, min_time_s: float) -> tuple[float, int]:
    """FLOP/s of `n x n @ n x n` in `dtype` (2 n^3 FLOPs per product), averaged over as many
    products as fit in `min_time_s` after one warm-up product -> (FLOP/s, products timed)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: oneDNN picks and packs its kernel here
    reps, start = 0, time.perf_counter()
    while True:
        torch.mm(a, b, out=out)
        reps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time_s and reps >= 2:
            break
    return 2.0 * n ** 3 * reps / elapsed, reps


def run(ctx: BenchContext) -> list[BenchRow]:
    """One row per (dtype, size) and one `peak` row per dtype; sets `ctx.peak_flops`."""
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    min_time = 0.3 if ctx.quick else 1.5
    rows = []
    for name, dtype in DTYPES.items():
        best = 0.0
        for n in sizes:
            flops, reps = gemm_flops_per_s(n, dtype, min_time)
            best = max(best, flops)
            rows.append(BenchRow("gemm", "matmul throughput", f"{name} {n}x{n}x{n}", flops / 1e12, "TFLOP/s",
                                 extra={"dtype": name, "n": n, "products": reps, "flops_per_s": flops}))
        ctx.peak_flops[name] = best
        rows.append(BenchRow("gemm", "peak (reference)", f"{name}, best size", best / 1e12, "TFLOP/s",
                             fraction_of_peak=1.0, extra={"dtype": name, "flops_per_s": best}))
    return rows


__all__ = ["gemm_flops_per_s", "run"]
