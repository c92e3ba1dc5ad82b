"""The guard (tests/fixtures/guard_cases.yaml) and the engine behind it.

Accepted queries are executed through the confined :class:`nl2sql.safety.engine.Engine` and
compared with the same SQL run directly on DuckDB: the guard may add a LIMIT and
regenerate the text, but it must never change the answer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import examples, load_yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rows import as_list, normalize

from nl2sql.catalog import Catalog
from nl2sql.errors import ExecutionError, InvalidSQL, QueryTimeout, UnknownIdentifier, UnsafeSQL
from nl2sql.safety import guard
from nl2sql.safety.engine import Engine, Limits
from nl2sql.schema.source import resolve
from nl2sql.values import GuardedQuery

CASES = load_yaml(
    (Path(__file__).parent / "fixtures" / "guard_cases.yaml").read_text(encoding="utf-8"))
BIG = guard.Policy(row_limit=100_000)


def case_id(case: dict[str, Any]) -> str:
    text = " ".join(str(case["sql"]).split()) or "<blank>"
    return text[:60]


def params(section: str) -> list[Any]:
    return [pytest.param(c, id=case_id(c)) for c in CASES[section]]


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("case", params("accepted"))
def test_accepted(case: dict[str, Any], sample_catalog: Catalog, sample_engine: Engine,
                  gold: Any) -> None:
    sql = case["sql"]
    query = guard.check(sql, sample_catalog, BIG)
    assert isinstance(query, GuardedQuery)
    assert query.original == sql
    result = sample_engine.run(query)
    assert normalize(result.rows) == normalize(gold(sql)), query.sql
    if "tables" in case:
        assert sorted(query.tables) == sorted(case["tables"])
    if "columns" in case:
        assert sorted(query.columns) == sorted(case["columns"])


@pytest.mark.parametrize("case", params("accepted"))
def test_guard_output_is_stable(case: dict[str, Any], sample_catalog: Catalog) -> None:
    """Checking the guard's own output again changes nothing (idempotent)."""
    first = guard.check(case["sql"], sample_catalog, BIG)
    second = guard.check(first.sql, sample_catalog, BIG)
    assert second.sql == first.sql
    assert sorted(second.tables) == sorted(first.tables)


# --------------------------------------------------------------------------- rejected


@pytest.mark.parametrize("case", params("rejected"))
def test_rejected(case: dict[str, Any], sample_catalog: Catalog) -> None:
    with pytest.raises(UnsafeSQL) as info:
        guard.check(case["sql"], sample_catalog, guard.Policy(row_limit=100))
    error = info.value
    assert error.rule in as_list(case["rule"]), f"rule {error.rule!r}: {error.message}"
    assert error.exit_code == case.get("exit_code", 3)
    assert isinstance(error, InvalidSQL) == (error.exit_code == 2)
    assert error.to_json()["rule"] == error.rule
    assert error.message and "\n" not in error.message
    if "kind" in case:
        assert error.kind == case["kind"]
    for part in as_list(case.get("message", [])):
        assert part in error.message, error.message
    if "suggestions" in case:
        assert isinstance(error, UnknownIdentifier)
        assert error.suggestions == case["suggestions"]
        assert error.to_json()["suggestions"] == case["suggestions"]


def test_too_long_query(sample_catalog: Catalog) -> None:
    sql = "SELECT 1 AS x" + " " * 200 + "-- pad"
    with pytest.raises(UnsafeSQL) as info:
        guard.check(sql, sample_catalog, guard.Policy(max_chars=100))
    assert info.value.rule == "too_long"


def test_deeply_nested_query_is_refused_not_crashed(sample_catalog: Catalog) -> None:
    sql = "SELECT " + "(" * 3000 + "1" + ")" * 3000
    with pytest.raises(UnsafeSQL) as info:
        guard.check(sql, sample_catalog)
    assert info.value.rule in ("too_deep", "parse")


