"""Per-task spherical K-means over failure-clip embeddings, with label identity kept across epochs.

Why: each task's K failure prompts P[T, k] should each stand for one *kind* of failure. The failure
clips of a task are clustered on the unit sphere (cosine similarity), and clip i's cluster c picks
the prompt it is pulled to (fVLC). Clustering is re-run at every epoch end on the current
embeddings; K-means labels are arbitrary, so new clusters are matched to the old ones by the
Hungarian algorithm on centroid cosine similarity, and prompt k keeps meaning "failure kind k".

Algorithm (per task): k-means++ seeding (scikit-learn's `kmeans_plusplus`, fixed seed) on the
L2-normalised vectors, then spherical Lloyd iterations: assign each vector to the centroid of
highest cosine, recompute each centroid as the re-normalised mean of its members. An empty cluster
keeps its previous centroid.

Tasks with fewer clips than K (n < K, n >= 1): every clip is its own cluster (n clusters), which are
matched to n of the previous centroids (or take labels 0..n-1 the first time); the remaining
prompts keep their previous centroids (or none) and receive no fVLC pull this epoch. A task with no
failure clips keeps its previous state untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import kmeans_plusplus


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def spherical_kmeans(x: np.ndarray, k: int, seed: int = 0, max_iter: int = 100
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the rows of x [N, D] by cosine into min(k, N) clusters.

    Returns (labels [N] int64, centroids [min(k, N), D] unit-norm float64). Deterministic given seed.
    """
    x = _normalise(np.asarray(x, dtype=np.float64))
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, x.shape[1]))
    if n <= k:
        return np.arange(n, dtype=np.int64), x.copy()
    centroids, _ = kmeans_plusplus(x, n_clusters=k, random_state=seed)
    centroids = _normalise(centroids)
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(max_iter):
        new_labels = np.argmax(x @ centroids.T, axis=1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        counts = np.bincount(labels, minlength=k)
        nonempty = counts > 0
        centroids[nonempty] = _normalise(sums[nonempty])
    return labels, centroids


def match_clusters(old_centroids: np.ndarray, new_centroids: np.ndarray) -> np.ndarray:
    """Map new cluster j -> old slot perm[j] maximising total cosine similarity (Hungarian).

    old [K, D], new [M, D] with M <= K. Returns perm [M] of distinct slot indices in [0, K).
    """
    sim = _normalise(new_centroids) @ _normalise(old_centroids).T  # [M, K]
    rows, cols = linear_sum_assignment(-sim)
    perm = np.empty(new_centroids.shape[0], dtype=np.int64)
    perm[rows] = cols
    return perm


@dataclass
class TaskClusters:
    """One task's clustering: unit centroids [K, D] (rows with valid=False never had a cluster)."""

    centroids: np.ndarray
    valid: np.ndarray


@dataclass
class ClusterState:
    """All tasks' centroids plus each clustered clip's label, keyed by dataset index."""

    num_clusters: int
    tasks: dict[str, TaskClusters] = field(default_factory=dict)
    labels: dict[int, int] = field(default_factory=dict)

    def label_of(self, index: int) -> int:
        """Cluster of the clip at dataset index `index`, -1 if it was never clustered."""
        return self.labels.get(int(index), -1)

    # -- safetensors-friendly form (no pickle): arrays + a JSON-able task list -----------------
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays for safetensors and a JSON dict; the inverse is `from_arrays`."""
        names = sorted(self.tasks)
        dim = next(iter(self.tasks.values())).centroids.shape[1] if names else 0
        centroids = np.zeros((len(names), self.num_clusters, dim), dtype=np.float32)
        valid = np.zeros((len(names), self.num_clusters), dtype=np.uint8)
        for i, name in enumerate(names):
            centroids[i] = self.tasks[name].centroids
            valid[i] = self.tasks[name].valid
        idx = np.array(sorted(self.labels), dtype=np.int64)
        lab = np.array([self.labels[i] for i in idx], dtype=np.int64)
        arrays = {"cluster_centroids": centroids, "cluster_valid": valid,
                  "cluster_clip_index": idx, "cluster_clip_label": lab}
        return arrays, {"num_clusters": self.num_clusters, "tasks": names}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> "ClusterState":
        state = cls(num_clusters=int(meta["num_clusters"]))
        for i, name in enumerate(meta["tasks"]):
            state.tasks[name] = TaskClusters(np.asarray(arrays["cluster_centroids"][i], dtype=np.float64),
                                             np.asarray(arrays["cluster_valid"][i]).astype(bool))
        state.labels = {int(i): int(l) for i, l in zip(arrays["cluster_clip_index"], arrays["cluster_clip_label"])}
        return state


class FailureClusterer:
    """Re-clusters each task's failure clips and keeps prompt identity across calls."""

    def __init__(self, num_clusters: int = 3, seed: int = 0, max_iter: int = 100) -> None:
        if num_clusters < 1:
            raise ValueError(f"num_clusters must be >= 1, got {num_clusters}")
        self.seed = seed
        self.max_iter = max_iter
        self.state = ClusterState(num_clusters=num_clusters)

    @property
    def num_clusters(self) -> int:
        return self.state.num_clusters

    def update(self, features: np.ndarray, indices: np.ndarray, tasks: list[str]) -> ClusterState:
        """Cluster the rows of `features` [N, D] (clip `indices[i]` of task `tasks[i]`) per task.

        Labels of clips not in this call are kept. Returns the new state (also kept in `.state`).
        """
        features = np.asarray(features, dtype=np.float64)
        indices = np.asarray(indices, dtype=np.int64)
        task_arr = np.asarray(tasks, dtype=object)
        k = self.num_clusters
        for task in sorted(set(tasks)):
            rows = np.flatnonzero(task_arr == task)
            labels, centroids = spherical_kmeans(features[rows], k, seed=self.seed, max_iter=self.max_iter)
            old = self.state.tasks.get(task)
            new_state = TaskClusters(np.zeros((k, features.shape[1])), np.zeros(k, dtype=bool))
            if old is not None and old.valid.any():
                slots = np.flatnonzero(old.valid)
                # Match onto previously used slots first; extra new clusters take free slots.
                perm = np.empty(len(centroids), dtype=np.int64)
                if len(centroids) <= len(slots):
                    perm[:] = slots[match_clusters(old.centroids[slots], centroids)]
                else:
                    sub = match_clusters(centroids, old.centroids[slots])  # old slot s -> new row sub[s]
                    perm[sub] = slots
                    free = [s for s in range(k) if s not in set(slots.tolist())]
                    rest = [r for r in range(len(centroids)) if r not in set(sub.tolist())]
                    perm[rest] = free[: len(rest)]
                new_state.centroids[:] = old.centroids
                new_state.valid[:] = old.valid
            else:
                perm = np.arange(len(centroids))
            new_state.centroids[perm] = centroids
            new_state.valid[perm] = True
            self.state.tasks[task] = new_state
            for row, lab in zip(rows, labels):
                self.state.labels[int(indices[row])] = int(perm[lab])
        return self.state
