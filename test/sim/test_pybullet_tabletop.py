"""PyBullet tabletop tasks: real PyBullet (DIRECT mode), real Panda, real rendering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from a2r_core.errors import ConfigError, DataError, InputError
from a2r_core.sim.pybullet_policies import FAILURE_SOURCES, make_policy, run_episode
from a2r_core.sim.pybullet_tabletop import (
    TASKS,
    TabletopConfig,
    TabletopEnv,
    instruction,
    load_instructions,
)

STEPS = 30  # the expert succeeds after ~12 steps


@pytest.fixture(scope="module")
def env():
    with TabletopEnv(TabletopConfig(task="push_left", image_size=64), seed=0) as e:
        yield e


def _use(env: TabletopEnv, seed: int, **overrides) -> TabletopEnv:
    base = {"task": "push_left", "image_size": 64}
    base.update(overrides)
    env.config = TabletopConfig(**base)
    env.reset(seed)
    return env


def _red_centroid(frame: np.ndarray) -> np.ndarray:
    """(row, col) centroid of the red block's pixels."""
    f = frame.astype(int)
    mask = (f[..., 0] > 90) & (f[..., 0] > 2 * f[..., 1]) & (f[..., 0] > 2 * f[..., 2])
    assert mask.sum() >= 3, "the block is not visible"
    rows, cols = np.nonzero(mask)
    return np.array([rows.mean(), cols.mean()])


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="task"):
        TabletopConfig(task="push_sideways")
    with pytest.raises(ConfigError, match="variant"):
        TabletopConfig(variant="foggy")
    with pytest.raises(ConfigError, match="substeps"):
        TabletopConfig(substeps=0)
    with pytest.raises(ConfigError, match="workspace"):
        TabletopConfig(workspace_low=(1, 0, 0), workspace_high=(0, 1, 1))