SQLISH = st.lists(st.sampled_from([
    "SELECT", "FROM", "WHERE", "orders", "customers", "status", "*", ",", "(", ")", ";",
    "'x'", "1", "read_text", "getenv(", "WITH", "AS", "t", "UNION", "LIMIT", "--", "/*",
    "DROP", "INSERT", "INTO", "\"", "JOIN", "ON", "=", "GROUP BY", "ATTACH", "COPY",
]), max_size=14).map(" ".join)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SQLISH, st.text(max_size=60)))
def test_guard_fails_closed_on_any_text(sample_catalog: Catalog, text: str) -> None:
    """Whatever the text, the guard accepts it or raises UnsafeSQL, nothing else."""
    try:
        query = guard.check(text, sample_catalog, guard.Policy(row_limit=10))
    except UnsafeSQL as exc:
        assert exc.rule
        return
    assert set(query.tables) <= set(sample_catalog.tables)


# --------------------------------------------------------------------------- LIMIT


@pytest.mark.parametrize("case", params("limits"))
def test_limits(case: dict[str, Any], sample_catalog: Catalog, gold: Any) -> None:
    row_limit = case["row_limit"]
    query = guard.check(case["sql"], sample_catalog, guard.Policy(row_limit=row_limit))
    rows = gold(query.sql)  # directly on DuckDB: the engine's own row cap plays no part
    assert len(rows) == case["rows"], query.sql
    assert len(rows) <= row_limit
    if "limited" in case:
        assert query.limited is case["limited"], query.sql
    if query.limited:
        assert query.limit == row_limit
        assert any("LIMIT" in note for note in query.notes)


def test_limit_is_reported(sample_catalog: Catalog) -> None:
    added = guard.check("SELECT * FROM orders", sample_catalog, guard.Policy(row_limit=10))
    assert (added.limit, added.limited) == (10, True)
    kept = guard.check("SELECT * FROM orders LIMIT 3", sample_catalog,
                       guard.Policy(row_limit=10))
    assert (kept.limit, kept.limited, kept.notes) == (3, False, [])


# --------------------------------------------------------------------------- the engine


@pytest.fixture
def tight_engine(sample_db_path: Path, tmp_path: Path) -> Any:
    engine = Engine(resolve(str(sample_db_path)), Limits(timeout=0.5, max_rows=10),
                    tmp_path / "cache")
    yield engine
    engine.close()


def unguarded(sql: str) -> GuardedQuery:
    """A query the guard never saw: tests the engine's own confinement."""
    return GuardedQuery(sql=sql, original=sql)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/*')",
    "COPY (SELECT 1) TO 'leak.csv'",
    "ATTACH 'other.duckdb' AS other",
    "INSERT INTO orders SELECT * FROM orders LIMIT 1",
    "SET threads = 8",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "LOAD httpfs",
])
def test_engine_is_confined_even_without_the_guard(tight_engine: Engine, sql: str,
                                                   tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExecutionError):
        tight_engine.run(unguarded(sql))
    assert not (tmp_path / "leak.csv").exists()
    assert tight_engine.run(unguarded("SELECT count(*) FROM orders")).rows[0][0] > 0


@pytest.mark.slow  # waits for a real timeout
def test_engine_timeout(tight_engine: Engine) -> None:
    slow = ("SELECT sum(a.quantity * b.quantity * c.quantity) "
            "FROM order_items a, order_items b, order_items c")
    started = time.perf_counter()
    with pytest.raises(QueryTimeout) as info:
        tight_engine.run(unguarded(slow))
    assert time.perf_counter() - started < 10
    assert info.value.exit_code == 4 and info.value.kind == "timeout"
    # the engine is still usable after an interrupted query
    assert tight_engine.run(unguarded("SELECT 42")).rows == [(42,)]


def test_engine_caps_rows(tight_engine: Engine) -> None:
    result = tight_engine.run(unguarded("SELECT * FROM orders"))
    assert len(result.rows) == 10
    assert result.truncated
    assert result.columns[0] == "order_id"
    assert len(result.types) == len(result.columns)


def test_engine_reports_errors_in_one_line(tight_engine: Engine, sample_catalog: Catalog) -> None:
    query = guard.check("SELECT CAST('abc' AS INTEGER) AS n", sample_catalog)
    with pytest.raises(ExecutionError) as info:
        tight_engine.run(query)
    assert "\n" not in info.value.message
    assert info.value.exit_code == 4
