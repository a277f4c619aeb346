"""The domain- and task-balanced batch sampler the trainer uses.

Each batch holds `batch_human` human clips, `batch_success` robot success clips and `batch_failure`
robot failure clips (8 each by default). Within each group the slots cycle over that group's tasks
(in a shuffled order that continues from batch to batch), so every task gets an equal share over an
epoch whatever its clip count; within a task the clips are drawn without replacement from a shuffled
queue that refills when exhausted. Groups that have no clips (no human domain, an objective without
failure clips, a task without failures) simply leave their slots out: batches shrink, never fail.

Cross-domain contrast needs human and robot clips of the same task in one batch, but the human
domain may cover many more tasks than the robot one (tasks seen only by humans must still be
trained). So a fraction `human_aligned_fraction` of the human slots takes the tasks of this batch's
robot success clips (when humans have them) and the rest cycles over all human tasks.

The batches of epoch e are a pure function of (records, seed, e): resuming at batch n of epoch e
gives exactly the batches an uninterrupted run would have seen. Under DDP, rank r of W takes
batches r, r+W, r+2W, ... of the epoch's list (which holds W * batches_per_epoch batches), so the
ranks see disjoint, equally balanced batches. Works from `records` only; no clip is decoded.
"""

from __future__ import annotations

import math
from typing import Iterator, Optional, Sequence

import numpy as np

from a2r_core.data.records import ClipRecord


class _TaskCycler:
    """Draws clip indices for one group: tasks round-robin, clips without replacement per task."""

    def __init__(self, by_task: dict[str, list[int]], rng: np.random.Generator) -> None:
        self.by_task = {t: list(ix) for t, ix in by_task.items() if ix}
        self.tasks = sorted(self.by_task)
        self.rng = rng
        self.order: list[str] = []
        self.queues: dict[str, list[int]] = {t: [] for t in self.tasks}

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def next_task(self) -> str:
        if not self.order:
            self.order = [self.tasks[i] for i in self.rng.permutation(len(self.tasks))]
        return self.order.pop()

    def draw(self, task: str) -> int:
        queue = self.queues[task]
        if not queue:
            pool = self.by_task[task]
            queue.extend(pool[i] for i in self.rng.permutation(len(pool)))
        return queue.pop()


class BalancedBatchSampler:
    """Yields lists of dataset indices; see the module docstring for the batch composition."""

    def __init__(self, records: Sequence[ClipRecord], batch_human: int = 8, batch_success: int = 8,
                 batch_failure: int = 8, batches_per_epoch: Optional[int] = None, seed: int = 0,
                 human_aligned_fraction: float = 0.5, rank: int = 0, world_size: int = 1) -> None:
        if min(batch_human, batch_success, batch_failure) < 0 or batch_human + batch_success + batch_failure == 0:
            raise ValueError("batch sizes must be >= 0 and not all 0")
        if not 0.0 <= human_aligned_fraction <= 1.0:
            raise ValueError(f"human_aligned_fraction must be in [0, 1], got {human_aligned_fraction}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} not in [0, {world_size})")
        self.records = list(records)
        self.sizes = {"human": batch_human, "success": batch_success, "failure": batch_failure}
        self.groups: dict[str, dict[str, list[int]]] = {"human": {}, "success": {}, "failure": {}}
        for i, rec in enumerate(self.records):
            group = "human" if rec.domain == "human" else ("success" if rec.success else "failure")
            self.groups[group].setdefault(rec.task, []).append(i)
        n_drawn = sum(sum(len(v) for v in self.groups[g].values()) for g in self.sizes if self.sizes[g] > 0)
        per_batch = sum(self.sizes[g] for g in self.sizes if self.groups[g])
        if per_batch == 0:
            raise ValueError("no clips for any non-empty batch group (check the records and batch sizes)")
        self.batches_per_epoch = batches_per_epoch or max(1, math.ceil(n_drawn / per_batch / world_size))
        self.seed = seed
        self.aligned = human_aligned_fraction
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches `__iter__` yields (as torch's DistributedSampler)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """All ranks' batches of `epoch` (W * batches_per_epoch lists of indices)."""
        rng = np.random.default_rng([self.seed, epoch])
        cyclers = {g: _TaskCycler(self.groups[g], rng) for g in self.groups}
        human = cyclers["human"]
        batches = []
        for _ in range(self.batches_per_epoch * self.world_size):
            batch: list[int] = []
            robot_tasks: list[str] = []
            for group in ("success", "failure"):
                cyc = cyclers[group]
                if not cyc:
                    continue
                for _ in range(self.sizes[group]):
                    task = cyc.next_task()
                    batch.append(cyc.draw(task))
                    if group == "success":
                        robot_tasks.append(task)
            if human:
                shared = [t for t in robot_tasks if t in human.by_task]
                n_aligned = int(round(self.aligned * self.sizes["human"])) if shared else 0
                for j in range(self.sizes["human"]):
                    task = shared[j % len(shared)] if j < n_aligned else human.next_task()
                    batch.append(human.draw(task))
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.epoch_batches(self.epoch)[self.rank::self.world_size]
