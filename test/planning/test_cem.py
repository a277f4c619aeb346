"""CEM/MPC planner over the real PyBullet tabletop env (simulator restore as dynamics)."""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.errors import ConfigError, InputError
from a2r_core.planning import (
    CEMConfig,
    CEMPlanner,
    ClipRewardScorer,
    InfoRewardScorer,
    PybulletRollout,
    RolloutModel,
    rollout_candidates,
    run_mpc,
    subsample_frames,
)
from a2r_core.sim.pybullet_policies import RandomPolicy, make_policy
from a2r_core.sim.pybullet_tabletop import TabletopConfig, TabletopEnv, instruction

# Small but real: 6 planning actions x 2 env steps each, 24 candidates, 3 refits.
FAST = dict(horizon=6, samples=24, iterations=3, elites=5, action_repeat=2, execute_steps=3)


@pytest.fixture(scope="module")
def env():
    with TabletopEnv(TabletopConfig(task="push_left", image_size=48), seed=0) as e:
        yield e


def _use(env: TabletopEnv, task: str, seed: int, **kw) -> PybulletRollout:
    env.config = TabletopConfig(task=task, image_size=kw.pop("image_size", 48), **kw)
    env.reset(seed)
    return PybulletRollout(env)


def test_config_validation():
    with pytest.raises(ConfigError, match="elites"):
        CEMConfig(samples=4, elites=5)
    with pytest.raises(ConfigError, match="horizon"):
        CEMConfig(horizon=0)
    with pytest.raises(ConfigError, match="execute_steps"):
        CEMConfig(horizon=2, execute_steps=3)
    with pytest.raises(ConfigError, match="min_std"):
        CEMConfig(init_std=0.2, min_std=0.3)
    with pytest.raises(ConfigError, match="action_repeat"):
        CEMConfig(action_repeat=True)


def test_adapter_satisfies_protocol(env):
    model = _use(env, "push_left", 0)
    assert isinstance(model, RolloutModel)
    assert model.instruction == instruction("push_left")
    with pytest.raises(InputError, match="TabletopEnv"):
        PybulletRollout(object())


def test_rollout_clips_are_the_candidates_futures(env):
    """Clips handed to a reward function show exactly what the candidate actions do."""
    model = _use(env, "push_left", 1)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(3, 4, 3))
    context = np.stack([model.render()] * 2)
    start = model.snapshot()
    before = model.render()
    batch = rollout_candidates(model, start, actions, action_repeat=2, context_frames=context)
    assert batch.clips.shape == (3, 2 + 4, 48, 48, 3) and batch.clips.dtype == np.uint8
    assert np.array_equal(model.render(), before), "model not left at the start state"
    # Replay candidate 2 by hand.
    model.restore(start)
    manual = []
    for a in actions[2]:
        model.step(a)
        model.step(a)
        manual.append(model.render())
    assert np.array_equal(batch.clips[2, 2:], np.stack(manual))
    assert np.array_equal(batch.clips[2, :2], context)
    assert not np.array_equal(batch.clips[0, -1], batch.clips[1, -1])
    thin = rollout_candidates(model, start, actions, context_frames=context, max_clip_frames=3)
    assert thin.clips.shape[1] == 3
    assert np.array_equal(thin.clips[:, 0], batch.clips[:, 0])  # first frame kept
    with pytest.raises(InputError, match=r"\[N, H, A\]"):
        rollout_candidates(model, start, actions[0])


def test_subsample_keeps_ends():
    frames = np.arange(10)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    out = subsample_frames(frames, 4)
    assert out[:, 0, 0, 0].tolist() == [0, 3, 6, 9]
    assert subsample_frames(frames, None) is frames


def test_plan_improves_over_its_first_sample(env):
    model = _use(env, "push_right", 2)
    planner = CEMPlanner(CEMConfig(**FAST), model, InfoRewardScorer("dense_reward"))
    plan = planner.plan()
    assert plan.actions.shape == (FAST["horizon"], 3) and plan.rollouts == 3 * FAST["samples"]
    assert plan.mean_per_iteration[-1] > plan.mean_per_iteration[0]
    assert plan.score >= max(plan.best_per_iteration)


