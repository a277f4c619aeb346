"""The planner's view of a reward (a2r_core.eval.planner_view) on a real MetaWorld expert episode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a2r_core.errors import ConfigError
from a2r_core.eval.planner_view import PlannerViewSettings, measure_episode, summarize

CEM = {"horizon": 4, "samples": 12, "iterations": 1, "elites": 3, "action_repeat": 2, "execute_steps": 2,
       "max_clip_frames": 6}


def test_measure_episode_on_drawer_close_with_a_reward_that_only_looks_at_motion():
    """A reward that prefers clips whose last frame differs most from the first sees motion, not
    progress: the measurement runs, fills every field, and the numbers stay in their ranges."""
    settings = PlannerViewSettings(tasks=["drawer-close-v3"], seeds=[500], image_size=32, points=3,
                                   population=12, cem=CEM)

    def motion(clips: np.ndarray, instructions: list[str]) -> np.ndarray:
        assert clips.dtype == np.uint8 and clips.shape[1] <= 6 and len(instructions) == len(clips)
        return np.abs(clips[:, -1].astype(float) - clips[:, 0].astype(float)).mean(axis=(1, 2, 3))

    ep = measure_episode(motion, "drawer-close-v3", 500, settings)
    assert ep["expert_success"] and ep["expert_steps"] > 5
    assert len(ep["points"]) == 3 and ep["points"][0]["step"] == 0
    for p in ep["points"]:
        assert 1 <= p["expert_rank"] <= 12 and 1 <= p["still_rank"] <= 12
        assert math.isnan(p["spearman"]) or -1 <= p["spearman"] <= 1
        assert p["spread"] >= 0 and p["noise_floor"] >= 0
    s = summarize([ep])
    assert s["n_points"] == 3 and 0 <= s["top1_hit_rate"] <= 1 and s["population"] == 12


def test_summary_means_and_chance():
    pts = [{"spearman": 0.5, "oracle_varies": True, "top1_in_oracle_top_quarter": True, "expert_rank": 2,
            "still_rank": 9, "spread": 1.0, "noise_floor": 0.1},
           {"spearman": float("nan"), "oracle_varies": False, "top1_in_oracle_top_quarter": False,
            "expert_rank": 4, "still_rank": 1, "spread": 0.2, "noise_floor": 0.1}]
    s = summarize([{"points": pts, "population": 10}])
    assert s["spearman"] == 0.5 and s["spearman_where_oracle_varies"] == 0.5
    assert s["top1_hit_rate"] == 0.5 and s["expert_rank_median"] == 3.0 and s["top1_chance"] == 0.25
    assert s["spread_over_noise"] == pytest.approx(6.0)


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="population"):
        PlannerViewSettings(population=5)
    with pytest.raises(ConfigError, match="horizon"):
        PlannerViewSettings(cem={"horizon": 0})
