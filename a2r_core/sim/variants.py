"""Environment variants and the alternate-embodiment domain, applied to a MuJoCo model at run time.

Why at run time: MetaWorld builds its models from XML inside each env class; editing the compiled
model's arrays (material colours and textures, lights, geom groups) after construction changes what
the camera sees without touching physics, and needs no copies of MetaWorld's assets.

A `Variant` is a named bundle of such changes. Names compose with "+": "cam_left+table_dark" applies
both (later names win where they set the same thing). `VARIANTS` lists the built-in ones;
`ALT_EMBODIMENT` is the second domain that stands in for human video here: the Sawyer arm hidden
(only the gripper left), the gripper restyled, and a camera on the other side of the table.

Distractors are *visual only*: extra boxes, cylinders and spheres drawn into the scene at each render
(`mjv_initGeom`), placed on the table beside the task area. They never collide with the robot or
the task objects, so they cannot change an episode's outcome, only its pixels.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from a2r_core.errors import ConfigError
from a2r_core.sim.metaworld_env import ALT_CAMERA, ROBOT_CAMERA, CameraPose, RenderConfig

RGBA = tuple[float, float, float, float]
_HIDDEN_GROUP = 5  # a geom group the renderer is told not to draw
_EE_ROOT = "hand"  # the gripper's root body in MetaWorld's Sawyer; its subtree is the end effector
_ROBOT_ROOT = "base"


@dataclass(frozen=True)
class Variant:
    """What one variant changes. Every field's default means "leave MetaWorld's scene as it is".

    camera: replaces the camera entirely (the alternate embodiment's view); camera offsets move
    whichever camera is in use. table_texture / floor_texture: "none" removes the texture (plain
    colour), or the name of another texture in the model ("T_wallmetal", "T_floor", "T_table").
    light_scale multiplies every light's diffuse colour; headlight sets the ambient+diffuse
    headlight level. shadows / reflections: only variants that need them turn them on (they cost
    ~5x per frame). distractors: how many visual-only objects to scatter beside the task area.
    hide_arm hides every robot geom outside the gripper; arm_rgba / gripper_rgba recolour them.
    """

    name: str
    camera: Optional[CameraPose] = None
    d_azimuth: float = 0.0
    d_elevation: float = 0.0
    d_distance: float = 0.0
    table_rgba: Optional[RGBA] = None
    table_texture: Optional[str] = None
    floor_rgba: Optional[RGBA] = None
    floor_texture: Optional[str] = None
    wall_rgba: Optional[RGBA] = None
    light_scale: float = 1.0
    headlight: Optional[float] = None
    shadows: bool = False
    reflections: bool = False
    distractors: int = 0
    distractor_seed: int = 0
    hide_arm: bool = False
    arm_rgba: Optional[RGBA] = None
    gripper_rgba: Optional[RGBA] = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("Variant.name must not be empty")
        if not 0.0 <= self.light_scale <= 5.0:
            raise ConfigError(f"variant {self.name!r}: light_scale must be in [0, 5], got {self.light_scale}")
        if self.headlight is not None and not 0.0 <= self.headlight <= 1.0:
            raise ConfigError(f"variant {self.name!r}: headlight must be in [0, 1], got {self.headlight}")
        if not 0 <= self.distractors <= 12:
            raise ConfigError(f"variant {self.name!r}: distractors must be in [0, 12], got {self.distractors}")
        for fname in ("table_rgba", "floor_rgba", "wall_rgba", "arm_rgba", "gripper_rgba"):
            value = getattr(self, fname)
            if value is not None and (len(value) != 4 or not all(0.0 <= c <= 1.0 for c in value)):
                raise ConfigError(f"variant {self.name!r}: {fname} must be 4 numbers in [0, 1], got {value!r}")

    def render_config(self, base: RenderConfig) -> RenderConfig:
        """`base` with this variant's camera and effects."""
        camera = (self.camera or base.camera).moved(self.d_azimuth, self.d_elevation, self.d_distance)
        return dataclasses.replace(base, camera=camera, shadows=base.shadows or self.shadows,
                                   reflections=base.reflections or self.reflections)


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Variant) if f.name != "name"}

