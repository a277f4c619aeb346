"""`a2r eval` end to end through `a2r_core.cli.main`, config validation, and the report files."""

import json
from pathlib import Path
from typing import Optional

import matplotlib.image as mpimg
import pytest
import yaml

from a2r_core.cli import main
from a2r_core.errors import ConfigError
from a2r_core.eval.benchmark import load_eval_config

ROOT = Path(__file__).resolve().parents[2]

TINY_TRAIN = {
    "model": {"backbone": "a2r-small", "embed_dim": 32, "num_frames": 4, "image_size": 32, "patch_size": 16,
              "video_width": 32, "video_depth": 1, "video_heads": 2, "temporal_depth": 1,
              "num_failure_prompts": 2, "prompt_length": 2, "success_head_hidden": 32},
    "sampler": {"batch_human": 2, "batch_success": 2, "batch_failure": 2, "batches_per_epoch": 2},
    "optim": {"epochs": 1},
    "clustering": {"max_iter": 5},
    "runtime": {"device": "cpu", "tensorboard": False},
}


def _tiny(tmp_path: Path, **over) -> Path:
    raw = {
        "rows": ["a2r", "dvd", "oracle", "random"],
        "progress": False,
        "train": TINY_TRAIN,
        "synthetic": {"train": {"num_tasks": 3, "robot_tasks": 2, "success_per_task": 2, "failure_per_task": 3,
                                "human_per_task": 2, "num_frames": 4, "size": 32, "seed": 0},
                      "val": {"num_tasks": 3, "robot_tasks": 2, "success_per_task": 1, "failure_per_task": 1,
                              "human_per_task": 0, "num_frames": 4, "size": 32, "seed": 1},
                      "test": {"success_per_task": 2, "failure_per_task": 2, "seed": 2}},
        "pybullet": {"tasks": ["push_left", "push_right"], "image_size": 32, "steps": 24, "render_every": 6,
                     "train_seeds": [0], "val_seeds": [1], "eval_seeds": [2], "variants": ["default", "viewpoint"],
                     "mpc": {"rows": ["a2r", "oracle"], "tasks": ["push_left"], "seeds": [5], "max_steps": 16,
                             "cem": {"horizon": 6, "samples": 16, "iterations": 2, "elites": 4,
                                     "execute_steps": 3, "max_clip_frames": 4}}},
    }
    raw.update(over)
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _strict_json(path: Path) -> dict:
    def no_nan(token):
        raise ValueError(f"non-finite number {token} in {path}")
    return json.loads(path.read_text(), parse_constant=no_nan)


