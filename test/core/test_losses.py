"""The losses against values computed by hand (explicit exp/log formulas, not the same code)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from a2r_core.losses import (LossLabels, Objective, ObjectiveConfig, bce_loss, cdc_loss, dvd_loss,
                             DVDPairHead, fvlc_loss, vlc_loss)
from a2r_core.errors import ConfigError

SCALE = 2.0  # logit_scale used by the hand computations


def unit(*xs: float) -> torch.Tensor:
    v = torch.tensor(xs, dtype=torch.float64)
    return v / v.norm()


def feats(video, text, failure_text=None, mask=None, logit=None) -> dict[str, torch.Tensor]:
    video = torch.stack(video)
    text = torch.stack(text)
    b, d = video.shape
    if failure_text is None:
        failure_text = torch.zeros(b, 2, d, dtype=torch.float64)
    return {"video": video, "text": text, "failure_text": failure_text,
            "failure_text_mask": torch.ones(b, dtype=torch.bool) if mask is None else mask,
            "success_logit": torch.zeros(b, dtype=torch.float64) if logit is None else logit,
            "logit_scale": torch.tensor(SCALE, dtype=torch.float64)}


def labels(task, domain, success, cluster=None) -> LossLabels:
    n = len(task)
    return LossLabels(torch.tensor(task), torch.tensor(domain), torch.tensor(success),
                      torch.tensor(cluster if cluster is not None else [-1] * n))


def lse(*xs: float) -> float:
    return math.log(sum(math.exp(x) for x in xs))


def dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


V = [unit(1, 0, 0), unit(0.6, 0.8, 0), unit(0, 0.6, 0.8)]
T = [unit(0.8, 0.6, 0), unit(0, 1, 0), unit(0, 0, 1)]


def test_cdc_matches_hand_computation() -> None:
    # clip 0: human task 0; clip 1: robot success task 0; clip 2: robot success task 1
    f = feats(V, T)
    lab = labels([0, 0, 1], [0, 1, 1], [True, True, True])
    s01, s02 = SCALE * dot(V[0], V[1]), SCALE * dot(V[0], V[2])
    h2r = -(s01 - lse(s01, s02))                  # human 0 -> robot {1 (pos), 2}
    r2h = -(s01 - lse(s01))                       # robot 1 -> human {0 (pos)}; robot 2 has no positive
    expected = 0.5 * (h2r + r2h)
    assert float(cdc_loss(f, lab)) == pytest.approx(expected, rel=1e-9)
    # a fixed temperature replaces the logit scale
    tau = 0.25
    s01, s02 = dot(V[0], V[1]) / tau, dot(V[0], V[2]) / tau
    assert float(cdc_loss(f, lab, temperature=tau)) == pytest.approx(0.5 * (-(s01 - lse(s01, s02))), rel=1e-9)


def test_cdc_is_zero_not_nan_without_a_domain_and_ignores_failures() -> None:
    f = feats(V, T)
    robot_only = labels([0, 0, 1], [1, 1, 1], [True, False, True])
    out = cdc_loss(f, robot_only)
    assert float(out) == 0.0 and not torch.isnan(out)
    # the failure clip 2 (robot, task 0) must not be a positive for the human clip
    lab = labels([0, 1, 0], [0, 1, 1], [True, True, False])
    assert float(cdc_loss(f, lab)) == 0.0  # no robot success clip shares task 0


def test_vlc_matches_hand_computation_with_failure_negatives() -> None:
    ft = torch.stack([torch.stack([unit(1, 1, 0), unit(0, 0, 1)])] * 3)  # [3, K=2, 3]
    f = feats(V, T, failure_text=ft)
    # clip 0: human task 0; clips 1, 2: robot success tasks 0 and 1
    lab = labels([0, 0, 1], [0, 1, 1], [True, True, True])
    s = lambda i, j: SCALE * dot(V[i], T[j])
    fs = lambda i, k: SCALE * dot(V[i], ft[i, k])
    # human domain: one clip, its own text: v2t and t2v are -log(1) = 0
    human = 0.0
    # robot domain: clips 1, 2 with texts 1, 2; v2t denominators hold each clip's K failure texts
    v2t = 0.5 * (-(s(1, 1) - lse(s(1, 1), s(1, 2), fs(1, 0), fs(1, 1)))
                 - (s(2, 2) - lse(s(2, 1), s(2, 2), fs(2, 0), fs(2, 1))))
    t2v = 0.5 * (-(s(1, 1) - lse(s(1, 1), s(2, 1))) - (s(2, 2) - lse(s(1, 2), s(2, 2))))
    robot = 0.5 * (v2t + t2v)
    assert float(vlc_loss(f, lab)) == pytest.approx(0.5 * (human + robot), rel=1e-9)


def test_vlc_duplicate_task_texts_are_positives_not_negatives() -> None:
    f = feats(V[:2], T[:2])
    lab = labels([0, 0], [1, 1], [True, True])
    s = lambda i, j: SCALE * dot(V[i], T[j])
    # both texts belong to the clip's task: loss_i = -1/2 * sum_p log softmax = mean over positives
    v2t = sum(-0.5 * ((s(i, 0) - lse(s(i, 0), s(i, 1))) + (s(i, 1) - lse(s(i, 0), s(i, 1)))) for i in range(2)) / 2
    t2v = sum(-0.5 * ((s(0, j) - lse(s(0, j), s(1, j))) + (s(1, j) - lse(s(0, j), s(1, j)))) for j in range(2)) / 2
    out = vlc_loss(f, lab, failure_negatives=False)
    assert float(out) == pytest.approx(0.5 * (v2t + t2v), rel=1e-9)


def test_vlc_task_bank_adds_every_tasks_text_to_the_video_side() -> None:
    """loss.vlc_task_bank: each clip's video->text softmax also holds one text per task id (its own
    task's row a positive); the text->video side stays in-batch."""
    bank = torch.stack([unit(0, 0.8, 0.6), unit(0.6, 0, 0.8), unit(1, 1, 1)])  # task ids 0, 1, 2
    f = {**feats(V[:2], T[:2]), "task_bank_text": bank}
    lab = labels([0, 1], [0, 0], [True, True])  # two human clips of tasks 0 and 1
    s = lambda i, j: SCALE * dot(V[i], T[j])
    b = lambda i, k: SCALE * dot(V[i], bank[k])
    v2t = 0.5 * sum(-0.5 * ((s(i, i) - lse(s(i, 0), s(i, 1), b(i, 0), b(i, 1), b(i, 2)))
                            + (b(i, i) - lse(s(i, 0), s(i, 1), b(i, 0), b(i, 1), b(i, 2)))) for i in range(2))
    t2v = 0.5 * sum(-(s(j, j) - lse(s(0, j), s(1, j))) for j in range(2))
    out = vlc_loss(f, lab, failure_negatives=False)
    assert float(out) == pytest.approx(0.5 * (v2t + t2v), rel=1e-9)
    assert float(out) != pytest.approx(float(vlc_loss(feats(V[:2], T[:2]), lab, failure_negatives=False)))
    with pytest.raises(ValueError, match="task bank"):
        vlc_loss({**f, "task_bank_text": bank[:1]}, lab)


