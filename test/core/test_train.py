"""The trainer end to end on the synthetic dataset: learning, exact resume, torchrun DDP, the CLI."""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from a2r_core.cli import main
from a2r_core.data.synthetic import FAILURE_SOURCES, SyntheticDataset
from a2r_core.errors import ConfigError
from a2r_core.train import train
from a2r_core.training.config import config_from_dict, load_config

REPO = Path(__file__).resolve().parents[2]
# Held-out success-vs-failure AUROC the shipped synthetic config must reach (chance = 0.5). Measured
# values are in docs/training.md.
MIN_LEARNED_AUROC = 0.75

# A tiny model and dataset: seconds per epoch on 2 CPU cores.
TINY: dict = {
    "seed": 0,
    "model": {"embed_dim": 32, "num_frames": 4, "image_size": 16, "patch_size": 8, "video_width": 32,
              "video_depth": 1, "video_heads": 2, "temporal_depth": 1, "num_failure_prompts": 2,
              "prompt_length": 2, "success_head_hidden": 32},
    "data": {"kind": "synthetic",
             "train": {"num_tasks": 3, "robot_tasks": 2, "success_per_task": 4, "failure_per_task": 4,
                       "human_per_task": 3, "num_frames": 4, "size": 16, "seed": 0},
             "val": {"num_tasks": 3, "robot_tasks": 2, "success_per_task": 3, "failure_per_task": 3,
                     "human_per_task": 0, "num_frames": 4, "size": 16, "seed": 1}},
    "sampler": {"batch_human": 2, "batch_success": 2, "batch_failure": 2, "batches_per_epoch": 2},
    "optim": {"epochs": 3, "lr": 1e-3, "warmup_steps": 1},
    "runtime": {"progress": False, "tensorboard": False},
}


def tiny(**overrides) -> dict:
    cfg = copy.deepcopy(TINY)
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    return cfg


