"""Resources: the guard's work on huge queries, its time, and a result's size in memory.

Behaviour, not wall-clock: the cost of checking grows linearly (``benchmarks/bench_guard.py``
measures it); these tests prove that a 2,400-column query over a masked table is checked
and run with every mask holding, that checking counts toward the query timeout (a timeout
far below any check's cost makes the guard slow deterministically), that text too long to
check is refused before it is parsed, and that a result too large for memory is refused by
the worker before it reaches the CLI.
"""

from __future__ import annotations

import dataclasses
import gc
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import IsolatedEnv, one_fast

from nl2sql import pipeline
from nl2sql.catalog import Catalog, Column, Table
from nl2sql.errors import ConfigError, ExecutionError, QueryTimeout, UnsafeSQL
from nl2sql.safety import guard, policy
from nl2sql.safety.engine import Engine, Limits
from nl2sql.schema.source import resolve
from nl2sql.settings import Settings, load_settings

WIDTH = 2_400  # the width the issue measured (212 s of guard CPU before)
ROWS = 3


def _masked(i: int) -> bool:
    return i % 4 == 1


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Catalog]:
    """A database with one table of WIDTH columns: every 4th a masked phone, the others
    plain numbers; and the catalog that says so (built directly: introspecting 2,400
    columns is not what is tested here)."""
    path = tmp_path_factory.mktemp("wide") / "wide.duckdb"
    values = ", ".join(  # masked: an 11-digit phone-like text, unique per cell
        f"'1380' || lpad(CAST(r * 10000 + {i} AS VARCHAR), 7, '0') AS c{i}"
        if _masked(i) else f"r * 10000 + {i} AS c{i}" for i in range(WIDTH))
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE w AS SELECT {values} FROM range({ROWS}) AS t(r)")
    columns = [Column(f"c{i}", "VARCHAR", tags={"pii": "phone", "mask": "partial"})
               if _masked(i) else Column(f"c{i}", "BIGINT") for i in range(WIDTH)]
    return path, Catalog(name="wide", tables={"w": Table("w", columns)})


