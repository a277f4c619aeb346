"""MetaWorld v3 tasks behind one small interface, with fast headless rendering.

Why a wrapper and not MetaWorld's own `render()`:
- MetaWorld renders every frame through gymnasium at 480x480 with shadows and reflections; a2r only
  needs a few small frames per episode (the clip's sample times), and shadows/reflections cost ~5x
  per frame on a CPU (Mesa llvmpipe through EGL). Here a `mujoco.Renderer` of the clip's size is
  created once and the scene flags are off unless a variant asks for them.
- MetaWorld's named cameras (`corner`, ...) have their image y axis pointing down, so a bare
  `mujoco.Renderer` shows them upside down (gymnasium flips them). a2r uses *free* cameras given by
  look-at point, distance, azimuth and elevation instead: they are upright by construction, and
  camera-pose variants are small offsets of those four numbers. Tests check the orientation on a
  known geometry (the table is below the gripper in the image).
- Episodes are recorded as simulator states (`SimState`, a few hundred floats per step) and only the
  states at the clip's sample times are rendered afterwards (`render_states`), because the episode
  length is only known at its end (it stops shortly after success).

World facts (MetaWorld's Sawyer scene): z up, the robot base near the origin, the table top at
z=0 in front of the robot (+y), task objects around x in [-0.3, 0.3], y in [0.4, 0.9].
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from a2r_core.errors import ConfigError, InputError

# MuJoCo picks its GL backend when it is first imported; headless machines need EGL. A caller that
# set MUJOCO_GL (e.g. to "osmesa" or "glfw") keeps its choice.
os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] == "egl":
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

if TYPE_CHECKING:  # pragma: no cover
    from a2r_core.sim.variants import Variant

_SUFFIX = "-goal-observable"


def task_names() -> list[str]:
    """All MetaWorld v3 task names, e.g. "drawer-close-v3", in MetaWorld's order."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return list(ALL_V3_ENVIRONMENTS)


