"""Planning over a reward function: CEM/MPC with the simulator as dynamics (no ROS here; the ROS
planner node wraps this). See docs/planning.md."""

from a2r_core.planning.cem import (
    CEMConfig,
    CEMPlanner,
    ClipRewardFn,
    ClipRewardScorer,
    InfoRewardScorer,
    MPCResult,
    PlanResult,
    RandomRolloutScorer,
    RolloutScorer,
    run_mpc,
)
from a2r_core.planning.rollout import (
    PybulletRollout,
    RolloutBatch,
    RolloutModel,
    rollout_candidates,
    subsample_frames,
)

__all__ = [
    "CEMConfig", "CEMPlanner", "ClipRewardFn", "ClipRewardScorer", "InfoRewardScorer", "MPCResult",
    "PlanResult", "PybulletRollout", "RandomRolloutScorer", "RolloutBatch", "RolloutModel", "RolloutScorer",
    "rollout_candidates", "run_mpc", "subsample_frames",
]
