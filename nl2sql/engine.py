"""Stage 7 — the engine: run an accepted query on a confined DuckDB connection.

The guard is the first wall; this is the second. Before any untrusted SQL
runs, the connection is locked down: the source is attached read-only, file
systems and external access are disabled, extensions cannot load, Python
replacement scans are off, memory and threads are capped, and finally the
configuration is locked so a query cannot undo any of it. Each query runs on
a fresh cursor with a timer that interrupts DuckDB when time is up.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.errors import ExecutionError, Interrupted, QueryTimeout
from nl2sql.source import Source, connect
from nl2sql.values import GuardedQuery, Result


@dataclass(frozen=True)
class Limits:
    """Resource caps for one engine."""

    timeout: float = 10.0
    max_rows: int = 1000
    memory_limit: str = "2GB"
    threads: int = 2


CONFINEMENT = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET python_enable_replacements = false",
    "SET disabled_filesystems = 'LocalFileSystem'",
)


def confine(con: duckdb.DuckDBPyConnection, limits: Limits) -> None:
    """Lock ``con`` down; the last statement makes every setting permanent."""
    for statement in CONFINEMENT:
        con.execute(statement)
    con.execute(f"SET memory_limit = '{_size(limits.memory_limit)}'")
    con.execute(f"SET threads = {int(limits.threads)}")
    con.execute("SET lock_configuration = true")


def _size(text: str) -> str:
    cleaned = text.strip().replace(" ", "")
    if not cleaned or not all(ch.isalnum() or ch == "." for ch in cleaned):
        raise ExecutionError(f"invalid memory limit {text!r}")
    return cleaned


class Engine:
    """A confined connection to one source.

    >>> # engine = Engine(source, Limits(timeout=5), cache_dir)
    >>> # engine.run(guard.check("select 1", catalog))
    """

    def __init__(self, source: Source, limits: Limits, cache_dir: Path,
                 con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.source = source
        self.limits = limits
        self._con = con if con is not None else connect(source, cache_dir)
        confine(self._con, limits)

    def run(self, query: GuardedQuery) -> Result:
        """Execute ``query``; raise :class:`QueryTimeout`, :class:`ExecutionError` or,
        on Ctrl-C, :class:`Interrupted` — the query is interrupted in every case.

        DuckDB runs in a worker thread while this thread waits in short slices: a
        blocked C call would otherwise keep Ctrl-C from being seen until it returned.
        """
        cursor = self._con.cursor()
        # A cursor is a new connection: it starts in the default catalog.
        cursor.execute(f'USE "{self.source.alias}"')
        box: dict[str, Any] = {}
        worker = threading.Thread(target=self._execute, args=(cursor, query.sql, box), daemon=True)
        started = time.perf_counter()
        worker.start()
        try:
            timed_out = self._wait(worker, cursor, started)
        except KeyboardInterrupt:
            cursor.interrupt()
            worker.join(2.0)
            raise Interrupted("interrupted; the query was stopped") from None
        finally:
            if not worker.is_alive():
                cursor.close()
        elapsed = (time.perf_counter() - started) * 1000
        return self._result(query, box, timed_out, elapsed)

    def _wait(self, worker: threading.Thread, cursor: duckdb.DuckDBPyConnection,
              started: float) -> bool:
        deadline = started + self.limits.timeout
        while worker.is_alive():
            worker.join(0.05)
            if worker.is_alive() and time.perf_counter() > deadline:
                cursor.interrupt()
                worker.join(5.0)
                return True
        return False

    def _execute(self, cursor: duckdb.DuckDBPyConnection, sql: str, box: dict[str, Any]) -> None:
        try:
            cursor.execute(sql)
            box["rows"] = cursor.fetchmany(self.limits.max_rows + 1)
            box["description"] = cursor.description or []
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    def _result(self, query: GuardedQuery, box: dict[str, Any], timed_out: bool,
                elapsed: float) -> Result:
        error = box.get("error")
        if timed_out or isinstance(error, duckdb.InterruptException):
            raise QueryTimeout(f"the query ran longer than {self.limits.timeout:g} s and was stopped")
        if isinstance(error, duckdb.Error):
            raise ExecutionError(_first_line(error), sql=query.sql) from error
        if error is not None:
            raise ExecutionError(f"the query failed: {type(error).__name__}: {error}") from error
        rows, description = box["rows"], box["description"]
        truncated = len(rows) > self.limits.max_rows or (
            query.limited and len(rows) >= (query.limit or 0))
        return Result(columns=[d[0] for d in description], types=[str(d[1]) for d in description],
                      rows=[tuple(r) for r in rows[: self.limits.max_rows]],
                      elapsed_ms=round(elapsed, 2), truncated=truncated)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