VARIANTS: dict[str, Variant] = {v.name: v for v in [
    Variant("default"),
    # camera pose
    Variant("cam_left", d_azimuth=-25.0),
    Variant("cam_right", d_azimuth=25.0),
    Variant("cam_high", d_elevation=-20.0, d_distance=0.15),
    Variant("cam_low", d_elevation=15.0, d_distance=-0.1),
    # table / floor colours and textures
    Variant("table_dark", table_rgba=(0.25, 0.2, 0.18, 1.0), table_texture="none"),
    Variant("table_white", table_rgba=(0.9, 0.9, 0.88, 1.0), table_texture="none"),
    Variant("table_metal", table_texture="T_wallmetal", table_rgba=(0.8, 0.8, 0.85, 1.0)),
    Variant("floor_blue", floor_rgba=(0.3, 0.4, 0.8, 1.0), floor_texture="none",
            wall_rgba=(0.6, 0.65, 0.8, 1.0)),
    # lighting
    Variant("light_dim", light_scale=0.4, headlight=0.15),
    Variant("light_bright", light_scale=1.8, headlight=0.6),
    Variant("light_shadows", shadows=True, headlight=0.3),
    # distractors
    Variant("distractors", distractors=4, distractor_seed=1),
    Variant("distractors_many", distractors=8, distractor_seed=2),
]}

ALT_EMBODIMENT = Variant(
    "alt", camera=ALT_CAMERA, hide_arm=True, gripper_rgba=(0.85, 0.65, 0.5, 1.0),
)


def get_variant(spec: str) -> Variant:
    """The variant named `spec`; "a+b" composes built-in variants (later ones win on overlaps)."""
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    if not parts:
        raise ConfigError(f"empty variant name {spec!r}")
    merged: dict[str, Any] = {}
    for part in parts:
        if part not in VARIANTS:
            raise ConfigError(f"unknown variant {part!r} in {spec!r}; known: {', '.join(VARIANTS)}")
        for key, default in _DEFAULTS.items():
            value = getattr(VARIANTS[part], key)
            if value != default:
                merged[key] = value
    return Variant(name="+".join(parts), **merged)


def for_domain(domain: str, variant: Variant) -> Variant:
    """`variant` as rendered in `domain` ("robot" or "alt"): alt adds the alternate embodiment."""
    if domain == "robot":
        return variant
    if domain != "alt":
        raise ConfigError(f"domain must be 'robot' or 'alt', got {domain!r}")
    merged = {k: getattr(variant, k) for k, d in _DEFAULTS.items() if getattr(variant, k) != d}
    for key in ("camera", "hide_arm", "gripper_rgba"):
        merged[key] = getattr(ALT_EMBODIMENT, key)
    return Variant(name=variant.name, **merged)


@dataclass
class VisualExtras:
    """What a variant adds at render time: which geom groups to draw and distractor geoms."""

    geomgroup: np.ndarray = field(default_factory=lambda: np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8))
    distractors: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add_to_scene(self, scene: Any) -> None:
        """Append the distractor geoms to an updated `mjvScene` (call after update_scene)."""
        if not self.distractors:
            return
        import mujoco

        eye = np.eye(3).ravel()
        for geom_type, size, pos, rgba in self.distractors:
            if scene.ngeom >= scene.maxgeom:
                return
            mujoco.mjv_initGeom(scene.geoms[scene.ngeom], geom_type, size, pos, eye, rgba)
            scene.ngeom += 1


def _subtree(model: Any, root: int) -> set[int]:
    ids = {root}
    for body in range(model.nbody):  # parents precede children in MuJoCo's body order
        if model.body_parentid[body] in ids and body != 0:
            ids.add(body)
    return ids


def _body_id(model: Any, name: str) -> int:
    import mujoco

    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)
    if body < 0:
        raise ConfigError(f"the MuJoCo model has no body {name!r} (is this MetaWorld's Sawyer?)")
    return int(body)


