"""The sandboxed engine: runaway queries are stopped on time, the worker comes back,
and the confined worker cannot write files or reach settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from nl2sql.errors import ExecutionError, QueryTimeout
from nl2sql.safety.engine import Engine, Limits
from nl2sql.schema.source import resolve
from nl2sql.values import GuardedQuery


def raw(sql: str) -> GuardedQuery:
    """SQL handed straight to the engine, as if the guard had let it through."""
    return GuardedQuery(sql=sql, original=sql)


@pytest.fixture
def engine(sample_db_path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    with Engine(resolve(str(sample_db_path)), Limits(timeout=1.0, max_rows=50),
                tmp_path / "cache") as eng:
        yield eng


@pytest.mark.parametrize("runaway", [
    "SELECT count(*) FROM range(1000000000000)",
    "SELECT count(*) FROM order_items a, order_items b, order_items c",
    "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t",
])
def test_runaway_stops_within_one_and_a_half_timeouts(engine: Engine, runaway: str) -> None:
    # the clock starts when the query does: the worker's start-up (imports, attaching) is
    # not part of the bound, and on a loaded machine it took 0.5 s of it alone
    engine.run(raw("SELECT 1"))
    started = time.perf_counter()
    with pytest.raises(QueryTimeout):
        engine.run(raw(runaway))
    assert time.perf_counter() - started < 1.5
    assert engine.run(raw("SELECT 42 AS answer")).rows == [(42,)]


def test_worker_is_reused_between_queries(engine: Engine) -> None:
    engine.run(raw("SELECT 1"))
    first = engine._process.pid
    for _ in range(5):
        engine.run(raw("SELECT count(*) FROM customers"))
    assert engine._process.pid == first


def test_worker_cannot_write_or_change_settings(engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "leak.csv"
    for sql in (f"COPY (SELECT 1) TO '{target}'", "SET lock_configuration = false",
                "SET enable_external_access = true", f"ATTACH '{tmp_path / 'x.db'}' AS x",
                "SELECT * FROM read_text('/etc/hostname')"):
        with pytest.raises(ExecutionError):
            engine.run(raw(sql))
    assert not target.exists() and not (tmp_path / "x.db").exists()
    assert engine.run(raw("SELECT count(*) FROM orders")).rows[0][0] > 0


def test_row_cap_and_truncation(engine: Engine) -> None:
    result = engine.run(raw("SELECT * FROM range(500)"))
    assert len(result.rows) == 50 and result.truncated


def test_a_killed_worker_is_replaced(engine: Engine) -> None:
    engine.run(raw("SELECT 1"))
    engine._process.kill()
    engine._process.wait(2)
    # A worker found dead between queries is replaced before the next query runs.
    assert engine.run(raw("SELECT 2")).rows == [(2,)]
    assert engine._process.poll() is None


@pytest.mark.slow
def test_worker_ignores_modules_in_the_current_directory(isolated_env: Any,
                                                         sample_db_path: Path) -> None:
    """A json.py or inspect.py where the user stands is never imported by the worker."""
    marker = isolated_env.cwd / "imported.txt"
    for name in ("inspect", "json", "duckdb"):
        (isolated_env.cwd / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r})\nraise SystemExit(3)\n")
    # a real process, as a user starts it there: neither it nor its worker imports them
    result = isolated_env.run_process("sql", "SELECT count(*) AS n FROM customers", "--db",
                                      str(sample_db_path), "-f", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].isdigit()
    assert not marker.exists()
