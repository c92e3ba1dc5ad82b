"""Regression test: the offline drafter on the project's question sets.

Targets from the issue: on the shop set at least 90% answered correctly and at most
3% answered wrongly (the rest declined). Chinook has no semantic layer at all; its
floor is lower but wrong answers stay rare. Latency is measured by `nl2sql eval`
and the benchmarks, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nl2sql import pipeline
from nl2sql.drafting import evaluate
from nl2sql.interfaces.cli import ensure_sample_db
from nl2sql.settings import PROJECT_ROOT, Settings

# the evaluation sets, question by question: left out of the inner loop (-m "not slow")
pytestmark = pytest.mark.slow

EVAL_DIR = Path(__file__).parent / "eval"


def run_set(name: str, db: str, cache_dir: Path) -> dict:
    _, cases = evaluate.load_cases(EVAL_DIR / name)
    settings = Settings(db=db, drafter="offline", row_limit=100_000, cache_dir=cache_dir)
    with pipeline.open_session(settings) as session:
        report = evaluate.run(cases, lambda q: pipeline.ask(session, q),
                              lambda s: pipeline.run_sql(session, s))
    failed = [f"{o.verdict}: {o.case.id} {o.case.question}" for o in report.outcomes
              if o.verdict in ("wrong", "error", "answered_unanswerable")]
    return {**report.summary()["overall"], "failed": failed}


def test_shop_set_meets_targets(tmp_path: Path) -> None:
    # The full-scale sample database: the gold answers were written against it.
    db = PROJECT_ROOT / "sample_db" / "shop.duckdb"
    ensure_sample_db(str(db))
    result = run_set("shop.yaml", str(db), tmp_path)
    assert result["n"] >= 120
    assert result["accuracy"] >= 0.94, result  # issue 13: the own set stays at 94% or more
    assert result["wrong"] <= 0.03, result["failed"]


def test_chinook_set_without_semantic_layer(tmp_path: Path) -> None:
    chinook = PROJECT_ROOT.parent / "shared" / "datasets" / "chinook" / "Chinook_Sqlite.sqlite"
    if not chinook.is_file():
        pytest.skip(f"{chinook} is not here (../shared is absent)")
    result = run_set("chinook.yaml", str(chinook), tmp_path)
    assert result["accuracy"] >= 0.70, result
    assert result["wrong"] <= 0.05, result["failed"]


def test_every_question_set_is_balanced() -> None:
    for path in EVAL_DIR.glob("*.yaml"):
        _, cases = evaluate.load_cases(path)
        langs = {c.lang for c in cases}
        assert langs == {"en", "zh"}, path
        counts = {lang: sum(c.lang == lang for c in cases) for lang in langs}
        assert abs(counts["en"] - counts["zh"]) <= 2, (path, counts)