def write_yaml(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- the synthetic dataset -----------------------------------------------------------------------

def test_synthetic_dataset_items_records_and_determinism() -> None:
    ds = SyntheticDataset(num_tasks=3, robot_tasks=2, success_per_task=2, failure_per_task=3,
                          human_per_task=2, num_frames=5, size=24, seed=0)
    assert len(ds) == len(ds.records) == 3 * 2 + 2 * (2 + 3)
    item = ds[4]
    assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (5, 24, 24, 3)
    assert item["index"] == 4 and item["task"] == ds.records[4].task
    assert {r.domain for r in ds.records} == {"robot", "human"}
    assert all(r.success for r in ds.records if r.domain == "human")
    assert {r.failure_source for r in ds.records if not r.success} == set(FAILURE_SOURCES)
    assert {r.task for r in ds.records if r.domain == "robot"} < {r.task for r in ds.records}
    assert torch.equal(ds[4]["frames"], ds[4]["frames"])               # rendered from (seed, index)
    other = SyntheticDataset(num_tasks=3, robot_tasks=2, success_per_task=2, failure_per_task=3,
                             human_per_task=2, num_frames=5, size=24, seed=1)
    assert not torch.equal(other[4]["frames"], ds[4]["frames"])        # another seed, another draw
    assert all(r.instruction in ds.task_instructions[r.task] for r in ds.records)
    # the label is in the motion: the task's object travels far along the task direction only in
    # success clips (measured on the pixels of the object's colour, first vs last frame)
    from a2r_core.data.synthetic import task_spec

    for i, rec in enumerate(ds.records):
        spec = task_spec([task_spec(t)["name"] for t in range(3)].index(rec.task))
        frames = ds[i]["frames"].numpy().astype(float)
        near = np.abs(frames - np.array(spec["rgb"])).sum(-1) < 40  # [T, H, W]
        ys, xs = np.mgrid[0:24, 0:24]
        centre = lambda t: np.array([(xs * near[t]).sum(), (ys * near[t]).sum()]) / near[t].sum()
        travel = float((centre(-1) - centre(0)) @ spec["direction"]) / 24
        assert (travel > 0.4) == rec.success, (rec, travel)


# -- configuration -------------------------------------------------------------------------------

def test_config_rejects_unknown_keys_and_missing_validation(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown key.*lrr"):
        config_from_dict(tiny(optim={"lrr": 1.0}), "x.yaml")
    cfg = tiny()
    del cfg["data"]["val"]
    with pytest.raises(ConfigError, match="data.val"):
        config_from_dict(cfg)
    with pytest.raises(ConfigError, match="unknown dataset kind 'nope'"):
        train(config_from_dict(tiny(data={"kind": "nope"})), output_dir=tmp_path / "o")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="model.embed_dim"):
        config_from_dict(tiny(model={"embed_dim": 0}))


def test_config_base_lays_the_file_over_its_base_and_refuses_a_cycle(tmp_path) -> None:
    """`base:` (relative to the file): nested mappings merge, lists and values replace; chains work."""
    write_yaml(tmp_path / "recipe.yaml", tiny(loss={"progress_branch_pairs": 3}))
    (tmp_path / "variants").mkdir()
    write_yaml(tmp_path / "variants" / "bank.yaml", {"base": "../recipe.yaml", "loss": {"vlc_task_bank": True},
                                                     "sampler": {"batch_human": 5}})
    write_yaml(tmp_path / "variants" / "longer.yaml", {"base": "bank.yaml", "optim": {"epochs": 7}})
    base, cfg = load_config(tmp_path / "recipe.yaml"), load_config(tmp_path / "variants" / "longer.yaml")
    assert cfg.loss.vlc_task_bank and cfg.loss.progress_branch_pairs == 3  # merged, kept
    assert (cfg.sampler.batch_human, cfg.sampler.batch_success) == (5, base.sampler.batch_success)
    assert (cfg.optim.epochs, cfg.optim.lr) == (7, base.optim.lr)
    assert cfg.model == base.model and cfg.data == base.data
    write_yaml(tmp_path / "a.yaml", {"base": "b.yaml"})
    write_yaml(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ConfigError, match="leads back to itself"):
        load_config(tmp_path / "a.yaml")
    write_yaml(tmp_path / "missing.yaml", {"base": "nowhere.yaml"})
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_every_shipped_training_config_loads() -> None:
    for path in sorted((REPO / "config").glob("train_*.yaml")):
        load_config(path)


def test_shipped_synthetic_config_loads() -> None:
    cfg = load_config(REPO / "config" / "train_synthetic.yaml")
    assert cfg.data.kind == "synthetic" and cfg.loss.objective == "a2r"
    assert cfg.model.image_size % cfg.model.patch_size == 0


# -- exact resume ----------------------------------------------------------------------------------

def _weights(run: Path) -> dict[str, torch.Tensor]:
    """Model weights plus the extra tensors (optimizer moments, cluster state, RNG) of last/."""
    out = load_file(str(run / "last" / "model.safetensors"))
    out.update({"extra:" + k: v for k, v in load_file(str(run / "last" / "extra.safetensors")).items()})
    return out


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(tmp_path) -> None:
    cfg = tiny(loss={"vlc_task_bank": True})  # the per-step task-bank draws must continue too
    full = train(config_from_dict(copy.deepcopy(cfg)), output_dir=tmp_path / "full")
    part = train(config_from_dict(copy.deepcopy(cfg)), output_dir=tmp_path / "part", stop_after_epochs=1)
    assert part.epochs_done == 1 and full.epochs_done == 3
    after_one_epoch = _weights(tmp_path / "part")
    resumed = train(config_from_dict(copy.deepcopy(cfg)), output_dir=tmp_path / "part", resume=True)
    assert resumed.epochs_done == 3 and resumed.step == full.step
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert a.keys() == b.keys()
    differing = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differing, differing
    # the logs read as one run
    rows = lambda p: list(csv.DictReader((p / "epochs.csv").open()))
    full_rows, part_rows = rows(tmp_path / "full"), rows(tmp_path / "part")
    assert [r["step"] for r in full_rows] == [r["step"] for r in part_rows]
    for key in ("val_auroc_reward", "val_auroc_contrast", "val_auroc_success_prob"):
        assert [r[key] for r in full_rows] == [r[key] for r in part_rows]
    # and training went on after the interruption (the comparison above is not vacuous)
    changed = [k for k in a if not k.startswith("extra:") and not torch.equal(a[k], after_one_epoch[k])]
    assert changed and part.step < full.step


def test_existing_run_needs_resume_and_resume_needs_a_run(tmp_path) -> None:
    cfg = tiny(optim={"epochs": 1})
    train(config_from_dict(copy.deepcopy(cfg)), output_dir=tmp_path / "r")
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config_from_dict(copy.deepcopy(cfg)), output_dir=tmp_path / "r")
    from a2r_core.errors import CheckpointError

    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(config_from_dict(copy.deepcopy(cfg)), output_dir=tmp_path / "empty", resume=True)


# -- baselines -------------------------------------------------------------------------------------

@pytest.mark.parametrize("objective", ["no_failure_data", "bce_only", "dvd"])
def test_baseline_objectives_train_and_validate(tmp_path, objective) -> None:
    cfg = config_from_dict(tiny(loss={"objective": objective}, optim={"epochs": 1}))
    result = train(cfg, output_dir=tmp_path / objective)
    rows = list(csv.DictReader((tmp_path / objective / "steps.csv").open()))
    expected = {"no_failure_data": {"cdc", "vlc"}, "bce_only": {"cdc", "vlc", "bce"}, "dvd": {"dvd"}}[objective]
    assert expected <= set(rows[0]) and not ({"fvlc", "cdc", "vlc", "bce", "dvd"} - expected) & set(rows[0])
    assert np.isfinite(result.best_metric)
    if objective == "dvd":
        assert result.metric_name == "auroc_dvd"
        from a2r_core.model import load_checkpoint

        _, extra, _ = load_checkpoint(tmp_path / objective / "best")
        assert any(k.startswith("dvd_head/") for k in extra)


