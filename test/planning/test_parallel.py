"""Candidate rollouts in worker processes give exactly the in-process results, and a snapshot
restores into any copy of the same task (the copy starts the snapshot's episode first)."""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.errors import InputError
from a2r_core.planning import CEMConfig, CEMPlanner, InfoRewardScorer, rollout_candidates, run_mpc
from a2r_core.planning.parallel import MetaWorldModelFactory, RolloutPool


@pytest.fixture(scope="module")
def model():
    m = MetaWorldModelFactory("drawer-close-v3", image_size=32, seed=300)()
    for _ in range(4):
        m.step(np.array([0.4, 0.2, -0.3, 0.0]))
    yield m
    m.env.close()


def test_a_snapshot_restores_into_a_copy_started_from_another_seed(model) -> None:
    snap = model.snapshot()
    other = MetaWorldModelFactory("drawer-close-v3", image_size=32, seed=7)()  # objects elsewhere
    try:
        other.restore(snap)
        model.restore(snap)
        a = np.array([0.1, -0.5, 0.2, 1.0])
        for _ in range(3):
            assert other.step(a) == model.step(a)
        assert np.array_equal(other.render(), model.render())
    finally:
        other.env.close()
        model.restore(snap)
    wrong = MetaWorldModelFactory("button-press-v3", image_size=32)()
    try:
        with pytest.raises(InputError, match="not made by a rollout model of this task"):
            wrong.restore(snap)
    finally:
        wrong.env.close()


def test_the_pool_gives_the_in_process_clips_infos_and_successes(model) -> None:
    start = model.snapshot()
    actions = np.random.default_rng(0).uniform(-1, 1, size=(5, 6, 4))
    context = np.stack([model.render()] * 9)
    here = rollout_candidates(model, start, actions, 2, True, context, 8)
    with RolloutPool(MetaWorldModelFactory("drawer-close-v3", image_size=32, seed=0), workers=2) as pool:
        there = rollout_candidates(model, start, actions, 2, True, context, 8, pool=pool)
        blind = rollout_candidates(model, start, actions, 2, False, pool=pool)
    assert np.array_equal(here.clips, there.clips) and here.clips.shape == (5, 8, 32, 32, 3)
    assert here.infos == there.infos == blind.infos and blind.clips is None
    assert np.array_equal(here.successes, there.successes)


def test_mpc_through_the_pool_matches_mpc_in_process() -> None:
    cfg = CEMConfig(horizon=4, samples=6, iterations=1, elites=2, action_repeat=2, execute_steps=2, seed=1)
    factory = MetaWorldModelFactory("reach-v3", image_size=32, seed=11)
    results = []
    for workers in (0, 2):
        model = factory()
        try:
            if workers:
                with RolloutPool(factory, workers) as pool:
                    results.append(run_mpc(model, CEMPlanner(cfg, model, InfoRewardScorer(), pool=pool), max_steps=4))
            else:
                results.append(run_mpc(model, CEMPlanner(cfg, model, InfoRewardScorer()), max_steps=4))
        finally:
            model.env.close()
    assert np.array_equal(results[0].actions, results[1].actions)
    assert [i["dense_reward"] for i in results[0].infos] == [i["dense_reward"] for i in results[1].infos]
