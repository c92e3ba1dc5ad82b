"""The query worker: a child process that runs confined DuckDB under OS limits.

DuckDB says running untrusted SQL is unsafe by design; some functions allocate
gigabytes or spin past ``interrupt()``. So queries run here, in a separate
process with an address-space cap and no right to grow files, on a connection
confined before any untrusted SQL arrives. The parent kills the process when a
query runs past its timeout and starts a fresh one for the next query.

This module is imported by the child: keep its imports light.
"""

from __future__ import annotations

import resource
import signal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

RESERVE_BYTES = 1 << 30  # interpreter, DuckDB's own structures and thread stacks
CPU_SECONDS = 3600


def parse_size(text: str) -> int:
    """``"2GB"`` -> bytes (DuckDB's units, powers of 1000 and 1024).

    >>> parse_size("2GB"), parse_size("512MiB")
    (2000000000, 536870912)
    """
    units = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
             "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
    cleaned = text.strip().upper().replace(" ", "")
    number = cleaned.rstrip("KMGTIB")
    unit = cleaned[len(number):] or "B"
    return int(float(number) * units[unit])


def apply_limits(memory_limit: str) -> None:
    """OS limits for this process: bounded address space, no file may grow."""
    address_space = parse_size(memory_limit) * 2 + RESERVE_BYTES
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    # Writing past 0 bytes fails with EFBIG instead of killing us with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # CPU seconds for the worker's whole life (it is reused): a backstop far above any
    # query's timeout; the parent's wall-clock kill is what stops a runaway query.
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS + 5))
    # Ctrl-C belongs to the parent, which stops us explicitly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def serve(channel: Connection) -> None:
    """Child entry point: open and confine, then answer ``(sql, max_rows)`` requests."""
    import duckdb

    from nl2sql.errors import NL2SQLError
    from nl2sql.safety.engine import Limits, confine
    from nl2sql.schema.source import Source, connect, sqlite_extension_path

    source, limits, cache_dir = channel.recv()
    src = Source(**source)
    if src.kind == "sqlite":
        sqlite_extension_path(Path(cache_dir))  # unpack before file writes are forbidden
    try:
        apply_limits(str(limits["memory_limit"]))
        con = connect(src, Path(cache_dir))
        confine(con, Limits(**limits))
    except (NL2SQLError, duckdb.Error, OSError, ValueError) as exc:
        channel.send(("fatal", f"cannot start the query worker: {exc}"))
        return
    channel.send(("ready", None))
    while True:
        try:
            request = channel.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        channel.send(_run(con, src, *request))


def _run(con: Any, src: Any, sql: str, max_rows: int) -> tuple[str, Any]:
    import duckdb

    from nl2sql.schema.source import use

    cursor = con.cursor()
    try:
        use(cursor, src)  # a cursor starts in the default catalog, without the search path
        cursor.execute(sql)
        rows = cursor.fetchmany(max_rows + 1)
        description = [(d[0], str(d[1])) for d in cursor.description or []]
        return "ok", (rows, description)
    except duckdb.Error as exc:
        return "error", (type(exc).__name__, str(exc))
    except MemoryError:
        return "error", ("OutOfMemoryException", "the query needed more memory than allowed")
    finally:
        cursor.close()


if __name__ == "__main__":
    import sys

    serve(Connection(int(sys.argv[1])))
