"""A tiny synthetic video dataset: coloured shapes pushed in a direction, with success and failure.

Why: the trainer, the losses and the clustering need a dataset that is small, fast, needs no
simulator and no download, and is still *learnable only the intended way*: whether a clip succeeded
is visible only in how the object moved over time (start vs end position), the task is given by the
object's colour/shape and the direction, and there are several distinct failure modes for the
failure clustering to find. It is a test and smoke-training set, not a benchmark.

Each task is "move the <colour> <shape> <direction>" (two paraphrases per task). A clip is
`num_frames` frames of `size` x `size` RGB:
- the task's object starts on the side opposite the goal and moves along the task's direction;
- success: it travels ~60 % of the frame and ends in the goal region;
- failures (`failure_source`, cycled evenly): "early_stop" (moves ~20 % then stops),
  "wrong_direction" (moves the full distance perpendicular to the goal), "no_motion" (jitters on
  the spot);
- a static distractor object of another colour and a pusher ("gripper") are drawn too.
Domains: "robot" (dark background, grey rectangular gripper) and "human" (light background, skin
coloured round "hand"); the human domain covers all tasks, the robot domain the first `robot_tasks`
tasks only (like the project's alternate-embodiment second domain). Human clips are successes.

Clip i is rendered on access from `seed` and i (vectorised numpy, no per-frame loop), so a dataset
of any size costs only its records; two datasets with different seeds are disjoint draws of the same
tasks (the trainer's validation set is one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from a2r_core.data.records import ClipItem, ClipRecord
from a2r_core.errors import ConfigError

# (colour name, RGB, shape, direction name, unit direction (dx, dy) in image coordinates)
_COLOURS = [("red", (230, 40, 40)), ("blue", (40, 80, 240)), ("green", (40, 200, 60)),
            ("yellow", (240, 220, 40)), ("purple", (170, 60, 220)), ("cyan", (40, 220, 230))]
_SHAPES = ["block", "ball"]
_DIRECTIONS = [("to the right", (1.0, 0.0)), ("to the left", (-1.0, 0.0)), ("up", (0.0, -1.0)),
               ("down", (0.0, 1.0))]
_VERBS = [("push", "move"), ("slide", "shift"), ("move", "carry")]
FAILURE_SOURCES = ("early_stop", "wrong_direction", "no_motion")
MAX_TASKS = len(_COLOURS) * len(_DIRECTIONS)


def task_spec(t: int) -> dict:
    """Colour, shape and direction of synthetic task t (t < MAX_TASKS), plus its two instructions."""
    colour, rgb = _COLOURS[t % len(_COLOURS)]
    shape = _SHAPES[t % len(_SHAPES)]
    dname, dvec = _DIRECTIONS[(t + t // len(_COLOURS)) % len(_DIRECTIONS)]
    v1, v2 = _VERBS[t % len(_VERBS)]
    return {"name": f"{v1}-{colour}-{shape}-{dname.split()[-1]}", "rgb": rgb, "shape": shape,
            "direction": np.array(dvec), "colour": colour,
            "instructions": [f"{v1} the {colour} {shape} {dname}", f"{v2} the {colour} {shape} {dname}"]}


@dataclass
class SyntheticConfig:
    """Size and seed of a synthetic dataset (all counts are per task)."""

    num_tasks: int = 6
    robot_tasks: int = 4
    success_per_task: int = 12
    failure_per_task: int = 12
    human_per_task: int = 12
    num_frames: int = 8
    size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.num_tasks <= MAX_TASKS:
            raise ConfigError(f"synthetic num_tasks: must be in [1, {MAX_TASKS}], got {self.num_tasks}")
        if not 0 <= self.robot_tasks <= self.num_tasks:
            raise ConfigError(f"synthetic robot_tasks: must be in [0, num_tasks], got {self.robot_tasks}")
        for name in ("success_per_task", "failure_per_task", "human_per_task"):
            if getattr(self, name) < 0:
                raise ConfigError(f"synthetic {name}: must be >= 0, got {getattr(self, name)}")
        if self.num_frames < 2 or self.size < 16:
            raise ConfigError(f"synthetic num_frames >= 2 and size >= 16 required, got "
                              f"{self.num_frames}, {self.size}")


class SyntheticDataset(Dataset):
    """Yields `ClipItem`s; `records` lists every clip's metadata (see the module docstring)."""

    def __init__(self, config: SyntheticConfig | None = None, **kwargs) -> None:
        self.config = config or SyntheticConfig(**kwargs)
        cfg = self.config
        self.specs = [task_spec(t) for t in range(cfg.num_tasks)]
        self.records: list[ClipRecord] = []
        for t, spec in enumerate(self.specs):
            groups = [("human", True, None, cfg.human_per_task)]
            if t < cfg.robot_tasks:
                groups += [("robot", True, None, cfg.success_per_task),
                           ("robot", False, "failure", cfg.failure_per_task)]
            for domain, success, _, count in groups:
                for j in range(count):
                    source = None if success else FAILURE_SOURCES[j % len(FAILURE_SOURCES)]
                    self.records.append(ClipRecord(
                        task=spec["name"], instruction=spec["instructions"][j % 2], domain=domain,
                        success=success, failure_source=source, variant=domain,
                        seed=cfg.seed, num_frames=cfg.num_frames, fps=10.0))

    @property
    def task_instructions(self) -> dict[str, list[str]]:
        """Task name -> its instruction paraphrases."""
        return {s["name"]: list(s["instructions"]) for s in self.specs}

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> ClipItem:
        rec = self.records[index]
        frames = self.render(index)
        return ClipItem(frames=torch.from_numpy(frames), instruction=rec.instruction, task=rec.task,
                        domain=rec.domain, success=rec.success, index=index)

    def render(self, index: int) -> np.ndarray:
        """Clip `index` as uint8 [T, S, S, 3]."""
        cfg = self.config
        rec = self.records[index]
        spec = self.specs[[s["name"] for s in self.specs].index(rec.task)]
        rng = np.random.default_rng([cfg.seed, index])
        T, S = cfg.num_frames, cfg.size
        direction = spec["direction"]
        radius = S * 0.09
        travel = 0.6 * S
        # Start on the side opposite the goal, jittered sideways.
        perp = np.array([-direction[1], direction[0]])
        start = S / 2 - direction * travel / 2 + perp * rng.uniform(-0.2, 0.2) * S
        ramp = np.clip(np.linspace(0, 1, T) * rng.uniform(1.0, 1.3), 0, 1)  # [T], ends at 1
        source = rec.failure_source
        if rec.success:
            path = start + ramp[:, None] * direction * travel
        elif source == "early_stop":
            path = start + np.minimum(ramp, rng.uniform(0.15, 0.3))[:, None] * direction * travel
        elif source == "wrong_direction":
            side = perp * (1 if rng.random() < 0.5 else -1)
            path = start + ramp[:, None] * side * travel * 0.5
        else:  # no_motion
            path = start + rng.normal(0, 0.02 * S, size=(T, 2))
        path = np.clip(path, radius, S - 1 - radius)

        yy, xx = np.mgrid[0:S, 0:S].astype(np.float64)
        human = rec.domain == "human"
        bg = np.array([215, 205, 190] if human else [30, 30, 38], dtype=np.float64)
        frames = np.broadcast_to(bg + rng.normal(0, 4, size=3), (T, S, S, 3)).copy()

        def paint(mask: np.ndarray, rgb) -> None:
            frames[mask] = np.asarray(rgb, dtype=np.float64)

        # Static distractor of another colour at a random spot.
        other = _COLOURS[(self.specs.index(spec) + 1 + rng.integers(0, len(_COLOURS) - 1)) % len(_COLOURS)]
        if other[0] == spec["colour"]:
            other = _COLOURS[(_COLOURS.index(other) + 1) % len(_COLOURS)]
        dpos = rng.uniform(0.15, 0.85, size=2) * S
        dmask = ((xx - dpos[0]) ** 2 + (yy - dpos[1]) ** 2 <= (radius * 0.8) ** 2)
        paint(np.broadcast_to(dmask, (T, S, S)), other[1])
        # The pusher sits just behind the object along the motion (behind = against travel).
        motion = np.gradient(path, axis=0)
        heading = motion / np.maximum(np.linalg.norm(motion, axis=1, keepdims=True), 1e-6)
        heading[np.linalg.norm(motion, axis=1) < 1e-3] = direction
        pusher = path - heading * radius * 2.2
        px = xx[None] - pusher[:, 0, None, None]
        py = yy[None] - pusher[:, 1, None, None]
        if human:
            paint(px ** 2 + py ** 2 <= (radius * 1.3) ** 2, (225, 170, 130))
        else:
            paint((np.abs(px) <= radius * 0.7) & (np.abs(py) <= radius * 1.4), (150, 150, 150))
        ox = xx[None] - path[:, 0, None, None]
        oy = yy[None] - path[:, 1, None, None]
        if spec["shape"] == "block":
            omask = (np.abs(ox) <= radius) & (np.abs(oy) <= radius)
        else:
            omask = ox ** 2 + oy ** 2 <= radius ** 2
        paint(omask, spec["rgb"])
        frames += rng.normal(0, 3, size=frames.shape)
        return np.clip(frames, 0, 255).astype(np.uint8)