def _check_outputs(out: Path, rows: list[str], cfg_rows: Optional[dict] = None) -> dict:
    cfg_rows = cfg_rows or {}
    for name in ("results.json", "results.md", "reward_curves.png", "reward_histograms.png"):
        assert (out / name).is_file(), name
    res = _strict_json(out / "results.json")
    keys = [c["key"] for c in res["columns"]]
    md = (out / "results.md").read_text()
    for row in rows:
        assert f"| {row} |" in md
    for key in keys:
        assert key in md
    for png in ("reward_curves.png", "reward_histograms.png"):
        img = mpimg.imread(out / png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    for row in rows:
        for key in keys:
            if (row == "oracle" and key.startswith("synthetic")) or \
                    (key.startswith("metaworld") and row not in (cfg_rows.get("metaworld") or rows)):
                assert key not in res["cells"].get(row, {})
                continue
            cell = res["cells"][row][key]
            for metric in ("auroc", "instruction_top1", "best_of_n"):
                v = cell[metric]
                assert v is None or 0.0 <= v <= 1.0, (row, key, metric, v)
            assert cell["value_order_spearman"] is None or -1.0 <= cell["value_order_spearman"] <= 1.0
    return res


@pytest.mark.slow
def test_quick_profile_end_to_end(tmp_path):
    """The CI smoke run: every stage of `a2r eval --profile quick` through the CLI."""
    out = tmp_path / "quick"
    assert main(["eval", "--profile", "quick", "--out", str(out), "--no-progress"]) == 0
    cfg = load_eval_config(ROOT / "config" / "eval_quick.yaml")
    res = _check_outputs(out, cfg.rows, {"metaworld": cfg.metaworld.rows})
    kinds = {c["key"]: c["kind"] for c in res["columns"]}
    assert kinds == {"synthetic/seen": "seen tasks / seen env",
                     "synthetic/new_tasks": "new tasks (second domain only)",
                     "pybullet/default": "seen tasks / seen env",
                     "pybullet/viewpoint": "seen tasks / new env",
                     "pybullet/distractors": "seen tasks / new env",
                     "pybullet/viewpoint+distractors": "seen tasks / new env",
                     "metaworld/seen": "seen tasks / seen env",
                     "metaworld/new_envs": "seen tasks / new env",
                     "metaworld/new_envs:cam_left": "seen tasks / new env",
                     "metaworld/new_tasks": "new tasks (second domain only)",
                     "metaworld/best_of_n": "seen tasks / seen env"}
    # Every trained row went through the trainer on its suites and left its checkpoint.
    for suite in ("synthetic", "pybullet", "metaworld"):
        for spec in cfg.suite_rows(suite):
            if spec.kind != "trained":
                continue
            assert (out / "runs" / suite / spec.name.replace(":", "_") / "best" / "model.safetensors").is_file()
            assert f"{suite}/{spec.name}" in res["train"]
    # The oracle is the env's own dense reward: on these seeds it separates and selects perfectly,
    # and the planner with it solves push_left from seed 200 (4/4 episodes over push_left/right x
    # seeds 5, 200 with these CEM settings when measured; docs/planning.md: 20/20 with larger ones).
    for variant in ("default", "viewpoint", "distractors", "viewpoint+distractors"):
        oracle = res["cells"]["oracle"][f"pybullet/{variant}"]
        assert oracle["auroc"] == 1.0 and oracle["best_of_n"] == 1.0 and oracle["instruction_top1"] is None
        assert res["cells"]["a2r"][f"pybullet/{variant}"]["group_size"] == 7
    assert set(res["mpc"]) == {f"{s}/{r}" for s in ("pybullet", "metaworld") for r in ("a2r", "oracle", "random")}
    assert res["mpc"]["pybullet/oracle"]["success_rate"] == 1.0
    assert res["mpc"]["metaworld/oracle"]["success_rate"] == 1.0  # closes the drawer on the env's dense reward
    assert all(len(m["episodes"]) == 1 for m in res["mpc"].values())
    # the learned row's ranking at the states its own planner reached: one entry per CEM iteration
    own = res["mpc"]["metaworld/a2r"]["own_state_ranking"]
    assert own["n_calls"] >= 1 and 0.0 <= own["top1_hit_rate"] <= 1.0
    assert res["mpc"]["metaworld/oracle"]["own_state_ranking"] is None
    # MetaWorld: the oracle is the dense reward recorded with the clips, best-of-N has its one group.
    mw_oracle = res["cells"]["oracle"]["metaworld/seen"]
    assert mw_oracle["auroc"] is not None and mw_oracle["instruction_top1"] is None
    assert res["cells"]["a2r"]["metaworld/best_of_n"]["n_groups"] == 1
    assert (out / "data" / "metaworld" / "test_seen" / "manifest.jsonl").is_file()


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        load_eval_config(_tiny(tmp_path, colums=[]))
    with pytest.raises(ConfigError, match="disjoint"):
        load_eval_config(_tiny(tmp_path, pybullet={"train_seeds": [0], "val_seeds": [0], "eval_seeds": [1]}))
    with pytest.raises(ConfigError, match="no failure source 'noise'"):
        load_eval_config(_tiny(tmp_path, rows=["single_source:noise"]))
    with pytest.raises(ConfigError, match="train.data"):
        load_eval_config(_tiny(tmp_path, train={"data": {}}))
    with pytest.raises(ConfigError, match="not in rows"):
        load_eval_config(_tiny(tmp_path, rows=["random"]))
    with pytest.raises(ConfigError, match="unknown row"):
        load_eval_config(_tiny(tmp_path, rows=["a2r", "oracle", "magic"]))
    with pytest.raises(ConfigError, match="model"):
        load_eval_config(_tiny(tmp_path, train={"model": {"embed_dim": -1}}))


def test_shipped_profiles_load():
    for name in ("eval_quick.yaml", "eval_full.yaml"):
        cfg = load_eval_config(ROOT / "config" / name)
        assert cfg.synthetic is not None and cfg.pybullet is not None and "oracle" in cfg.rows
        assert cfg.metaworld is not None and "oracle" in cfg.metaworld.rows and cfg.metaworld.mpc is not None
    # the full profile and the instruction eval report both new-task sets and new-task best-of-N
    for name in ("eval_full.yaml", "eval_instructions.yaml"):
        m = load_eval_config(ROOT / "config" / name).metaworld
        assert m.data.test_new_tasks_2 and m.best_of_n_new_tasks is not None
        assert not set(m.best_of_n_new_tasks.tasks) & set(m.best_of_n.tasks)


def test_existing_output_directory_is_refused(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["eval", "--config", str(_tiny(tmp_path)), "--out", str(out)]) == 1
    assert (out / "keep.txt").read_text() == "mine"


def test_max_prefixes_scores_fewer_prefixes_same_final_reward(tmp_path):
    """Prefix thinning keeps the whole clip (so AUROC/top-1 are unchanged) and samples the curve."""
    import numpy as np

    from a2r_core.eval.benchmark import Column, _prefix_lengths, evaluate_column
    from a2r_core.eval.clips import EvalClip
    from a2r_core.eval.rows import OracleScorer

    assert _prefix_lengths(16, None).tolist() == list(range(1, 17))
    assert _prefix_lengths(16, 4).tolist() == [1, 6, 11, 16]
    assert _prefix_lengths(3, 8).tolist() == [1, 2, 3]
    rng = np.random.default_rng(0)
    clips = [EvalClip(frames=np.zeros((16, 8, 8, 3), np.uint8), task="t", instruction="do t", success=bool(i % 2),
                      source="x", oracle=np.sort(rng.random(16)) * (1 + i % 2)) for i in range(6)]
    column = Column("x", "c", "seen tasks / seen env", clips, {"t": "do t"})
    full, thin = evaluate_column(OracleScorer(), column), evaluate_column(OracleScorer(), column, max_prefixes=4)
    assert thin["auroc"] == full["auroc"] and thin["plot"]["success_final"] == full["plot"]["success_final"]
    assert thin["value_order_spearman"] == full["value_order_spearman"] == 1.0  # increasing oracle
    with pytest.raises(ConfigError, match="max_prefixes"):
        load_eval_config(_tiny(tmp_path, max_prefixes=1))
