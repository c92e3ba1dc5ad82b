"""Comparing result rows in tests: one definition shared by every test module."""

from __future__ import annotations

import decimal
import math
from typing import Any


def cell(value: Any) -> Any:
    """A value comparable across engines: floats and decimals rounded, NaN as None."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, decimal.Decimal):
        return round(float(value), 6)
    return value


def normalize(rows: Any, ordered: bool = False) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples; sorted (a multiset) unless ``ordered``."""
    out = [tuple(cell(v) for v in row) for row in rows]
    return out if ordered else sorted(out, key=repr)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
