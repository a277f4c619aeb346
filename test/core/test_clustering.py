"""Spherical K-means per task: planted clusters recovered, label identity kept across re-runs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from a2r_core.clustering import ClusterState, FailureClusterer, match_clusters, spherical_kmeans


def planted(rng: np.random.Generator, k: int = 3, per: int = 30, dim: int = 16, spread: float = 0.15):
    """k well-separated directions on the sphere, `per` noisy unit vectors around each."""
    centres = np.linalg.qr(rng.normal(size=(dim, dim)))[0][:k]  # orthonormal directions
    truth = np.repeat(np.arange(k), per)
    x = centres[truth] + spread * rng.normal(size=(k * per, dim))
    # scale rows arbitrarily: spherical K-means must only care about direction
    x *= rng.uniform(0.1, 10.0, size=(k * per, 1))
    return x, truth, centres


def test_planted_clusters_are_recovered() -> None:
    x, truth, _ = planted(np.random.default_rng(0))
    labels, centroids = spherical_kmeans(x, 3, seed=0)
    assert adjusted_rand_score(truth, labels) >= 0.9
    np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, rtol=1e-9)
    # fixed seed: same answer twice
    labels2, centroids2 = spherical_kmeans(x, 3, seed=0)
    assert np.array_equal(labels, labels2) and np.array_equal(centroids, centroids2)


def test_rerun_on_perturbed_data_keeps_label_identity() -> None:
    rng = np.random.default_rng(1)
    x, truth, _ = planted(rng)
    clusterer = FailureClusterer(num_clusters=3, seed=0)
    indices = np.arange(len(x)) + 100
    state = clusterer.update(x, indices, ["t"] * len(x))
    first = np.array([state.label_of(i) for i in indices])
    assert adjusted_rand_score(truth, first) >= 0.9
    # perturb (as one epoch of training would) and shuffle row order; use another k-means++ seed so
    # the raw K-means labels come out permuted and only the Hungarian matching can restore them
    order = rng.permutation(len(x))
    clusterer.seed = 7
    x2 = x + 0.05 * rng.normal(size=x.shape) * np.linalg.norm(x, axis=1, keepdims=True)
    raw, _ = spherical_kmeans(x2[order], 3, seed=7)
    state = clusterer.update(x2[order], indices[order], ["t"] * len(x))
    second = np.array([state.label_of(i) for i in indices])
    assert np.mean(first == second) >= 0.95
    # the matching mattered: the unmatched K-means labels disagree with the first run's
    raw_by_index = np.empty(len(x), dtype=int)
    raw_by_index[order] = raw
    assert np.mean(raw_by_index == first) < 0.95


def test_match_clusters_is_the_best_permutation() -> None:
    old = np.eye(3)
    new = np.eye(3)[[2, 0, 1]] + 0.01
    assert match_clusters(old, new).tolist() == [2, 0, 1]


def test_fewer_clips_than_k_and_tasks_are_independent() -> None:
    rng = np.random.default_rng(2)
    x, _, _ = planted(rng, per=10)
    clusterer = FailureClusterer(num_clusters=3)
    tasks = ["big"] * len(x) + ["small"] * 2
    feats = np.concatenate([x, rng.normal(size=(2, x.shape[1]))])
    state = clusterer.update(feats, np.arange(len(feats)), tasks)
    small = [state.label_of(len(x)), state.label_of(len(x) + 1)]
    assert sorted(small) == [0, 1]  # each of the 2 clips is its own cluster
    assert state.tasks["small"].valid.tolist() == [True, True, False]
    assert state.tasks["big"].valid.all()
    # next epoch the small task has 1 clip: it takes the slot of its nearest old centroid
    state = clusterer.update(feats[[len(x) + 1]] + 0.01, np.array([len(x) + 1]), ["small"])
    assert state.label_of(len(x) + 1) == small[1]
    assert state.label_of(-5) == -1


def test_state_round_trips_through_arrays() -> None:
    rng = np.random.default_rng(3)
    x, _, _ = planted(rng, per=5)
    clusterer = FailureClusterer(num_clusters=3)
    state = clusterer.update(x, np.arange(len(x)), ["a"] * 8 + ["b"] * 7)
    arrays, meta = state.to_arrays()
    back = ClusterState.from_arrays(arrays, meta)
    assert back.labels == state.labels and back.num_clusters == 3
    for task in state.tasks:
        np.testing.assert_allclose(back.tasks[task].centroids, state.tasks[task].centroids, rtol=1e-6)
        assert np.array_equal(back.tasks[task].valid, state.tasks[task].valid)


def test_invalid_k() -> None:
    with pytest.raises(ValueError):
        FailureClusterer(num_clusters=0)