def test_success_clip_vlc_denominator_holds_its_tasks_failure_texts() -> None:
    ft = torch.stack([torch.stack([unit(1, 1, 0), unit(0, 0, 1)])] * 3).requires_grad_(True)
    f = feats(V, T, failure_text=ft)
    lab = labels([0, 0, 1], [0, 1, 1], [True, True, True])
    base = vlc_loss(f, lab)
    base.backward()
    base = base.detach()
    assert ft.grad is not None and ft.grad[1:].abs().sum() > 0  # robot success rows get gradient
    assert ft.grad[0].abs().sum() == 0                           # the human clip's row does not
    # changing a failure text changes the loss
    ft2 = ft.detach().clone()
    ft2[1, 0] = unit(0.6, 0.8, 0)
    assert float(vlc_loss(feats(V, T, failure_text=ft2), lab)) != pytest.approx(float(base), rel=1e-6)
    # with the mask off, failure texts have no effect (equals the plain VLC)
    off = torch.zeros(3, dtype=torch.bool)
    masked = vlc_loss(feats(V, T, failure_text=ft2, mask=off), lab)
    plain = vlc_loss(feats(V, T, failure_text=ft2), lab, failure_negatives=False)
    assert float(masked.detach()) == pytest.approx(float(plain.detach()), rel=1e-12)
    assert float(masked.detach()) < float(base)  # extra negatives can only add to the loss


def test_fvlc_matches_hand_computation() -> None:
    ft = torch.stack([torch.stack([unit(1, 1, 0), unit(0, 0, 1)])] * 3)
    f = feats(V, T, failure_text=ft)
    # clip 2 is a robot failure of task 0 in cluster 1; clips 0, 1 are successes
    lab = labels([0, 1, 0], [1, 1, 1], [True, True, False], [-1, -1, 1])
    pos = SCALE * dot(V[2], ft[2, 1])
    others = [SCALE * dot(V[2], ft[2, 0])] + [SCALE * dot(V[2], T[j]) for j in range(3)]
    expected = -(pos - lse(pos, *others))
    assert float(fvlc_loss(f, lab)) == pytest.approx(expected, rel=1e-9)
    # unclustered failures contribute nothing
    lab.cluster[:] = -1
    assert float(fvlc_loss(f, lab)) == 0.0


