"""MetaWorld `RolloutModel`: restore + the same actions reproduce the same frames, observations and
rewards (also against an uninterrupted run), and the CEM planner runs on it with the oracle reward."""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.errors import InputError
from a2r_core.planning import CEMConfig, CEMPlanner, InfoRewardScorer, rollout_candidates
from a2r_core.planning.metaworld_rollout import MetaWorldRollout
from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig


@pytest.fixture(scope="module")
def model():
    env = MetaWorldEnv("bin-picking-v3", render=RenderConfig(width=48, height=48), max_steps=60)
    m = MetaWorldRollout(env)
    yield m
    env.close()


def _run(model: MetaWorldRollout, actions: np.ndarray) -> tuple[np.ndarray, list[float], np.ndarray]:
    frames, rewards = [], []
    for a in actions:
        info = model.step(a)
        rewards.append(info["dense_reward"])
        frames.append(model.render())
    return np.stack(frames), rewards, model.env._env._get_obs()


def test_restore_then_same_actions_gives_identical_frames_and_rewards(model) -> None:
    model.reset(3)
    rng = np.random.default_rng(0)
    warmup, actions = rng.uniform(-1, 1, (5, 4)), rng.uniform(-1, 1, (12, 4))
    for a in warmup:
        model.step(a)
    snap = model.snapshot()
    frames_a, rewards_a, obs_a = _run(model, actions)       # the uninterrupted "real" run
    # something else happens (other candidates), then back to the snapshot
    _run(model, rng.uniform(-1, 1, (7, 4)))
    model.restore(snap)
    frames_b, rewards_b, obs_b = _run(model, actions)
    assert np.array_equal(frames_a, frames_b)
    assert rewards_a == rewards_b
    assert np.array_equal(obs_a, obs_b)
    # restore -> run, twice: bit-identical
    model.restore(snap)
    frames_c, rewards_c, obs_c = _run(model, actions)
    assert np.array_equal(frames_b, frames_c) and rewards_b == rewards_c and np.array_equal(obs_b, obs_c)
    assert frames_a[0].shape == (48, 48, 3) and frames_a.std() > 0
    # and the first frame differs from the last one: the actions did move something
    assert not np.array_equal(frames_a[0], frames_a[-1])


def test_rollout_candidates_leave_the_live_episode_unchanged(model) -> None:
    model.reset(4)
    model.step(np.array([0.5, 0.0, 0.0, 0.0]))
    before = model.snapshot()
    frame_before = model.render()
    cands = np.random.default_rng(1).uniform(-1, 1, (3, 4, 4))
    batch = rollout_candidates(model, before, cands, action_repeat=2)
    assert batch.clips.shape == (3, 4, 48, 48, 3)
    assert np.array_equal(model.render(), frame_before)
    assert np.array_equal(model.snapshot().physics, before.physics)
    again = rollout_candidates(model, model.snapshot(), cands, action_repeat=2)
    assert np.array_equal(again.clips, batch.clips)
    assert not np.array_equal(batch.clips[0], batch.clips[1])


def test_episode_limit_freezes_instead_of_failing(model) -> None:
    model.reset(5)
    for _ in range(60):
        model.step(np.zeros(4))
    frame = model.render()
    info = model.step(np.ones(4))
    assert info["truncated"] is True
    assert np.array_equal(model.render(), frame)


def test_bad_inputs_are_input_errors(model) -> None:
    with pytest.raises(InputError, match="4 finite numbers"):
        model.step(np.zeros(3))
    with pytest.raises(InputError, match="not made by a rollout model of this task"):
        model.restore(object())
    with pytest.raises(InputError, match="expected a MetaWorldEnv"):
        MetaWorldRollout(object())


def test_cem_with_the_oracle_reward_beats_its_first_sample_on_reach() -> None:
    env = MetaWorldEnv("reach-v3", render=RenderConfig(width=32, height=32), max_steps=200)
    try:
        m = MetaWorldRollout(env)
        assert m.instruction == "reach the goal position"
        m.reset(0)
        planner = CEMPlanner(CEMConfig(horizon=5, samples=12, iterations=3, elites=3, action_repeat=2,
                                       execute_steps=2), m, InfoRewardScorer())
        plan = planner.plan()
        assert plan.best_per_iteration[-1] >= plan.best_per_iteration[0]
        assert plan.score > plan.mean_per_iteration[0]
    finally:
        env.close()
