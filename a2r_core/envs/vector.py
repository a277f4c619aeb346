"""`A2RVectorRewardWrapper`: a gymnasium VectorEnv rewarded by a2r, one batched score per step.

Why a vector form and not a vector of single wrappers: RL users run many envs, and the model is
far faster per clip in a batch than one clip at a time. Each sub-env keeps its own `RewardStream`
(the single wrapper's ClipBuffer, stamps, hold and termination rules), and all the clips the
sub-envs complete in a step go into ONE `RewardModel.score` call. The numbers equal the single
wrapper's on the same seeds up to float rounding of the batched forward (~1e-6).

Autoreset (gymnasium's `autoreset_mode`, read from the vector env's metadata):
- NEXT_STEP (gymnasium's default): the step after an episode ended is the sub-env's reset; its
  stream restarts with the reset frame, the env reward is 0 and the a2r reward is what `reset`
  gives (`initial_reward`, 0 by default). An episode ended by a2r's termination (the env itself
  did not end it) is reset the same way on the next step: the sub-env's action is discarded (the
  env steps it once more, then the wrapper resets it with `reset_mask`), so the agent sees
  gymnasium's usual next-step reset; the `info` of that sub-env at that step is the discarded
  step's.
- DISABLED: the caller resets ended sub-envs with `reset(options={"reset_mask": mask})`; the masked
  streams restart.
- SAME_STEP is refused: the env resets inside `step`, so the episode's last frame can never be
  rendered and the final clip would end on the next episode's first frame.

info["a2r"] holds the single wrapper's keys as arrays over sub-envs (info["_a2r"]: which sub-envs
the entry covers, gymnasium's vector-info convention).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from a2r_core.envs.config import A2RRewardConfig
from a2r_core.envs.stream import RewardStream, check_frame, resolve_fps, score_stream_clips
from a2r_core.errors import ConfigError

if TYPE_CHECKING:
    from a2r_core.reward import RewardModel

_FLOAT_KEYS = ("reward", "success_probability", "stamp_s", "env_reward")
_INT_KEYS = ("most_likely_failure_mode", "success_streak")
_BOOL_KEYS = ("fresh", "terminate")


class A2RVectorRewardWrapper(VectorWrapper):
    """Rewards every sub-env of a VectorEnv with an a2r model (see the module docstring).

    env:          a gymnasium VectorEnv whose sub-envs render "rgb_array" (e.g.
                  `gymnasium.vector.SyncVectorEnv([make_env] * 8)`).
    model:        a loaded `a2r_core.reward.RewardModel`.
    config:       an `A2RRewardConfig` (or the instruction text), shared by all sub-envs.
    instructions: optional, one instruction per sub-env (multi-task training); default: all
                  sub-envs use `config.instruction`. Distinct instructions are still scored in the
                  one batched call.
    """

    def __init__(self, env: VectorEnv, model: "RewardModel", config: A2RRewardConfig | str,
                 instructions: Sequence[str] | None = None) -> None:
        super().__init__(env)
        config = A2RRewardConfig.from_arg(config, "a2r vector reward wrapper")
        if getattr(env, "render_mode", None) != "rgb_array":
            raise ConfigError(f"a2r vector reward wrapper: the sub-envs must be created with render_mode='rgb_array' "
                              f"(the vector env has {getattr(env, 'render_mode', None)!r})")
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        mode = AutoresetMode(mode) if isinstance(mode, str) else mode
        if mode == AutoresetMode.SAME_STEP:
            raise ConfigError("a2r vector reward wrapper: autoreset_mode SAME_STEP is not supported (the env resets "
                              "inside step, so an episode's last frame is never rendered); use NEXT_STEP (gymnasium's "
                              "default) or DISABLED")
        self.autoreset_mode = mode
        n = env.num_envs
        if instructions is None:
            instructions = [config.instruction] * n
        instructions = list(instructions)
        if len(instructions) != n:
            raise ConfigError(f"a2r vector reward wrapper: {len(instructions)} instructions for {n} sub-envs (give one each)")
        for i, text in enumerate(instructions):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"a2r vector reward wrapper: instruction {i} is empty; give a non-empty text")
        self.model = model
        self.config = config
        self.instructions = [t.strip() for t in instructions]
        self.fps = resolve_fps(config, env.metadata)
        self.streams = [RewardStream(config, model.num_frames, model.image_size, self.fps) for _ in range(n)]
        self._restart = np.zeros(n, dtype=bool)  # the env ended it last step: it autoresets in this step
        self._forced = np.zeros(n, dtype=bool)   # a2r ended it last step: the wrapper resets it in this step

    # ---- one batched scoring pass -------------------------------------------------------------
    def _observe(self, active: np.ndarray, env_rewards: np.ndarray) -> list[dict[str, Any]]:
        """Render the sub-envs, push the frames of `active` ones that are due, score every completed
        clip in one call -> each sub-env's info numbers (inactive ones: unchanged, fresh False)."""
        due = [i for i, s in enumerate(self.streams) if active[i] and s.wants_frame()]
        clips, owners = [], []
        if due:
            frames = self.env.call("render")
            for i in due:
                clip = self.streams[i].push(check_frame(frames[i], f"a2r vector reward wrapper, sub-env {i}"))
                if clip is not None:
                    clips.append(clip)
                    owners.append(i)
        scores = dict(zip(owners, score_stream_clips(self.model, clips, [self.instructions[i] for i in owners])))
        numbers = []
        for i, stream in enumerate(self.streams):
            row = stream.update(scores.get(i))  # update(None) only reads: held values, fresh False
            row["env_reward"] = float(env_rewards[i])
            numbers.append(row)
        return numbers

    @staticmethod
    def _info(numbers: list[dict[str, Any]], covered: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for key, dtype in [(k, np.float64) for k in _FLOAT_KEYS] + [(k, np.int64) for k in _INT_KEYS] + \
                          [(k, np.bool_) for k in _BOOL_KEYS]:
            out[key] = np.array([row[key] for row in numbers], dtype=dtype)
        return out, covered.copy()

    # ---- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        n = self.num_envs
        mask = np.ones(n, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool).reshape(-1)
            options = dict(options)  # the vector env pops reset_mask: leave the caller's dict alone
        obs, info = self.env.reset(seed=seed, options=options)
        for i in np.flatnonzero(mask):
            self.streams[i].reset()
        self._restart[mask] = False
        self._forced[mask] = False
        numbers = self._observe(mask, np.zeros(n))
        for row in numbers:
            row["terminate"] = False  # a reset never ends the episode it starts
        info = dict(info)
        info["a2r"], info["_a2r"] = self._info(numbers, mask)
        return obs, info

    def step(self, actions: Any):
        obs, env_rewards, terminated, truncated, info = self.env.step(actions)
        env_rewards = np.array(env_rewards, dtype=np.float64)
        terminated = np.array(terminated, dtype=bool)
        truncated = np.array(truncated, dtype=bool)
        restarted = self._restart.copy()
        forced = self._forced & ~restarted
        if forced.any():  # gymnasium's next-step reset for episodes a2r ended: action discarded
            obs, _ = self.env.reset(options={"reset_mask": forced.copy()})
            env_rewards[forced] = 0.0
            terminated[forced] = False
            truncated[forced] = False
            restarted |= forced
        for i, stream in enumerate(self.streams):
            if restarted[i]:
                stream.reset()
            else:
                stream.step_index += 1
        numbers = self._observe(np.ones(self.num_envs, dtype=bool), env_rewards)
        a2r_end = np.array([row["terminate"] for row in numbers], dtype=bool) & ~restarted
        for i in np.flatnonzero(restarted):
            numbers[i]["terminate"] = False
        env_end = terminated | truncated
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            self._restart = env_end.copy()
            self._forced = a2r_end & ~env_end
        rewards = np.array([self.config.combine(env_rewards[i], numbers[i]["reward"]) for i in range(self.num_envs)],
                           dtype=np.float64)
        info = dict(info)
        info["a2r"], info["_a2r"] = self._info(numbers, np.ones(self.num_envs, dtype=bool))
        return obs, rewards, terminated | a2r_end, truncated, info
