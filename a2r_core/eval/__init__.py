"""Reward-quality evaluation: offline metrics, online selection and MPC success, the benchmark
protocol and its report (docs/evaluation.md). No rclpy here."""

from a2r_core.eval.metrics import best_of_n_success, instruction_top1, success_auroc, value_order_spearman

__all__ = ["best_of_n_success", "instruction_top1", "success_auroc", "value_order_spearman"]
