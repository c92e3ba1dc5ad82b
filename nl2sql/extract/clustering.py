"""Grouping unit vectors: spherical k-means and the choice of k by silhouette.

numpy only, on purpose (docs/themes.md has the numbers): scikit-learn would add ~164 MB
(scipy with it), ~8 s to the install and ~0.9 s to every import, for the ~80 lines below.
The texts' vectors are L2-normalised, so the dot product is the cosine similarity:
k-means on the sphere assigns each text to the centroid of highest cosine and takes the
normalised mean as the new centroid. Seeded (k-means++), so a rerun gives the same themes.

``k=auto`` tries k in :data:`AUTO_KS` (bounded by the number of texts) and keeps the k of
the highest mean silhouette (cosine distance) — the usual criterion: how much closer each
text is to its own theme than to the next one. Silhouette needs every pairwise distance;
past :data:`SILHOUETTE_SAMPLE` texts it is measured on a seeded sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AUTO_KS = range(2, 13)
SILHOUETTE_SAMPLE = 2000
RESTARTS = 4
ITERATIONS = 60
SEED = 16


@dataclass(frozen=True)
class Clustering:
    """Each text's theme (0..k-1, the largest theme first), its cosine distance to the
    theme's centroid, and the centroids."""

    labels: np.ndarray
    distances: np.ndarray
    centroids: np.ndarray
    silhouette: float | None = None
    tried: tuple[tuple[int, float], ...] = ()  # (k, silhouette) when k was chosen

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])


def kmeans(vectors: np.ndarray, k: int, seed: int = SEED, restarts: int = RESTARTS,
           weights: np.ndarray | None = None) -> Clustering:
    """Spherical k-means, the best of ``restarts`` seeded runs (highest total cosine);
    ``weights``: how many texts each (distinct) vector stands for.

    >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> kmeans(x, 2).labels.tolist()
    [0, 0, 1, 1]
    """
    n = vectors.shape[0]
    k = max(1, min(k, n))
    w = np.ones(n, dtype=np.float64) if weights is None else weights.astype(np.float64)
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(restarts):
        centroids = _plus_plus(vectors, k, rng)
        labels = np.zeros(n, dtype=np.int64)
        for step in range(ITERATIONS):
            similarity = vectors @ centroids.T
            new = similarity.argmax(axis=1)
            if step and np.array_equal(new, labels):
                break
            labels = new
            centroids = _centroids(vectors, labels, k, rng, w)
        score = float(((vectors @ centroids.T)[np.arange(n), labels] * w).sum())
        if best is None or score > best[0]:
            best = (score, labels, centroids)
    assert best is not None
    _, labels, centroids = best
    return _ordered(vectors, labels, centroids, w)