def test_bce_matches_hand_computation_on_robot_clips_only() -> None:
    logit = torch.tensor([3.0, 0.5, -1.0], dtype=torch.float64)
    f = feats(V, T, logit=logit)
    lab = labels([0, 0, 1], [0, 1, 1], [True, True, False])
    sig = lambda x: 1 / (1 + math.exp(-x))
    expected = 0.5 * (-math.log(sig(0.5)) - math.log(1 - sig(-1.0)))
    assert float(bce_loss(f, lab)) == pytest.approx(expected, rel=1e-9)


def test_dvd_pair_labels() -> None:
    torch.manual_seed(0)
    head = DVDPairHead(3, hidden=4).double()
    f = feats(V, T)
    # 0: human task 0, 1: robot success task 0, 2: robot failure task 0
    lab = labels([0, 0, 0], [0, 1, 1], [True, True, False])
    pairs = [(0, 1, 1.0), (1, 0, 1.0), (0, 2, 0.0), (2, 0, 0.0), (1, 2, 0.0), (2, 1, 0.0)]
    with torch.no_grad():
        expected = sum(float(F.binary_cross_entropy_with_logits(head(V[a][None], V[b][None]), torch.tensor([y], dtype=torch.float64)))
                       for a, b, y in pairs) / len(pairs)
        assert float(dvd_loss(f, lab, head)) == pytest.approx(expected, rel=1e-9)


def test_objective_total_is_weighted_sum_and_baselines_select_parts() -> None:
    ft = torch.stack([torch.stack([unit(1, 1, 0), unit(0, 0, 1)])] * 3)
    f = feats(V, T, failure_text=ft, logit=torch.tensor([1.0, 0.2, -0.3], dtype=torch.float64))
    lab = labels([0, 0, 0], [0, 1, 1], [True, True, False], [-1, -1, 0])
    obj = Objective(ObjectiveConfig(weights={"cdc": 2.0, "bce": 0.5}), embed_dim=3)
    total, parts = obj(f, lab)
    assert set(parts) == {"cdc", "vlc", "fvlc", "bce"}
    assert float(total) == pytest.approx(2 * float(parts["cdc"]) + float(parts["vlc"])
                                         + float(parts["fvlc"]) + 0.5 * float(parts["bce"]), rel=1e-9)
    assert set(Objective(ObjectiveConfig("no_failure_data"), 3)(f, lab)[1]) == {"cdc", "vlc"}
    _, bce_parts = Objective(ObjectiveConfig("bce_only"), 3)(f, lab)
    assert set(bce_parts) == {"cdc", "vlc", "bce"}
    assert float(bce_parts["vlc"]) == pytest.approx(float(vlc_loss(f, lab, failure_negatives=False)))
    assert set(Objective(ObjectiveConfig("dvd"), 3).double()(f, lab)[1]) == {"dvd"}


def test_objective_config_validation() -> None:
    with pytest.raises(ConfigError, match="vlc_task_bank"):
        ObjectiveConfig(vlc_task_bank="yes")
    with pytest.raises(ConfigError, match="vlc_task_bank"):
        ObjectiveConfig(objective="dvd", vlc_task_bank=True)
    with pytest.raises(ConfigError, match="objective"):
        ObjectiveConfig("nope")
    with pytest.raises(ConfigError, match="unknown loss"):
        ObjectiveConfig(weights={"xyz": 1.0})
    with pytest.raises(ConfigError, match="temperature"):
        ObjectiveConfig(temperature=0.0)


def test_gradients_reach_failure_prompt_vectors_through_the_real_model() -> None:
    """fVLC and VLC gradients flow into the model's learnable prompt vectors."""
    from a2r_core.model import A2RConfig, Adapt2Reward

    cfg = A2RConfig(tasks=["a", "b"], task_instructions={"a": ["open the box"], "b": ["close the box"]},
                    num_frames=4, image_size=32, embed_dim=32, video_width=32, video_heads=2, video_depth=1)
    model = Adapt2Reward(cfg)
    video = model.preprocess(torch.randint(0, 255, (3, 4, 32, 32, 3), dtype=torch.uint8))
    out = model(video, ["open the box", "close the box", "open the box"], torch.tensor([0, 1, 0]))
    lab = labels([0, 1, 0], [1, 1, 1], [True, True, False], [-1, -1, 1])
    total, _ = Objective(ObjectiveConfig(), cfg.embed_dim)(out, lab)
    total.backward()
    grad = model.prompts.prompts.grad
    assert grad is not None
    # the failure clip's task (row 0) gets the fVLC pull, row 1 the success clip's VLC negatives
    assert float(grad[0].abs().sum()) > 0 and float(grad[1].abs().sum()) > 0
