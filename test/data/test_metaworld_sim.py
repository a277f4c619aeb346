"""MetaWorld env, renderer orientation, variants and the alternate embodiment (real MuJoCo/EGL)."""

from __future__ import annotations

import numpy as np
import pytest

from a2r_core.errors import ConfigError
from a2r_core.sim.metaworld_env import MetaWorldEnv, RenderConfig, check_task
from a2r_core.sim.variants import VARIANTS, Variant, for_domain, get_variant

TASK = "drawer-close-v3"
MAGENTA = (1.0, 0.0, 1.0, 1.0)


def _render(variant: Variant, seed: int = 0, size: int = 96) -> np.ndarray:
    with MetaWorldEnv(TASK, RenderConfig(width=size, height=size), variant) as env:
        env.reset(seed)
        return env.render()


def _red_arm_pixels(image: np.ndarray) -> int:
    """Pixels of the Sawyer's red paint (rgb ~ (0.5, 0.1, 0.1) under the lights)."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    return int(np.sum((r > 70) & (r > 2 * g + 20) & (r > 2 * b + 20)))


def _magenta_centroid(image: np.ndarray) -> np.ndarray:
    r, g, b = (image[..., i].astype(int) for i in range(3))
    rows, cols = np.nonzero((r > 90) & (b > 90) & (g < 0.5 * np.minimum(r, b)))
    assert rows.size > 5, "the magenta gripper must be visible"
    return np.array([rows.mean(), cols.mean()])


def test_orientation_up_is_up_and_right_is_right():
    """Move the gripper up, then along +x, and watch it in the image. The default camera looks
    along (cos 140deg, sin 140deg), so world +x points to the image's right; a flipped or mirrored
    render would move the gripper down or left."""
    variant = Variant("probe", hide_arm=True, gripper_rgba=MAGENTA)
    with MetaWorldEnv(TASK, RenderConfig(width=128, height=128), variant, max_steps=100) as env:
        env.reset(0)
        start = _magenta_centroid(env.render())
        for _ in range(15):
            env.step(np.array([0.0, 0.0, 1.0, 0.0]))
        up = _magenta_centroid(env.render())
        for _ in range(20):
            env.step(np.array([1.0, 0.0, 0.0, 0.0]))
        right = _magenta_centroid(env.render())
    assert up[0] < start[0] - 3, f"gripper raised in the world must rise in the image: {start} -> {up}"
    assert right[1] > up[1] + 3, f"gripper moved to +x must move right in the image: {up} -> {right}"


def test_variants_change_the_image():
    base = _render(get_variant("default")).astype(int)
    # fraction of pixels a variant changes by more than 25 grey levels: scene-wide for cameras,
    # surfaces and lights; a few small objects for distractors
    expected = {"cam_left": 0.2, "cam_high": 0.2, "table_dark": 0.1, "table_metal": 0.1,
                "floor_blue": 0.05, "light_dim": 0.3, "distractors": 0.005}
    for name, least in expected.items():
        changed = (np.abs(_render(get_variant(name)).astype(int) - base).max(axis=-1) > 25).mean()
        assert changed > least, f"variant {name} changes only {changed:.1%} of the pixels"
    assert _render(get_variant("light_dim")).mean() < base.mean() - 10, "dim light must darken"
    # the same variant and seed render the same pixels
    combo = get_variant("cam_left+distractors")
    assert np.array_equal(_render(combo), _render(combo))


def test_alternate_embodiment_hides_the_arm_but_keeps_the_gripper():
    robot = _render(get_variant("default"), size=128)
    hidden = _render(Variant("no-arm", hide_arm=True, gripper_rgba=MAGENTA), size=128)
    assert _red_arm_pixels(robot) > 500
    assert _red_arm_pixels(hidden) < 20
    _magenta_centroid(hidden)  # the end effector is still drawn
    alt = _render(for_domain("alt", get_variant("table_dark")), size=128)
    assert _red_arm_pixels(alt) < 20
    assert np.abs(alt.astype(int) - robot.astype(int)).mean() > 20  # other camera, other styling


def test_reset_is_seeded_and_success_flag_comes_from_env():
    from a2r_core.sim.policies import make_policy

    with MetaWorldEnv(TASK, max_steps=150) as env:
        first, second, other = env.reset(7), env.reset(7), env.reset(8)
        assert np.array_equal(first, second) and not np.array_equal(first, other)
        policy = make_policy("expert", TASK, np.random.default_rng(0), 150, [TASK])
        obs, successes = env.reset(7), []
        for t in range(150):
            result = env.step(policy(obs, t))
            obs = result.obs
            successes.append(result.success)
        assert successes[-1] and not successes[0], "the expert closes the drawer, not at step 0"


def test_bad_names_are_config_errors():
    with pytest.raises(ConfigError, match="drawer-close-v3"):
        check_task("drawer-closed-v3")
    with pytest.raises(ConfigError, match="unknown variant"):
        get_variant("default+neon")
    with pytest.raises(ConfigError):
        RenderConfig(width=7)
    assert set(VARIANTS) >= {"default", "cam_left", "table_dark", "light_dim", "distractors"}
