"""The offline drafter on questions: right, wrong or declined, per question set.

Run::

    .venv/bin/python benchmarks/bench_drafter.py                 # Spider dev + the project's sets
    .venv/bin/python benchmarks/bench_drafter.py --sets spider   # Spider dev only (~30 s)
    .venv/bin/python benchmarks/bench_drafter.py --sets spider --show wrong --db-filter pets_1
    .venv/bin/python benchmarks/bench_drafter.py --json out.json # every outcome, for diffing

Sets:

- ``spider``: the 507 Spider dev questions in ``../shared/datasets/spider-dev`` (11
  databases; Yu et al., 2018, CC BY-SA 4.0), each database introspected with no
  semantic layer. The gold SQL (SQLite dialect) runs through the same session
  (``nl2sql sql --dialect sqlite``), so masking applies alike to both sides; when the
  gold query cannot run there, the stored SQLite result is the reference.
- the project's sets in ``tests/eval``: ``shop`` and ``chinook`` (written with the
  drafter), ``*_holdout`` and ``*_fresh`` (written before looking at what the drafter
  does with them).

A question is *correct* when every gold column appears among the answer's columns with
the same values (rows as multisets; in order when the gold query orders its top level;
numbers within 0.01), as ``nl2sql eval`` compares. Two more answers count as correct, and
the *lenient* column says how many: every group tied for first where the gold's LIMIT 1
picked one of them arbitrarily ("tie"), and each row once where the gold's join repeats
rows ("gold repeats rows": a student with two dogs listed twice). *Precision* is correct / answered.
*p95 draft* is the 95th percentile of reading, drafting and guarding one question in
process (a decline included), *p95 ask* of the whole in-process ``ask`` (the query run too).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql importable
    sys.path.insert(0, str(ROOT))

SPIDER = ROOT.parent / "shared" / "datasets" / "spider-dev"
CHINOOK = ROOT.parent / "shared" / "datasets" / "chinook" / "Chinook_Sqlite.sqlite"
EVAL_DIR = ROOT / "tests" / "eval"
PROJECT_SETS = ("shop", "shop_holdout", "shop_fresh", "chinook", "chinook_holdout",
                "chinook_fresh")
ROW_LIMIT = 100_000


@dataclass
class Outcome:
    set: str
    id: str
    question: str
    verdict: str  # correct | wrong | declined | error
    latency_ms: float  # the whole in-process ask: read, draft, guard, execute
    draft_ms: float = 0.0  # everything but running the query
    sql: str = ""
    gold: str = ""
    message: str = ""
    lenient: str = ""  # why a correct answer differs from the gold's rows: "tie", "gold repeats rows"


def _verdict(answer_rows: Sequence[Sequence[Any]], gold_rows: Sequence[Sequence[Any]],
             gold_sql: str, dialect: str, answer_sql: str = "") -> str:
    import sqlglot

    from nl2sql.drafting import evaluate

    try:
        ordered = sqlglot.parse_one(gold_sql, read=dialect).args.get("order") is not None
    except sqlglot.errors.SqlglotError:
        ordered = False
    if evaluate.results_match(gold_rows, answer_rows, ordered):
        return "correct"
    # "Which year has the most concerts?" with two years tied: the gold's LIMIT 1 picks one
    # arbitrarily, the answer shows every group tied for first (QUALIFY rank() = 1); the
    # answer is right when the gold's row is among them.
    tied = "QUALIFY RANK()" in answer_sql.upper()
    if tied and len(gold_rows) == 1 and any(evaluate.results_match(gold_rows, [row], False)
                                            for row in answer_rows):
        return "correct (tie)"
    # "students who have a dog": Spider's gold joins and lists a student once per dog; the
    # answer lists each student once (EXISTS). Right when it is the gold without repeats.
    distinct_gold = list(dict.fromkeys(tuple(row) for row in gold_rows))
    if len(distinct_gold) < len(gold_rows) and not ordered and evaluate.results_match(
            distinct_gold, answer_rows, False):
        return "correct (gold repeats rows)"
    return "wrong"


def _ask(session: Any, set_name: str, case_id: str, question: str,
         gold: Callable[[], Sequence[Sequence[Any]] | None], gold_sql: str,
         dialect: str) -> Outcome | None:
    from nl2sql import pipeline
    from nl2sql.errors import DrafterDeclined, NL2SQLError

    started = time.perf_counter()
    try:
        answer = pipeline.ask(session, question)
    except DrafterDeclined as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return Outcome(set_name, case_id, question, "declined", elapsed, elapsed, gold=gold_sql,
                       message=exc.message)
    except NL2SQLError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return Outcome(set_name, case_id, question, "error", elapsed, elapsed, gold=gold_sql,
                       message=f"{exc.kind}: {exc.message}")
    elapsed = (time.perf_counter() - started) * 1000
    drafted = elapsed - answer.timings_ms.get("execute", 0.0)
    rows = gold()
    if rows is None:  # no reference answer: not counted
        return None
    verdict = _verdict(answer.rows, rows, gold_sql, dialect, answer.sql)
    lenient = verdict.partition(" (")[2].rstrip(")")
    verdict = verdict.partition(" (")[0]
    return Outcome(set_name, case_id, question, verdict, elapsed, drafted, sql=answer.sql,
                   gold=gold_sql, message=answer.interpretation or "", lenient=lenient)


def _warm(session: Any) -> None:
    """Build the session's phrase index before timing: a per-database cost paid once, not a
    per-question one (``nl2sql shell`` pays it at the first question)."""
    from nl2sql.drafting import offline

    offline.index_for(session.drafting_catalog)


def _settings(db: str, tmp: Path, schemas: Path | None = None,
              cache: Path | None = None) -> Any:
    from nl2sql.settings import Settings

    return Settings(db=db, drafter="offline", row_limit=ROW_LIMIT, query_timeout=30.0,
                    cache_dir=cache or tmp / "cache", schemas_dir=schemas or tmp / "no-schemas",
                    audit_log=tmp / "audit.jsonl")


def run_spider(data: Path, tmp: Path, db_filter: str | None = None,
               cache: Path | None = None) -> list[Outcome]:
    from nl2sql import pipeline
    from nl2sql.errors import NL2SQLError

    dev = json.loads((data / "dev.json").read_text(encoding="utf-8"))
    stored = {g["i"]: g["rows"] for g in
              json.loads((data / "gold_results.json").read_text(encoding="utf-8"))}
    by_db: dict[str, list[int]] = collections.defaultdict(list)
    for i, item in enumerate(dev):
        if db_filter is None or db_filter in item["db_id"]:
            by_db[item["db_id"]].append(i)
    outcomes: list[Outcome] = []
    for db_id, indexes in by_db.items():
        db = data / "database" / db_id / f"{db_id}.sqlite"
        with pipeline.open_session(_settings(str(db), tmp, cache=cache)) as session:
            _warm(session)
            for i in indexes:
                gold_sql = dev[i]["query"]

                def gold(sql: str = gold_sql, i: int = i) -> Sequence[Sequence[Any]] | None:
                    try:
                        return pipeline.run_sql(session, sql, dialect="sqlite").rows
                    except NL2SQLError:
                        return stored.get(i)

                outcome = _ask(session, "spider", f"{db_id}#{i}", dev[i]["question"], gold,
                               gold_sql, "sqlite")
                if outcome is not None:
                    outcomes.append(outcome)
    return outcomes


def run_project_set(name: str, tmp: Path, cache: Path | None = None) -> list[Outcome]:
    from nl2sql import pipeline
    from nl2sql.drafting import evaluate
    from nl2sql.interfaces.cli import ensure_sample_db
    from nl2sql.settings import PROJECT_ROOT

    named, cases = evaluate.load_cases(EVAL_DIR / f"{name}.yaml")
    if name.startswith("chinook"):
        if not CHINOOK.is_file():
            return []
        db = str(CHINOOK)
    else:
        db = str(PROJECT_ROOT / "sample_db" / "shop.duckdb")
        ensure_sample_db(db)
    outcomes: list[Outcome] = []
    with pipeline.open_session(_settings(db, tmp, PROJECT_ROOT / "schemas", cache)) as session:
        _warm(session)
        for case in cases:
            if case.sql is None:  # the unanswerable: answering is wrong, declining is right
                started = time.perf_counter()
                try:
                    answer = pipeline.ask(session, case.question)
                    verdict, sql = "wrong", answer.sql
                except Exception:  # noqa: BLE001 - any refusal is the right outcome here
                    verdict, sql = "declined_ok", ""
                outcomes.append(Outcome(name, case.id, case.question, verdict,
                                        (time.perf_counter() - started) * 1000, sql=sql))
                continue
            gold_sql = case.sql

            def gold(sql: str = gold_sql) -> Sequence[Sequence[Any]]:
                return pipeline.run_sql(session, sql).rows

            outcome = _ask(session, name, case.id, case.question, gold, gold_sql, "duckdb")
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes


def table(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One row per set: n, correct, wrong, declined (shares of n), precision, p95."""
    rows = []
    for name in dict.fromkeys(o.set for o in outcomes):
        mine = [o for o in outcomes if o.set == name]
        n = len(mine)
        correct = sum(o.verdict in ("correct", "declined_ok") for o in mine)
        wrong = sum(o.verdict in ("wrong", "error") for o in mine)
        declined = sum(o.verdict == "declined" for o in mine)
        answered = sum(o.verdict in ("correct", "wrong", "error") for o in mine)
        right_answers = sum(o.verdict == "correct" for o in mine)
        rows.append({"set": name, "n": n, "correct": correct / n, "wrong": wrong / n,
                     "declined": declined / n,
                     "precision": right_answers / answered if answered else 1.0,
                     "lenient": sum(bool(o.lenient) for o in mine),
                     "p95_draft_ms": _p95([o.draft_ms or o.latency_ms for o in mine]),
                     "p95_ms": _p95([o.latency_ms for o in mine])})
    return rows


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["| set | n | correct | wrong | declined | precision | p95 draft (ms) | p95 ask (ms) "
             "| lenient |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['n']} | {r['correct']:.1%} | {r['wrong']:.1%} | "
                     f"{r['declined']:.1%} | {r['precision']:.1%} | {r['p95_draft_ms']:.1f} | "
                     f"{r['p95_ms']:.1f} | {r['lenient']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="spider," + ",".join(PROJECT_SETS),
                        help="comma-separated: spider and/or names in tests/eval")
    parser.add_argument("--data", type=Path, default=SPIDER)
    parser.add_argument("--db-filter", help="Spider databases whose id contains this")
    parser.add_argument("--show", choices=["wrong", "declined", "correct"], action="append",
                        default=[], help="list these outcomes after the table")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    args = parser.parse_args(argv)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="bench-drafter-") as tmp:
        for name in args.sets.split(","):
            name = name.strip()
            if name == "spider":
                if not (args.data / "dev.json").is_file():
                    print(f"skipped spider: {args.data} is not here", file=sys.stderr)
                    continue
                outcomes += run_spider(args.data, Path(tmp), args.db_filter)
            elif name:
                outcomes += run_project_set(name, Path(tmp))
    print(render(table(outcomes)))
    for kind in args.show:
        print(f"\n## {kind}")
        for o in outcomes:
            if o.verdict == kind or (kind == "wrong" and o.verdict == "error"):
                print(f"- [{o.id}] {o.question}\n    got:  {o.sql}\n    gold: {o.gold}"
                      + (f"\n    note: {o.message}" if o.message else ""))
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], ensure_ascii=False,
                                        indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
