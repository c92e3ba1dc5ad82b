"""Agreement of a clustering with known classes: purity and adjusted mutual information.

Written out (numpy and the standard library) rather than taken from scikit-learn, which
the project does not depend on (docs/themes.md). AMI follows Vinh, Epps and Bailey
(2010), with the arithmetic mean of the entropies as normaliser (scikit-learn's default).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from math import exp, lgamma, log


def purity(truth: Sequence[str], found: Sequence[int]) -> float:
    """Share of texts whose theme's most common class is their own.

    >>> purity(["a", "a", "b", "b"], [0, 0, 1, 1])
    1.0
    >>> purity(["a", "b", "a", "b"], [0, 0, 1, 1])
    0.5
    """
    by_theme: dict[int, Counter[str]] = {}
    for t, f in zip(truth, found, strict=True):
        by_theme.setdefault(f, Counter())[t] += 1
    return sum(c.most_common(1)[0][1] for c in by_theme.values()) / len(truth)


def _entropy(counts: Sequence[int], n: int) -> float:
    return -sum(c / n * log(c / n) for c in counts if c)


def adjusted_mutual_information(truth: Sequence[str], found: Sequence[int]) -> float:
    """AMI: 1 for identical partitions, about 0 for chance agreement.

    >>> round(adjusted_mutual_information(["a", "a", "b", "b"], [1, 1, 0, 0]), 6)
    1.0
    """
    n = len(truth)
    table = Counter(zip(truth, found, strict=True))
    a = Counter(truth)
    b = Counter(found)
    mi = sum(nij / n * log(n * nij / (a[i] * b[j])) for (i, j), nij in table.items())
    emi = 0.0
    lg_n = lgamma(n + 1)
    for ai in a.values():
        for bj in b.values():
            for nij in range(max(1, ai + bj - n), min(ai, bj) + 1):
                term = nij / n * log(n * nij / (ai * bj))
                lp = (lgamma(ai + 1) + lgamma(bj + 1) + lgamma(n - ai + 1) + lgamma(n - bj + 1)
                      - lg_n - lgamma(nij + 1) - lgamma(ai - nij + 1) - lgamma(bj - nij + 1)
                      - lgamma(n - ai - bj + nij + 1))
                emi += term * exp(lp)
    ha, hb = _entropy(list(a.values()), n), _entropy(list(b.values()), n)
    denominator = (ha + hb) / 2 - emi
    if abs(denominator) < 1e-12:
        return 1.0 if abs(mi - emi) < 1e-12 else 0.0
    return (mi - emi) / denominator
