"""The progress objective (a2r_core.training.progress): its pairs, its reward, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a2r_core.clips import clip_indices
from a2r_core.training.progress import clip_rewards, make_progress_batch, progress_loss


def _episode(t: int, value: int) -> torch.Tensor:
    """A clip whose frame i is filled with value + i (so cuts can be read back)."""
    return (torch.arange(t, dtype=torch.uint8)[:, None, None, None] + value).expand(t, 4, 4, 3).contiguous()


def test_progress_pairs_rank_later_cuts_above_earlier_ones_and_failures_below_successes():
    frames = [_episode(16, 0), _episode(16, 100), _episode(16, 50), _episode(16, 150), _episode(16, 200)]
    did = [True, False, True, True, False]
    robot = [True, True, True, False, True]
    tasks = ["a", "a", "b", "a", "a"]
    sources = [None, "noise", None, None, "random"]
    pb = make_progress_batch(frames, did, robot, tasks, num_frames=8, rng=np.random.default_rng(0),
                             sources=sources, full_fraction=1.0)
    n = len(frames)
    assert all(f.shape == (8, 4, 4, 3) for f in pb.frames)
    assert set(pb.source) == {0, 1, 2, 4}                  # robot successes and robot failures
    everything = frames + pb.frames

    def origin(row: int) -> int:
        return row if row < n else pb.source[row - n]

    for hi, lo in pb.pairs:
        h, l_ = origin(hi), origin(lo)
        if not did[l_]:                                    # a failure (or a cut of it) below a success
            assert did[h] and robot[h] and robot[l_] and tasks[h] == tasks[l_]
            continue
        assert h == l_                                     # both cut from the same episode
        last_hi = int(everything[hi][-1, 0, 0, 0]) - int(frames[h][0, 0, 0, 0])
        last_lo = int(everything[lo][-1, 0, 0, 0]) - int(frames[h][0, 0, 0, 0])
        assert last_lo < last_hi                           # the lower one ends earlier in the task
    assert (0, 1) in pb.pairs and (0, 4) in pb.pairs       # task a's success above task a's failures
    assert not any(origin(h) == 2 and not did[origin(lo)] for h, lo in pb.pairs)  # b is paired with no a failure
    cut_of_1 = n + pb.source.index(1)
    assert (0, cut_of_1) in pb.pairs                       # ... and above a cut of each failure
    again = make_progress_batch(frames, did, robot, tasks, num_frames=8, rng=np.random.default_rng(0),
                                sources=sources, full_fraction=1.0)
    assert again.pairs == pb.pairs                         # seeded
    assert len(set(pb.pairs)) == len(pb.pairs)             # no pair counted twice


def test_attempts_going_nowhere_rank_below_successes_cut_half_way():
    frames = [_episode(16, 0), _episode(16, 100), _episode(16, 200)]
    did, robot, tasks = [True, False, False], [True, True, True], ["a", "a", "a"]
    found = 0
    for seed in range(20):
        pb = make_progress_batch(frames, did, robot, tasks, 8, np.random.default_rng(seed), full_fraction=0.0,
                                 sources=[None, "random", "noise"])
        origin = [0, 1, 2] + pb.source
        for hi, lo in pb.pairs:
            if hi >= 3 and not did[origin[lo]]:            # a cut of the success above a failure
                assert origin[lo] == 1                     # only "random" goes nowhere; "noise" may progress
                assert int(pb.frames[hi - 3][-1, 0, 0, 0]) >= 7  # cut at least half-way
                found += 1
    assert found > 0


def test_the_extra_clips_are_what_the_model_would_sample():
    frames = [_episode(16, 0)]
    pb = make_progress_batch(frames, [True], [True], ["a"], 8, np.random.default_rng(3), full_fraction=0.0)
    for clip in pb.frames:
        values = clip[:, 0, 0, 0].numpy()
        assert values[0] == 0 and len(values) == 8        # starts at the episode's start
        end = int(values.max())
        if values[-1] == end:                              # a prefix: the rule over frames 0..end
            assert values.tolist() == clip_indices(end + 1, 8).tolist()


def test_progress_loss_is_the_mean_pairwise_logistic_loss():
    r = torch.tensor([2.0, 0.0, 1.0], requires_grad=True)
    pairs = torch.tensor([[0, 1], [2, 0]])
    loss = progress_loss(r, pairs)
    expected = (torch.nn.functional.softplus(torch.tensor(-2.0)) + torch.nn.functional.softplus(torch.tensor(1.0))) / 2
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert r.grad[1] > 0 and r.grad[2] < 0                # descent lowers the lower ones, raises the upper ones
    assert progress_loss(r, torch.zeros(0, 2, dtype=torch.long)).item() == 0.0


def test_clip_rewards_are_the_rewards_the_inference_api_gives():
    """The objective ranks exactly what RewardModel.score returns (both modes)."""
    from a2r_core.model import A2RConfig, Adapt2Reward
    from a2r_core.reward import RewardModel

    torch.manual_seed(0)
    cfg = A2RConfig(embed_dim=32, num_frames=4, image_size=16, patch_size=8, video_width=32, video_depth=1,
                    video_heads=2, temporal_depth=1, num_failure_prompts=2, prompt_length=2,
                    success_head_hidden=32, tasks=["a", "b"], task_instructions={"a": ["do a"], "b": ["do b"]})
    model = Adapt2Reward(cfg).eval()
    clips = torch.randint(0, 255, (3, 4, 16, 16, 3), dtype=torch.uint8)
    instructions = ["do a", "do b", "do a"]
    with torch.no_grad():
        feats = model(model.preprocess(clips), instructions, torch.tensor([0, 1, 0]))
    for mode in ("contrast", "cosine"):
        ours = clip_rewards(feats, mode).numpy()
        api = RewardModel.from_module(model, reward_mode=mode).reward_for(clips.numpy(), instructions)
        scale = 1.0 if mode == "contrast" else float(model.logit_scale.detach())
        assert np.allclose(ours, api * scale, atol=1e-4), mode


@pytest.mark.slow
def test_the_progress_objective_makes_rewards_rise_along_held_out_successes(tmp_path):
    """A short training on the synthetic shapes with the progress objective: on held-out success
    clips, later prefixes score higher than earlier ones (mean Spearman > 0.5), and failure clips
    stay below successes (AUROC >= 0.75)."""
    from pathlib import Path

    import yaml
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from a2r_core.cli import main
    from a2r_core.clips import prefix_clip
    from a2r_core.data.synthetic import SyntheticDataset
    from a2r_core.reward import RewardModel

    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "train_synthetic.yaml").read_text())
    cfg["data"]["train"]["num_frames"] = 16   # whole episodes, so prefixes can be cut
    cfg["data"]["val"]["num_frames"] = 16
    cfg["loss"]["progress"] = True
    cfg["model"].update(motion_input=True, video_pool="mean")  # the default checkpoint's readouts
    cfg["runtime"]["progress"] = False
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(path), "--output", str(tmp_path / "run")]) == 0
    model = RewardModel.load(tmp_path / "run" / "best")
    val = SyntheticDataset(**cfg["data"]["val"])
    robot = [i for i, r in enumerate(val.records) if r.domain == "robot"]
    rhos, finals, labels = [], [], []
    for i in robot:
        frames, record = val[i]["frames"].numpy(), val.records[i]
        cuts = [3, 7, 11, 15]
        rewards = model.reward_for([prefix_clip(frames, e, None) for e in cuts], [record.instruction] * len(cuts))
        if record.success:
            rhos.append(spearmanr(cuts, rewards).statistic)
        finals.append(float(rewards[-1]))
        labels.append(record.success)
    print("mean Spearman over success clips", np.mean(rhos), "AUROC", roc_auc_score(labels, finals))
    assert np.mean(rhos) > 0.5
    assert roc_auc_score(labels, finals) >= 0.75