def test_vlc_task_bank_trains_and_changes_the_vlc_loss(tmp_path) -> None:
    """loss.vlc_task_bank: the same run with every task's text in VLC's softmax logs another VLC."""
    runs = {}
    for bank in (False, True):
        train(config_from_dict(tiny(loss={"vlc_task_bank": bank}, optim={"epochs": 1})), output_dir=tmp_path / str(bank))
        runs[bank] = list(csv.DictReader((tmp_path / str(bank) / "steps.csv").open()))
    assert all(np.isfinite(float(r["vlc"])) for r in runs[True])
    # step 1 starts from the same weights and batch: only the extra texts differ
    assert float(runs[True][0]["vlc"]) > float(runs[False][0]["vlc"])


def test_a2r_objective_with_a_model_without_prompts(tmp_path) -> None:
    """K = 0 (the "K" ablation's lower end): no clustering, fVLC is 0, the cosine reward picks best."""
    cfg = config_from_dict(tiny(model={"num_failure_prompts": 0}, optim={"epochs": 1}))
    result = train(cfg, output_dir=tmp_path / "k0")
    rows = list(csv.DictReader((tmp_path / "k0" / "steps.csv").open()))
    assert all(float(r["fvlc"]) == 0.0 for r in rows)
    assert result.metric_name == "auroc_reward" and np.isfinite(result.best_metric)
    from a2r_core.reward import RewardModel

    assert RewardModel.load(tmp_path / "k0" / "best").reward_mode == "cosine"


def test_val_metric_auroc_grounded_selects_and_stores_the_grounded_reward(tmp_path) -> None:
    """val_metric: auroc_grounded validates with reward_mode "grounded" and the checkpoint scores with it."""
    cfg = config_from_dict(tiny(optim={"epochs": 1}, val_metric="auroc_grounded"))
    result = train(cfg, output_dir=tmp_path / "grounded")
    rows = list(csv.DictReader((tmp_path / "grounded" / "epochs.csv").open()))
    assert result.metric_name == "auroc_grounded" and "val_auroc_grounded" in rows[0]
    assert result.best_metric == pytest.approx(float(rows[0]["val_auroc_grounded"]))
    from a2r_core.reward import RewardModel

    assert RewardModel.load(tmp_path / "grounded" / "best").reward_mode == "grounded"


