"""Row names, and the non-trained rows' scorers on real PyBullet clips."""

import numpy as np
import pytest

from a2r_core.errors import ConfigError
from a2r_core.eval.clips import pybullet_clips
from a2r_core.eval.online import best_of_n, candidate_groups
from a2r_core.eval.rows import OracleScorer, RandomScorer, parse_row


def test_parse_row_names():
    assert parse_row("a2r").objective == "a2r"
    assert parse_row("bce_only").output == "success_prob"
    assert parse_row("dvd").output == "dvd"
    assert parse_row("a2r_k4").num_failure_prompts == 4
    assert parse_row("single_source:noise").failure_sources == ("noise",)
    assert parse_row("oracle").kind == "oracle"
    for bad in ("a2r_k0", "k3", "single_source:", "orcale"):
        with pytest.raises(ConfigError):
            parse_row(bad)


def test_pybullet_candidate_group_labels_oracle_and_best_of_n():
    clips = pybullet_clips(["push_left"], "default", [3], steps=28, render_every=4, image_size=32)
    # expert + 3 other experts + noise + early_stop + random, one start state
    assert len(clips) == 7 and candidate_groups(clips).shape == (1, 7)
    expert = [c for c in clips if c.extra["policy"] == "expert"][0]
    assert expert.success and expert.frames.shape == (8, 32, 32, 3) and expert.frames.dtype == np.uint8
    assert expert.oracle.shape == (8,) and expert.oracle[-1] > expert.oracle[0]
    assert not any(c.success for c in clips if c.source in ("wrong_direction", "early_stop", "random"))
    prefix = expert.prefix(3)
    assert prefix.frames.shape[0] == 3 and prefix.oracle.shape == (3,)

    instr = [expert.instruction, "push the block to the right"]
    oracle = OracleScorer().score(clips, instr)
    assert np.isnan(oracle[:, 1]).all()  # no recorded value for another instruction
    assert best_of_n(oracle[:, 0], clips)["best_of_n"] == 1.0
    rand = RandomScorer(0).score(clips, instr)
    assert rand.shape == (7, 2) and ((rand >= 0) & (rand < 1)).all()


def test_progress_rows_add_the_progress_objective_to_a_trained_row():
    from a2r_core.eval.rows import parse_row

    row = parse_row("a2r+progress")
    assert row.kind == "trained" and row.objective == "a2r" and row.progress and row.name == "a2r+progress"
    assert parse_row("no_failure_data+progress").objective == "no_failure_data"
    assert not parse_row("a2r").progress
    for bad in ("dvd+progress", "random+progress", "oracle+progress"):
        with pytest.raises(ConfigError, match="progress"):
            parse_row(bad)


def test_branch_rows_add_branch_pairs_to_the_progress_recipe(tmp_path):
    from a2r_core.eval.benchmark import EvalConfig, SyntheticSuite
    from a2r_core.eval.metaworld import MetaWorldData
    from a2r_core.eval.rows import parse_row

    row = parse_row("a2r+branches")
    assert (row.name, row.objective, row.progress, row.branches) == ("a2r+branches", "a2r", True, True)
    assert not parse_row("a2r+progress").branches
    with pytest.raises(ConfigError, match="progress"):
        parse_row("dvd+branches")
    with pytest.raises(ConfigError, match="a2r data branches"):
        MetaWorldData(branches=None).branch_manifest()
    with pytest.raises(ConfigError, match="a2r data branches"):
        MetaWorldData(branches=str(tmp_path)).branch_manifest()
    (tmp_path / "manifest.jsonl").write_text("")
    assert MetaWorldData(branches=str(tmp_path)).branch_manifest() == tmp_path / "manifest.jsonl"
    with pytest.raises(ConfigError, match="MetaWorld suite"):
        EvalConfig(synthetic=SyntheticSuite()).train_config(row, "synthetic", {"num_frames": 8}, {"num_frames": 8})
    loop = parse_row("a2r+loop")
    assert (loop.progress, loop.branches, loop.loop) == (True, True, 1)
    assert parse_row("a2r+loop2").loop == 2 and parse_row("a2r+loop2").branches
    with pytest.raises(ConfigError, match="unknown row"):
        parse_row("a2r+loop1x")
    iv = parse_row("a2r+loop3+interventions")
    assert (iv.loop, iv.branches, iv.interventions, iv.name) == (3, True, True, "a2r+loop3+interventions")
    with pytest.raises(ConfigError, match="needs a \\+loop row"):
        parse_row("a2r+branches+interventions")
    tb = parse_row("a2r+loop4+interventions+taskbank@grounded")
    assert (tb.loop, tb.interventions, tb.task_bank, tb.reward_mode) == (4, True, True, "grounded")
    with pytest.raises(ConfigError, match="\\+taskbank fine-tunes"):
        parse_row("a2r+loop4+taskbank")
    with pytest.raises(ConfigError, match="give the trained checkpoint"):
        EvalConfig(synthetic=SyntheticSuite()).train_config(loop, "synthetic", {"num_frames": 8}, {"num_frames": 8})