def _plus_plus(vectors: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on cosine distance."""
    n = vectors.shape[0]
    chosen = [int(rng.integers(n))]
    nearest = 1.0 - vectors @ vectors[chosen[0]]
    for _ in range(1, k):
        weights = np.clip(nearest, 0, None) ** 2
        total = weights.sum()
        pick = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - vectors @ vectors[pick])
    return vectors[chosen].copy()


def _centroids(vectors: np.ndarray, labels: np.ndarray, k: int,
               rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    dims = vectors.shape[1]
    sums = np.zeros((k, dims), dtype=np.float64)
    np.add.at(sums, labels, vectors * weights[:, None])
    norms = np.linalg.norm(sums, axis=1)
    for empty in np.flatnonzero(norms == 0):  # an emptied theme restarts at a random text
        sums[empty] = vectors[int(rng.integers(vectors.shape[0]))]
        norms[empty] = np.linalg.norm(sums[empty])
    return (sums / norms[:, None]).astype(np.float32)


def _ordered(vectors: np.ndarray, labels: np.ndarray, centroids: np.ndarray,
             weights: np.ndarray) -> Clustering:
    """Themes numbered by size, largest first (ties by first member), and distances."""
    k = centroids.shape[0]
    sizes = np.bincount(labels, weights=weights, minlength=k)
    first = [int(np.flatnonzero(labels == c)[0]) if sizes[c] else labels.size for c in range(k)]
    order = sorted(range(k), key=lambda c: (-sizes[c], first[c]))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    labels = rank[labels]
    centroids = centroids[order]
    distances = 1.0 - (vectors * centroids[labels]).sum(axis=1)
    return Clustering(labels=labels, distances=np.clip(distances, 0.0, 2.0),
                      centroids=centroids)


def centered(vectors: np.ndarray, groups: np.ndarray,
             weights: np.ndarray | None = None) -> np.ndarray:
    """Each group's (weighted) mean vector subtracted from its members, then unit length
    again: what texts of one language share (the language itself) is taken out, so themes
    follow meaning, not language. A multilingual model places a Chinese and an English
    text on the same topic close, but two texts of one language closer still: without
    this, k-means splits by language first (docs/themes.md has the numbers).

    >>> x = np.array([[1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1]], dtype=np.float32)
    >>> centered(x, np.array([0, 0, 1, 1])).round(2).tolist()
    [[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]]
    """
    w = np.ones(vectors.shape[0]) if weights is None else weights.astype(np.float64)
    out = vectors.astype(np.float64).copy()
    for group in np.unique(groups):
        members = groups == group
        if members.sum() >= 2:
            out[members] -= np.average(out[members], axis=0, weights=w[members])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0).astype(np.float32)


def silhouette(vectors: np.ndarray, labels: np.ndarray, seed: int = SEED) -> float:
    """Mean silhouette with cosine distance (on a seeded sample past SILHOUETTE_SAMPLE).

    >>> x = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.float32)
    >>> round(silhouette(x, np.array([0, 0, 1, 1])), 3)
    1.0
    """
    n = vectors.shape[0]
    if n > SILHOUETTE_SAMPLE:
        pick = np.random.default_rng(seed).choice(n, SILHOUETTE_SAMPLE, replace=False)
        vectors, labels = vectors[pick], labels[pick]
        n = SILHOUETTE_SAMPLE
    groups = np.unique(labels)
    if groups.size < 2:
        return 0.0
    distance = 1.0 - vectors @ vectors.T
    mean_to = np.stack([distance[:, labels == g].sum(axis=1) for g in groups], axis=1)
    sizes = np.array([(labels == g).sum() for g in groups], dtype=np.float64)
    own = np.searchsorted(groups, labels)
    own_size = sizes[own] - 1
    a = np.where(own_size > 0, mean_to[np.arange(n), own] / np.maximum(own_size, 1), 0.0)
    others = mean_to / sizes
    others[np.arange(n), own] = np.inf
    b = others.min(axis=1)
    s = np.where(own_size > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def choose(vectors: np.ndarray, k: int | None, weights: np.ndarray | None = None,
           ) -> Clustering:
    """``k`` themes, or (``None``) the k of :data:`AUTO_KS` with the best silhouette
    (measured over the distinct vectors; ``weights`` count the texts each stands for)."""
    n = vectors.shape[0]
    if k is not None:
        found = kmeans(vectors, k, weights=weights)
        score = silhouette(vectors, found.labels) if 1 < found.k < n else None
        return Clustering(found.labels, found.distances, found.centroids, score)
    ks = [c for c in AUTO_KS if c < n] or [1]
    best: Clustering | None = None
    tried: list[tuple[int, float]] = []
    for c in ks:
        found = kmeans(vectors, c, weights=weights)
        score = silhouette(vectors, found.labels) if c > 1 else 0.0
        tried.append((c, round(score, 4)))
        if best is None or score > (best.silhouette or 0.0) + 1e-9:
            best = Clustering(found.labels, found.distances, found.centroids, score)
    assert best is not None
    return Clustering(best.labels, best.distances, best.centroids, best.silhouette, tuple(tried))
