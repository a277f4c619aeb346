"""The gymnasium wrappers with a tiny random model on a small MetaWorld env: the reward of each
clip equals a direct `RewardModel.score` of the clip an independent ClipBuffer cuts from the same
frames, between_clips="zero", render_every, per-sub-env instructions and the vector form's reset
after an a2r termination; plus the config's and constructor's errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from a2r_core.clip_buffer import ClipBuffer, ClipBufferConfig
from a2r_core.envs import A2RRewardConfig, A2RRewardWrapper, A2RVectorRewardWrapper, make_metaworld_env
from a2r_core.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:gymnasium.utils.passive_env_checker")

BUFFER = ClipBufferConfig(num_frames=4, window_frames=6, stride_frames=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"instruction": " "}, "instruction must be a non-empty string"),
    ({"instruction": "x", "mode": "multiply"}, "mode must be one of replace, add, info"),
    ({"instruction": "x", "weight": float("nan")}, "weight must be a finite number"),
    ({"instruction": "x", "between_clips": "last"}, "between_clips must be one of hold, zero"),
    ({"instruction": "x", "fps": 0}, "fps must be None"),
    ({"instruction": "x", "render_every": 0}, "render_every must be an integer >= 1"),
    ({"instruction": "x", "terminate_threshold": 1.5}, "terminate_threshold must be None"),
    ({"instruction": "x", "terminate_after": 0}, "terminate_after must be an integer >= 1"),
    ({"instruction": "x", "buffer": {"stride": 2}}, "unknown key"),
    ({"instruction": "x", "buffer": {"num_frames": 0}}, "num_frames must be >= 1"),
])
def test_config_errors_name_the_field(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        A2RRewardConfig(**kwargs)


def test_config_from_a_mapping_and_defaults() -> None:
    cfg = A2RRewardConfig(instruction="  open the drawer ", buffer={"window_s": 1.0, "stride_s": 0.25})
    assert cfg.instruction == "open the drawer" and cfg.buffer == ClipBufferConfig(window_s=1.0, stride_s=0.25)
    # No buffer given: the reward node's defaults with the model's frame count.
    assert A2RRewardConfig(instruction="x").buffer_config(4) == ClipBufferConfig(num_frames=4)


def test_constructor_refuses_envs_it_cannot_reward(tiny_model) -> None:
    import metaworld  # noqa: F401

    env = gym.make("Meta-World/MT1", env_name="drawer-open-v3", seed=0)  # render_mode None
    with pytest.raises(ConfigError, match="render_mode='rgb_array'"):
        A2RRewardWrapper(env, tiny_model, "open the drawer")
    env.close()
    vec = gym.vector.SyncVectorEnv([lambda: make_metaworld_env("drawer-open-v3", size=32, seed=0)],
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    with pytest.raises(ConfigError, match="SAME_STEP is not supported"):
        A2RVectorRewardWrapper(vec, tiny_model, "open the drawer")
    with pytest.raises(ConfigError, match="2 instructions for 1 sub-envs"):
        A2RVectorRewardWrapper(gym.vector.SyncVectorEnv([lambda: make_metaworld_env("drawer-open-v3", size=32, seed=0)]),
                               tiny_model, "open the drawer", instructions=["a", "b"])
    vec.close()


def test_rewards_equal_a_direct_score_of_the_buffered_clips(tiny_model) -> None:
    """An independent ClipBuffer fed the same frames (re-rendered after each step) cuts the clips;
    RewardModel.score of each must be the wrapper's numbers at the steps where it reports fresh."""
    fps, steps = 20.0, 10
    env = A2RRewardWrapper(make_metaworld_env("drawer-open-v3", size=48, seed=0), tiny_model,
                           A2RRewardConfig(instruction="open the drawer", fps=fps, buffer=BUFFER, between_clips="zero"))
    reference = ClipBuffer(BUFFER)
    try:
        _, info = env.reset(seed=2)
        reference.push(0, env.render())
        rng = np.random.default_rng(0)
        fresh = []
        for t in range(1, steps + 1):
            _, reward, _, _, info = env.step(rng.uniform(-1, 1, 4))
            a2r = info["a2r"]
            clip = reference.push(int(round(t * 1e9 / fps)), env.render()).clip
            assert a2r["fresh"] == (clip is not None)
            if clip is None:
                assert reward == 0.0 and a2r["reward"] == 0.0  # between_clips="zero"
                continue
            fresh.append(t)
            direct = tiny_model.score([clip.frames], ["open the drawer"])  # full-size frames, resized by the model
            assert reward == pytest.approx(float(direct.reward[0, 0]), abs=1e-5)
            assert a2r["success_probability"] == pytest.approx(float(direct.success_prob[0, 0]), abs=1e-5)
            assert a2r["most_likely_failure_mode"] == int(direct.most_likely_failure_mode[0, 0])
        assert fresh == [1, 4, 7, 10]
    finally:
        env.close()


