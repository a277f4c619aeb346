"""RewardModel.score: the documented formula, variable-size clips, unseen instructions, input
errors, caching, the bf16 path against fp32, and loading errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from a2r_core.errors import CheckpointError, ConfigError, InputError
from a2r_core.images import resize_frames
from a2r_core.model import A2RConfig, Adapt2Reward, save_checkpoint
from a2r_core.reward import RewardModel, RewardOutput

SEEN = ["open the drawer", "close the drawer"]
UNSEEN = "wave at the camera"


@pytest.fixture(scope="module")
def model() -> Adapt2Reward:
    torch.manual_seed(0)
    cfg = A2RConfig(tasks=["open", "close"], task_instructions={"open": [SEEN[0]], "close": [SEEN[1]]},
                    num_frames=4, image_size=32, embed_dim=32, video_width=64, video_depth=1, video_heads=2,
                    success_head_hidden=32)
    m = Adapt2Reward(cfg).eval()
    with torch.no_grad():  # a non-trivial success head (it is initialised to output 0)
        for p in m.success_head.parameters():
            p.normal_(std=0.5)
    return m


@pytest.fixture()
def clips() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, shape, dtype=np.uint8)
            for shape in [(6, 40, 50, 3), (3, 24, 24, 3), (6, 40, 50, 3), (11, 64, 48, 3)]]


def reference(model: Adapt2Reward, clip: np.ndarray, instruction: str, contrast: bool = False):
    """The formula of reward.py's docstring, computed directly from the module's features."""
    with torch.no_grad():
        # RewardModel shrinks frames larger than the model in uint8 first (images.resize_frames)
        v = model.encode_video(model.preprocess(torch.from_numpy(resize_frames(clip, model.config.image_size))[None]))[0]
        t = model.encode_text([instruction])[0]
        s = float(model.logit_scale)
        task = model.instruction_task_index(instruction)
        ft = model.failure_text_features(torch.tensor([task]), [instruction])[0]
        success = torch.sigmoid(model.success_logit(v[None], t[None]))[0]
        probs = torch.softmax(s * (ft @ v), 0) if task >= 0 else torch.zeros(3)
        if contrast:
            reward = torch.log_softmax(s * torch.cat([(v @ t)[None], ft @ v]), 0)[0]
        else:
            reward = v @ t
    return float(reward), float(success), probs.numpy()


def test_score_variable_size_clips_matches_the_formula(model, clips) -> None:
    rm = RewardModel.from_module(model, model_id="tiny")
    out = rm.score(clips, SEEN + [UNSEEN])
    assert isinstance(out, RewardOutput)
    assert out.reward.shape == (4, 3) and out.reward.dtype == np.float32
    assert out.success_prob.shape == (4, 3) and out.success_prob.dtype == np.float32
    assert out.failure_mode_probs.shape == (4, 3, 3) and out.failure_mode_probs.dtype == np.float32
    assert out.most_likely_failure_mode.shape == (4, 3) and out.most_likely_failure_mode.dtype == np.int32
    for b, clip in enumerate(clips):
        for i, text in enumerate(SEEN + [UNSEEN]):
            r, p, modes = reference(model, clip, text)
            assert out.reward[b, i] == pytest.approx(r, abs=1e-5)
            assert out.success_prob[b, i] == pytest.approx(p, abs=1e-5)
            np.testing.assert_allclose(out.failure_mode_probs[b, i], modes, atol=1e-5)
    # Seen instructions: a distribution over K modes; unseen (omit policy): zeros and -1.
    np.testing.assert_allclose(out.failure_mode_probs[:, :2].sum(-1), 1.0, atol=1e-5)
    assert (out.most_likely_failure_mode[:, :2] == out.failure_mode_probs[:, :2].argmax(-1)).all()
    assert (out.failure_mode_probs[:, 2] == 0).all() and (out.most_likely_failure_mode[:, 2] == -1).all()
    assert not np.isnan(out.failure_mode_probs).any()
    assert ((out.success_prob >= 0) & (out.success_prob <= 1)).all()
    assert len(set(np.round(out.success_prob.ravel(), 6))) > 1  # the head is really evaluated
    assert rm.num_frames == 4 and rm.model_id == "tiny"


def test_contrast_mode_matches_the_formula(model, clips) -> None:
    out = RewardModel.from_module(model, reward_mode="contrast").score(clips[:2], SEEN)
    for b in range(2):
        for i, text in enumerate(SEEN):
            assert out.reward[b, i] == pytest.approx(reference(model, clips[b], text, contrast=True)[0], abs=1e-4)
    assert (out.reward <= 0).all()
    # Unseen instructions use the task-mean prompts in contrast mode: finite, non-zero.
    unseen = RewardModel.from_module(model, reward_mode="contrast").score(clips[:2], [UNSEEN]).reward
    assert np.isfinite(unseen).all() and (unseen < 0).all()


def test_grounded_mode_matches_the_formula_and_compares_instructions_by_cosine(model, clips) -> None:
    """reward = s v.t - logsumexp(s [v.t, v.t_f (own), v.b (the other tasks' instruction and failure
    texts)]); with one shared bank, two instructions on a clip differ by the sign of their cosines."""
    grounded = RewardModel.from_module(model, reward_mode="grounded")
    out = grounded.score(clips, SEEN + [UNSEEN])
    cosine = RewardModel.from_module(model, reward_mode="cosine").score(clips, SEEN + [UNSEEN]).reward
    with torch.no_grad():
        s = float(model.logit_scale)
        bank = {task: torch.cat([model.encode_text([text]),
                                 model.failure_text_features(torch.tensor([model.task_index(task)]), [text])[0]])
                for task, text in (("open", SEEN[0]), ("close", SEEN[1]))}
        mean = model.failure_text_features(torch.tensor([-1]), [UNSEEN])[0]
        for b, clip in enumerate(clips):
            v = model.encode_video(model.preprocess(torch.from_numpy(resize_frames(clip, 32))[None]))[0]
            for i, (text, task) in enumerate(((SEEN[0], "open"), (SEEN[1], "close"), (UNSEEN, None))):
                t = model.encode_text([text])[0]
                own = mean if task is None else bank[task][1:]
                others = torch.cat([f for k, f in bank.items() if k != task])
                expected = torch.log_softmax(s * torch.cat([(v @ t)[None], own @ v, others @ v]), 0)[0]
                assert out.reward[b, i] == pytest.approx(float(expected), abs=1e-4)
    assert (out.reward <= 0).all() and np.isfinite(out.reward).all()
    # The two seen instructions share every denominator term but their own texts, which each
    # denominator holds once: which of them a clip prefers follows the cosine, unlike "contrast".
    np.testing.assert_array_equal(out.reward[:, 0] > out.reward[:, 1], cosine[:, 0] > cosine[:, 1])


def test_grounded_mode_needs_known_tasks() -> None:
    cfg = A2RConfig(tasks=["open"], num_frames=4, image_size=32, embed_dim=32, video_width=64, video_depth=1,
                    video_heads=2, success_head_hidden=32)
    with pytest.raises(ConfigError, match="grounded"):
        RewardModel.from_module(Adapt2Reward(cfg), reward_mode="grounded")


def test_batch_array_equals_list_equals_one_by_one(model, clips) -> None:
    rm = RewardModel.from_module(model, batch_size=2)
    same = np.stack([clips[0], clips[2]])
    batched = rm.score(same, SEEN)
    listed = rm.score([clips[0], clips[2]], SEEN)
    single = [rm.score(c[None], SEEN) for c in same]
    np.testing.assert_allclose(batched.reward, listed.reward, atol=1e-6)
    np.testing.assert_allclose(batched.reward, np.concatenate([s.reward for s in single]), atol=1e-5)
    np.testing.assert_allclose(batched.success_prob, np.concatenate([s.success_prob for s in single]), atol=1e-5)
    read_only = same.copy()
    read_only.flags.writeable = False  # e.g. frames from np.frombuffer on a ROS message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(rm.score(read_only, SEEN).reward, batched.reward, atol=1e-6)


def test_instruction_lookup_and_cache(model, clips) -> None:
    rm = RewardModel.from_module(model, cache_size=2)
    a = rm.score(clips[:1], ["  OPEN the   drawer"])
    b = rm.score(clips[:1], [SEEN[0]])
    np.testing.assert_allclose(a.failure_mode_probs, b.failure_mode_probs, atol=1e-6)
    assert a.most_likely_failure_mode[0, 0] >= 0
    rm.score(clips[:1], SEEN + [UNSEEN])  # three at once: the cache may exceed its size for one call
    rm.score(clips[:1], [SEEN[0]])
    assert len(rm._cache) == 2 and list(rm._cache)[-1] == SEEN[0]
    again = rm.score(clips[:1], [SEEN[0]])
    np.testing.assert_array_equal(again.reward, b.reward)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((1, 4, 8, 8, 3), dtype=np.float32), "uint8"),
    (np.zeros((4, 8, 8, 3), dtype=np.uint8), r"\[B, T, H, W, 3\]"),
    (np.zeros((1, 4, 8, 8, 4), dtype=np.uint8), r"\[B, T, H, W, 3\]"),
    (np.zeros((1, 0, 8, 8, 3), dtype=np.uint8), "empty"),
    ([], "no clips"),
    ([np.zeros((4, 8, 8, 3), dtype=np.uint8), np.zeros((4, 8, 3), dtype=np.uint8)], r"clips\[1\]"),
    ([np.zeros((4, 8, 8, 3), dtype=np.int64)], r"clips\[0\]: expected dtype uint8"),
    ("frames", "sequence"),
])
def test_bad_clips_raise_input_error(model, bad, match) -> None:
    with pytest.raises(InputError, match=match):
        RewardModel.from_module(model).score(bad, SEEN)


@pytest.mark.parametrize("bad, match", [("open the drawer", "sequence of strings"), ([], "no instructions"),
                                        (["ok", ""], "instruction 1 is empty"), ([3], "instruction 0 is empty"),
                                        (["x" * 513], r"instruction 0 is 513 characters long \(max 512\)")])
def test_bad_instructions_raise_input_error(model, clips, bad, match) -> None:
    with pytest.raises(InputError, match=match):
        RewardModel.from_module(model).score(clips[:1], bad)


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_fused_uint8_path_equals_preprocess_then_encode(model, dtype) -> None:
    """Clips at the input size skip the float preprocessing (encode_clips -> encode_uint8_clips):
    bit-identical features to encode_video(preprocess(...)), with frame resampling (T' != T)."""
    rng = np.random.default_rng(4)
    size = model.config.image_size
    for frames in (4, 7, 2):
        clips = torch.from_numpy(rng.integers(0, 256, size=(3, frames, size, size, 3), dtype=np.uint8))
        assert model.backbone.encode_uint8_clips(clips) is not None  # the fused path really runs
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            fused = model.encode_clips(clips).float()
            reference_path = model.encode_video(model.preprocess(clips)).float()
        torch.testing.assert_close(fused, reference_path, rtol=0, atol=0)
    rm = RewardModel.from_module(model)
    clip = rng.integers(0, 256, size=(5, size, size, 3), dtype=np.uint8)
    assert rm.score([clip], SEEN[:1]).reward[0, 0] == pytest.approx(reference(model, clip, SEEN[0])[0], abs=1e-6)
    assert model.backbone.encode_uint8_clips(torch.zeros(1, 4, size + 8, size, 3, dtype=torch.uint8)) is None


def test_default_chunk_size_depends_on_dtype(model) -> None:
    assert RewardModel.from_module(model).batch_size == 8
    assert RewardModel.from_module(model, dtype="bfloat16").batch_size == 16
    assert RewardModel.from_module(model, batch_size=3).batch_size == 3


def test_uint8_resize_of_large_frames_stays_close_to_resizing_in_float(model) -> None:
    """Large frames are shrunk in uint8 (the node does it on arrival); the float path of the
    model's preprocessing differs only by the rounding of each resized pixel."""
    rng = np.random.default_rng(3)
    clips = rng.integers(0, 256, size=(3, 4, 96, 128, 3), dtype=np.uint8)
    clips[:, :, :, 40:52] = 255
    out = RewardModel.from_module(model).score(clips, SEEN)
    with torch.no_grad():
        v = model.encode_video(model.preprocess(torch.from_numpy(clips)))  # resized in float
        t = model.encode_text(SEEN)
    float_path = (v @ t.T).numpy()
    np.testing.assert_allclose(out.reward, float_path, atol=5e-3)
    assert not np.array_equal(out.reward, float_path)  # the uint8 path really ran


def test_bfloat16_stays_close_to_float32(model, clips) -> None:
    """bf16 autocast on CPU: reward within 0.02 (cosine units), probabilities within 0.03."""
    fp32 = RewardModel.from_module(model).score(clips, SEEN + [UNSEEN])
    bf16 = RewardModel.from_module(model, dtype="bfloat16").score(clips, SEEN + [UNSEEN])
    assert bf16.reward.dtype == np.float32
    np.testing.assert_allclose(bf16.reward, fp32.reward, atol=0.02)
    np.testing.assert_allclose(bf16.success_prob, fp32.success_prob, atol=0.03)
    np.testing.assert_allclose(bf16.failure_mode_probs, fp32.failure_mode_probs, atol=0.03)
    assert not np.array_equal(bf16.reward, fp32.reward)  # the bf16 path really ran in bf16


def test_bad_options_and_load_errors(model, tmp_path) -> None:
    with pytest.raises(ConfigError, match="dtype"):
        RewardModel.from_module(model, dtype="float16")
    with pytest.raises(ConfigError, match="reward_mode"):
        RewardModel.from_module(model, reward_mode="best")
    no_prompts = Adapt2Reward(A2RConfig(num_failure_prompts=0, num_frames=2, image_size=32, video_width=32,
                                        video_depth=1, video_heads=1))
    with pytest.raises(ConfigError, match="contrast"):
        RewardModel.from_module(no_prompts, reward_mode="contrast")
    out = RewardModel.from_module(no_prompts).score(np.zeros((2, 3, 16, 16, 3), np.uint8), ["push the cup"])
    assert out.failure_mode_probs.shape == (2, 1, 0) and (out.most_likely_failure_mode == -1).all()
    with pytest.raises(CheckpointError, match="does not exist"):
        RewardModel.load(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="a2r-test/not-cached.*hub"):
        RewardModel.load("a2r-test/not-cached")
    path = save_checkpoint(model, tmp_path / "ck")
    assert RewardModel.load(str(path), dtype="bfloat16").dtype == "bfloat16"


@pytest.mark.slow
def test_compiled_model_scores_as_the_eager_one(model, clips) -> None:
    """RewardModel(compile=True) (torch.compile of the video encoder, opt-in) gives the eager
    scores up to float rounding, on a copy: the eager module stays eager."""
    import copy

    eager = RewardModel.from_module(model)
    compiled = RewardModel.from_module(copy.deepcopy(model), compile=True)
    assert compiled.compiled and not eager.compiled
    same_size = np.stack([c[:4, :32, :32] for c in clips if c.shape[0] >= 4 and min(c.shape[1:3]) >= 32])
    a, b = eager.score(same_size, SEEN), compiled.score(same_size, SEEN)
    np.testing.assert_allclose(b.reward, a.reward, atol=1e-4)
    np.testing.assert_allclose(b.success_prob, a.success_prob, atol=1e-4)