def test_bf16_autocast_run_trains(tmp_path) -> None:
    """runtime.bf16: the loop runs under bf16 autocast (this CPU has native bf16) with finite losses."""
    from a2r_core.train import _bf16_supported

    result = train(config_from_dict(tiny(optim={"epochs": 1}, runtime={"bf16": True})), output_dir=tmp_path / "bf16")
    rows = list(csv.DictReader((tmp_path / "bf16" / "steps.csv").open()))
    assert rows and all(np.isfinite(float(r["loss"])) for r in rows)
    assert result.epochs_done == 1
    assert _bf16_supported(torch.device("cpu")) == bool(
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


# -- learning --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_synthetic_dataset_is_learned(tmp_path) -> None:
    """The shipped synthetic config: held-out AUROC rises well above chance within a short run,
    and the saved best checkpoint reproduces it through the inference API."""
    from sklearn.metrics import roc_auc_score

    from a2r_core.reward import RewardModel

    shipped = REPO / "config" / "train_synthetic.yaml"
    cfg = load_config(shipped)
    assert cfg.resolved_val_metric == "auroc_contrast"
    run = tmp_path / "run"
    assert main(["train", "--config", str(shipped), "--output", str(run)]) == 0
    rows = list(csv.DictReader((run / "epochs.csv").open()))
    curve = [float(r["val_auroc_contrast"]) for r in rows]
    print("validation auroc_contrast per epoch:", [round(c, 3) for c in curve])
    assert len(rows) == cfg.optim.epochs
    assert curve[0] < 0.65                      # it starts near chance ...
    best = max(curve)
    assert best >= MIN_LEARNED_AUROC, curve     # ... and is learned

    model = RewardModel.load(run / "best", reward_mode="contrast")
    val = SyntheticDataset(**cfg.data.val)
    robot = [i for i, r in enumerate(val.records) if r.domain == "robot"]
    out = model.score([val[i]["frames"].numpy() for i in robot], sorted({val.records[i].instruction for i in robot}))
    uniq = sorted({val.records[i].instruction for i in robot})
    reward = [out.reward[row, uniq.index(val.records[i].instruction)] for row, i in enumerate(robot)]
    auroc = roc_auc_score([val.records[i].success for i in robot], reward)
    assert auroc == pytest.approx(best, abs=2e-6)  # epochs.csv keeps 6 significant digits


# -- the CLI and torchrun --------------------------------------------------------------------------

def test_cli_train_writes_checkpoints_logs_and_plot(tmp_path, capsys) -> None:
    config = write_yaml(tmp_path / "c.yaml", tiny(optim={"epochs": 2}, runtime={"tensorboard": True}))
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    for name in ("best/model.safetensors", "best/config.json", "last/model.safetensors",
                 "steps.csv", "epochs.csv", "curves.png", "train_config.json"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    assert "best auroc_contrast" in capsys.readouterr().out
    assert len(list(csv.DictReader((out / "epochs.csv").open()))) == 2
    # the checkpoint scores, by default, with the reward it was selected on
    from a2r_core.reward import RewardModel

    assert RewardModel.load(out / "best").reward_mode == "contrast"
    assert RewardModel.load(out / "best", reward_mode="cosine").reward_mode == "cosine"
    # a second run into the same directory without --resume is refused with exit code 1
    assert main(["train", "--config", str(config), "--output", str(out)]) == 1
    assert "already holds a run" in capsys.readouterr().err
    # --resume with a longer schedule continues from epoch 2
    assert main(["train", "--config", str(config), "--output", str(out), "--resume", "--epochs", "3"]) == 0
    assert len(list(csv.DictReader((out / "epochs.csv").open()))) == 3


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path) -> None:
    config = write_yaml(tmp_path / "c.yaml", tiny(optim={"epochs": 2}))
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nnodes", "1", "--nproc_per_node", "2", "-m", "a2r_core.cli",
         "train", "--config", str(config), "--output", str(tmp_path / "ddp")],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from a2r_core.reward import RewardModel

    model = RewardModel.load(tmp_path / "ddp" / "best")
    clips = np.stack([SyntheticDataset(**TINY["data"]["val"])[i]["frames"].numpy() for i in range(2)])
    out = model.score(clips, ["push the red block to the right"])
    assert out.reward.shape == (2, 1) and np.isfinite(out.reward).all()
    # each rank trained on its own shard: 2 batches per rank per epoch -> 4 optimizer steps logged
    rows = list(csv.DictReader((tmp_path / "ddp" / "steps.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]


# -- fine-tuning (init_from) -----------------------------------------------------------------------

def test_init_from_starts_from_the_checkpoints_weights_and_refuses_a_mismatch(tmp_path, capsys) -> None:
    from a2r_core.errors import CheckpointError
    from a2r_core.model import load_checkpoint
    from a2r_core.train import Trainer

    train(config_from_dict(tiny(optim={"epochs": 1})), output_dir=tmp_path / "base")
    base = load_checkpoint(tmp_path / "base" / "best")[0].state_dict()

    def first_weights(cfg: dict, out: str) -> dict[str, torch.Tensor]:
        trainer = Trainer(config_from_dict(cfg), output_dir=tmp_path / out)
        try:
            return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        finally:
            trainer.close()

    # another seed: a fresh model differs from the checkpoint, the fine-tuned one starts equal to it
    fresh = first_weights(tiny(seed=5), "fresh")
    tuned = first_weights(tiny(seed=5, init_from=str(tmp_path / "base" / "best")), "tuned")
    learned = [k for k in base if base[k].is_floating_point() and not torch.equal(base[k], fresh[k])]
    assert learned, "the check below would be vacuous"
    assert all(torch.equal(base[k], tuned[k]) for k in base)

    # other robot tasks (each owns a prompt row) or another architecture: refused before training
    other_tasks = tiny(init_from=str(tmp_path / "base" / "best"))
    other_tasks["data"]["train"]["robot_tasks"] = 3
    with pytest.raises(CheckpointError, match="robot tasks"):
        first_weights(other_tasks, "tasks")
    wider = tiny(init_from=str(tmp_path / "base" / "best"))
    wider["model"]["video_width"] = 64
    with pytest.raises(CheckpointError, match="does not match"):
        first_weights(wider, "wider")
    with pytest.raises(ConfigError, match="init_from"):
        config_from_dict(tiny(init_from=""))

    # the CLI flag: a fine-tuning run trains on from the weights and writes its own checkpoints
    config = write_yaml(tmp_path / "c.yaml", tiny(optim={"epochs": 1}))
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "cli"),
                 "--init-from", str(tmp_path / "base" / "best")]) == 0
    assert (tmp_path / "cli" / "best" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "cli" / "train_config.json").read_text())["init_from"] == str(tmp_path / "base" / "best")
    assert main(["train", "--config", str(config), "--output", str(tmp_path / "cli2"),
                 "--init-from", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