def _material(model: Any, name: str) -> int:
    import mujoco

    return int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_MATERIAL, name))


def _set_material(model: Any, name: str, rgba: Optional[RGBA], texture: Optional[str]) -> None:
    import mujoco

    mat = _material(model, name)
    if mat < 0:
        return  # this task's scene has no such material
    role = int(mujoco.mjtTextureRole.mjTEXROLE_RGB)
    if rgba is not None:
        model.mat_rgba[mat] = rgba
    if texture is not None:
        if texture == "none":
            model.mat_texid[mat, role] = -1
        else:
            tex = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_TEXTURE, texture)
            if tex < 0:
                raise ConfigError(f"texture {texture!r} not in this MetaWorld scene")
            model.mat_texid[mat, role] = tex


def robot_geoms(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(arm geom ids, gripper geom ids) of MetaWorld's Sawyer: the arm is everything under the
    robot's base body except the gripper's subtree."""
    gripper_bodies = _subtree(model, _body_id(model, _EE_ROOT))
    robot_bodies = _subtree(model, _body_id(model, _ROBOT_ROOT))
    owner = np.asarray(model.geom_bodyid)
    is_gripper = np.isin(owner, list(gripper_bodies))
    is_arm = np.isin(owner, list(robot_bodies - gripper_bodies))
    return np.flatnonzero(is_arm), np.flatnonzero(is_gripper)


def _distractors(variant: Variant) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    import mujoco

    rng = np.random.default_rng(zlib.crc32(variant.name.encode()) + variant.distractor_seed)
    kinds = [mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_CYLINDER, mujoco.mjtGeom.mjGEOM_SPHERE]
    out = []
    for i in range(variant.distractors):
        kind = int(kinds[i % len(kinds)])
        half = rng.uniform(0.025, 0.045)
        size = np.array([half, half * rng.uniform(0.6, 1.2), half], dtype=np.float64)
        side = 1.0 if i % 2 == 0 else -1.0  # alternate sides of the task area
        pos = np.array([side * rng.uniform(0.25, 0.4), rng.uniform(0.45, 0.85), half], dtype=np.float64)
        rgba = np.array([*rng.uniform(0.1, 0.95, size=3), 1.0], dtype=np.float32)
        out.append((kind, size, pos, rgba))
    return out


def apply_variant(model: Any, variant: Variant) -> VisualExtras:
    """Change `model`'s visual arrays for `variant` in place; return what renders must add."""
    extras = VisualExtras()
    _set_material(model, "table_wood", variant.table_rgba, variant.table_texture)
    _set_material(model, "basic_floor", variant.floor_rgba, variant.floor_texture)
    if variant.wall_rgba is not None:
        _set_material(model, "wall_metal", variant.wall_rgba, None)
    if variant.light_scale != 1.0:
        model.light_diffuse[:] = np.clip(model.light_diffuse * variant.light_scale, 0.0, 1.0)
        model.light_specular[:] = np.clip(model.light_specular * variant.light_scale, 0.0, 1.0)
    if variant.headlight is not None:
        model.vis.headlight.ambient[:] = variant.headlight
        model.vis.headlight.diffuse[:] = variant.headlight
    if variant.shadows:
        model.light_castshadow[:] = 1
    arm, gripper = robot_geoms(model)
    if variant.hide_arm:
        model.geom_group[arm] = _HIDDEN_GROUP
    if variant.arm_rgba is not None:
        model.geom_rgba[arm[model.geom_rgba[arm, 3] > 0]] = variant.arm_rgba
        model.geom_matid[arm] = -1
    if variant.gripper_rgba is not None:
        visible = gripper[model.geom_group[gripper] <= 2]
        model.geom_rgba[visible] = variant.gripper_rgba
        model.geom_matid[visible] = -1
    extras.distractors = _distractors(variant)
    return extras


__all__ = ["Variant", "VARIANTS", "ALT_EMBODIMENT", "ROBOT_CAMERA", "get_variant", "for_domain",
           "apply_variant", "robot_geoms", "VisualExtras"]
