"""Dialect robustness on Spider: SQLite gold queries through ``nl2sql sql --dialect sqlite``.

Run::

    .venv/bin/python benchmarks/bench_spider.py                # all 972 queries, ~1 min
    .venv/bin/python benchmarks/bench_spider.py --sample 100   # deterministic sample, seconds
    .venv/bin/python benchmarks/bench_spider.py --db-filter car_1 --examples 10

Every gold query of ``../shared/datasets/spider-dev`` (SQLite dialect) runs in-process
through the same path as ``nl2sql sql --dialect sqlite --db <file>``: one
``pipeline.open_session`` per database (introspection cache in a temporary folder,
row limit 100,000), :func:`nl2sql.pipeline.run_sql` with ``dialect="sqlite"`` —
transpile and repair, guard, confined engine. Results are compared with
``gold_results.json`` (what SQLite returned): rows as multisets, in order only when the
gold query has a top-level ORDER BY; numbers with a small tolerance, int and float
alike. In the same run, the naive ``sqlglot.transpile(read="sqlite", write="duckdb")``
goes through the same guard and engine, as the baseline.

Outcomes: ``reproduced``; ``refused`` (the guard said no); ``failed`` (DuckDB raised,
or the query timed out); ``wrong`` (ran, other rows).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql importable
    sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "spider-dev"
KINDS = ("reproduced", "refused", "failed", "wrong")
ROW_LIMIT = 100_000
SAMPLE_SEED = 20240601


# --------------------------------------------------------------------------- #
# Data
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Case:
    """One gold query and what SQLite returned for it."""

    index: int
    db_id: str
    query: str
    rows: list[list[Any]]


def load_cases(data: Path) -> list[Case]:
    """The gold queries that have stored results (``i`` indexes ``dev.json``)."""
    dev = json.loads((data / "dev.json").read_text(encoding="utf-8"))
    gold = json.loads((data / "gold_results.json").read_text(encoding="utf-8"))
    return [Case(g["i"], g["db_id"], dev[g["i"]]["query"], g["rows"]) for g in gold]


def select_cases(cases: list[Case], sample: int | None = None,
                 db_filter: str | None = None) -> list[Case]:
    """Cases of one database (``db_filter``, exact or substring) and/or a deterministic
    sample of ``sample`` cases (same seed, same cases, in dataset order)."""
    if db_filter:
        exact = [c for c in cases if c.db_id == db_filter]
        cases = exact or [c for c in cases if db_filter.lower() in c.db_id.lower()]
    if sample is not None and sample < len(cases):
        picked = random.Random(SAMPLE_SEED).sample(range(len(cases)), sample)
        cases = [cases[i] for i in sorted(picked)]
    return cases


def database_file(data: Path, db_id: str) -> Path:
    return data / "database" / db_id / f"{db_id}.sqlite"


# --------------------------------------------------------------------------- #
# Comparing results
# --------------------------------------------------------------------------- #


def gold_is_ordered(sql: str) -> bool:
    """True when the gold query's outermost query has an ORDER BY."""
    import sqlglot

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except Exception:  # noqa: BLE001 - an unparsable gold query: fall back to the text
        return "order by" in sql.lower()
    return tree.args.get("order") is not None


def _cell(value: Any) -> Any:
    """Numbers as floats (int and float alike), dates as SQLite writes them, else as is."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | decimal.Decimal):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((0, "") if v is None else (1, f"{v:.3f}") if isinstance(v, float) else (2, str(v))
                 for v in row)


def _same_cell(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return type(a) is type(b) and a == b


def results_match(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]],
                  ordered: bool) -> bool:
    """Same rows (as a multiset unless ``ordered``), cell by cell, numbers within 1e-6.

    >>> results_match([[1, "a"]], [(1.0, "a")], ordered=False)
    True
    >>> results_match([[1], [2]], [(2,), (1,)], ordered=True)
    False
    """
    if len(gold) != len(pred):
        return False
    g = [tuple(_cell(v) for v in row) for row in gold]
    p = [tuple(_cell(v) for v in row) for row in pred]
    if any(len(a) != len(b) for a, b in zip(g, p, strict=True)):
        return False
    if not ordered:
        g, p = sorted(g, key=_sort_key), sorted(p, key=_sort_key)
    return all(_same_cell(a, b) for ra, rb in zip(g, p, strict=True)
               for a, b in zip(ra, rb, strict=True))


# --------------------------------------------------------------------------- #
# Running
# --------------------------------------------------------------------------- #


@dataclass
class Outcome:
    case: Case
    kind: str  # one of KINDS
    sql: str = ""
    message: str = ""
    repairs: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Outcomes of the repaired path and of the naive baseline, per case."""

    repaired: list[Outcome] = field(default_factory=list)
    baseline: list[Outcome] = field(default_factory=list)
    elapsed_s: float = 0.0

    def counts(self, which: str = "repaired", db_id: str | None = None) -> dict[str, int]:
        outcomes = getattr(self, which)
        counted = collections.Counter(o.kind for o in outcomes if db_id in (None, o.case.db_id))
        return {kind: counted.get(kind, 0) for kind in KINDS}

    def share(self, kind: str = "reproduced", which: str = "repaired") -> float:
        outcomes = getattr(self, which)
        return sum(o.kind == kind for o in outcomes) / len(outcomes) if outcomes else 0.0


