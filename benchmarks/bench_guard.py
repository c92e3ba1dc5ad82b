"""Guard cost: checking and rewriting generated wide and deep queries must grow linearly.

Run::

    .venv/bin/python benchmarks/bench_guard.py               # the table, ~30 s
    .venv/bin/python benchmarks/bench_guard.py --quick       # one repetition, ~10 s
    .venv/bin/python benchmarks/bench_guard.py --dialect sqlite   # transpiled first
    .venv/bin/python benchmarks/bench_guard.py --json out.json

Each shape is generated at sizes N, 2N, 4N and 8N and handed to
:func:`nl2sql.safety.guard.check` with a restricting access policy (masks, a hashed
column, a row filter), so every stage runs: parse, checks, qualify, the policy's refusals,
the regenerated SQL checked again, the secure rewrite, DuckDB's own parse of what will run,
and the masking report (column lineage). The table shows the best of the repetitions in
milliseconds of CPU time (steadier than wall time on a shared machine) and the ratio per
doubling: about 2× is linear, about 4× quadratic.

Shapes (sizes stay inside the guard's own limits, 20,000 characters and 5,000 parts, so
nothing is refused for its size):

* ``wide``: ``SELECT c0, c1, …`` naming every column of a table as wide as the query
  (8N = 2,400 columns), a quarter of them masked;
* ``star``: ``SELECT *`` over that table;
* ``deep``: ``SELECT c1 + c2 + …`` over a narrow masked table (an expression N terms deep);
* ``nested``: ``SELECT … FROM (SELECT … FROM (…))``, N subqueries deep;
* ``in_list``: ``WHERE c0 IN (0, 1, …)`` with N values;
* ``unions``: N ``SELECT … UNION ALL`` branches, each over the masked table;
* ``ctes``: N chained CTEs, ``WITH q0 AS (… FROM t), q1 AS (… FROM q0), …``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql importable
    sys.path.insert(0, str(ROOT))

from nl2sql.catalog import Catalog, Column, Table  # noqa: E402
from nl2sql.errors import NL2SQLError  # noqa: E402
from nl2sql.safety import guard, policy  # noqa: E402

NARROW = 8  # columns of the narrow table the deep shapes read

# shape -> (N, SQL at size n); 8N is the largest size measured.
SHAPES: dict[str, tuple[int, Callable[[int], str]]] = {
    "wide": (300, lambda n: "SELECT " + ", ".join(f"c{i}" for i in range(n)) + " FROM w{n}"),
    "star": (300, lambda n: "SELECT * FROM w{n}"),
    "deep": (100, lambda n: "SELECT " + " + ".join(f"c{i % NARROW}" for i in range(n))
             + " AS total FROM t"),
    "nested": (8, lambda n: "SELECT c1 FROM " + "(SELECT c1, c2 FROM " * n + "t"
               + "".join(f") AS q{i}" for i in range(n))),
    "in_list": (300, lambda n: "SELECT c1 FROM t WHERE c0 IN ("
                + ", ".join(str(i) for i in range(n)) + ")"),
    "unions": (50, lambda n: " UNION ALL ".join(f"SELECT c1, c{i % NARROW} FROM t"
                                                 for i in range(n))),
    "ctes": (50, lambda n: "WITH " + ", ".join(
        f"q{i} AS (SELECT c1, c2 FROM {'t' if i == 0 else f'q{i - 1}'})" for i in range(n))
        + f" SELECT c1, c2 FROM q{n - 1}"),
}


def _columns(n: int) -> list[Column]:
    """Every 4th column masked partially as a phone, every 16th hashed, the rest plain."""
    columns = []
    for i in range(n):
        tags: dict[str, Any] = {}
        if i % 16 == 3:
            tags = {"mask": "hash", "pii": "phone"}
        elif i % 4 == 1:
            tags = {"mask": "partial", "pii": "phone"}
        columns.append(Column(f"c{i}", "VARCHAR" if i % 2 else "INTEGER", tags=tags))
    return columns


def catalog(widths: list[int]) -> Catalog:
    """The narrow table ``t`` and one wide table ``w<n>`` of ``n`` columns per width."""
    tables = {"t": Table("t", _columns(NARROW), tags={"row_filter": "c0 > 0"})}
    for n in widths:
        tables[f"w{n}"] = Table(f"w{n}", _columns(n))
    return Catalog(name="bench", tables=tables)


def sql_for(shape: str, n: int) -> str:
    return SHAPES[shape][1](n).replace("{n}", str(n))


def measure(sql: str, cat: Catalog, access: policy.AccessPolicy, repeat: int,
            dialect: str = "duckdb") -> float | str:
    """Best CPU milliseconds of ``repeat`` checks (after transpiling from ``dialect``, as
    ``nl2sql sql --dialect`` does), or the refusal's rule."""
    from nl2sql.safety.dialects import to_duckdb

    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        try:
            text = to_duckdb(sql, dialect, cat, max_chars=guard.Policy.max_chars).sql
            guard.check(text, cat, guard.Policy(row_limit=100), access=access)
        except NL2SQLError as exc:
            return f"refused ({getattr(exc, 'rule', type(exc).__name__)})"
        best = min(best, (time.process_time() - started) * 1000)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition per size")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per size (best kept)")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES),
                        help="only these shapes (repeatable)")
    parser.add_argument("--dialect", default="duckdb",
                        help="transpile from this dialect first (sqlite, mysql, postgres)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the numbers here")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else max(args.repeat, 1)
    shapes = args.shape or list(SHAPES)

    widths = [SHAPES["wide"][0] * k for k in (1, 2, 4, 8)]
    cat = catalog(widths)
    # the policy every analyst-like role has: masks, a hashed column (a key), a row filter
    access = dataclasses.replace(policy.resolve(cat, policy.DEFAULT_ROLE), key="k" * 32)
    guard.check("SELECT c1 FROM t", cat, access=access)  # imports and caches warm

    first = f"transpiled from {args.dialect}, then " if args.dialect != "duckdb" else ""
    print(f"{first}guard.check CPU ms, best of {repeat}; ratio per doubling (linear ≈ 2×)\n")
    print("| shape | N | N ms | 2N ms | 4N ms | 8N ms | 2N/N | 4N/2N | 8N/4N |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    report: dict[str, Any] = {}
    for shape in shapes:
        base = SHAPES[shape][0]
        times = [measure(sql_for(shape, base * k), cat, access, repeat, args.dialect)
                 for k in (1, 2, 4, 8)]
        cells = [f"{t:.0f}" if isinstance(t, float) else t for t in times]
        ratios = [f"{b / a:.2f}×" if isinstance(a, float) and isinstance(b, float) and a else "–"
                  for a, b in zip(times, times[1:], strict=False)]
        print(f"| {shape} | {base} | {' | '.join(cells)} | {' | '.join(ratios)} |")
        report[shape] = {"n": base, "ms": times}
    if args.json:
        args.json.write_text(json.dumps({"repeat": repeat, "dialect": args.dialect,
                                         "shapes": report}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
