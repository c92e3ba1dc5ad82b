"""The evaluation harness: run a question set and compare results with the gold SQL's.

Comparison is by execution, not SQL text: every gold column must appear among
the predicted columns with the same values (numbers within a tolerance),
rows compared as multisets unless the gold query orders its result.
Extra predicted columns are fine.

Question files are YAML::

    database: shop                  # a name (schemas/…, sample_db/…) or a path
    questions:
      - {id: en-001, lang: en, category: count, question: How many customers?,
         sql: SELECT count(*) FROM customers}
      - {id: no-001, lang: en, category: decline, question: What is our churn?, sql: null}
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
import yaml

from nl2sql.errors import ConfigError, DrafterDeclined, NL2SQLError
from nl2sql.values import Answer


@dataclass
class Case:
    id: str
    question: str
    sql: str | None
    lang: str = "en"
    category: str = "other"


@dataclass
class Outcome:
    case: Case
    verdict: str  # correct | wrong | declined | error | declined_ok | answered_unanswerable
    latency_ms: float
    sql: str | None = None
    message: str | None = None


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return summarize(self.outcomes)


def load_cases(path: Path) -> tuple[str | None, list[Case]]:
    """The database named by the file (if any) and its questions."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"),  # libyaml when installed
                         Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())[:200]
        raise ConfigError(f"cannot read question file {path}: {problem}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'questions' list")
    cases = [Case(id=str(q.get("id", i)), question=str(q["question"]), sql=q.get("sql"),
                  lang=str(q.get("lang", "en")), category=str(q.get("category", "other")))
             for i, q in enumerate(data["questions"])]
    return data.get("database"), cases


def resolve_database(name: str | None, questions_file: Path, project_root: Path) -> str | None:
    """``shop`` -> sample_db/shop.duckdb; relative paths from the file or the project root."""
    if not name:
        return None
    for candidate in (project_root / "sample_db" / f"{name}.duckdb", questions_file.parent / name,
                      project_root / name):
        if candidate.exists() or candidate.name == "shop.duckdb":
            return str(candidate)
    return name


# --- comparing results ---------------------------------------------------------------------


def _key(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        return round(float(value), 2) + 0.0
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        value = value.date()  # a day as a timestamp at midnight is that day
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = str(value)
    if _MONTH_LABEL.fullmatch(text):
        return f"{text}-01"  # "2025-03" labels the month that starts on 2025-03-01
    return text


_MONTH_LABEL = re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])")


def gold_is_ordered(sql: str) -> bool:
    """True when the gold query's outermost SELECT has ORDER BY."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False
    return tree.args.get("order") is not None


def results_match(gold_rows: Sequence[Sequence[Any]], pred_rows: Sequence[Sequence[Any]],
                  ordered: bool) -> bool:
    """Every gold column maps to a distinct predicted column with the same values."""
    if len(gold_rows) != len(pred_rows):
        return False
    if not gold_rows:
        return True
    gold_cols = list(zip(*[[_key(v) for v in r] for r in gold_rows], strict=False))
    pred_cols = list(zip(*[[_key(v) for v in r] for r in pred_rows], strict=False))
    candidates = [[j for j, p in enumerate(pred_cols) if Counter(p) == Counter(g)]
                  for g in gold_cols]
    if any(not c for c in candidates):
        return False
    for mapping in itertools.islice(itertools.product(*candidates), 2000):
        if len(set(mapping)) != len(mapping):
            continue
        projected = [tuple(col[i] for col in (pred_cols[j] for j in mapping))
                     for i in range(len(pred_rows))]
        gold = [tuple(col[i] for col in gold_cols) for i in range(len(gold_rows))]
        if (projected == gold) if ordered else (Counter(projected) == Counter(gold)):
            return True
    return False


# --- running ---------------------------------------------------------------------------------


def run_case(case: Case, ask: Callable[[str], Answer], gold: Callable[[str], Answer]) -> Outcome:
    started = time.perf_counter()
    try:
        answer = ask(case.question)
    except DrafterDeclined as exc:
        elapsed = (time.perf_counter() - started) * 1000
        verdict = "declined_ok" if case.sql is None else "declined"
        return Outcome(case, verdict, elapsed, message=exc.message)
    except NL2SQLError as exc:
        elapsed = (time.perf_counter() - started) * 1000
        verdict = "declined_ok" if case.sql is None else "error"
        return Outcome(case, verdict, elapsed, message=f"{exc.kind}: {exc.message}")
    elapsed = (time.perf_counter() - started) * 1000
    if case.sql is None:
        return Outcome(case, "answered_unanswerable", elapsed, sql=answer.sql)
    expected = gold(case.sql)
    ok = results_match(expected.rows, answer.rows, gold_is_ordered(case.sql))
    return Outcome(case, "correct" if ok else "wrong", elapsed, sql=answer.sql)


def run(cases: list[Case], ask: Callable[[str], Answer], gold: Callable[[str], Answer],
        progress: Callable[[Outcome], None] | None = None) -> Report:
    report = Report()
    for case in cases:
        outcome = run_case(case, ask, gold)
        report.outcomes.append(outcome)
        if progress:
            progress(outcome)
    return report


def _shares(outcomes: list[Outcome]) -> dict[str, Any]:
    n = len(outcomes) or 1
    good = sum(o.verdict in ("correct", "declined_ok") for o in outcomes)
    wrong = sum(o.verdict in ("wrong", "error", "answered_unanswerable") for o in outcomes)
    declined = sum(o.verdict == "declined" for o in outcomes)
    answered = sum(o.verdict in ("correct", "wrong", "answered_unanswerable") for o in outcomes)
    return {"n": len(outcomes), "accuracy": round(good / n, 4), "wrong": round(wrong / n, 4),
            "declined": round(declined / n, 4), "answered": round(answered / n, 4)}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    """Overall, per-category and per-language shares, and latency percentiles."""
    latencies = [o.latency_ms for o in outcomes]
    by = {key: {value: _shares([o for o in outcomes if getattr(o.case, key) == value])
                for value in sorted({getattr(o.case, key) for o in outcomes})}
          for key in ("category", "lang")}
    return {"overall": _shares(outcomes), "by_category": by["category"], "by_lang": by["lang"],
            "latency_ms": {"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95),
                           "mean": round(statistics.fmean(latencies), 2) if latencies else 0.0}}