Runner = Callable[[Any, str], Any]


def _run_one(case: Case, session: Any, run: Runner) -> Outcome:
    from nl2sql.errors import ExecutionError, UnsafeSQL

    try:
        answer = run(session, case.query)
    except UnsafeSQL as exc:
        return Outcome(case, "refused", message=f"guard [{exc.rule}]: {exc.message}",
                       sql=_attempted_sql(exc.details))
    except ExecutionError as exc:
        return Outcome(case, "failed", message=exc.message, sql=_attempted_sql(exc.details))
    except Exception as exc:  # noqa: BLE001 - a crash is a failure worth seeing, not an abort
        return Outcome(case, "failed", message=f"internal error {type(exc).__name__}: {exc}")
    repairs = [n.removeprefix("repair ") for n in answer.notes if n.startswith("repair ")]
    ok = results_match(case.rows, answer.rows, gold_is_ordered(case.query))
    message = "" if ok else f"got {_preview(answer.rows)}, SQLite gave {_preview(case.rows)}"
    return Outcome(case, "reproduced" if ok else "wrong", sql=answer.sql, message=message,
                   repairs=repairs)


def _attempted_sql(details: dict[str, Any]) -> str:
    """The DuckDB SQL that was refused or failed (the last attempt the pipeline kept)."""
    attempts = details.get("attempts") or []
    return str(attempts[-1].get("sql", "")) if attempts else str(details.get("sql", ""))


def _preview(rows: Sequence[Sequence[Any]], n: int = 3) -> str:
    shown = [list(r) for r in rows[:n]]
    more = f" … ({len(rows)} rows)" if len(rows) > n else ""
    return f"{shown}{more}"


def run_repaired(session: Any, sql: str) -> Any:
    """The path of ``nl2sql sql --dialect sqlite``."""
    from nl2sql import pipeline

    return pipeline.run_sql(session, sql, dialect="sqlite")


def run_naive(session: Any, sql: str) -> Any:
    """The baseline: sqlglot's plain transpile, then the same guard and engine."""
    import sqlglot

    from nl2sql import pipeline
    from nl2sql.errors import UnsafeSQL

    try:
        duck = sqlglot.transpile(sql, read="sqlite", write="duckdb")[0]
    except sqlglot.errors.SqlglotError as exc:
        raise UnsafeSQL(f"sqlglot cannot transpile it: {exc}", rule="parse") from exc
    return pipeline.run_sql(session, duck)


def run(cases: list[Case], data: Path = DEFAULT_DATA, baseline: bool = True,
        progress: Callable[[str], None] | None = None) -> Report:
    """Run ``cases`` (grouped by database, one session each) and collect the outcomes."""
    from nl2sql import pipeline
    from nl2sql.settings import Settings

    report = Report()
    started = time.perf_counter()
    by_db: dict[str, list[Case]] = collections.defaultdict(list)
    for case in cases:
        by_db[case.db_id].append(case)
    with tempfile.TemporaryDirectory(prefix="bench-spider-") as tmp:
        for db_id, db_cases in by_db.items():
            settings = Settings(db=str(database_file(data, db_id)), cache_dir=Path(tmp) / "cache",
                                schemas_dir=Path(tmp) / "no-schemas", row_limit=ROW_LIMIT,
                                query_timeout=30.0)
            with pipeline.open_session(settings) as session:
                for case in db_cases:
                    report.repaired.append(_run_one(case, session, run_repaired))
                    if baseline:
                        report.baseline.append(_run_one(case, session, run_naive))
            if progress:
                progress(f"{db_id}: {len(db_cases)} queries")
    order = {id(c): i for i, c in enumerate(cases)}
    report.repaired.sort(key=lambda o: order[id(o.case)])
    report.baseline.sort(key=lambda o: order[id(o.case)])
    report.elapsed_s = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


