"""The balanced batch sampler: batch composition, task balance, seeding, missing groups, sharding."""

from __future__ import annotations

from collections import Counter

import pytest

from a2r_core.data.records import ClipRecord
from a2r_core.data.sampler import BalancedBatchSampler


def make_records(human_tasks=("a", "b", "c", "h1", "h2"), robot_tasks=("a", "b", "c"),
                 no_failure_tasks=(), sizes=(20, 7, 3)) -> list[ClipRecord]:
    """Unbalanced on purpose: task i of the robot domain has sizes[i % 3] clips of each kind."""
    recs = []
    for i, t in enumerate(robot_tasks):
        n = sizes[i % len(sizes)]
        recs += [ClipRecord(t, f"do {t}", "robot", True) for _ in range(n)]
        if t not in no_failure_tasks:
            recs += [ClipRecord(t, f"do {t}", "robot", False, failure_source="noise") for _ in range(n)]
    for t in human_tasks:
        recs += [ClipRecord(t, f"do {t}", "human", True) for _ in range(5)]
    return recs


def groups(recs, batch):
    return Counter("human" if recs[i].domain == "human" else ("success" if recs[i].success else "failure")
                   for i in batch)


def test_batches_hold_the_requested_groups_and_balance_tasks() -> None:
    recs = make_records()
    sampler = BalancedBatchSampler(recs, 8, 8, 8, batches_per_epoch=30, seed=0)
    batches = list(sampler)
    assert len(batches) == 30 == len(sampler)
    success_tasks, human_tasks = Counter(), Counter()
    for b in batches:
        assert groups(recs, b) == {"human": 8, "success": 8, "failure": 8}
        success_tasks.update(recs[i].task for i in b if recs[i].domain == "robot" and recs[i].success)
        human_tasks.update(recs[i].task for i in b if recs[i].domain == "human")
    # 240 success draws over 3 tasks of very different sizes (20, 7, 3 clips): 80 each
    assert set(success_tasks.values()) == {80}
    # human-only tasks are sampled too (the non-aligned half of the human slots)
    assert human_tasks["h1"] > 0 and human_tasks["h2"] > 0
    # aligned slots give cross-domain positives in every batch
    for b in batches:
        robot = {recs[i].task for i in b if recs[i].domain == "robot" and recs[i].success}
        assert any(recs[i].task in robot for i in b if recs[i].domain == "human")


def test_within_a_task_clips_are_drawn_without_replacement() -> None:
    recs = make_records(human_tasks=(), robot_tasks=("a",), sizes=(8,))
    batch = next(iter(BalancedBatchSampler(recs, 0, 8, 0, batches_per_epoch=1)))
    assert len(set(batch)) == 8


def test_seeded_and_epoch_dependent() -> None:
    recs = make_records()
    a = BalancedBatchSampler(recs, seed=3, batches_per_epoch=5)
    b = BalancedBatchSampler(recs, seed=3, batches_per_epoch=5)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)
    assert list(BalancedBatchSampler(recs, seed=4, batches_per_epoch=5)) != list(a)


def test_no_human_domain_and_a_task_without_failures() -> None:
    recs = make_records(human_tasks=(), no_failure_tasks=("b",))
    batches = list(BalancedBatchSampler(recs, 8, 8, 8, batches_per_epoch=6))
    for b in batches:
        assert groups(recs, b) == {"success": 8, "failure": 8}
        assert all(recs[i].task != "b" for i in b if not recs[i].success)
    # no failures at all (the no-failure-data baseline): failure slots are left out
    recs = [r for r in recs if r.success]
    assert all(groups(recs, b) == {"success": 8} for b in BalancedBatchSampler(recs, batches_per_epoch=3))


def test_ranks_get_disjoint_shards_of_the_same_epoch() -> None:
    recs = make_records()
    shards = [list(BalancedBatchSampler(recs, batches_per_epoch=4, seed=1, rank=r, world_size=2)) for r in range(2)]
    whole = BalancedBatchSampler(recs, batches_per_epoch=4, seed=1, world_size=2).epoch_batches(0)
    assert len(shards[0]) == len(shards[1]) == 4
    assert shards[0] == whole[0::2] and shards[1] == whole[1::2]
    assert shards[0] != shards[1]


def test_invalid_arguments() -> None:
    recs = make_records()
    with pytest.raises(ValueError):
        BalancedBatchSampler(recs, 0, 0, 0)
    with pytest.raises(ValueError):
        BalancedBatchSampler(recs, rank=2, world_size=2)
    with pytest.raises(ValueError):
        BalancedBatchSampler([r for r in recs if r.domain == "human"], 0, 8, 8)
