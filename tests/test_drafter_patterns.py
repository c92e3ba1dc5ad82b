"""Issue 13's failure patterns, one fixture file: each question is answered right (the same
rows as its gold SQL, by executing both) or declined, never answered wrong.

Cases live in ``tests/fixtures/drafter_patterns.yaml``; the databases are the bundled shop
database and, from ``../shared``, Chinook and Spider dev databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from conftest import load_yaml

from nl2sql import pipeline
from nl2sql.drafting import evaluate
from nl2sql.errors import DrafterDeclined
from nl2sql.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.slow

CASES = load_yaml((Path(__file__).parent / "fixtures" / "drafter_patterns.yaml")
                       .read_text(encoding="utf-8"))["cases"]
SHARED = PROJECT_ROOT.parent / "shared" / "datasets"


def database(name: str, sample_db_path: Path) -> Path:
    if name == "shop":
        return sample_db_path
    if name == "chinook":
        return SHARED / "chinook" / "Chinook_Sqlite.sqlite"
    spider = name.removeprefix("spider/")
    return SHARED / "spider-dev" / "database" / spider / f"{spider}.sqlite"


@pytest.fixture(scope="module")
def sessions(sample_db_path: Path, shared_cache_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, pipeline.Session]]:
    opened: dict[str, pipeline.Session] = {}
    tmp = tmp_path_factory.mktemp("patterns")

    class Lazy(dict[str, pipeline.Session]):
        """Opened on first use: the shop cases run even where ../shared is absent."""

        def __missing__(self, name: str) -> pipeline.Session:
            path = database(name, sample_db_path)
            if not path.is_file():  # as every test on ../shared's data does
                pytest.skip(f"{path} is not here (../shared is absent)")
            settings = Settings(db=str(path), drafter="offline", row_limit=100_000,
                                cache_dir=shared_cache_dir, schemas_dir=PROJECT_ROOT / "schemas",
                                audit_log=tmp / "audit.jsonl")
            opened[name] = self[name] = pipeline.open_session(settings)
            return opened[name]

    try:
        yield Lazy()
    finally:
        for session in opened.values():
            session.close()


def test_every_pattern_of_the_issue_has_cases() -> None:
    patterns = {c["pattern"] for c in CASES}
    assert patterns >= {"recency", "column_or_value", "by_agent", "ambiguous_column",
                        "measure_comparison", "condition", "list_not_count", "negation",
                        "conjunction", "join_path", "grain", "ranking"}
    assert all(("sql" in c) != bool(c.get("decline")) for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c['pattern']}:{c['question'][:40]}" for c in CASES])
def test_answered_right_or_declined(case: dict[str, Any],
                                    sessions: dict[str, pipeline.Session]) -> None:
    session = sessions[case["db"]]
    if case.get("decline"):
        with pytest.raises(DrafterDeclined):
            pipeline.ask(session, case["question"])
        return
    answer = pipeline.ask(session, case["question"])
    dialect = "duckdb" if case["db"] == "shop" else "sqlite"
    gold = pipeline.run_sql(session, case["sql"], dialect=dialect)
    ordered = sqlglot.parse_one(case["sql"], read=dialect).args.get("order") is not None
    assert evaluate.results_match(gold.rows, answer.rows, ordered), (
        f"{answer.sql}\n{answer.rows[:5]} != {gold.rows[:5]}")
    if "columns" in case:
        assert answer.columns == case["columns"], answer.sql
