"""`FailurePromptPool`: K learnable failure prompts of L_p token vectors per training task.

Adapt2Reward models "tried and failed" per task as K failure modes (the K clusters of that task's
failure clips). Mode k of task T is a learnable prompt `P[T, k]` of `L_p` vectors in the text
encoder's token-embedding space; spliced in front of T's instruction tokens and run through the text
encoder it gives the failure text feature `t_f[T, k]` (see `Adapt2Reward.failure_text_features`).

Unseen tasks (an index of -1): with `unseen="omit"` they get no failure texts (reward = instruction
similarity only); with `unseen="mean"` they use the shared prompt statistics, the per-mode mean of the
prompts over all training tasks, `mean_T P[T, k]`, with their own instruction.
"""

from __future__ import annotations

import torch
from torch import nn


class FailurePromptPool(nn.Module):
    """prompts: Parameter [num_tasks, K, L_p, E], initialised N(0, init_std^2) (CoOp's init)."""

    def __init__(self, num_tasks: int, num_prompts: int, prompt_length: int, width: int,
                 init_std: float = 0.02, unseen: str = "omit") -> None:
        super().__init__()
        self.num_tasks, self.num_prompts, self.prompt_length, self.width = num_tasks, num_prompts, prompt_length, width
        self.unseen = unseen
        # An empty pool (no tasks, or K = 0: the no-failure-data baseline) has nothing to learn;
        # requires_grad=False keeps DDP from waiting for its gradient.
        empty = num_tasks * num_prompts * prompt_length == 0
        self.prompts = nn.Parameter(torch.empty(num_tasks, num_prompts, prompt_length, width), requires_grad=not empty)
        if self.prompts.numel():
            nn.init.normal_(self.prompts, std=init_std)

    @property
    def enabled(self) -> bool:
        """True when there is at least one task and one prompt per task."""
        return self.num_tasks > 0 and self.num_prompts > 0

    def shared(self) -> torch.Tensor:
        """[K, L_p, E]: the per-mode mean over tasks (prompts for unseen tasks when unseen="mean")."""
        return self.prompts.mean(0)

    def has_prompts(self, task_ids: torch.Tensor) -> torch.Tensor:
        """[N] bool: which task indices get failure texts (seen tasks; all when unseen="mean")."""
        if not self.enabled:
            return torch.zeros_like(task_ids, dtype=torch.bool)
        if self.unseen == "mean":
            return task_ids >= -1
        return task_ids >= 0

    def forward(self, task_ids: torch.Tensor) -> torch.Tensor:
        """task_ids [N] long (-1 = unseen) -> [N, K, L_p, E]; unseen rows use `shared()`.

        Callers drop the unseen rows when unseen="omit" (see `has_prompts`).
        """
        if not self.enabled:
            return self.prompts.new_zeros(task_ids.shape[0], self.num_prompts, self.prompt_length, self.width)
        if bool((task_ids >= self.num_tasks).any()) or bool((task_ids < -1).any()):
            raise IndexError(f"task index out of range [-1, {self.num_tasks - 1}]: {task_ids.tolist()}")
        seen = self.prompts[task_ids.clamp(min=0)]
        unseen = (task_ids < 0).view(-1, 1, 1, 1)
        if bool(unseen.any()):
            seen = torch.where(unseen, self.shared().unsqueeze(0), seen)
        return seen

    def extra_repr(self) -> str:
        return (f"tasks={self.num_tasks}, K={self.num_prompts}, L_p={self.prompt_length}, "
                f"width={self.width}, unseen={self.unseen}")
