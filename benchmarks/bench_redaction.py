"""What in-text redaction (``redact_text``) costs: a full scan of a free-text column read
clear and read redacted, on a sample database.

Run::

    .venv/bin/python benchmarks/bench_redaction.py                    # builds scale 1 in /tmp
    .venv/bin/python benchmarks/bench_redaction.py --db big.duckdb    # an existing sample db
    .venv/bin/python benchmarks/bench_redaction.py --scale 10 --repeat 5

Each column is scanned with ``SELECT sum(length(<column as read>)) FROM <table>`` — every
value is read and, redacted, run through the secure view's expression (one
``regexp_replace`` per kind over the text folded to ASCII) — on one DuckDB connection
(threads as DuckDB chooses); the fastest of ``--repeat`` runs is reported, after one
warm-up (on a shared machine the fastest run is the one least disturbed by others).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql importable
    sys.path.insert(0, str(ROOT))

COLUMNS = (("reviews", "review_text"), ("support_tickets", "transcript"))


def best_seconds(con: object, sql: str, repeat: int) -> float:
    run = con.execute  # type: ignore[attr-defined]
    run(sql).fetchall()  # warm-up: file pages in memory, regexes compiled
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(sql).fetchall()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    import duckdb
    from sqlglot import exp

    from nl2sql.catalog import Column
    from nl2sql.pii_patterns import REDACTABLE_KINDS
    from nl2sql.safety.policy.rewrite import redact_expression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a sample database (default: build one)")
    parser.add_argument("--scale", type=float, default=1.0, help="scale of the one built")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    db = args.db
    if db is None:
        from sample_db.generate import build

        db = Path(build(Path(tempfile.mkdtemp()) / "shop.duckdb", scale=args.scale))
    con = duckdb.connect(str(db), read_only=True)
    print(f"{db}\n")
    print("| column | rows | MB of text | clear (ms) | redacted (ms) | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for table, column in COLUMNS:
        ref = exp.column(column, quoted=True)
        shown = redact_expression(ref, Column(column, "VARCHAR"), REDACTABLE_KINDS)
        rows, size = con.execute(f'SELECT count(*), sum(strlen("{column}")) FROM "{table}"'
                                 ).fetchone()
        clear = best_seconds(con, f'SELECT sum(length("{column}")) FROM "{table}"',
                               args.repeat)
        redacted = best_seconds(
            con, f'SELECT sum(length({shown.sql(dialect="duckdb")})) FROM "{table}"',
            args.repeat)
        print(f"| {table}.{column} | {rows:,} | {size / 1e6:.1f} | {clear * 1000:.1f} | "
              f"{redacted * 1000:.1f} | {redacted / clear:.0f}× |")
    con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
