"""The MetaWorld suite of `a2r eval`: real MetaWorld clips generated in-run, real training, real
planning. One benchmark run (module fixture) with a tiny set, an a2r row taken from a given
checkpoint, one trained row, the oracle and random; further runs reuse its generated data. The tests
that need that run are marked slow (they share its cost); the others are fast."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from a2r_core.cli import main
from a2r_core.data.manifest import read_manifest, write_manifest
from a2r_core.errors import ConfigError
from a2r_core.eval import metrics
from a2r_core.eval.benchmark import load_eval_config
from a2r_core.eval.clips import metaworld_candidate_groups, metaworld_clips
from a2r_core.eval.rows import ModelScorer
from a2r_core.training.datasets import build_dataset
from test_benchmark import TINY_TRAIN, _strict_json  # shared by every eval test

GENERATE = {"tasks": ["drawer-close-v3", "button-press-v3"], "new_tasks": ["door-close-v3"],
            "new_tasks_2": ["window-close-v3", "faucet-open-v3"],
            "held_out_variants": ["cam_left", "table_dark"], "size": 32, "frames": 6, "horizon": 150}
TASKS = {"drawer-close-v3": ["close the drawer"], "button-press-v3": ["press the button"]}


def _write(tmp: Path, name: str, raw: dict) -> Path:
    path = tmp / name
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A real (untrained) a2r-small checkpoint: what a shipped default checkpoint would be here."""
    import torch

    from a2r_core.model.checkpoint import save_checkpoint
    from a2r_core.model.configuration_a2r import A2RConfig
    from a2r_core.model.modeling_a2r import Adapt2Reward

    torch.manual_seed(0)
    model = Adapt2Reward(A2RConfig(embed_dim=32, num_frames=4, image_size=32, patch_size=16, video_width=32,
                                   video_depth=1, video_heads=2, temporal_depth=1, success_head_hidden=32,
                                   tasks=list(TASKS), task_instructions=TASKS))
    return Path(save_checkpoint(model, tmp_path_factory.mktemp("mw_ckpt") / "given-a2r"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, checkpoint) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("mw_eval")
    raw = {"rows": ["a2r", "bce_only", "oracle", "random"], "progress": False, "train": TINY_TRAIN,
           "metaworld": {"generate": GENERATE, "checkpoints": {"a2r": str(checkpoint)},
                         "best_of_n": {"tasks": ["drawer-close-v3"], "other_tasks": ["button-press-v3"],
                                       "seeds": [1000], "horizon": 150},
                         "best_of_n_new_tasks": {"tasks": ["door-close-v3"], "other_tasks": ["window-close-v3"],
                                                 "policies": ["expert", "other_experts", "random"],
                                                 "seeds": [1001], "horizon": 150},
                         "mpc": {"rows": ["a2r", "oracle"], "tasks": ["drawer-close-v3"], "seeds": [300],
                                 "max_steps": 15, "cem": {"horizon": 6, "samples": 16, "iterations": 2, "elites": 4,
                                                          "execute_steps": 3, "max_clip_frames": 6}}}}
    out = tmp / "out"
    assert main(["eval", "--config", str(_write(tmp, "mw.yaml", raw)), "--out", str(out), "--no-progress"]) == 0
    return out, _strict_json(out / "results.json")


@pytest.mark.slow  # shares the module's benchmark run (~30-70 s on 2 loaded cores)
def test_metaworld_columns_cells_and_report(run):
    out, res = run
    kinds = {c["key"]: c["kind"] for c in res["columns"]}
    assert kinds == {"metaworld/seen": "seen tasks / seen env",
                     "metaworld/new_envs": "seen tasks / new env",
                     "metaworld/new_envs:cam_left": "seen tasks / new env",
                     "metaworld/new_envs:table_dark": "seen tasks / new env",
                     "metaworld/new_tasks": "new tasks (second domain only)",
                     "metaworld/new_tasks_2": "new tasks (second domain only)",
                     "metaworld/best_of_n": "seen tasks / seen env",
                     "metaworld/best_of_n_new_tasks": "new tasks (second domain only)"}
    counts = {c["key"]: c["n_clips"] for c in res["columns"]}
    # 7 sources x 1 episode per (task, variant); the per-variant columns split new_envs exactly.
    assert counts["metaworld/seen"] == 14 and counts["metaworld/new_tasks"] == 7
    assert counts["metaworld/new_tasks_2"] == 14
    # Seen columns discriminate among every task of the suite, a new-task column among its own tasks.
    candidates = {c["key"]: c["candidate_tasks"] for c in res["columns"] if "candidate_tasks" in c}
    every = sorted(GENERATE["tasks"] + GENERATE["new_tasks"] + GENERATE["new_tasks_2"])
    assert candidates["metaworld/seen"] == every == candidates["metaworld/best_of_n"]
    assert candidates["metaworld/new_tasks"] == ["door-close-v3"] == candidates["metaworld/best_of_n_new_tasks"]
    assert candidates["metaworld/new_tasks_2"] == ["faucet-open-v3", "window-close-v3"]
    assert counts["metaworld/new_envs"] == 28 == counts["metaworld/new_envs:cam_left"] * 2
    # The new-task column holds only tasks the robot never trained on.
    robot_tasks = {r.task for r in read_manifest(out / "data/metaworld/robot/manifest.jsonl")}
    new_tasks = {r.task for r in read_manifest(out / "data/metaworld/test_new_tasks/manifest.jsonl")}
    new_tasks_2 = {r.task for r in read_manifest(out / "data/metaworld/test_new_tasks_2/manifest.jsonl")}
    alt_tasks = {r.task for r in read_manifest(out / "data/metaworld/alt/manifest.jsonl")}
    assert robot_tasks == set(GENERATE["tasks"]) and new_tasks == {"door-close-v3"}
    assert new_tasks_2 == set(GENERATE["new_tasks_2"]) and new_tasks | new_tasks_2 <= alt_tasks
    for row in res["rows"]:
        for key in kinds:
            cell = res["cells"][row][key]
            for metric in ("auroc", "instruction_top1", "best_of_n"):
                assert cell[metric] is None or 0.0 <= cell[metric] <= 1.0, (row, key, metric)
            assert cell["value_order_spearman"] is None or -1.0 <= cell["value_order_spearman"] <= 1.0
            if row != "oracle":  # learned and random scores are defined for every clip and instruction
                assert cell["auroc"] is not None and cell["instruction_top1"] is not None, (row, key)
    # best-of-N: one group of 7 candidates (expert, 1 other expert, 5 failure sources)
    for row in res["rows"]:
        bon = res["cells"][row]["metaworld/best_of_n"]
        assert bon["n_groups"] == 1 and bon["group_size"] == 7 and bon["best_of_n"] is not None
        new = res["cells"][row]["metaworld/best_of_n_new_tasks"]  # expert, 1 other expert, random
        assert new["n_groups"] == 1 and new["group_size"] == 3 and new["best_of_n"] is not None
    md = (out / "results.md").read_text()
    for key in kinds:
        assert key in md
    assert "| metaworld/oracle | drawer-close-v3 | default |" in md
    # the trained row went through the trainer on the generated manifests
    assert (out / "runs/metaworld/bce_only/best/model.safetensors").is_file()
    assert res["train"]["metaworld/bce_only"]["steps"] == 2


@pytest.mark.slow  # shares the module's benchmark run (~30-70 s on 2 loaded cores)
def test_oracle_is_the_recorded_dense_reward(run):
    out, res = run
    records = read_manifest(out / "data/metaworld/test_seen/manifest.jsonl")
    dense = {True: [], False: []}
    for r in records:
        dense[r.success].append(r.extra["dense_reward"])
    cell = res["cells"]["oracle"]["metaworld/seen"]
    assert sorted(cell["plot"]["success_final"]) == pytest.approx(sorted(d[-1] for d in dense[True]))
    assert sorted(cell["plot"]["failure_final"]) == pytest.approx(sorted(d[-1] for d in dense[False]))
    labels = [True] * len(dense[True]) + [False] * len(dense[False])
    assert cell["auroc"] == pytest.approx(metrics.success_auroc([d[-1] for d in dense[True] + dense[False]], labels))
    assert cell["value_order_spearman"] == pytest.approx(metrics.value_order_spearman(dense[True]))
    assert cell["instruction_top1"] is None and "note" not in cell
    # It is the planner's upper bound: MPC on the env's dense reward closes the drawer.
    assert res["mpc"]["metaworld/oracle"]["success_rate"] == 1.0
    assert set(res["mpc"]) == {"metaworld/a2r", "metaworld/oracle"}


@pytest.mark.slow  # shares the module's benchmark run (~30-70 s on 2 loaded cores)
def test_checkpoint_override_is_evaluated_not_retrained(run, checkpoint):
    out, res = run
    assert res["checkpoints"] == {"metaworld/a2r": str(checkpoint)}
    assert "metaworld/a2r" not in res["train"] and not (out / "runs/metaworld/a2r").exists()
    # The a2r cells are that checkpoint's rewards of the test clips for their canonical instruction.
    clips = metaworld_clips(out / "data/metaworld/test_seen")
    scorer = ModelScorer(checkpoint)
    own = sorted({c.instruction for c in clips})
    m = scorer.score(clips, own)
    final = np.array([m[i, own.index(c.instruction)] for i, c in enumerate(clips)])
    labels = np.array([c.success for c in clips])
    cell = res["cells"]["a2r"]["metaworld/seen"]
    assert sorted(cell["plot"]["success_final"]) == pytest.approx(sorted(final[labels]), abs=1e-5)
    assert sorted(cell["plot"]["failure_final"]) == pytest.approx(sorted(final[~labels]), abs=1e-5)


@pytest.mark.slow  # shares the module's benchmark run (~30-70 s on 2 loaded cores)
def test_clips_without_dense_reward_leave_the_oracle_cell_empty(run, tmp_path):
    """Named data directories (the full profile's mode), with a test set made before dense rewards
    were recorded: the oracle's cell is empty with a reason, the other rows are unaffected."""
    out, _ = run
    data = out / "data/metaworld"
    old = tmp_path / "test_seen_old"
    shutil.copytree(data / "test_seen", old)
    records = read_manifest(old / "manifest.jsonl")
    for r in records:
        r.extra.pop("dense_reward")
    write_manifest(old / "manifest.jsonl", records)
    dirs = {k: str(data / k) for k in ("robot", "alt", "val", "test_new_envs", "test_new_tasks", "test_new_tasks_2")}
    raw = {"rows": ["oracle", "random"], "progress": False, "train": TINY_TRAIN,
           "metaworld": {"data": {**dirs, "test_seen": str(old)}, "per_variant": False}}
    res_dir = tmp_path / "out"
    assert main(["eval", "--config", str(_write(tmp_path, "old.yaml", raw)), "--out", str(res_dir)]) == 0
    res = _strict_json(res_dir / "results.json")
    seen = res["cells"]["oracle"]["metaworld/seen"]
    assert seen["auroc"] is None and seen["value_order_spearman"] is None and "dense_reward" in seen["note"]
    assert res["cells"]["oracle"]["metaworld/new_envs"]["auroc"] is not None  # those clips have it
    assert res["cells"]["random"]["metaworld/seen"]["auroc"] is not None
    assert res["cells"]["random"]["metaworld/new_tasks_2"]["n_clips"] == 14  # the optional second set
    assert "dense_reward" in (res_dir / "results.md").read_text()
    assert not (res_dir / "data").exists()  # named directories: nothing generated


def test_missing_data_directory_names_the_generator(tmp_path):
    raw = {"rows": ["oracle"], "progress": False,
           "metaworld": {"data": {"test_seen": str(tmp_path / "nowhere")}}}
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="scripts/generate_default_data.sh") as err:
        from a2r_core.eval.benchmark import run_benchmark

        run_benchmark(load_eval_config(_write(tmp_path, "e.yaml", raw)), out)
    assert "nowhere" in str(err.value)
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))
    raw["metaworld"]["data"] = {"test_new_tasks_2": str(tmp_path / "second")}  # optional, but named: must exist
    with pytest.raises(ConfigError, match="test_new_tasks_2 = .*second"):
        run_benchmark(load_eval_config(_write(tmp_path, "e.yaml", raw)), out)


