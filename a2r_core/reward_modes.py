"""The reward formulas `RewardModel.score` knows, by name (torch-free, for CLIs and ROS parameters).

What each computes is in `a2r_core.reward`'s docstring and docs/model.md: "cosine" (the instruction's
cosine with the clip), "contrast" (the instruction against its own failure texts) and "grounded"
(the instruction against its own failure texts and every other known task's texts).
"""

REWARD_MODES = ("cosine", "contrast", "grounded")

__all__ = ["REWARD_MODES"]