def format_report(report: Report, examples: int = 3) -> str:
    """The per-database table, totals with the baseline, repairs used and examples."""
    lines: list[str] = []
    dbs = list(dict.fromkeys(o.case.db_id for o in report.repaired))
    width = max([len("database"), *(len(d) for d in dbs)])
    head = f"{'database':<{width}}  {'n':>4}  " + "  ".join(f"{k:>10}" for k in KINDS)
    if report.baseline:
        head += f"  {'baseline ok':>11}"
    lines += [head, "-" * len(head)]
    for db_id in [*dbs, None]:
        counts = report.counts("repaired", db_id)
        n = sum(counts.values())
        name = db_id or "total"
        if db_id is None:
            lines.append("-" * len(head))
        row = f"{name:<{width}}  {n:>4}  " + "  ".join(f"{counts[k]:>10}" for k in KINDS)
        if report.baseline:
            row += f"  {report.counts('baseline', db_id)['reproduced']:>11}"
        lines.append(row)
    total = len(report.repaired)
    lines.append("")
    lines.append(_summary("nl2sql sql --dialect sqlite", report.counts("repaired"), total))
    if report.baseline:
        lines.append(_summary("naive sqlglot.transpile  ", report.counts("baseline"), total))
    lines.append(f"{total} queries in {report.elapsed_s:.1f} s")
    used = collections.Counter(r.split(":", 1)[0] for o in report.repaired for r in o.repairs)
    if used:
        lines.append("")
        lines.append("repairs applied (times): " + ", ".join(f"{k} {v}" for k, v in used.most_common()))
    for kind in KINDS[1:]:
        failures = [o for o in report.repaired if o.kind == kind]
        if not failures or examples <= 0:
            continue
        lines.append("")
        lines.append(f"{kind} — {len(failures)}, first {min(examples, len(failures))}:")
        for o in failures[:examples]:
            lines.append(f"  #{o.case.index} {o.case.db_id}: {o.case.query.strip()}")
            if o.sql:
                lines.append(f"      duckdb: {o.sql}")
            for repair in o.repairs:
                lines.append(f"      repair: {repair}")
            lines.append(f"      {o.message}")
    return "\n".join(lines)


def _summary(label: str, counts: dict[str, int], total: int) -> str:
    parts = "  ".join(f"{k} {counts[k]} ({counts[k] / total:.1%})" for k in KINDS) if total else ""
    return f"{label}: {parts}"


def to_json(report: Report) -> dict[str, Any]:
    def outcome(o: Outcome) -> dict[str, Any]:
        return {"i": o.case.index, "db_id": o.case.db_id, "kind": o.kind, "query": o.case.query,
                "sql": o.sql, "message": o.message, "repairs": o.repairs}

    return {"counts": report.counts("repaired"), "baseline": report.counts("baseline"),
            "elapsed_s": round(report.elapsed_s, 2),
            "outcomes": [outcome(o) for o in report.repaired],
            "baseline_outcomes": [outcome(o) for o in report.baseline]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=None,
                        help="run a deterministic sample of N queries")
    parser.add_argument("--db-filter", default=None, help="only this database (db_id)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the spider-dev folder")
    parser.add_argument("--examples", type=int, default=3,
                        help="examples shown per failure kind (default 3)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the naive baseline")
    parser.add_argument("--json", type=Path, default=None, help="also write every outcome here")
    args = parser.parse_args(argv)
    if not (args.data / "gold_results.json").is_file():
        print(f"Spider data not found at {args.data}", file=sys.stderr)
        return 2
    cases = select_cases(load_cases(args.data), args.sample, args.db_filter)
    if not cases:
        print(f"no queries match --db-filter {args.db_filter!r}", file=sys.stderr)
        return 2
    report = run(cases, args.data, baseline=not args.no_baseline)
    print(format_report(report, args.examples))
    if args.json:
        args.json.write_text(json.dumps(to_json(report), indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