@pytest.mark.slow  # shares the module's benchmark run (~30-70 s on 2 loaded cores)
def test_single_source_training_data_filter(run):
    out, _ = run
    data = out / "data/metaworld"
    params = {"num_frames": 4, "sources": [{"kind": "manifest", "manifest": str(data / "robot/manifest.jsonl")},
                                           {"kind": "manifest", "manifest": str(data / "alt/manifest.jsonl"),
                                            "success": True}]}
    full = build_dataset("eval_metaworld", dict(params))
    only = build_dataset("eval_metaworld", {**params, "failure_sources": ["early_stop"]})
    kept = [r for r in full.records if r.success or r.domain == "human" or r.failure_source == "early_stop"]
    assert only.records == kept and len(only) < len(full)
    assert any(r.failure_source == "early_stop" for r in only.records)
    item = only[len(only) - 1]
    assert item["index"] == len(only) - 1 and item["frames"].shape[0] == 4


def test_candidate_groups_share_their_start_state():
    clips = metaworld_candidate_groups(["drawer-close-v3"], [7], size=32, frames=4, horizon=150,
                                       policies=["expert", "other_experts", "random"],
                                       other_tasks=["button-press-v3", "drawer-close-v3"])
    assert [c.extra["policy"] for c in clips] == ["expert", "expert:button-press-v3", "random"]
    assert len({c.group for c in clips}) == 1
    for c in clips[1:]:
        assert np.array_equal(c.frames[0], clips[0].frames[0])  # one start state
        assert c.oracle.shape == (4,) and c.frames.shape == (4, 32, 32, 3)
    assert clips[0].success  # the drawer-close expert succeeds (env's own flag)


