"""Concept2Robot-style tabletop pushing tasks with a Franka Panda in PyBullet (headless).

Why this exists: the paper evaluates rewards on a second simulator with a real arm pushing a block
in language-named directions, under two robustness settings (a moved camera, distractor objects).
This module is that world: one block, a Panda from `pybullet_data`, a camera, and the task's
geometry (which way is "left"), plus what a planner needs (`snapshot`/`restore`).

Conventions (checked by a saved PNG and by tests):
- World: z up, the robot base at the origin, the table (ground plane) at z=0, the block in front
  of the robot around x=0.55.
- The default camera stands on the far side of the block, looking back at the robot. "Left" and
  "right" are the viewer's left and right in that image (world -y and +y), "away from the camera"
  is towards the robot (world -x), "towards the camera" is world +x. Viewpoint variation moves the
  camera by small offsets, so the words keep their meaning.
- Actions are end-effector position deltas in [-1, 1]^3, scaled by `max_step_m`; the gripper is
  closed and points down. Each `step` solves IK for the commanded target and runs `substeps`
  physics steps under position control.
- DIRECT mode only (no GUI, no OpenGL); frames come from the CPU TinyRenderer and only when
  `render()` is called, because rendering costs ~100x a physics step.
- Deterministic: the same seed gives the same world, and the same actions from a restored
  snapshot give the same frames.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from a2r_core.errors import ConfigError, DataError, InputError

# pybullet is imported lazily in `_connect` so that importing this module (e.g. to list tasks or
# read instructions) does not need the simulator.

_ARM_JOINTS = tuple(range(7))
_FINGER_JOINTS = (9, 10)
_EE_LINK = 11  # panda_grasptarget: between the fingertips
_REST_POSE = (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, math.pi / 4)
_ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
_DOWN_EULER = (math.pi, 0.0, 0.0)  # gripper pointing at the table

BLOCK_HALF_M = 0.025
PUSH_HEIGHT_M = 0.03  # end-effector height while pushing (fingertips just above the table)
HOVER_HEIGHT_M = 0.12  # travel height above the block
PRE_PUSH_STANDOFF_M = 0.065  # end effector behind the block's centre before a push (half block + finger)


@dataclass(frozen=True)
class PushTask:
    """A push task: move the block along `direction` (a world xy unit vector)."""

    name: str
    direction: tuple[float, float]
    description: str


TASKS: dict[str, PushTask] = {
    t.name: t
    for t in (
        PushTask("push_left", (0.0, -1.0), "push the block to the viewer's left (world -y)"),
        PushTask("push_right", (0.0, 1.0), "push the block to the viewer's right (world +y)"),
        PushTask("push_away", (-1.0, 0.0), "push the block away from the camera (world -x)"),
        PushTask("push_towards", (1.0, 0.0), "push the block towards the camera (world +x)"),
    )
}

ROBOT_MESHES = ("simple", "full")


def panda_urdf(mesh: str = "simple") -> str:
    """Path of the Panda URDF to load: pybullet_data's own ("full") or a copy whose visual meshes
    are the (10x coarser) collision meshes ("simple").

    Why: TinyRenderer spends ~14 ms of a ~17 ms 112x112 frame on the Panda's 300k-line visual
    meshes; with the collision meshes a frame takes ~4 ms and looks the same at clip sizes. The copy
    is written once per machine to the temp dir (atomically: temp file + rename), pointing at the
    installed meshes by absolute path.
    """
    import pybullet_data

    if mesh not in ROBOT_MESHES:
        raise ConfigError(f"panda_urdf: unknown robot mesh {mesh!r}; known: {list(ROBOT_MESHES)}")
    root = os.path.join(pybullet_data.getDataPath(), "franka_panda")
    original = os.path.join(root, "panda.urdf")
    if mesh == "full":
        return original
    try:
        text = Path(original).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{original}: cannot read the Panda URDF from pybullet_data: {exc}") from exc
    text = re.sub(
        r"package://meshes/visual/(\w+)\.obj",
        lambda m: os.path.join(root, "meshes", "collision", m.group(1) + ".obj"),
        text,
    )
    text = text.replace("package://meshes/", os.path.join(root, "meshes") + "/")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    out_dir = Path(tempfile.gettempdir()) / "a2r_pybullet"
    out = out_dir / f"panda_simple_{digest}.urdf"
    if not out.exists():
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".urdf.tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, out)
        except OSError as exc:
            raise DataError(f"{out}: cannot write the simple-mesh Panda URDF ({exc}); use robot_mesh='full'") from exc
    return str(out)


def load_instructions(path: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """Task name -> its instructions (first one canonical).

    They live in the `pybullet:` section of the one shared instructions file
    (`a2r_core/data/instructions.yaml`, read through `a2r_core.data.instructions`), so the ROS
    nodes, training and evaluation see the same wording. A task without instructions raises
    DataError naming the file.
    """
    from a2r_core.data import instructions as shared

    out: dict[str, tuple[str, ...]] = {}
    for task in TASKS:
        try:
            out[task] = shared.paraphrases(task, path)
        except ConfigError as exc:
            raise DataError(f"{path or shared.DEFAULT_PATH}: no instructions for PyBullet task {task!r}") from exc
    return out


def instruction(task: str, index: int = 0) -> str:
    """The `index`-th instruction of `task` (0: the canonical one)."""
    if task not in TASKS:
        raise ConfigError(f"instruction: unknown task {task!r}; known: {sorted(TASKS)}")
    texts = load_instructions()[task]
    return texts[index % len(texts)]


VARIANTS = ("default", "viewpoint", "distractors", "viewpoint+distractors")


@dataclass
class TabletopConfig:
    """Everything that defines one tabletop world; `variant` switches the robustness settings.

    `robot_mesh`: "simple" renders the Panda with its collision meshes (4x faster frames, see
    `panda_urdf`), "full" with pybullet_data's visual meshes.
    `variant`: "default", "viewpoint" (camera yaw/pitch/distance offsets drawn from the seed within
    `viewpoint_range`), "distractors" (`num_distractors` extra objects away from the push path) or
    "viewpoint+distractors". `camera_offset`, when given, fixes the (yaw deg, pitch deg, distance m)
    offset instead of drawing it, for sweeps over viewpoints.
    """

    task: str = "push_left"
    variant: str = "default"
    image_size: int = 112
    robot_mesh: str = "simple"
    max_step_m: float = 0.03
    substeps: int = 12
    time_step_s: float = 1.0 / 240.0
    camera_yaw_deg: float = 90.0
    camera_pitch_deg: float = -40.0
    camera_distance_m: float = 0.7
    camera_target: tuple[float, float, float] = (0.52, 0.0, 0.1)
    camera_fov_deg: float = 55.0
    viewpoint_range: tuple[float, float, float] = (20.0, 10.0, 0.15)
    camera_offset: Optional[tuple[float, float, float]] = None
    num_distractors: int = 3
    object_jitter_m: float = 0.03
    success_distance_m: float = 0.08
    max_lateral_ratio: float = 0.5
    workspace_low: tuple[float, float, float] = (0.25, -0.35, 0.015)
    workspace_high: tuple[float, float, float] = (0.8, 0.35, 0.3)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"TabletopConfig.task: unknown task {self.task!r}; known: {sorted(TASKS)}")
        if self.variant not in VARIANTS:
            raise ConfigError(f"TabletopConfig.variant: unknown variant {self.variant!r}; known: {list(VARIANTS)}")
        if self.robot_mesh not in ROBOT_MESHES:
            raise ConfigError(f"TabletopConfig.robot_mesh: unknown {self.robot_mesh!r}; known: {list(ROBOT_MESHES)}")
        if not 16 <= int(self.image_size) <= 1024:
            raise ConfigError(f"TabletopConfig.image_size: {self.image_size} is outside [16, 1024]")
        for name in ("max_step_m", "time_step_s", "camera_distance_m", "success_distance_m"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"TabletopConfig.{name}: must be > 0, got {getattr(self, name)}")
        if int(self.substeps) < 1:
            raise ConfigError(f"TabletopConfig.substeps: must be >= 1, got {self.substeps}")
        if not 0 <= int(self.num_distractors) <= 8:
            raise ConfigError(f"TabletopConfig.num_distractors: {self.num_distractors} is outside [0, 8]")
        if self.max_lateral_ratio < 0:
            raise ConfigError(f"TabletopConfig.max_lateral_ratio: must be >= 0, got {self.max_lateral_ratio}")
        if not 0 <= self.object_jitter_m <= 0.1:
            raise ConfigError(f"TabletopConfig.object_jitter_m: {self.object_jitter_m} is outside [0, 0.1]")
        if any(r < 0 for r in self.viewpoint_range):
            raise ConfigError(f"TabletopConfig.viewpoint_range: offsets must be >= 0, got {self.viewpoint_range}")
        if not 1.0 <= self.camera_fov_deg <= 120.0:
            raise ConfigError(f"TabletopConfig.camera_fov_deg: {self.camera_fov_deg} is outside [1, 120]")
        lo, hi = np.asarray(self.workspace_low), np.asarray(self.workspace_high)
        if lo.shape != (3,) or hi.shape != (3,) or not np.all(lo < hi):
            raise ConfigError(f"TabletopConfig.workspace_low/high: need 3 values with low < high, got {lo}, {hi}")

    @property
    def push_task(self) -> PushTask:
        return TASKS[self.task]

    @property
    def has_viewpoint_variation(self) -> bool:
        return "viewpoint" in self.variant

    @property
    def has_distractors(self) -> bool:
        return "distractors" in self.variant and self.num_distractors > 0


@dataclass(frozen=True)
class TabletopSnapshot:
    """A saved simulator state plus the controller's own state (the commanded target).

    Valid only for the env that made it and until that env's next `reset`. The in-memory
    PyBullet state is freed when the snapshot is garbage-collected, so planners can take one per
    step without leaking.
    """

    env_id: int
    episode: int
    state_id: int
    target: tuple[float, float, float]
    steps: int
    _finalizer: Any = field(default=None, repr=False, compare=False)


def _free_state(env_ref: "weakref.ref", episode: int, state_id: int) -> None:
    """Free a dropped snapshot's saved state, unless a reset already did: `resetSimulation` clears
    every saved state and PyBullet reuses the ids, so freeing a stale id would free a newer one."""
    env = env_ref()
    if env is not None and env._episode == episode and env._client is not None and env._client.isConnected():
        env._client.removeState(state_id)


class TabletopEnv:
    """One headless PyBullet world running one push task; see the module docstring.

    Use as a context manager or call `close()`: each env holds its own physics server.
    """

    def __init__(self, config: TabletopConfig | None = None, seed: int = 0) -> None:
        self.config = config or TabletopConfig()
        self._client = None
        self._episode = -1
        self._connect()
        self.reset(seed)

    # ----------------------------------------------------------------- lifecycle
    def _connect(self) -> None:
        import pybullet
        import pybullet_data
        from pybullet_utils import bullet_client

        self._pb = pybullet
        self._client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
        self._client.setAdditionalSearchPath(pybullet_data.getDataPath())

    def close(self) -> None:
        """Disconnect the physics server; the env is unusable afterwards."""
        if self._client is not None and self._client.isConnected():
            self._client.disconnect()

    def __enter__(self) -> "TabletopEnv":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self, seed: int) -> dict:
        """Rebuild the world for `seed` (block position, distractors, viewpoint) and home the arm.

        The whole simulation is rebuilt, so the state after `reset(seed)` is identical for the
        same seed whatever happened before. Snapshots of earlier episodes become invalid.
        """
        cfg = self.config
        if int(seed) < 0:
            raise ConfigError(f"TabletopEnv.reset: seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._episode += 1
        c = self._client
        c.resetSimulation()
        c.setPhysicsEngineParameter(
            fixedTimeStep=cfg.time_step_s, deterministicOverlappingPairs=1, numSolverIterations=50
        )
        c.setGravity(0, 0, -9.81)
        self._plane = c.loadURDF("plane.urdf")
        c.changeDynamics(self._plane, -1, lateralFriction=1.0)
        self._robot = c.loadURDF(panda_urdf(cfg.robot_mesh), [0, 0, 0], useFixedBase=True)
        self._down = c.getQuaternionFromEuler(_DOWN_EULER)

        # Block: jittered around a fixed centre so every direction has room to move.
        jitter = self._rng.uniform(-cfg.object_jitter_m, cfg.object_jitter_m, size=2)
        start_xy = np.array([0.55, 0.0]) + jitter
        self._block = self._make_box(BLOCK_HALF_M, (*start_xy, BLOCK_HALF_M), (0.85, 0.15, 0.1, 1.0), mass=0.2)
        self._block_start = np.array([*start_xy, BLOCK_HALF_M])

        # Camera offsets and distractors come after the block so that the block position of a seed
        # is the same in every variant (only the robustness setting changes between variants).
        if cfg.camera_offset is not None:
            self.camera_offset = tuple(float(v) for v in cfg.camera_offset)
        elif cfg.has_viewpoint_variation:
            vr = np.asarray(cfg.viewpoint_range)
            self.camera_offset = tuple(float(v) for v in np.random.default_rng([self.seed, 1]).uniform(-vr, vr))
        else:
            self.camera_offset = (0.0, 0.0, 0.0)
        self._distractors: list[int] = []
        if cfg.has_distractors:
            self._place_distractors(np.random.default_rng([self.seed, 2]))
        self._setup_camera()

        # Arm: teleport to the start pose above the block (no physics needed to get there).
        self._target = np.array([start_xy[0], start_xy[1], HOVER_HEIGHT_M])
        for j, qj in zip(_ARM_JOINTS, _REST_POSE):  # IK seeds from the current joints
            c.resetJointState(self._robot, j, qj)
        q = self._solve_ik(self._target, iterations=5)
        for j, qj in zip(_ARM_JOINTS, q[:7]):
            c.resetJointState(self._robot, j, qj)
        for j in _FINGER_JOINTS:
            c.resetJointState(self._robot, j, 0.0)
        self._command(q)
        self._steps = 0
        for _ in range(10):  # settle contacts
            c.stepSimulation()
        return self.info()

    # ----------------------------------------------------------------- world building
    def _make_box(self, half: float, pos, rgba, mass: float) -> int:
        c = self._client
        col = c.createCollisionShape(self._pb.GEOM_BOX, halfExtents=[half] * 3)
        vis = c.createVisualShape(self._pb.GEOM_BOX, halfExtents=[half] * 3, rgbaColor=list(rgba))
        body = c.createMultiBody(mass, col, vis, basePosition=list(pos))
        c.changeDynamics(body, -1, lateralFriction=0.8, spinningFriction=0.001)
        return body

    def _place_distractors(self, rng: np.random.Generator) -> None:
        """Put objects of random shape and colour where the push will not reach them.

        Positions are rejection-sampled at least 0.12 m from every push corridor (all four
        directions), so a distractor changes the image but never blocks or carries the block.
        """
        c = self._client
        centre = self._block_start[:2]
        placed: list[np.ndarray] = []
        tries = 0
        while len(placed) < self.config.num_distractors and tries < 500:
            tries += 1
            xy = rng.uniform([0.35, -0.35], [0.8, 0.35])
            rel = np.abs(xy - centre)
            # Corridors: a cross of half-width 0.12 m around the block, arms 0.3 m long.
            in_cross = (rel[0] < 0.12 and rel[1] < 0.3) or (rel[1] < 0.12 and rel[0] < 0.3)
            if in_cross or any(np.linalg.norm(xy - p) < 0.08 for p in placed):
                continue
            placed.append(xy)
            rgba = [*rng.uniform(0.1, 0.95, size=3), 1.0]
            kind = rng.integers(3)
            size = float(rng.uniform(0.02, 0.035))
            if kind == 0:
                col = c.createCollisionShape(self._pb.GEOM_BOX, halfExtents=[size] * 3)
                vis = c.createVisualShape(self._pb.GEOM_BOX, halfExtents=[size] * 3, rgbaColor=rgba)
            elif kind == 1:
                col = c.createCollisionShape(self._pb.GEOM_SPHERE, radius=size)
                vis = c.createVisualShape(self._pb.GEOM_SPHERE, radius=size, rgbaColor=rgba)
            else:
                col = c.createCollisionShape(self._pb.GEOM_CYLINDER, radius=size, height=3 * size)
                vis = c.createVisualShape(self._pb.GEOM_CYLINDER, radius=size, length=3 * size, rgbaColor=rgba)
            z = size * (1.5 if kind == 2 else 1.0)
            self._distractors.append(c.createMultiBody(0.3, col, vis, basePosition=[xy[0], xy[1], z]))

    def _setup_camera(self) -> None:
        cfg = self.config
        dyaw, dpitch, ddist = self.camera_offset
        self._view = self._client.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=list(cfg.camera_target),
            distance=cfg.camera_distance_m + ddist,
            yaw=cfg.camera_yaw_deg + dyaw,
            pitch=cfg.camera_pitch_deg + dpitch,
            roll=0.0,
            upAxisIndex=2,
        )
        self._proj = self._client.computeProjectionMatrixFOV(cfg.camera_fov_deg, 1.0, 0.05, 5.0)

    # ----------------------------------------------------------------- control
    def _solve_ik(self, target: np.ndarray, iterations: int = 1) -> list[float]:
        c = self._client
        q = None
        for _ in range(iterations):
            q = c.calculateInverseKinematics(
                self._robot, _EE_LINK, target.tolist(), self._down,
                maxNumIterations=50, residualThreshold=1e-4,
            )
            if iterations > 1:
                for j, qj in zip(_ARM_JOINTS, q[:7]):
                    c.resetJointState(self._robot, j, qj)
        return list(q)

    def _command(self, q: list[float]) -> None:
        c = self._client
        c.setJointMotorControlArray(
            self._robot, list(_ARM_JOINTS), self._pb.POSITION_CONTROL,
            targetPositions=q[:7], forces=list(_ARM_FORCES), positionGains=[0.3] * 7,
        )
        c.setJointMotorControlArray(
            self._robot, list(_FINGER_JOINTS), self._pb.POSITION_CONTROL,
            targetPositions=[0.0, 0.0], forces=[40.0, 40.0],
        )

    @property
    def action_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension (low, high) of an action: end-effector (dx, dy, dz) in units of max_step_m."""
        return -np.ones(3), np.ones(3)

    def step(self, action: np.ndarray) -> dict:
        """Move the commanded end-effector target by `action * max_step_m`, simulate, return info."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (3,) or not np.all(np.isfinite(a)):
            raise InputError(f"TabletopEnv.step: action must be 3 finite numbers, got {action!r}")
        a = np.clip(a, -1.0, 1.0)
        cfg = self.config
        self._target = np.clip(self._target + a * cfg.max_step_m, cfg.workspace_low, cfg.workspace_high)
        self._command(self._solve_ik(self._target))
        for _ in range(cfg.substeps):
            self._client.stepSimulation()
        self._steps += 1
        return self.info()

    # ----------------------------------------------------------------- state
    def snapshot(self) -> TabletopSnapshot:
        """Save the full simulator state and the commanded target, for `restore`."""
        state_id = self._client.saveState()
        snap = TabletopSnapshot(
            env_id=id(self), episode=self._episode, state_id=state_id,
            target=tuple(float(v) for v in self._target), steps=self._steps,
        )
        fin = weakref.finalize(snap, _free_state, weakref.ref(self), self._episode, state_id)
        object.__setattr__(snap, "_finalizer", fin)
        return snap

    def restore(self, snapshot: TabletopSnapshot) -> None:
        """Return to `snapshot`'s state (same env, same episode only)."""
        if not isinstance(snapshot, TabletopSnapshot) or snapshot.env_id != id(self):
            raise InputError("TabletopEnv.restore: snapshot was not made by this env")
        if snapshot.episode != self._episode:
            raise InputError(
                f"TabletopEnv.restore: snapshot is from episode {snapshot.episode}, env is in episode "
                f"{self._episode} (reset invalidates snapshots)"
            )
        self._client.restoreState(snapshot.state_id)
        self._target = np.array(snapshot.target)
        self._steps = snapshot.steps
        # Motor targets are not part of the saved state; hold the saved target until the next step.
        self._command(self._solve_ik(self._target))

    # ----------------------------------------------------------------- observation
    def render(self) -> np.ndarray:
        """The camera frame now: uint8 [H, W, 3] RGB."""
        s = self.config.image_size
        _, _, rgba, _, _ = self._client.getCameraImage(
            s, s, self._view, self._proj, renderer=self._pb.ER_TINY_RENDERER,
            flags=self._pb.ER_NO_SEGMENTATION_MASK, shadow=0,
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(s, s, 4)[:, :, :3].copy()

    def block_position(self) -> np.ndarray:
        return np.asarray(self._client.getBasePositionAndOrientation(self._block)[0])

    def set_block_position(self, position: np.ndarray) -> None:
        """Teleport the block (at rest, upright) to `position` [x, y, z]: for perturbations and for
        checking the success detector against known geometry."""
        pos = np.asarray(position, dtype=np.float64).reshape(-1)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            raise InputError(f"TabletopEnv.set_block_position: need 3 finite numbers, got {position!r}")
        self._client.resetBasePositionAndOrientation(self._block, pos.tolist(), [0, 0, 0, 1])
        self._client.resetBaseVelocity(self._block, [0, 0, 0], [0, 0, 0])

    def ee_position(self) -> np.ndarray:
        return np.asarray(self._client.getLinkState(self._robot, _EE_LINK, computeForwardKinematics=1)[4])

    @property
    def target(self) -> np.ndarray:
        """The commanded end-effector position (what actions move)."""
        return self._target.copy()

    @property
    def block_start(self) -> np.ndarray:
        return self._block_start.copy()

    @property
    def direction(self) -> np.ndarray:
        return np.asarray(self.config.push_task.direction, dtype=np.float64)

    def displacement(self) -> tuple[float, float]:
        """Block displacement since reset: (along the task direction, sideways), in metres; sideways
        is positive to the left of the push direction (its counter-clockwise normal)."""
        d = self.block_position()[:2] - self._block_start[:2]
        u = self.direction
        along = float(d @ u)
        lateral = float(d @ np.array([-u[1], u[0]]))
        return along, lateral

    def success(self) -> bool:
        """Block moved at least `success_distance_m` along the task and not too far sideways."""
        along, lateral = self.displacement()
        cfg = self.config
        on_table = self.block_position()[2] > 0.0
        return bool(on_table and along >= cfg.success_distance_m and abs(lateral) <= cfg.max_lateral_ratio * along)

    def dense_reward(self) -> float:
        """The oracle shaping reward: progress along the task, minus sideways drift, minus a small
        reaching term (distance from the end effector to the pre-push point behind the block, at
        pushing height) so that a planner with a short horizon is drawn to the right side of the
        block before any push has happened."""
        along, lateral = self.displacement()
        block = self.block_position()
        behind = np.array([*(block[:2] - self.direction * PRE_PUSH_STANDOFF_M), PUSH_HEIGHT_M])
        reach = float(np.linalg.norm(self.ee_position() - behind))
        return along - 0.5 * abs(lateral) - 0.1 * reach

    def info(self) -> dict:
        along, lateral = self.displacement()
        return {
            "step": self._steps,
            "along_m": along,
            "lateral_m": lateral,
            "dense_reward": self.dense_reward(),
            "success": self.success(),
            "block_pos": self.block_position(),
            "ee_pos": self.ee_position(),
        }

    @property
    def task(self) -> PushTask:
        return self.config.push_task
