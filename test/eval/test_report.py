"""The report writer on a hand-made results dict: strict JSON, Markdown tables, real PNGs."""

import json

import matplotlib.image as mpimg

from a2r_core.eval.report import write_all


def _results():
    cell = {"auroc": 0.75, "instruction_top1": float("nan"), "value_order_spearman": 0.5, "best_of_n": 1.0,
            "n_clips": 4, "n_success": 2,
            "plot": {"success_final": [0.9, 0.8], "failure_final": [0.1, float("nan")],
                     "success_curve": [0.0, 0.5, 0.9], "failure_curve": None}}
    return {"profile": "test", "rows": ["a2r", "random", "oracle"], "oracle_tasks": ["push_left"],
            "columns": [{"key": "pybullet/default", "suite": "pybullet", "name": "default",
                         "kind": "seen tasks / seen env", "n_clips": 4, "n_success": 2}],
            "cells": {"a2r": {"pybullet/default": cell}, "random": {"pybullet/default": dict(cell, auroc=0.5)}},
            "mpc": {"pybullet/a2r": {"success_rate": 0.5, "episodes": [{"task": "push_left"}, {"task": "push_left"}],
                                     "variant": "default", "seconds": 1.0, "interval": [0.0945, 0.9055],
                                     "own_state_ranking": {"spearman": -0.1, "top1_hit_rate": 0.2, "n_calls": 40}}},
            "train": {"pybullet/a2r": {"metric_name": "auroc_reward", "best_metric": 0.6, "epochs": 1, "steps": 2,
                                       "train_seconds": 1.5}},
            "wall_seconds": 3.0}


def test_report_files_parse(tmp_path):
    paths = write_all(_results(), tmp_path)
    def no_nan(token):
        raise ValueError(token)
    data = json.loads(paths["json"].read_text(), parse_constant=no_nan)
    cell = data["cells"]["a2r"]["pybullet/default"]
    assert cell["instruction_top1"] is None and cell["auroc"] == 0.75
    assert cell["plot"]["failure_final"] == [0.1, None]
    md = paths["markdown"].read_text()
    assert "| a2r | 0.750 |" in md and "| random | 0.500 |" in md  # the AUROC table
    assert "| a2r | n/a |" in md  # undefined top-1
    assert "| oracle | - |" in md and "| oracle | n/a |" not in md  # not run is not undefined
    assert "| pybullet/a2r | push_left | default | 0.500 | [0.095, 0.905] | 2 | -0.100 / 0.200 | 1.0 |" in md
    for key in ("curves", "histograms"):
        img = mpimg.imread(paths[key])
        assert img.ndim == 3 and img.shape[0] > 100


def test_records_flatten_every_cell_with_n_and_intervals(tmp_path):
    from a2r_core.eval.report import records

    res = _results()
    res["planner_view"] = {"metaworld/a2r": {"summary": {"spearman": 0.3, "spearman_where_oracle_varies": float("nan"),
                                                         "top1_hit_rate": 0.5, "n_points": 9}, "episodes": []}}
    recs = records(res)
    auroc = [r for r in recs if r["metric"] == "auroc" and r["row"] == "a2r"]
    assert auroc == [{"metric": "auroc", "row": "a2r", "column": "pybullet/default", "value": 0.75, "n": 4,
                      "interval": None}]
    mpc = [r for r in recs if r["metric"] == "mpc_success"]
    assert mpc[0]["row"] == "a2r" and mpc[0]["n"] == 2 and mpc[0]["interval"] == [0.0945, 0.9055]
    own = {r["metric"]: (r["value"], r["n"]) for r in recs if r["metric"].startswith("mpc_own_state_")}
    assert own == {"mpc_own_state_spearman": (-0.1, 40), "mpc_own_state_top1_hit_rate": (0.2, 40)}
    assert {r["metric"] for r in recs if r["column"] == "metaworld/planner_view"} == {
        "planner_view_spearman", "planner_view_top1_hit_rate"}                 # NaN values are left out
    paths = write_all(res, tmp_path)
    assert json.loads(paths["json"].read_text())["records"] == json.loads(json.dumps(recs))