def test_metaworld_config_errors(tmp_path, checkpoint):
    def load(**mw):
        return load_eval_config(_write(tmp_path, "c.yaml", {"rows": ["a2r", "oracle", "random"], "metaworld": mw}))

    with pytest.raises(ConfigError, match="exactly one"):
        load(generate=GENERATE, data={})
    with pytest.raises(ConfigError, match="exactly one"):
        load()
    with pytest.raises(ConfigError, match="metaworld.rows"):
        load(generate=GENERATE, rows=["dvd"])
    with pytest.raises(ConfigError, match="not a trained row"):
        load(generate=GENERATE, checkpoints={"oracle": str(checkpoint)})
    with pytest.raises(ConfigError, match="not MetaWorld rows"):
        load(generate=GENERATE, rows=["a2r", "oracle"], mpc={"rows": ["random"], "tasks": ["reach-v3"]})
    with pytest.raises(ConfigError, match="train_config"):
        load(generate=GENERATE, train_config=str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="must not share tasks"):
        load(generate={**GENERATE, "new_tasks": ["drawer-close-v3"]})
    with pytest.raises(ConfigError, match="must not share tasks.*door-close-v3"):
        load(generate={**GENERATE, "new_tasks_2": ["door-close-v3"]})
    with pytest.raises(ConfigError, match="best_of_n_new_tasks"):
        load(generate=GENERATE, best_of_n_new_tasks={"tasks": []})
    with pytest.raises(ConfigError, match="reach-v9"):
        load(generate=GENERATE, best_of_n={"tasks": ["reach-v9"]})