@pytest.mark.parametrize("task", ["push_left", "push_away"])
def test_oracle_mpc_moves_the_block_more_than_random(env, task):
    """From the same start, CEM with the oracle dense reward pushes the block the instructed way
    (and succeeds); random actions of the same length do not."""
    seed = 4
    max_steps = 18  # planning actions; x action_repeat env steps
    model = _use(env, task, seed)
    planner = CEMPlanner(CEMConfig(**FAST, seed=seed), model, InfoRewardScorer())
    result = run_mpc(model, planner, max_steps=max_steps)
    cem_along = model.env.displacement()[0]
    assert result.success and result.success_step is not None
    assert result.rollouts == len(result.plans) * FAST["iterations"] * FAST["samples"]

    random_along = []
    for s in range(3):
        model = _use(env, task, seed)
        policy = RandomPolicy(seed=100 + s)
        for _ in range(max_steps * FAST["action_repeat"]):
            model.step(policy(model.env))
        random_along.append(model.env.displacement()[0])
    assert cem_along > max(random_along) + 0.05, (cem_along, random_along)


def _image_left_progress(clips: np.ndarray, instructions: list[str]) -> np.ndarray:
    """A pixel-level scorer for the clip path only (the oracle test above is the planner's real
    check): how far the red block's centroid moved towards the image's left, first to last frame;
    a clip whose last frame hides the block scores lowest."""
    assert all(i == instructions[0] for i in instructions)
    f = clips.astype(np.int16)
    red = (f[..., 0] > 90) & (f[..., 0] > 2 * f[..., 1]) & (f[..., 0] > 2 * f[..., 2])  # [N,T,H,W]
    cols = np.arange(clips.shape[3])[None, None, None, :]
    count = red.sum(axis=(2, 3))
    centroid = (red * cols).sum(axis=(2, 3)) / np.maximum(count, 1)  # [N, T]
    return np.where(count[:, -1] > 0, centroid[:, 0] - centroid[:, -1], -float(clips.shape[3]))


def test_mpc_through_rendered_clips(env):
    """The ClipRewardScorer path: candidates are rendered, handed over as uint8 [N, T, H, W, 3]
    with the instruction, and the plan follows the scores. The arm starts at the pre-push pose
    (5 expert steps) because this pixel scorer has no reaching term."""
    model = _use(env, "push_left", 0)
    expert = make_policy("expert", model.env)
    for _ in range(5):
        model.step(expert(model.env))
    start_along = model.env.displacement()[0]
    seen = []

    def reward_fn(clips: np.ndarray, instructions: list[str]) -> np.ndarray:
        seen.append((clips.shape, clips.dtype, list(instructions)))
        return _image_left_progress(clips, instructions)

    cfg = CEMConfig(**{**FAST, "samples": 16, "iterations": 2}, max_clip_frames=8)
    planner = CEMPlanner(cfg, model, ClipRewardScorer(reward_fn, model.instruction))
    result = run_mpc(model, planner, max_steps=9, stop_on_success=False)
    n, t, h, w, c = seen[0][0]
    assert (n, h, w, c) == (16, 48, 48, 3) and 2 <= t <= 8 and seen[0][1] == np.uint8
    assert seen[0][2] == [instruction("push_left")] * 16
    assert max(s[0][1] for s in seen) == 8  # history + future, thinned to max_clip_frames
    assert result.frames.shape[0] == 1 + len(result.actions)  # history recorded for the clips
    assert model.env.displacement()[0] - start_along > 0.05, model.env.displacement()

    with pytest.raises(InputError, match="2 scores for 16"):
        bad = CEMPlanner(cfg, model, ClipRewardScorer(lambda c, i: np.zeros(2), "push"))
        bad.plan(context_frames=result.frames[-1:])


def test_random_scores_plan_without_rendering_and_repeat_with_their_seed(env):
    from a2r_core.planning import RandomRolloutScorer

    cfg = CEMConfig(**{**FAST, "samples": 8, "iterations": 1, "elites": 2})
    model = PybulletRollout(env)
    results = []
    for _ in range(2):
        env.reset(3)
        res = run_mpc(model, CEMPlanner(cfg, model, RandomRolloutScorer(seed=5)), max_steps=3)
        assert res.frames.shape[0] == 0          # nothing rendered, not even the executed frames
        results.append(res.actions)
    assert np.array_equal(results[0], results[1])