def check_task(task: str) -> str:
    """Return `task` if MetaWorld knows it, else raise ConfigError naming the closest names."""
    names = task_names()
    if task in names:
        return task
    close = difflib.get_close_matches(task, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known tasks: {', '.join(names)}"
    raise ConfigError(f"unknown MetaWorld task {task!r}{hint}")


@dataclass(frozen=True)
class CameraPose:
    """A free camera: it looks at `lookat` from `distance` metres, turned by `azimuth` degrees about
    z (0 = looking along +x, 90 = along +y) and tilted by `elevation` degrees (negative = looking
    down). Upright by construction, whatever the numbers."""

    lookat: tuple[float, float, float] = (0.0, 0.72, 0.1)
    distance: float = 1.05
    azimuth: float = 140.0
    elevation: float = -32.0

    def __post_init__(self) -> None:
        if len(self.lookat) != 3:
            raise ConfigError(f"CameraPose.lookat must have 3 numbers, got {self.lookat!r}")
        if not 0.1 <= self.distance <= 10.0:
            raise ConfigError(f"CameraPose.distance must be in [0.1, 10] m, got {self.distance}")
        if not -89.0 <= self.elevation <= 0.0:
            raise ConfigError(f"CameraPose.elevation must be in [-89, 0] degrees, got {self.elevation}")

    def moved(self, d_azimuth: float = 0.0, d_elevation: float = 0.0, d_distance: float = 0.0,
              d_lookat: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> "CameraPose":
        """This pose shifted by the given offsets (elevation clamped to stay looking down)."""
        return CameraPose(
            lookat=tuple(float(a + b) for a, b in zip(self.lookat, d_lookat)),  # type: ignore[arg-type]
            distance=self.distance + d_distance,
            azimuth=self.azimuth + d_azimuth,
            elevation=float(np.clip(self.elevation + d_elevation, -89.0, 0.0)),
        )


# The robot domain looks at the work area from the robot's front-right, the way MetaWorld's corner
# cameras do; the alternate embodiment from the mirrored corner (front-left), steeper. Both were
# checked on saved frames of several tasks for framing and occlusion.
ROBOT_CAMERA = CameraPose()
ALT_CAMERA = CameraPose(lookat=(0.0, 0.72, 0.1), distance=1.0, azimuth=35.0, elevation=-40.0)


@dataclass(frozen=True)
class RenderConfig:
    """How frames are rendered: size in pixels, camera, and the costly effects (off by default)."""

    width: int = 112
    height: int = 112
    camera: CameraPose = field(default_factory=CameraPose)
    shadows: bool = False
    reflections: bool = False

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 16 <= value <= 2048:
                raise ConfigError(f"RenderConfig.{name} must be an int in [16, 2048], got {value!r}")


@dataclass
class SimState:
    """Everything needed to redraw (and to resume) one instant of an episode."""

    qpos: np.ndarray
    qvel: np.ndarray
    mocap_pos: np.ndarray
    mocap_quat: np.ndarray


@dataclass(frozen=True)
class StepResult:
    """One environment step: observation, dense reward and the environment's own success flag."""

    obs: np.ndarray
    reward: float
    success: bool


class MetaWorldEnv:
    """One MetaWorld v3 task with the goal observable (the scripted experts read the goal from the
    observation), object positions drawn from `reset(seed)`, and a2r's renderer.

    `variant` (see `a2r_core.sim.variants`) is applied to the MuJoCo model once, at construction:
    colours, textures, lights, camera offsets, the arm hidden or restyled, distractor objects.
    """

    def __init__(self, task: str, render: Optional[RenderConfig] = None,
                 variant: Optional["Variant"] = None, max_steps: int = 500) -> None:
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE

        from a2r_core.sim.variants import Variant, apply_variant

        self.task = check_task(task)
        if max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {max_steps}")
        self.variant = variant if variant is not None else Variant(name="default")
        base = render if render is not None else RenderConfig()
        self.render_config = self.variant.render_config(base)
        env = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[self.task + _SUFFIX](seed=0)
        # Goal-observable envs freeze the object positions drawn at construction; a2r draws them
        # from each episode's seed instead, through the env's own seeded generator.
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        env.max_path_length = max_steps
        self._env = env
        self.model = env.model
        self.data = env.data
        self.max_steps = max_steps
        self.dt = float(env.dt)
        self._visual = apply_variant(self.model, self.variant)
        self._renderer = None
        self._camera = None
        self._scene_option = None
        self._reset_obs: Optional[np.ndarray] = None

    # ---- simulation -----------------------------------------------------------------------------
    def reset(self, seed: int) -> np.ndarray:
        """Start an episode whose object/goal positions are drawn from `seed` (deterministic)."""
        self._env.seed(int(seed) % (2**32))
        obs, _ = self._env.reset()
        self._reset_obs = np.asarray(obs).copy()
        return obs

    def observation(self) -> np.ndarray:
        """The current observation (what MetaWorld's scripted experts act on), without stepping.

        After a step it is the one that step returned (MetaWorld keeps it as `_last_stable_obs`,
        which a snapshot/restore brings back with the rest of the env); before the first step of an
        episode it is the reset's. Calling MetaWorld's `_get_obs()` instead would shift its frame
        stacking (`_prev_obs`) and change the next step's observation.
        """
        if self.steps_taken == 0:
            if self._reset_obs is None:
                raise InputError("MetaWorldEnv.observation(): call reset() first")
            return self._reset_obs.copy()
        return np.asarray(self._env._last_stable_obs).copy()

    def step(self, action: np.ndarray) -> StepResult:
        """Apply one action in [-1, 1]^4 (xyz delta, gripper effort)."""
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        if action.shape != (4,):
            raise InputError(f"MetaWorld action must have shape (4,), got {action.shape}")
        obs, reward, _terminated, _truncated, info = self._env.step(action)
        return StepResult(obs=obs, reward=float(reward), success=bool(info["success"]))

    @property
    def steps_taken(self) -> int:
        return int(self._env.curr_path_length)

    def get_state(self) -> SimState:
        d = self.data
        return SimState(d.qpos.copy(), d.qvel.copy(), d.mocap_pos.copy(), d.mocap_quat.copy())

    def set_state(self, state: SimState) -> None:
        """Put the simulator into `state` (positions, velocities, mocap) and recompute kinematics."""
        import mujoco

        d = self.data
        d.qpos[:] = state.qpos
        d.qvel[:] = state.qvel
        d.mocap_pos[:] = state.mocap_pos
        d.mocap_quat[:] = state.mocap_quat
        mujoco.mj_forward(self.model, d)

    # ---- rendering ------------------------------------------------------------------------------
    def _ensure_renderer(self) -> None:
        if self._renderer is not None:
            return
        import mujoco

        cfg = self.render_config
        # The offscreen buffer must hold the frame; MetaWorld's model asks for 640x480 by default.
        self.model.vis.global_.offwidth = max(int(self.model.vis.global_.offwidth), cfg.width)
        self.model.vis.global_.offheight = max(int(self.model.vis.global_.offheight), cfg.height)
        renderer = mujoco.Renderer(self.model, height=cfg.height, width=cfg.width)
        flags = renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = bool(cfg.shadows)
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = bool(cfg.reflections)
        camera = mujoco.MjvCamera()
        camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        camera.lookat[:] = cfg.camera.lookat
        camera.distance = cfg.camera.distance
        camera.azimuth = cfg.camera.azimuth
        camera.elevation = cfg.camera.elevation
        option = mujoco.MjvOption()
        option.geomgroup[:] = self._visual.geomgroup
        self._renderer, self._camera, self._scene_option = renderer, camera, option

    def render(self) -> np.ndarray:
        """The current state as a uint8 [H, W, 3] RGB image, top row = top of the picture."""
        self._ensure_renderer()
        r = self._renderer
        r.update_scene(self.data, self._camera, scene_option=self._scene_option)
        self._visual.add_to_scene(r.scene)
        return r.render().copy()

    def render_states(self, states: Sequence[SimState]) -> np.ndarray:
        """Render each state in turn -> uint8 [T, H, W, 3]; the simulator is left in its last
        state as it was before the call."""
        if not states:
            raise InputError("render_states needs at least one state")
        current = self.get_state()
        frames = []
        for state in states:
            self.set_state(state)
            frames.append(self.render())
        self.set_state(current)
        return np.stack(frames)

    def close(self) -> None:
        """Free the GL context and the MetaWorld env."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._env.close()

    def __enter__(self) -> "MetaWorldEnv":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