def test_render_every_buffers_every_kth_frame(tiny_model) -> None:
    env = A2RRewardWrapper(make_metaworld_env("drawer-open-v3", size=32, seed=0), tiny_model,
                           A2RRewardConfig(instruction="open the drawer", render_every=2,
                                           buffer=ClipBufferConfig(num_frames=4, window_frames=8, stride_frames=2)))
    try:
        env.reset(seed=0)
        fresh = [env.step(env.action_space.sample())[4]["a2r"]["fresh"] for _ in range(8)]
        # Frames at steps 0, 2, 4, 6, 8: a clip at the 2nd frame (step 2), then every 2nd frame.
        assert [t for t, f in enumerate(fresh, start=1) if f] == [2, 6]
        assert env.stream.buffer.stats.pushed == 5
    finally:
        env.close()


def test_vector_per_env_instructions_and_reset_after_a2r_termination(tiny_model) -> None:
    """Two instructions scored in one call; threshold 0 with N=1 ends both episodes at the first
    clip (step 1); the next step is gymnasium's next-step reset done by the wrapper."""
    texts = ["open the drawer", "close the drawer"]
    cfg = A2RRewardConfig(instruction=texts[0], buffer=BUFFER, terminate_threshold=0.0, terminate_after=1)
    make = lambda: make_metaworld_env("drawer-open-v3", size=32, seed=0)  # noqa: E731
    vec = A2RVectorRewardWrapper(gym.vector.SyncVectorEnv([make, make]), tiny_model, cfg, instructions=texts)
    try:
        vec.reset(seed=[7, 7])
        actions = np.ones((2, 4), dtype=np.float32)
        _, reward, terminated, _, info = vec.step(actions)
        assert terminated.tolist() == [True, True] and info["a2r"]["fresh"].all()
        # Same seed, same frames, different instructions: the two columns of one score call.
        assert reward[0] != reward[1]
        direct = tiny_model.score([vec.streams[0].buffer.sample().frames], texts)
        np.testing.assert_allclose(reward, direct.reward[0], atol=1e-5)
        _, reward, terminated, truncated, info = vec.step(actions)
        # Reset by the wrapper after the discarded step: both MetaWorld envs are at step 0 again.
        assert [e.unwrapped.curr_path_length for e in vec.env.envs] == [0, 0]
        assert reward.tolist() == [0.0, 0.0] and not terminated.any() and not truncated.any()
        assert info["a2r"]["stamp_s"].tolist() == [0.0, 0.0] and not info["a2r"]["fresh"].any()
        _, _, terminated, _, info = vec.step(actions)  # the new episode's first clip
        assert info["a2r"]["fresh"].all() and terminated.all()
    finally:
        vec.close()


def test_vector_disabled_autoreset_resets_only_the_masked_streams(tiny_model) -> None:
    make = lambda: make_metaworld_env("drawer-open-v3", size=32, seed=0)  # noqa: E731
    vec = A2RVectorRewardWrapper(gym.vector.SyncVectorEnv([make, make], autoreset_mode=gym.vector.AutoresetMode.DISABLED),
                                 tiny_model, A2RRewardConfig(instruction="open the drawer", buffer=BUFFER))
    try:
        vec.reset(seed=[0, 1])
        for _ in range(2):
            vec.step(np.zeros((2, 4), dtype=np.float32))
        options = {"reset_mask": np.array([True, False])}
        _, info = vec.reset(options=options)
        assert "reset_mask" in options  # the caller's dict is left alone
        assert info["_a2r"].tolist() == [True, False]
        assert [len(s.buffer) for s in vec.streams] == [1, 3] and [s.step_index for s in vec.streams] == [0, 2]
        _, _, _, _, info = vec.step(np.zeros((2, 4), dtype=np.float32))
        assert info["a2r"]["stamp_s"].tolist() == [pytest.approx(1 / 80), pytest.approx(3 / 80)]
        assert info["a2r"]["fresh"].tolist() == [True, False]  # env 0's first clip; env 1 waits for its stride
    finally:
        vec.close()