def test_rows_option_keeps_only_the_selected_rows_of_a_config():
    from pathlib import Path

    from a2r_core.eval.benchmark import load_eval_config

    path = Path(__file__).resolve().parents[2] / "config" / "eval_planning.yaml"
    cfg = load_eval_config(path, rows=["random", "a2r+branches"])
    assert cfg.rows == ["a2r+branches", "random"]                 # the config's order
    assert cfg.metaworld.rows == ["a2r+branches", "random"]
    assert cfg.metaworld.mpc.rows == ["a2r+branches", "random"]
    assert set(cfg.metaworld.checkpoints) == {"a2r+branches"}
    assert load_eval_config(path).rows == load_eval_config(path, rows=None).rows
    with pytest.raises(ConfigError, match="not rows of this config"):
        load_eval_config(path, rows=["dvd"])


def test_a_loop_row_is_scored_from_its_given_checkpoint_without_a_training_config(tmp_path):
    from pathlib import Path

    from a2r_core.eval.benchmark import _build_scorer, load_eval_config
    from a2r_core.eval.rows import ModelScorer

    repo = Path(__file__).resolve().parents[2]
    cfg = load_eval_config(repo / "config" / "eval_planning.yaml", rows=["a2r+loop"])
    cfg.metaworld.checkpoints["a2r+loop"] = str(repo / "checkpoints" / "a2r-small-metaworld")
    scorer, info = _build_scorer(cfg.specs[0], cfg, "metaworld", {"train": {}, "val": {}}, {}, tmp_path)
    assert isinstance(scorer, ModelScorer) and info["given"]


def test_a_mode_row_scores_its_checkpoint_with_that_reward_mode(tmp_path):
    """ROW@MODE: the same row (training or given checkpoint), scored with another reward_mode."""
    from pathlib import Path

    from a2r_core.eval.benchmark import _build_scorer, load_eval_config

    spec = parse_row("a2r+loop2@grounded")
    assert (spec.loop, spec.reward_mode, spec.output) == (2, "grounded", "reward")
    assert parse_row("a2r").reward_mode is None
    for bad in ("bce_only@grounded", "oracle@cosine", "a2r@sharpest", "a2r@cosine@grounded"):
        with pytest.raises(ConfigError, match="@"):
            parse_row(bad)
    repo = Path(__file__).resolve().parents[2]
    cfg = load_eval_config(repo / "config" / "eval_planning.yaml", rows=["a2r"])
    cfg.specs = [parse_row("a2r@grounded")]
    cfg.metaworld.checkpoints = {"a2r@grounded": str(repo / "checkpoints" / "a2r-small-metaworld")}
    scorer, info = _build_scorer(cfg.specs[0], cfg, "metaworld", {"train": {}, "val": {}}, {}, tmp_path)
    assert info["given"] and scorer.reward_model.reward_mode == "grounded"
