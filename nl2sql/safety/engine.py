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
from typing import Any, Literal

import duckdb

from nl2sql.errors import ExecutionError, Interrupted, QueryTimeout
from nl2sql.schema.source import Source
from nl2sql.settings import Settings
from nl2sql.values import GuardedQuery, Result


@dataclass(frozen=True)
class Limits:
    """Resource caps for one engine."""

    timeout: float = 10.0
    max_rows: int = 1000
    memory_limit: str = "2GB"
    threads: int = 2
    max_bytes: int = 64 * 1024 * 1024  # the result's values, as Python holds them

    def time_left(self, timeout: float | None) -> float:
        """Seconds a query may still run: ``timeout`` (what checking left of it) capped by
        this engine's; QueryTimeout when nothing is left."""
        left = self.timeout if timeout is None else min(timeout, self.timeout)
        if left <= 0:
            raise QueryTimeout(f"checking the query took the whole {self.timeout:g} s "
                               "query timeout; it was not run")
        return left

    @classmethod
    def of(cls, settings: Settings, max_rows: int | None = None) -> Limits:
        """The caps ``settings`` ask for (``max_rows``: the row limit unless given)."""
        return cls(timeout=settings.query_timeout,
                   max_rows=settings.row_limit if max_rows is None else max_rows,
                   memory_limit=settings.memory_limit, threads=settings.threads,
                   max_bytes=settings.max_result_bytes)


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


WorkerKind = Literal["auto", "fork", "spawn"]