@pytest.fixture(scope="module")
def wide_engine(wide: tuple[Path, Catalog],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path, _ = wide
    with Engine(resolve(str(path)), Limits(timeout=60, max_rows=100),
                tmp_path_factory.mktemp("wide-cache")) as engine:
        yield engine


def _expected(i: int, row: int) -> Any:
    value = row * 10000 + i
    return f"1380{value:07d}" if _masked(i) else value


@pytest.mark.slow
@pytest.mark.parametrize("sql", [
    "SELECT * FROM w",
    "SELECT " + ", ".join(f"c{i}" for i in range(WIDTH)) + " FROM w",
], ids=["star", "named"])
def test_a_wide_query_is_checked_and_every_mask_holds(
        sql: str, wide: tuple[Path, Catalog], wide_engine: Engine) -> None:
    _, catalog = wide
    access = policy.resolve(catalog, policy.DEFAULT_ROLE)
    query = guard.check(sql, catalog, guard.Policy(row_limit=100), access=access)
    result = wide_engine.run(query)
    assert len(result.columns) == WIDTH and len(result.rows) == ROWS
    masked = [i for i in range(WIDTH) if _masked(i)]
    for row_no, row in enumerate(sorted(result.rows, key=lambda r: r[0])):
        for i in range(WIDTH):
            raw = _expected(i, row_no)
            if _masked(i):
                assert row[i] != raw and row[i] == raw[:3] + "****" + raw[-4:], (i, row[i])
            else:
                assert row[i] == raw
    reported = {(m.position, m.source) for m in query.masking}
    assert reported == {(i, f"w.c{i}") for i in masked}


@pytest.mark.slow
def test_a_wide_query_keeps_its_masks_in_filters(wide: tuple[Path, Catalog],
                                                 wide_engine: Engine) -> None:
    """Filtering on a raw value of a masked column finds nothing, on the widest query."""
    _, catalog = wide
    access = policy.resolve(catalog, policy.DEFAULT_ROLE)
    raw = _expected(WIDTH - 3, 1)  # a masked column (WIDTH - 3 ≡ 1 mod 4)
    sql = ("SELECT " + ", ".join(f"c{i}" for i in range(WIDTH))
           + f" FROM w WHERE c{WIDTH - 3} = '{raw}'")
    query = guard.check(sql, catalog, access=access)
    assert wide_engine.run(query).rows == []


def test_the_explain_plan_never_shows_the_mask_key(wide: tuple[Path, Catalog]) -> None:
    """The plan people see has the key blanked; the plan that runs has it."""
    _, catalog = wide
    hashed = dataclasses.replace(policy.resolve(catalog, policy.DEFAULT_ROLE),
                                 masks={"w.c1": "hash"}, key="0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    query = guard.check("SELECT c1, c2 FROM w", catalog, access=hashed)
    assert query.executed_sql is not None and query.shown_sql() is not None
    assert hashed.key in query.executed_sql
    assert hashed.key not in query.explain_sql
    assert query.explain_sql == query.executed_sql.replace(hashed.key, "*" * len(hashed.key))


# ------------------------------------------------------------------------- guard timeout


def test_checking_longer_than_the_timeout_is_stopped(wide: tuple[Path, Catalog]) -> None:
    _, catalog = wide
    access = policy.resolve(catalog, policy.DEFAULT_ROLE)
    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(QueryTimeout) as caught:
        guard.check("SELECT * FROM w", catalog, guard.Policy(timeout=1e-6), access=access)
    assert caught.value.exit_code == 4
    assert "checking the query took longer than" in caught.value.message
    assert signal.getsignal(signal.SIGALRM) is before  # the timer handler is put back
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # and no timer is left armed
    assert gc.isenabled()  # the cycle collector, paused while checking, runs again


@pytest.mark.parametrize("timeout", [10 ** -k for k in range(1, 7)] * 3)
def test_a_timer_firing_at_any_moment_ends_in_a_result_or_a_query_timeout(
        timeout: float, wide: tuple[Path, Catalog]) -> None:
    """Wherever the timer fires (in a stage, between them, as the check finishes), the
    caller gets a checked query or QueryTimeout, never a stray exception or timer."""
    _, catalog = wide
    access = policy.resolve(catalog, policy.DEFAULT_ROLE)
    before = signal.getsignal(signal.SIGALRM)
    try:
        query = guard.check("SELECT c1, c2, c3 FROM w", catalog, guard.Policy(timeout=timeout),
                            access=access)
        assert query.executed_sql is not None
    except QueryTimeout:
        pass
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert gc.isenabled()


def test_checking_in_another_thread_is_stopped_between_stages(
        wide: tuple[Path, Catalog]) -> None:
    """No timer outside the main thread: the checkpoints between stages stop it."""
    _, catalog = wide
    access = policy.resolve(catalog, policy.DEFAULT_ROLE)
    raised: list[BaseException] = []

    def check() -> None:
        try:
            guard.check("SELECT * FROM w", catalog, guard.Policy(timeout=1e-6), access=access)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            raised.append(exc)

    worker = threading.Thread(target=check)
    worker.start()
    worker.join(120)
    assert len(raised) == 1 and isinstance(raised[0], QueryTimeout), raised


@pytest.mark.slow
def test_a_check_within_the_timeout_is_unchanged(wide: tuple[Path, Catalog]) -> None:
    _, catalog = wide
    access = policy.resolve(catalog, policy.DEFAULT_ROLE)
    plain = guard.check("SELECT c1, c2 FROM w", catalog, access=access)
    timed = guard.check("SELECT c1, c2 FROM w", catalog, guard.Policy(timeout=600),
                        access=access)
    assert (timed.sql, timed.executed_sql, timed.masking) == (
        plain.sql, plain.executed_sql, plain.masking)


def test_the_engine_runs_a_query_for_what_checking_left(sample_engine: Any,
                                                        sample_catalog: Catalog) -> None:
    """When checking took the whole timeout, the query is not run at all."""
    query = guard.check("SELECT count(*) FROM orders", sample_catalog)
    with pytest.raises(QueryTimeout, match="checking the query took the whole"):
        sample_engine.run(query, timeout=0.0)
    assert sample_engine.run(query, timeout=30).rows  # time left: it runs


UNIONS = " UNION ALL ".join(f"SELECT customer_id, phone FROM customers WHERE customer_id > {i}"
                            for i in range(150))


@pytest.mark.slow  # the CLI test below covers the same path in the fast subset
def test_the_pipeline_counts_checking_toward_the_query_timeout(
        sample_db_path: Path, shared_cache_dir: Path) -> None:
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir, role="analyst",
                        drafter="offline")
    with pipeline.open_session(settings) as session:
        assert pipeline.run_sql(session, UNIONS).rows  # with the usual timeout, it runs
        session.settings = dataclasses.replace(settings, query_timeout=1e-6)
        with pytest.raises(QueryTimeout, match="checking the query took longer"):
            pipeline.run_sql(session, UNIONS)


def test_cli_a_check_past_the_timeout_exits_as_a_query_timeout(
        isolated_env: IsolatedEnv, sample_db_path: Path) -> None:
    result = isolated_env.run("sql", UNIONS, "--db", str(sample_db_path), "--role", "analyst",
                              env={"NL2SQL_QUERY_TIMEOUT": "0.000001"})
    assert result.returncode == 4, result.stderr
    assert "checking the query took longer than" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------- input size


def test_a_multi_megabyte_query_is_refused_before_it_is_parsed(
        sample_catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the text was parsed")

    monkeypatch.setattr(guard, "_parse_one", no_parse)
    text = "SELECT 1 AS x" + " " * 5_000_000
    with pytest.raises(UnsafeSQL) as caught:
        guard.check(text, sample_catalog)
    assert caught.value.rule == "too_long"
    assert "\n" not in caught.value.message and "limit is 20,000" in caught.value.message


def test_pipeline_refuses_a_multi_megabyte_query_in_one_line(sample_db_path: Path,
                                                             shared_cache_dir: Path) -> None:
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir, drafter="offline")
    with pipeline.open_session(settings) as session:
        for dialect in ("duckdb", "sqlite"):
            with pytest.raises(UnsafeSQL) as caught:
                pipeline.run_sql(session, "SELECT 1 FROM orders WHERE " + "1=1 AND " * 700_000
                                 + "1=1", dialect=dialect)
            assert caught.value.rule == "too_long", dialect
            assert "\n" not in caught.value.message


# ------------------------------------------------------------------------- result size


@pytest.fixture(scope="module")
def capped_engine(sample_db_path: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with Engine(resolve(str(sample_db_path)), Limits(timeout=60, max_rows=1000,
                                                     max_bytes=2_000_000),
                tmp_path_factory.mktemp("capped")) as engine:
        yield engine


@pytest.mark.parametrize("sql", one_fast([
    "SELECT repeat('x', 1000000) || repeat('y', 1000000) AS v",  # one value over the cap
    "SELECT repeat('x', 100000) AS v FROM range(1000)",  # many values over it together
    "SELECT list_resize(['x'], 100000, 'abc') AS v FROM range(30)",  # lists count their items
]), ids=["one-value", "many-rows", "lists"])
def test_a_result_too_large_for_memory_is_refused(capped_engine: Engine,
                                                  sample_catalog: Catalog, sql: str) -> None:
    query = guard.check(sql, sample_catalog)
    with pytest.raises(ExecutionError) as caught:
        capped_engine.run(query)
    assert "the result is too large" in caught.value.message
    assert "NL2SQL_MAX_RESULT_BYTES" in caught.value.message
    assert not isinstance(caught.value, QueryTimeout)
    # the worker is still there for the next query
    assert capped_engine.run(guard.check("SELECT 1 AS one", sample_catalog)).rows == [(1,)]


def test_a_result_under_the_cap_comes_back_whole(capped_engine: Engine,
                                                 sample_catalog: Catalog) -> None:
    query = guard.check("SELECT repeat('x', 1000) AS v FROM range(500)", sample_catalog)
    result = capped_engine.run(query)
    assert len(result.rows) == 500 and result.rows[0][0] == "x" * 1000


def test_cli_refuses_a_result_too_large_in_one_line(isolated_env: IsolatedEnv,
                                                    sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT repeat('x', 1000000) AS v FROM range(10)",
                              "--db", str(sample_db_path),
                              env={"NL2SQL_MAX_RESULT_BYTES": "3000000"})
    assert result.returncode == 4, result.stderr
    assert "the result is too large" in result.stderr and "xxxx" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("raw, ok", [("67108864", True), ("1024", True), ("1023", False),
                                     ("64MB", False)])
def test_max_result_bytes_setting(raw: str, ok: bool) -> None:
    environ = {"NL2SQL_MAX_RESULT_BYTES": raw}
    if ok:
        assert load_settings(environ=environ, env_file=None).max_result_bytes == int(raw)
        assert Limits.of(load_settings(environ=environ, env_file=None)).max_bytes == int(raw)
    else:
        with pytest.raises(ConfigError, match="max_result_bytes|max result bytes"):
            load_settings(environ=environ, env_file=None)
