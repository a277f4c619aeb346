"""The planner's view of a reward (a2r_core.eval.planner_view) on a real MetaWorld expert episode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from a2r_core.errors import ConfigError
from a2r_core.eval.planner_view import (OwnStateRanking, PlannerViewSettings, measure_episode,
                                        pool_own_state_ranking, summarize)
from a2r_core.planning import RolloutBatch

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


def test_own_state_ranking_compares_scores_with_the_dense_reward_of_each_call():
    dense = np.array([0.1, 0.4, 0.2, 0.9, 0.3, 0.5, 0.0, 0.8])
    batch = RolloutBatch(actions=np.zeros((8, 2, 4)), clips=None, infos=[{"dense_reward": d} for d in dense],
                         successes=np.zeros(8, bool))

    class Scorer:
        needs_frames = False

        def __init__(self, sign: float) -> None:
            self.sign = sign

        def __call__(self, b: RolloutBatch) -> np.ndarray:
            return self.sign * np.array([i["dense_reward"] for i in b.infos])

    good, bad = OwnStateRanking(Scorer(1.0)), OwnStateRanking(Scorer(-1.0))
    assert np.array_equal(good(batch), dense) and good.needs_frames is False
    for _ in range(3):
        bad(batch)
    assert good.summary()["spearman"] == pytest.approx(1.0) and good.summary()["top1_hit_rate"] == 1.0
    assert bad.summary()["spearman"] == pytest.approx(-1.0) and bad.summary()["top1_hit_rate"] == 0.0
    # pooled over scoring calls, not episodes: 1 call at +1, 3 calls at -1
    pooled = pool_own_state_ranking([{"own_state_ranking": good.summary()}, {"own_state_ranking": bad.summary()},
                                     {"task": "oracle rows record none"}])
    assert pooled["n_calls"] == 4 and pooled["spearman"] == pytest.approx(-0.5)
    assert pooled["top1_hit_rate"] == pytest.approx(0.25)
    assert pool_own_state_ranking([{"task": "x"}]) is None
