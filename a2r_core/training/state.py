"""Training state <-> (tensors, JSON), so a checkpoint holds everything exact resume needs.

Why not `torch.save(optimizer.state_dict())`: checkpoints are safetensors + JSON only (no pickle).
The optimizer's per-parameter tensors go into the checkpoint's safetensors under "optim/..." keys,
its hyper-parameters, the LR scheduler's state, the RNG states, epoch/step and the cluster metadata
into its JSON. Python floats survive JSON exactly (shortest repr round-trips), so nothing is lost.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from a2r_core.clustering import ClusterState
from a2r_core.errors import CheckpointError

OPTIM_PREFIX = "optim/"
CLUSTER_PREFIX = "clusters/"
DVD_PREFIX = "dvd_head/"
RNG_KEY = "rng/torch"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, json) for `optimizer.state_dict()`; inverse of `optimizer_from_tensors`."""
    sd = optimizer.state_dict()
    tensors = {}
    for pid, pstate in sd["state"].items():
        for key, value in pstate.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            tensors[f"{OPTIM_PREFIX}{pid}/{key}"] = value.detach().cpu().contiguous()
    return tensors, {"param_groups": _jsonable(sd["param_groups"])}


def optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if not name.startswith(OPTIM_PREFIX):
            continue
        pid, key = name[len(OPTIM_PREFIX):].split("/", 1)
        state.setdefault(int(pid), {})[key] = value
    groups = meta["param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"optimizer state does not match the model being trained: {exc}") from exc


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """torch (CPU + CUDA), numpy legacy and Python `random` states."""
    tensors = {RNG_KEY: torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda{i}"] = s
    np_state = np.random.get_state()
    py_state = random.getstate()
    meta = {"numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "python": [py_state[0], list(py_state[1]), py_state[2]]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    torch.set_rng_state(tensors[RNG_KEY])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda"))]
        if states:
            torch.cuda.set_rng_state_all(states)
    n = meta["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    p = meta["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def clusters_to_tensors(state: ClusterState) -> tuple[dict[str, torch.Tensor], dict]:
    arrays, meta = state.to_arrays()
    return {CLUSTER_PREFIX + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}, meta


def clusters_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> ClusterState:
    arrays = {k[len(CLUSTER_PREFIX):]: v.numpy() for k, v in tensors.items() if k.startswith(CLUSTER_PREFIX)}
    missing = {"cluster_centroids", "cluster_valid", "cluster_clip_index", "cluster_clip_label"} - set(arrays)
    if missing:
        raise CheckpointError(f"cluster state incomplete: missing tensors {sorted(CLUSTER_PREFIX + m for m in missing)}")
    return ClusterState.from_arrays(arrays, meta)


def module_to_tensors(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def module_from_tensors(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(sd)
    except RuntimeError as exc:
        raise CheckpointError(f"{prefix.rstrip('/')} weights do not match: {exc}") from exc