def test_instructions_cover_every_task(tmp_path: Path):
    texts = load_instructions()
    assert set(texts) == set(TASKS)
    assert all(len(v) >= 3 for v in texts.values())
    assert "left" in instruction("push_left") and "right" in instruction("push_right")
    # They come from the shared instructions file, next to (not mixed with) the MetaWorld tasks.
    from a2r_core.data.instructions import paraphrases

    assert paraphrases("push_away") == texts["push_away"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("pybullet:\n  push_left: []\n")
    with pytest.raises(DataError, match="bad.yaml"):
        load_instructions(bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text("metaworld:\n  reach-v3: [reach the goal]\n")
    with pytest.raises(DataError, match="missing.yaml.*push_"):
        load_instructions(missing)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_expert_succeeds_for_two_seeds(env, task):
    for seed in (0, 1):
        _use(env, seed, task=task)
        ep = run_episode(env, make_policy("expert", env, seed), steps=STEPS)
        assert ep.success, f"{task} seed {seed}: along {ep.along_m:.3f} lateral {ep.lateral_m:.3f}"
        assert ep.along_m >= env.config.success_distance_m


def test_failure_policies_mostly_fail(env):
    outcomes = {}
    for task in ("push_left", "push_away"):
        for name in FAILURE_SOURCES:
            for seed in (0, 1):
                _use(env, seed, task=task)
                outcomes[(task, name, seed)] = run_episode(env, make_policy(name, env, seed), steps=STEPS).success
    # The deterministic failure modes never reach the goal; the noisy/random ones mostly do not.
    assert not any(v for (t, n, s), v in outcomes.items() if n in ("early_stop", "wrong_direction"))
    assert sum(outcomes.values()) <= len(outcomes) // 4, outcomes


def test_unknown_policy_and_bad_action_raise(env):
    _use(env, 0)
    with pytest.raises(ConfigError, match="unknown policy"):
        make_policy("teleport", env)
    with pytest.raises(InputError, match="3 finite"):
        env.step(np.array([np.nan, 0, 0]))


def test_success_detector_agrees_with_geometry(env):
    _use(env, 3, task="push_left")  # push_left: along = -y
    start = env.block_start
    cases = [
        ((0.0, -0.10), True),  # 10 cm left
        ((0.0, -0.05), False),  # too short
        ((0.0, +0.10), False),  # wrong way
        ((0.08, -0.10), False),  # too far sideways (0.08 > 0.5 * 0.10)
        ((0.03, -0.10), True),  # a little sideways is fine
    ]
    for (dx, dy), expected in cases:
        env.set_block_position(start + np.array([dx, dy, 0.0]))
        along, lateral = env.displacement()
        assert along == pytest.approx(-dy, abs=1e-6) and lateral == pytest.approx(dx, abs=1e-6)
        assert env.success() is expected, (dx, dy)


def test_image_directions_match_the_task_words(env):
    """Left/right are the image's left/right; away from the camera is up the image."""
    _use(env, 0, image_size=112)
    env.step(np.array([0.0, 0.0, 1.0]))  # lift the gripper out of the way
    start = env.block_start
    c0 = _red_centroid(env.render())
    moved = {}
    for task, t in TASKS.items():
        env.set_block_position(start + np.array([*np.asarray(t.direction) * 0.12, 0.0]))
        moved[task] = _red_centroid(env.render()) - c0
    assert moved["push_left"][1] < -5 and moved["push_right"][1] > 5
    assert moved["push_away"][0] < -3 and moved["push_towards"][0] > 3


def test_viewpoint_and_distractors_change_the_image_not_the_task(env):
    frames, blocks = {}, {}
    for variant in ("default", "viewpoint", "distractors"):
        _use(env, 5, variant=variant)
        frames[variant], blocks[variant] = env.render(), env.block_position()
    base = frames["default"].astype(int)
    for variant in ("viewpoint", "distractors"):
        changed = np.mean(np.any(frames[variant].astype(int) != base, axis=-1))
        assert changed > 0.01, f"{variant} changed only {changed:.2%} of pixels"
        np.testing.assert_allclose(blocks[variant], blocks["default"], atol=1e-4)
    # Different seeds draw different viewpoints; a fixed offset is honoured.
    _use(env, 6, variant="viewpoint")
    assert env.camera_offset != _use(env, 7, variant="viewpoint").camera_offset
    assert _use(env, 6, camera_offset=(10.0, 0.0, 0.0)).camera_offset == (10.0, 0.0, 0.0)
    # The expert still succeeds with distractors (they are placed off the push path).
    _use(env, 5, variant="viewpoint+distractors")
    assert run_episode(env, make_policy("expert", env), steps=STEPS).success


def test_same_seed_same_world_and_restore_reproduces_frames(env):
    actions = np.random.default_rng(0).uniform(-1, 1, size=(8, 3))
    actions[:, 2] = -0.5  # go down so the arm meets the block and contacts are involved

    def replay() -> np.ndarray:
        out = []
        for a in actions:
            env.step(a)
            out.append(env.render())
        return np.stack(out)

    _use(env, 11, variant="distractors")
    first = replay()
    _use(env, 11, variant="distractors")
    assert np.array_equal(replay(), first), "same seed, same actions, different frames"

    _use(env, 11, variant="distractors")
    env.step(np.array([0.0, -1.0, -1.0]))
    snap = env.snapshot()
    a = replay()
    env.restore(snap)
    b = replay()
    assert np.array_equal(a, b), "restore did not reproduce the frames"
    assert not np.array_equal(a[0], a[-1])  # the replay moved something

    env.reset(12)
    with pytest.raises(InputError, match="episode"):
        env.restore(snap)


def test_dropped_snapshots_are_freed(env):
    """A planner takes a snapshot per step; dropping one must free the simulator's copy."""
    import gc

    _use(env, 0)
    first = env.snapshot().state_id  # dropped at once
    gc.collect()
    kept = env.snapshot()
    assert kept.state_id == first  # PyBullet hands the freed slot out again
    assert env.snapshot().state_id != kept.state_id
    # A reset frees every saved state and ids are reused: dropping a snapshot of the old episode
    # must not free the new episode's snapshot that got the same id.
    env.reset(1)
    new = env.snapshot()
    assert new.state_id == kept.state_id
    del kept
    gc.collect()
    env.step(np.array([0.0, 1.0, 0.0]))
    env.restore(new)
    np.testing.assert_allclose(env.target, new.target)


def test_run_episode_renders_only_when_asked(env):
    _use(env, 0)
    ep = run_episode(env, make_policy("random", env, 0), steps=6, render_every=3)
    assert ep.frames.shape == (3, 64, 64, 3) and ep.frames.dtype == np.uint8
    assert ep.actions.shape == (6, 3)
    _use(env, 0)
    assert run_episode(env, make_policy("random", env, 0), steps=2).frames.shape[0] == 0