class Engine:
    """Runs accepted queries in a warm, confined worker process (see :mod:`nl2sql.safety.sandbox`).

    The worker is a ``fork()`` of this process when that is safe (:func:`can_fork`), which
    costs a few milliseconds; otherwise a fresh interpreter (``worker="spawn"``), which costs
    an interpreter start and a DuckDB import. Both are confined the same way.

    >>> # with Engine(source, Limits(timeout=5), cache_dir) as engine:
    >>> #     engine.run(guard.check("select 1", catalog))
    """

    def __init__(self, source: Source, limits: Limits, cache_dir: Path,
                 worker: WorkerKind = "auto") -> None:
        self.source = source
        self.limits = limits
        self.cache_dir = cache_dir
        self.worker = worker
        self._process: Any = None
        self._channel: Any = None
        self._ready = False

    def run(self, query: GuardedQuery, timeout: float | None = None) -> Result:
        """Execute ``query``; raise :class:`QueryTimeout`, :class:`ExecutionError` or,
        on Ctrl-C, :class:`Interrupted`. A runaway worker is killed, and the next query
        gets a fresh one. ``timeout``: the seconds left to this query when part of the
        query timeout went to checking it (None: the whole timeout)."""
        left = self.limits.timeout if timeout is None else min(timeout, self.limits.timeout)
        if left <= 0:
            raise QueryTimeout(f"checking the query took the whole {self.limits.timeout:g} s "
                               "query timeout; it was not run")
        self._ensure_worker()
        started = time.perf_counter()
        try:
            self._channel.send((query.executed_sql or query.sql, self.limits.max_rows,
                                self.limits.max_bytes))
            reply = self._wait(started, left)
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
        plan = GuardedQuery(sql=f"EXPLAIN {query.shown_sql()}",  # never the mask key
                            original=query.original)
        result = self.run(plan)
        return "\n".join(str(row[-1]) for row in result.rows)

    def _wait(self, started: float, left: float) -> tuple[str, Any]:
        deadline = started + left
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
            if kind == "ResultTooLarge":
                raise ExecutionError(f"{message} (NL2SQL_MAX_RESULT_BYTES); select fewer or "
                                     "shorter values, or fewer rows", sql=query.sql)
            raise ExecutionError(_first_line_text(message), sql=query.sql)
        rows, description = payload
        truncated = len(rows) > self.limits.max_rows or (
            query.limited and len(rows) >= (query.limit or 0))
        return Result(columns=[d[0] for d in description], types=[d[1] for d in description],
                      rows=[tuple(r) for r in rows[: self.limits.max_rows]],
                      elapsed_ms=round(elapsed, 2), truncated=truncated)

    def start(self) -> None:
        """Start the worker now without waiting for it (``run`` waits): its connect and
        confinement overlap the caller's own work (guard, drafting). Starting early is
        also when forking is safest: before the caller starts threads of its own."""
        if self._process is not None and self._process.poll() is None:
            return
        self._kill()  # a worker found dead: reap it and close its channel
        import multiprocessing

        parent, child = multiprocessing.Pipe()
        try:
            if self.worker == "fork" or (self.worker == "auto" and can_fork()):
                process: Any = _fork(child, self.source, self.limits, self.cache_dir)
            else:
                process = self._spawn(parent, child)
        finally:
            child.close()
        self._process, self._channel, self._ready = process, parent, False

    def _spawn(self, parent: Any, child: Any) -> Any:
        import os
        import subprocess
        import sys

        # A fresh interpreter, in its own session so the terminal's Ctrl-C reaches only
        # us; we stop it ourselves. Isolated (-I): the current directory is not on its
        # path, so a stray inspect.py or json.py where the user happens to stand is never
        # imported into the worker, nor are PYTHON* variables.
        process = subprocess.Popen(
            [sys.executable, "-I", "-m", "nl2sql.safety.sandbox", str(child.fileno()),
             str(os.getpid())],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            parent.send(({"kind": self.source.kind, "location": self.source.location,
                         "alias": self.source.alias, "workspace": self.source.workspace},
                         {"timeout": self.limits.timeout, "max_rows": self.limits.max_rows,
                          "memory_limit": self.limits.memory_limit,
                          "threads": self.limits.threads, "max_bytes": self.limits.max_bytes},
                         str(self.cache_dir)))
        except OSError:
            pass  # it died already; _ensure_worker says so
        return process

    def _ensure_worker(self) -> None:
        if self._process is not None and self._process.poll() is None and self._ready:
            return
        self.start()
        if not self._channel.poll(30):
            self._kill()
            raise ExecutionError("the query worker did not start")
        try:
            status, message = self._channel.recv()
        except (EOFError, OSError):
            status, message = "fatal", "the query worker could not start"
        if status != "ready":
            self._kill()
            raise ExecutionError(str(message))
        self._ready = True

    @property
    def worker_kind(self) -> str | None:
        """``fork`` or ``spawn``: how the current worker was started (None: no worker)."""
        if self._process is None:
            return None
        return "fork" if isinstance(self._process, ForkedWorker) else "spawn"

    def _alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(2)
        if self._channel is not None:
            self._channel.close()
        self._process = self._channel = None
        self._ready = False

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


def can_fork() -> bool:
    """Whether this process may ``fork()`` a worker safely: POSIX, and no thread besides
    the main one except those present right after DuckDB was imported (its allocator's
    background thread, which jemalloc re-creates after a fork). A live DuckDB database
    or any other thread (a model client's, a shell's) means a fresh interpreter instead:
    a fork copies locks such threads may hold."""
    import os
    import threading

    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    threads = _thread_count()
    return threads is not None and threads <= _IMPORT_THREADS


def _thread_count() -> int | None:
    import os

    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None  # not Linux: no way to see native threads, so do not fork


# Measured once, right after ``import duckdb`` above: the main thread and, where DuckDB
# brings jemalloc, its background thread. Never more than that one extra thread, even if
# this module is imported late, when a DuckDB database's own threads may be running.
_IMPORT_THREADS = min(_thread_count() or 1, 2)


class ForkedWorker:
    """The handle of a forked worker, with the part of ``Popen``'s interface we use."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        import os

        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        """The exit code once the worker has ended, or None after ``timeout`` seconds."""
        import os
        import select

        if self.poll() is not None:
            return self.returncode
        try:  # Linux: a descriptor that becomes readable the moment the process ends
            handle = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            handle = None
        if handle is not None:
            try:
                select.select([handle], [], [], timeout)
            finally:
                os.close(handle)
            return self.poll()
        deadline = time.perf_counter() + timeout  # elsewhere: look every 5 ms
        while self.poll() is None and time.perf_counter() < deadline:
            time.sleep(0.005)
        return self.returncode

    def kill(self) -> None:
        import os
        import signal

        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _fork(channel: Any, source: Source, limits: Limits, cache_dir: Path) -> ForkedWorker:
    import os
    import warnings

    from nl2sql.safety import sandbox

    parent = os.getpid()
    with warnings.catch_warnings():  # 3.12+ warns of any thread; can_fork vetted them
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        sandbox.forked(channel, parent, source, limits, cache_dir)
    return ForkedWorker(pid)


def _first_line_text(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else "the query failed"
