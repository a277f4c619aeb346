"""`A2RRewardWrapper`: any gymnasium env with render_mode="rgb_array", rewarded by an a2r model.

Why a wrapper: RL users consume learned rewards inside their training loop. Without it each user
writes the render -> clip -> score loop, and gets the clip cutting subtly different from the one
the model is deployed with. Here every step goes through the same pieces as the ROS reward node:
the rendered frame is resized once to the model's input size, pushed into a `ClipBuffer` stamped
`step / fps`, and every clip the buffer emits (one per `stride` of env time over the last `window`
seconds) is scored by `RewardModel.score`. Between clips the latest reward is held (or zero, see
`A2RRewardConfig.between_clips`). `reset` starts a new buffer with the reset state's frame.

info["a2r"] of every step (and of reset) holds: reward (the a2r reward of the step, as used by
the mode), success_probability and most_likely_failure_mode (of the latest clip), fresh (True when
this step's frame completed a clip that was scored), stamp_s (the step's stamp), success_streak
(consecutive clips at or above the termination threshold), terminate (True on the step where that
streak reached `terminate_after`: the wrapper set terminated=True), env_reward (the env's own
reward).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym

from a2r_core.envs.config import A2RRewardConfig
from a2r_core.envs.stream import RewardStream, check_frame, resolve_fps, score_stream_clips
from a2r_core.errors import ConfigError

if TYPE_CHECKING:
    from a2r_core.reward import RewardModel


def _render_mode(env: Any) -> Any:
    return getattr(env, "render_mode", None)


class A2RRewardWrapper(gym.Wrapper):
    """Rewards a single env with an a2r model (see the module docstring).

    env:    a gymnasium env created with render_mode="rgb_array".
    model:  a loaded `a2r_core.reward.RewardModel` (e.g. `RewardModel.load("checkpoints/a2r-small-metaworld")`).
    config: an `A2RRewardConfig`, or just the instruction text (everything else at its default).
    """

    def __init__(self, env: gym.Env, model: "RewardModel", config: A2RRewardConfig | str) -> None:
        super().__init__(env)
        config = A2RRewardConfig.from_arg(config, "a2r reward wrapper")
        if _render_mode(env) != "rgb_array":
            raise ConfigError(f"a2r reward wrapper: the env must be created with render_mode='rgb_array' "
                              f"(it has {_render_mode(env)!r}): the reward is computed from its rendered frames")
        self.model = model
        self.config = config
        self.fps = resolve_fps(config, env.metadata)
        self.stream = RewardStream(config, model.num_frames, model.image_size, self.fps)

    def _observe(self, env_reward: float) -> dict[str, Any]:
        """Render (when due), buffer, score a completed clip -> the step's info["a2r"]."""
        score = None
        if self.stream.wants_frame():
            frame = check_frame(self.env.render(), "a2r reward wrapper")
            clip = self.stream.push(frame)
            if clip is not None:
                score = score_stream_clips(self.model, [clip], [self.config.instruction])[0]
        numbers = self.stream.update(score)
        numbers["env_reward"] = float(env_reward)
        return numbers

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.stream.reset()
        numbers = self._observe(0.0)
        numbers["terminate"] = False  # a reset never ends the episode it starts
        info = dict(info)
        info["a2r"] = numbers
        return obs, info

    def step(self, action: Any):
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self.stream.step_index += 1
        numbers = self._observe(float(env_reward))
        if numbers["terminate"]:
            terminated = True
        info = dict(info)
        info["a2r"] = numbers
        reward: SupportsFloat = self.config.combine(float(env_reward), numbers["reward"])
        return obs, reward, terminated, truncated, info
