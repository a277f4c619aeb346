"""A MetaWorld task as a gymnasium env that renders what a2r's MetaWorld models were trained on.

Why: `gymnasium.make("Meta-World/MT1", env_name=..., render_mode="rgb_array")` renders through
gymnasium's MuJoCo renderer from MetaWorld's default view, with shadows and reflections, at
480x480. a2r's shipped MetaWorld models were trained on frames from `a2r_core.sim` (a free camera
at `ROBOT_CAMERA`, no shadows or reflections). This helper makes the same registered env but points
gymnasium's free camera at the same pose and turns the same effects off, so the wrapper's frames
match the training frames (measured: mean absolute pixel difference 0.55 of 255 against
`a2r_core.sim.MetaWorldEnv.render` of the same state at 112 px) and rendering is cheaper.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from a2r_core.errors import ConfigError
from a2r_core.sim.metaworld_env import ROBOT_CAMERA, CameraPose, check_task  # sets MUJOCO_GL=egl if unset


def make_metaworld_env(task: str, *, size: int = 112, camera: CameraPose = ROBOT_CAMERA, seed: int | None = None,
                       max_episode_steps: int | None = None, shadows: bool = False, reflections: bool = False,
                       **kwargs: Any):
    """`gymnasium.make("Meta-World/MT1", env_name=task, render_mode="rgb_array", ...)` seen by
    `camera` (an `a2r_core.sim.CameraPose`) at size x size pixels.

    `seed` is MetaWorld's (which of the task's goal variations the env draws from, and its RNG);
    `max_episode_steps` the time limit (MetaWorld's default: 500); other keyword arguments go to
    MetaWorld's MT1 entry point (e.g. `terminate_on_success=True`). Needs MetaWorld installed.
    """
    import gymnasium as gym
    import metaworld  # noqa: F401  (registers the Meta-World/* ids with gymnasium)
    import mujoco

    check_task(task)
    if not isinstance(size, int) or not 16 <= size <= 2048:
        raise ConfigError(f"make_metaworld_env: size must be an int in [16, 2048], got {size!r}")
    if not isinstance(camera, CameraPose):
        raise ConfigError(f"make_metaworld_env: camera must be an a2r_core.sim CameraPose, got {type(camera).__name__}")
    env = gym.make("Meta-World/MT1", env_name=task, render_mode="rgb_array", width=size, height=size, seed=seed,
                   max_episode_steps=max_episode_steps, **kwargs)
    renderer = env.unwrapped.mujoco_renderer
    if renderer.camera_id != -1:  # MetaWorld names no default camera: gymnasium's free camera is used
        raise ConfigError(f"make_metaworld_env: expected gymnasium's free camera, got camera id {renderer.camera_id}")
    renderer.default_cam_config = {"lookat": np.asarray(camera.lookat, dtype=np.float64), "distance": camera.distance,
                                   "azimuth": camera.azimuth, "elevation": camera.elevation}
    # The offscreen viewer (and its scene) is created on first use; create it now to set its flags.
    viewer = renderer._get_viewer(render_mode="rgb_array")
    viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = bool(shadows)
    viewer.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = bool(reflections)
    return env
