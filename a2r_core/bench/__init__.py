"""`a2r bench`: how fast the reward is on this machine, against this machine's own GEMM peak.

Why a benchmark and not tests: speed depends on the machine and its load, so nothing here asserts a
number. Every run measures the fp32 and bf16 matrix-multiply throughput first (`gemm`), and the
model-forward rows are reported as a fraction of that measured peak, so a run on another CPU (or a
busy one) is read against its own ceiling.

Sections (each a module with `run(quick: bool) -> list[BenchRow]`, rclpy only in a2r_ros):
- `gemm`: fp32 / bf16 matmul FLOP/s (the reference peak);
- `model`: clips/s and achieved FLOP/s vs batch size through `RewardModel.score`, fp32 and bf16,
  for the default a2r-small and an X-CLIP base/32-sized model with random weights;
- `node`, `service`: the ROS reward node end to end and the reward-query service
  (`a2r_ros.bench_node`, imported only when those sections run);
- `sim`: rendered frames/s and candidate rollouts/s (PyBullet, MetaWorld);
- `train`: training clips/s.
`table` renders one table per run and writes it as JSON and PNG. See docs/performance.md.
"""

from a2r_core.bench.table import BenchContext, BenchReport, BenchRow, machine_info

__all__ = ["BenchContext", "BenchReport", "BenchRow", "machine_info"]
