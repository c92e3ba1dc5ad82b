"""Stage 7 — the engine: run an accepted query on a confined DuckDB connection.

The guard is the first wall; this is the second. Before any untrusted SQL
runs, the connection is locked down: the source is attached read-only, file
systems and external access are disabled, extensions cannot load, Python
replacement scans are off, memory and threads are capped, and finally the
configuration is locked so a query cannot undo any of it. Each query runs on
a fresh cursor with a timer that interrupts DuckDB when time is up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from nl2sql.errors import ExecutionError, Interrupted, QueryTimeout
from nl2sql.schema.source import Source
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
    """Runs accepted queries in a warm, confined worker process (see :mod:`nl2sql.safety.sandbox`).

    >>> # with Engine(source, Limits(timeout=5), cache_dir) as engine:
    >>> #     engine.run(guard.check("select 1", catalog))
    """

    def __init__(self, source: Source, limits: Limits, cache_dir: Path) -> None:
        self.source = source
        self.limits = limits
        self.cache_dir = cache_dir
        self._process: Any = None
        self._channel: Any = None

    def run(self, query: GuardedQuery) -> Result:
        """Execute ``query``; raise :class:`QueryTimeout`, :class:`ExecutionError` or,
        on Ctrl-C, :class:`Interrupted`. A runaway worker is killed, and the next query
        gets a fresh one."""
        self._ensure_worker()
        started = time.perf_counter()
        try:
            self._channel.send((query.executed_sql or query.sql, self.limits.max_rows))
            reply = self._wait(started)
        except KeyboardInterrupt:
            self._kill()
            raise Interrupted("interrupted; the query was stopped") from None
        except (BrokenPipeError, EOFError, OSError) as exc:
            self._kill()
            raise ExecutionError("the query worker stopped unexpectedly") from exc
        elapsed = (time.perf_counter() - started) * 1000
        return self._result(query, reply, elapsed)

    def explain(self, query: GuardedQuery) -> str:
        """DuckDB's plan for an accepted query (``EXPLAIN`` of the checked SQL)."""
        shown = query.explain_sql or query.executed_sql or query.sql  # never the mask key
        plan = GuardedQuery(sql=f"EXPLAIN {shown}",
                            original=query.original)
        result = self.run(plan)
        return "\n".join(str(row[-1]) for row in result.rows)

    def _wait(self, started: float) -> tuple[str, Any]:
        deadline = started + self.limits.timeout
        while not self._channel.poll(0.02):
            if not self._alive():
                self._kill()
                raise ExecutionError("the query exceeded the worker's resource limits and was "
                                     "stopped")
            if time.perf_counter() > deadline:
                self._kill()
                raise QueryTimeout(f"the query ran longer than {self.limits.timeout:g} s and was "
                                   "stopped")
        reply: tuple[str, Any] = self._channel.recv()
        return reply

    def _result(self, query: GuardedQuery, reply: tuple[str, Any], elapsed: float) -> Result:
        status, payload = reply
        if status == "error":
            kind, message = payload
            if kind == "InterruptException":
                raise QueryTimeout(f"the query ran longer than {self.limits.timeout:g} s")
            if kind == "OutOfMemoryException":
                raise ExecutionError(f"the query needed more memory than allowed: "
                                     f"{_first_line_text(message)}", sql=query.sql)
            raise ExecutionError(_first_line_text(message), sql=query.sql)
        rows, description = payload
        truncated = len(rows) > self.limits.max_rows or (
            query.limited and len(rows) >= (query.limit or 0))
        return Result(columns=[d[0] for d in description], types=[d[1] for d in description],
                      rows=[tuple(r) for r in rows[: self.limits.max_rows]],
                      elapsed_ms=round(elapsed, 2), truncated=truncated)

    def _ensure_worker(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        import multiprocessing
        import subprocess
        import sys

        # A fresh interpreter (never a fork of a process holding DuckDB), in its own session
        # so the terminal's Ctrl-C reaches only us; we stop it ourselves. Isolated (-I): the
        # current directory is not on its path, so a stray inspect.py or json.py where the
        # user happens to stand is never imported into the worker, nor are PYTHON* variables.
        parent, child = multiprocessing.Pipe()
        process = subprocess.Popen(
            [sys.executable, "-I", "-m", "nl2sql.safety.sandbox", str(child.fileno())],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        child.close()
        self._process, self._channel = process, parent
        parent.send(({"kind": self.source.kind, "location": self.source.location,
                      "alias": self.source.alias, "workspace": self.source.workspace},
                     {"timeout": self.limits.timeout, "max_rows": self.limits.max_rows,
                      "memory_limit": self.limits.memory_limit, "threads": self.limits.threads},
                     str(self.cache_dir)))
        if not parent.poll(30):
            self._kill()
            raise ExecutionError("the query worker did not start")
        try:
            status, message = parent.recv()
        except (EOFError, OSError):
            status, message = "fatal", "the query worker could not start"
        if status != "ready":
            self._kill()
            raise ExecutionError(str(message))

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(2)
        if self._channel is not None:
            self._channel.close()
        self._process = self._channel = None

    def close(self) -> None:
        if self._alive():
            try:
                self._channel.send(None)
                self._process.wait(1)
            except (BrokenPipeError, OSError, Exception):  # noqa: BLE001 - closing is best effort
                pass
        self._kill()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_line_text(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else "the query failed"
