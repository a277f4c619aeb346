"""The Adapt2Reward module: config validation, preprocessing, feature shapes/normalisation, failure
prompts (gradients, unseen tasks), the a2r-small size budget, and the transformers X-CLIP / CLIP
adapters built from tiny RANDOM configs saved to tmp_path (nothing is downloaded)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from a2r_core.errors import ConfigError
from a2r_core.model import (A2RConfig, Adapt2Reward, load_checkpoint, preprocess_clips, save_checkpoint,
                            uniform_frame_indices)
from a2r_core.reward import RewardModel

TASKS = ["open", "close"]
INSTR = {"open": ["open the drawer", "pull the drawer open"], "close": ["close the drawer"]}


def tiny_config(**kw) -> A2RConfig:
    base = dict(tasks=list(TASKS), task_instructions={k: list(v) for k, v in INSTR.items()}, num_frames=4,
                image_size=32, embed_dim=32, video_width=64, video_depth=1, video_heads=2, temporal_depth=1,
                success_head_hidden=32)
    base.update(kw)
    return A2RConfig(**base)


@pytest.fixture(scope="module")
def model() -> Adapt2Reward:
    torch.manual_seed(0)
    return Adapt2Reward(tiny_config()).eval()


# ---- config -------------------------------------------------------------------------------------
def test_config_round_trips_through_json() -> None:
    cfg = tiny_config(success_head="cosine", unseen_task_prompts="mean")
    again = A2RConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


@pytest.mark.parametrize("kwargs, field", [
    ({"backbone": "resnet"}, "backbone"),
    ({"backbone": "clip"}, "backbone_path"),
    ({"image_size": 40, "patch_size": 16}, "patch_size"),
    ({"embed_dim": 0}, "embed_dim"),
    ({"num_failure_prompts": -1}, "num_failure_prompts"),
    ({"init_temperature": 0.001}, "init_temperature"),
    ({"success_head": "svm"}, "success_head"),
    ({"unseen_task_prompts": "guess"}, "unseen_task_prompts"),
    ({"tasks": ["a", "a"]}, "duplicate"),
    ({"task_instructions": {"zzz": ["x"]}}, "zzz"),
    ({"task_instructions": {"open": ["same"], "close": ["SAME "]}}, "both"),
])
def test_config_rejects_bad_values_naming_the_field(kwargs, field) -> None:
    with pytest.raises(ConfigError, match=field):
        tiny_config(**kwargs)


def test_config_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match="bogus"):
        A2RConfig.from_dict({"bogus": 1})


# ---- preprocessing ------------------------------------------------------------------------------
def test_uniform_frame_indices_cover_first_and_last_frame() -> None:
    assert uniform_frame_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert uniform_frame_indices(2, 4).tolist() == [0, 0, 1, 1]
    assert uniform_frame_indices(5, 1).tolist() == [4]


def test_preprocess_samples_resizes_and_normalises() -> None:
    # Frame i of the clip is filled with value 10*i: the sampled frames show which were picked.
    t, h, w = 7, 20, 30
    clip = (torch.arange(t, dtype=torch.uint8) * 10).view(1, t, 1, 1, 1).expand(2, t, h, w, 3).contiguous()
    out = preprocess_clips(clip, num_frames=3, image_size=16, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert out.shape == (2, 3, 3, 16, 16) and out.dtype == torch.float32
    expected = [(v / 255.0 - 0.5) / 0.25 for v in (0, 30, 60)]  # frames 0, 3, 6
    assert torch.allclose(out[:, :, 0].mean((-1, -2))[0], torch.tensor(expected), atol=1e-5)


def test_model_preprocess_accepts_any_clip_size(model: Adapt2Reward) -> None:
    for shape in [(2, 3, 17, 45, 3), (1, 12, 64, 64, 3)]:
        video = model.preprocess(torch.randint(0, 256, shape, dtype=torch.uint8))
        assert video.shape == (shape[0], 4, 3, 32, 32)


# ---- features -----------------------------------------------------------------------------------
def test_forward_shapes_normalisation_and_prompt_mask(model: Adapt2Reward) -> None:
    video = model.preprocess(torch.randint(0, 256, (3, 6, 40, 40, 3), dtype=torch.uint8))
    out = model(video, ["open the drawer", "close the drawer", "wave"], torch.tensor([0, 1, -1]))
    assert out["video"].shape == (3, 32) and out["text"].shape == (3, 32)
    assert out["failure_text"].shape == (3, 3, 32)
    assert out["success_logit"].shape == (3,) and out["logit_scale"].ndim == 0
    assert out["failure_text_mask"].tolist() == [True, True, False]
    ones = torch.ones(3)
    assert torch.allclose(out["video"].norm(dim=-1), ones, atol=1e-5)
    assert torch.allclose(out["text"].norm(dim=-1), ones, atol=1e-5)
    assert torch.allclose(out["failure_text"][:2].norm(dim=-1), torch.ones(2, 3), atol=1e-5)
    assert out["failure_text"][2].abs().sum() == 0
    # The K failure texts of a task are distinct from each other and from the plain instruction.
    ft = out["failure_text"][0]
    assert (ft @ ft.T - torch.eye(3)).abs().max() < 0.9999
    assert (ft @ out["text"][0]).abs().max() < 0.9999
    assert math.isclose(float(out["logit_scale"].detach()), 1 / 0.07, rel_tol=1e-5)


def test_failure_text_features_deduplicate_without_changing_results(model: Adapt2Reward) -> None:
    ids = torch.tensor([0, 1, 0, 0])
    texts = ["open the drawer", "close the drawer", "open the drawer", "pull the drawer open"]
    batched = model.failure_text_features(ids, texts)
    single = torch.cat([model.failure_text_features(ids[i:i + 1], texts[i:i + 1]) for i in range(4)])
    assert torch.allclose(batched, single, atol=1e-5)
    assert torch.equal(batched[0], batched[2])


def test_gradients_reach_only_the_used_prompt_vectors() -> None:
    torch.manual_seed(0)
    m = Adapt2Reward(tiny_config()).train()
    video = m.preprocess(torch.randint(0, 256, (2, 4, 32, 32, 3), dtype=torch.uint8))
    out = m(video, ["open the drawer", "wave"], torch.tensor([0, -1]))
    # A stand-in fVLC term: pull clip 0 to failure mode 1 of its task.
    logits = out["logit_scale"] * (out["failure_text"][0] @ out["video"][0])
    torch.nn.functional.cross_entropy(logits[None], torch.tensor([1])).backward()
    g = m.prompts.prompts.grad
    assert g is not None and g[0].abs().sum() > 0  # task "open", every mode
    assert all(g[0, k].abs().sum() > 0 for k in range(3))
    assert g[1].abs().sum() == 0  # task "close" was not in the batch
    # The frozen MiniLM text encoder gets no gradient; its projection does.
    assert all(p.grad is None for p in m.backbone.text_model.parameters())
    assert m.backbone.text_proj.weight.grad is not None
    assert not m.backbone.text_model.training  # frozen encoder stays in eval mode under .train()


def test_unseen_tasks_mean_prompts_are_the_task_average() -> None:
    torch.manual_seed(0)
    m = Adapt2Reward(tiny_config(unseen_task_prompts="mean")).eval()
    shared = m.prompts(torch.tensor([-1]))[0]
    assert torch.allclose(shared, m.prompts.prompts.mean(0))
    assert m.prompts.has_prompts(torch.tensor([-1, 0])).tolist() == [True, True]
    assert Adapt2Reward(tiny_config()).prompts.has_prompts(torch.tensor([-1, 0])).tolist() == [False, True]


def test_instruction_lookup_is_case_and_space_normalised(model: Adapt2Reward) -> None:
    assert model.task_for_instruction("  Pull the   DRAWER open ") == "open"
    assert model.instruction_task_index("close the drawer") == 1
    assert model.instruction_task_index("close the drawer please") == -1
    assert model.task_index("open") == 0 and model.task_index("nope") == -1


def test_logit_scale_is_clamped() -> None:
    m = Adapt2Reward(tiny_config(max_logit_scale=50.0))
    with torch.no_grad():
        m.log_logit_scale.fill_(10.0)
    assert float(m.logit_scale.detach()) == 50.0


@pytest.mark.parametrize("kind", ["mlp", "cosine", "video"])
def test_success_heads(kind: str) -> None:
    m = Adapt2Reward(tiny_config(success_head=kind, num_failure_prompts=0))
    v = torch.nn.functional.normalize(torch.randn(5, 32), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(5, 32), dim=-1)
    assert m.success_logit(v, t).shape == (5,)
    out = m(m.preprocess(torch.zeros(2, 4, 32, 32, 3, dtype=torch.uint8)), ["a", "b"], torch.tensor([0, 1]))
    assert out["failure_text"].shape == (2, 0, 32)  # K = 0: the no-failure-prompt baseline


def test_default_small_model_fits_the_25mb_checkpoint_budget() -> None:
    """The shipped default (112 px, 8 frames, 50 tasks x 3 prompts) stays <= 25 MB without MiniLM."""
    tasks = [f"task{i}" for i in range(50)]
    m = Adapt2Reward(A2RConfig(tasks=tasks))
    state = m.persistent_state_dict()
    assert not any(k.startswith("backbone.text_model.") for k in state)
    size = sum(v.numel() * v.element_size() for v in state.values())
    assert size <= 25e6, size
    video = m.preprocess(torch.zeros(1, 8, 112, 112, 3, dtype=torch.uint8))
    assert m.encode_video(video).shape == (1, 256)


def test_motion_input_sees_change_since_the_first_frame_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = Adapt2Reward(tiny_config(motion_input=True)).eval()
    assert m.backbone.video.patch_embed.in_features == 2 * 3 * 16 * 16
    rng = np.random.default_rng(0)
    scene = torch.from_numpy(rng.integers(0, 255, (1, 4, 32, 32, 3), dtype=np.uint8))
    moved = scene.clone()
    moved[:, 1:, 8:16, 8:16] = 255  # something changes after the first frame
    with torch.no_grad():
        static, changed = m.encode_video(m.preprocess(scene)), m.encode_video(m.preprocess(moved))
    assert not torch.allclose(static, changed, atol=1e-4)
    save_checkpoint(m, tmp_path / "ckpt")
    loaded, _, _ = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config.motion_input
    with torch.no_grad():
        assert torch.allclose(loaded.encode_video(loaded.preprocess(moved)), changed, atol=1e-6)


def test_mean_pool_has_no_cls_tokens_and_learns_where_cls_readouts_stall() -> None:
    """Token-mean readouts: no CLS parameters, and a handful of steps already fit labels that
    depend on one image region (the failure mode that made "mean" exist: CLS readouts from scratch
    sit at chance for ~100 steps)."""
    torch.manual_seed(0)
    m = Adapt2Reward(tiny_config(video_pool="mean", motion_input=True))
    names = set(dict(m.named_parameters()))
    assert not any(n.endswith(("cls_token", "temporal_cls")) for n in names)
    assert m.backbone.video.pos_embed.shape[1] == (32 // 16) ** 2
    rng = np.random.default_rng(0)
    clips = torch.from_numpy(rng.integers(0, 60, (16, 4, 32, 32, 3), dtype=np.uint8))
    labels = torch.tensor([i % 2 for i in range(16)], dtype=torch.float32)
    clips[labels.bool(), 2:, :16, :16] = 250  # "the drawer moved" in the success clips' late frames
    head = torch.nn.Linear(32, 1)
    video = m.preprocess(clips)
    opt = torch.optim.AdamW(list(m.backbone.video.parameters()) + list(head.parameters()), lr=1e-3)
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            head(m.backbone.video(video)).squeeze(-1), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
    with pytest.raises(ConfigError, match="video_pool"):
        tiny_config(video_pool="max")


# ---- transformers adapters (tiny random configs, no download) -----------------------------------
def _tiny_tokenizer(directory: Path):
    from transformers import CLIPTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {ch: i for i, ch in enumerate(letters)}
    vocab.update({ch + "</w>": len(letters) + i for i, ch in enumerate(letters)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)  # highest id, as in the real CLIP vocab
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    tok.save_pretrained(str(directory))
    return tok, len(vocab)


def _text_config(vocab_size: int) -> dict:
    return dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=40, bos_token_id=vocab_size - 2,
                eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1)


def make_tiny_clip(directory: Path) -> Path:
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    _, n = _tiny_tokenizer(directory)
    cfg = CLIPConfig(text_config=_text_config(n), projection_dim=16,
                     vision_config=dict(image_size=32, patch_size=16, hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4))
    CLIPModel(cfg).save_pretrained(str(directory))
    return directory


def make_tiny_xclip(directory: Path) -> Path:
    from transformers import XCLIPConfig, XCLIPModel

    torch.manual_seed(0)
    _, n = _tiny_tokenizer(directory)
    cfg = XCLIPConfig(text_config=_text_config(n), projection_dim=16, prompt_layers=1,
                      vision_config=dict(image_size=32, patch_size=16, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_frames=3,
                                         mit_hidden_size=16, mit_intermediate_size=32, mit_num_hidden_layers=1,
                                         mit_num_attention_heads=4))
    XCLIPModel(cfg).save_pretrained(str(directory))
    return directory


@pytest.mark.parametrize("kind, maker, frames", [("clip", make_tiny_clip, 5), ("xclip", make_tiny_xclip, 3)])
def test_hf_adapter_runs_trains_prompts_and_round_trips(tmp_path: Path, kind, maker, frames) -> None:
    src = maker(tmp_path / "pretrained")
    cfg = tiny_config(backbone=kind, backbone_path=str(src), num_frames=5, image_size=224, embed_dim=999)
    m = Adapt2Reward(cfg)
    # Fields fixed by the pretrained model are resolved from it.
    assert (m.config.embed_dim, m.config.image_size, m.config.num_frames) == (16, 32, frames)
    hf = m.backbone.hf
    texts = ["open the drawer", "close it"]
    # Text from token embeddings equals transformers' own get_text_features.
    ids, mask = m.backbone.tokenize(texts)
    ref = torch.nn.functional.normalize(hf.get_text_features(input_ids=ids, attention_mask=mask).pooler_output, dim=-1)
    assert torch.allclose(m.encode_text(texts), ref, atol=1e-5)
    video = m.preprocess(torch.randint(0, 256, (2, 7, 48, 40, 3), dtype=torch.uint8))
    m.train()
    out = m(video, ["open the drawer", "close the drawer"], torch.tensor([0, 1]))
    assert out["video"].shape == (2, 16) and out["failure_text"].shape == (2, 3, 16)
    assert torch.allclose(out["video"].norm(dim=-1), torch.ones(2), atol=1e-5)
    (out["failure_text"] @ out["video"].unsqueeze(-1)).sum().backward()
    assert m.prompts.prompts.grad is not None and m.prompts.prompts.grad.abs().sum() > 0
    # Save -> load (without the original directory) -> identical scores.
    m.eval()
    ckpt = save_checkpoint(m, tmp_path / "ckpt")
    for p in src.iterdir():
        p.unlink()
    src.rmdir()
    loaded, _, _ = load_checkpoint(ckpt)
    clips = np.random.default_rng(0).integers(0, 256, (2, 6, 30, 30, 3), dtype=np.uint8)
    a = RewardModel.from_module(m).score(clips, ["open the drawer", "wave"])
    b = RewardModel.load(ckpt).score(clips, ["open the drawer", "wave"])
    assert np.array_equal(a.reward, b.reward) and np.array_equal(a.failure_mode_probs, b.failure_mode_probs)
    assert loaded.config == m.config


def test_prompts_are_spliced_in_after_the_first_token() -> None:
    """Prompt vectors equal to the word embeddings of "failed to" give exactly the feature of the
    text "failed to open the drawer": the splice point and the attention mask are right."""
    m = Adapt2Reward(tiny_config(prompt_length=2)).eval()
    bb = m.backbone
    ids, _ = bb.tokenize(["failed to"])
    assert ids.shape[1] == 4  # [CLS] failed to [SEP]
    words = bb.token_embeddings(ids)[:, 1:3]
    with torch.no_grad():
        spliced = bb.encode_text_with_prompts(words.expand(2, -1, -1), ["open the drawer", "close it"])
        direct = bb.encode_text(["failed to open the drawer", "failed to close it"])
    assert torch.allclose(spliced, direct, atol=1e-5)
