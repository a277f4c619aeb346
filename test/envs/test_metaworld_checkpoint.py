"""The gymnasium wrappers on a real MetaWorld env (gymnasium's Meta-World/MT1) with the shipped
checkpoint: rewards at the configured stride, the three modes, the termination option, and the
vector form's numbers against the single wrapper's on the same seeds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from a2r_core.clip_buffer import ClipBufferConfig
from a2r_core.envs import A2RRewardConfig, A2RRewardWrapper, A2RVectorRewardWrapper, make_metaworld_env

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gymnasium.utils.passive_env_checker")

TASK, INSTRUCTION = "drawer-open-v3", "open the drawer"
SIZE = 64  # the checkpoint's input size: frames go to the buffer as rendered
# MetaWorld steps at 80 Hz (metadata render_fps): a 0.0625 s stride is a clip every 5 steps.
BUFFER = ClipBufferConfig(num_frames=8, window_s=0.5, stride_s=0.0625)
STRIDE_STEPS = 5


def _actions(steps: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (steps, n, 4)).astype(np.float32)


def test_three_modes_rewards_at_the_stride(shipped_model) -> None:
    steps = 16
    envs = {mode: A2RRewardWrapper(make_metaworld_env(TASK, size=SIZE, seed=0), shipped_model,
                                   A2RRewardConfig(instruction=INSTRUCTION, mode=mode, weight=0.5, buffer=BUFFER))
            for mode in ("replace", "add", "info")}
    try:
        assert all(env.fps == 80.0 for env in envs.values())  # from metadata["render_fps"]
        for env in envs.values():
            _, info = env.reset(seed=3)
            assert info["a2r"]["fresh"] is False and info["a2r"]["reward"] == 0.0
        actions = _actions(steps, 1)
        fresh_steps, fresh_rewards, held = [], [], None
        for t in range(1, steps + 1):
            out = {mode: env.step(actions[t - 1, 0]) for mode, env in envs.items()}
            a2r = out["replace"][4]["a2r"]
            # The same seed and actions: the three envs see the same frames, so the same a2r numbers.
            for mode in ("add", "info"):
                assert out[mode][4]["a2r"]["reward"] == a2r["reward"]
                assert out[mode][4]["a2r"]["env_reward"] == a2r["env_reward"]
            assert np.isfinite(a2r["reward"]) and a2r["reward"] <= 0.0  # the checkpoint's "contrast" reward
            assert 0.0 <= a2r["success_probability"] <= 1.0
            assert 0 <= a2r["most_likely_failure_mode"] < shipped_model.num_failure_modes
            assert a2r["stamp_s"] == pytest.approx(t / 80.0)
            if a2r["fresh"]:
                fresh_steps.append(t)
                fresh_rewards.append(a2r["reward"])
                held = a2r["reward"]
            else:
                assert a2r["reward"] == held  # held between clips
            env_reward = a2r["env_reward"]
            assert out["replace"][1] == a2r["reward"]
            assert out["add"][1] == pytest.approx(env_reward + 0.5 * a2r["reward"])
            assert out["info"][1] == env_reward
            assert not any(o[2] for o in out.values())  # termination is off by default
        # The first clip when the buffer holds min_frames=2 frames (step 1), then one per stride.
        assert fresh_steps == [1, 1 + STRIDE_STEPS, 1 + 2 * STRIDE_STEPS, 1 + 3 * STRIDE_STEPS]
        assert envs["replace"].stream.buffer.stats.clips == 4
        assert len(set(fresh_rewards)) == 4  # each clip scored on its own frames
    finally:
        for env in envs.values():
            env.close()


def test_termination_fires_after_n_scores_above_threshold(shipped_model) -> None:
    cfg = A2RRewardConfig(instruction=INSTRUCTION, buffer=BUFFER, terminate_threshold=0.0, terminate_after=2)
    env = A2RRewardWrapper(make_metaworld_env(TASK, size=SIZE, seed=0), shipped_model, cfg)
    try:
        env.reset(seed=3)
        actions = _actions(1 + STRIDE_STEPS, 1)
        ended = []
        for t in range(1, 2 + STRIDE_STEPS):
            _, _, terminated, _, info = env.step(actions[t - 1, 0])
            ended.append(terminated)
            assert info["a2r"]["terminate"] is terminated
        # p >= 0 always: the first score starts the streak (step 1), the second ends the episode.
        assert ended == [False] * STRIDE_STEPS + [True]
        assert info["a2r"]["success_streak"] == 2
        _, info = env.reset(seed=4)
        assert info["a2r"]["success_streak"] == 0 and len(env.stream.buffer) == 1  # reset clears the buffer
    finally:
        env.close()


def test_vector_form_equals_single_wrapper_on_the_same_seeds(shipped_model, monkeypatch) -> None:
    """Two sub-envs, one batched score per step, a time limit of 8 steps so gymnasium's next-step
    autoreset happens inside the run; the single wrappers reset themselves at the same points."""
    n, limit, steps, seeds = 2, 8, 14, [5, 6]
    cfg = A2RRewardConfig(instruction=INSTRUCTION, mode="add", buffer=BUFFER)
    make = lambda: make_metaworld_env(TASK, size=SIZE, seed=0, max_episode_steps=limit)  # noqa: E731
    vec = A2RVectorRewardWrapper(gym.vector.SyncVectorEnv([make] * n), shipped_model, cfg)
    singles = [A2RRewardWrapper(make(), shipped_model, cfg) for _ in range(n)]
    calls: list[int] = []
    original = shipped_model.score
    monkeypatch.setattr(shipped_model, "score",
                        lambda clips, instructions: calls.append(len(clips)) or original(clips, instructions))
    try:
        vec.reset(seed=seeds)
        for env, seed in zip(singles, seeds):
            env.reset(seed=seed)
        vec_calls_per_step = []
        actions = _actions(steps, n, seed=1)
        done = [False] * n
        compared = 0
        for t in range(steps):
            calls.clear()
            _, v_reward, v_term, v_trunc, v_info = vec.step(actions[t])
            vec_calls_per_step.append(list(calls))
            for i, env in enumerate(singles):
                if done[i]:  # the vector env's next-step reset: reward 0, a fresh stream
                    _, info = env.reset()
                    assert v_reward[i] == 0.0 and not v_info["a2r"]["fresh"][i]
                    assert v_info["a2r"]["stamp_s"][i] == 0.0
                    done[i] = False
                    continue
                _, reward, term, trunc, info = env.step(actions[t, i])
                assert v_reward[i] == pytest.approx(reward, abs=1e-5)
                assert v_info["a2r"]["reward"][i] == pytest.approx(info["a2r"]["reward"], abs=1e-5)
                assert v_info["a2r"]["success_probability"][i] == pytest.approx(info["a2r"]["success_probability"], abs=1e-5)
                assert v_info["a2r"]["fresh"][i] == info["a2r"]["fresh"]
                assert (v_term[i], v_trunc[i]) == (term, trunc)
                compared += 1
                done[i] = term or trunc
        assert compared == n * (steps - 1) and v_info["_a2r"].all()
        # Clips were due at steps 1, 6 and (after the reset at step 9) 10: one call for both sub-envs.
        assert [c for c in vec_calls_per_step if c] == [[2]] * 3
    finally:
        vec.close()
        for env in singles:
            env.close()
