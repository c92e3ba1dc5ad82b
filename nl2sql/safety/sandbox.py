"""The query worker: a child process that runs confined DuckDB under OS limits.

DuckDB says running untrusted SQL is unsafe by design; some functions allocate
gigabytes or spin past ``interrupt()``. So queries run here, in a separate
process with an address-space cap and no right to grow files, on a connection
confined before any untrusted SQL arrives. The parent kills the process when a
query runs past its timeout and starts a fresh one for the next query.

Two ways in, same confinement: :func:`forked` runs in a ``fork()`` of the CLI
(no second interpreter start, no second import of DuckDB: most of a one-shot
query's cost), and ``python -I -m nl2sql.safety.sandbox FD PARENT`` is the fresh
interpreter used when forking is not safe (see :mod:`nl2sql.safety.engine`).
Either way the worker dies with its parent (:func:`die_with_parent`).

This module is imported by the child: keep its imports light.
"""

from __future__ import annotations

import gc
import os
import resource
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

RESERVE_BYTES = 1 << 30  # interpreter, DuckDB's own structures and thread stacks
CPU_SECONDS = 3600
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def die_with_parent(parent: int) -> None:
    """Never outlive ``parent``: the kernel kills us when it dies (Linux), else a watcher
    thread does. Checked once more afterwards: it may have died before we asked."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            _watch_parent(parent)
    else:  # pragma: no cover - exercised on macOS only
        _watch_parent(parent)
    if os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent: int) -> None:
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="nl2sql-parent-watch", daemon=True).start()


def forked(channel: Connection, parent: int, source: Any, limits: Any, cache_dir: Path) -> None:
    """The worker's life in a ``fork()`` of the CLI. Never returns: ``os._exit`` keeps the
    parent's cleanup (atexit, buffered output, finally blocks up the stack) out of here."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # The parent's garbage is never collected here: a file object freed here would
        # close its descriptor number, which by then may be DuckDB's (see _detach).
        gc.freeze()
        os.setsid()  # the terminal's Ctrl-C reaches only the parent, which stops us
        die_with_parent(parent)
        _detach(channel.fileno())
        serve(channel, source, limits, cache_dir)
        code = 0
    finally:
        os._exit(code)


def _detach(keep: int) -> None:
    """What a fresh ``python -I`` worker would not have: the parent's files and terminal
    (every descriptor but the channel is closed) and the current directory on the import
    path (DuckDB imports ``decimal``, ``uuid``… lazily; a stray one where the user stands
    must not be picked up)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())
    here = os.getcwd()
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != here]


def _max_fd() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 16 else 1 << 16


def serve(channel: Connection, source: Any, limits: Any, cache_dir: Path) -> None:
    """Open and confine, then answer ``(sql, max_rows, max_bytes)`` requests until told to
    stop. A result's rows are fetched a few at a time and their size in memory counted, so
    a result larger than ``max_bytes`` is refused here, before it is sent (or even fully
    converted): the parent never holds more than that."""
    import duckdb

    from nl2sql.errors import NL2SQLError
    from nl2sql.safety.engine import confine
    from nl2sql.schema.source import connect, sqlite_extension_path

    if source.kind == "sqlite":
        sqlite_extension_path(cache_dir)  # unpack before file writes are forbidden
    try:
        apply_limits(str(limits.memory_limit))
        con = connect(source, cache_dir)
        confine(con, limits)
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
        channel.send(_run(con, source, *request))


FETCH_ROWS = 32  # rows converted to Python at a time, so a result's size is checked early
MAX_ERROR_CHARS = 4096  # DuckDB errors can quote a whole value; one line is all we show


def _run(con: Any, src: Any, sql: str, max_rows: int,
         max_bytes: int = 64 * 1024 * 1024) -> tuple[str, Any]:
    import duckdb

    from nl2sql.schema.source import use

    cursor = con.cursor()
    try:
        use(cursor, src)  # a cursor starts in the default catalog, without the search path
        cursor.execute(sql)
        description = [(d[0], str(d[1])) for d in cursor.description or []]
        rows: list[Any] = []
        held = 0
        while len(rows) <= max_rows:  # one row past the cap says "truncated"
            chunk = cursor.fetchmany(min(FETCH_ROWS, max_rows + 1 - len(rows)))
            if not chunk:
                break
            held += sum(value_bytes(row) for row in chunk)
            if held > max_bytes:
                return "error", ("ResultTooLarge", _too_large(len(rows) + len(chunk), max_bytes))
            rows.extend(chunk)
        return "ok", (rows, description)
    except duckdb.Error as exc:
        return "error", (type(exc).__name__, str(exc)[:MAX_ERROR_CHARS])
    except MemoryError:
        return "error", ("OutOfMemoryException", "the query needed more memory than allowed")
    finally:
        cursor.close()


_CONTAINERS = (list, tuple, set, dict)


def value_bytes(value: Any) -> int:
    """Memory a fetched value (or row) takes in Python, containers with their items.

    >>> value_bytes("x" * 1000) > 1000, value_bytes((1, "ab")) < 200
    (True, True)
    """
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        return size + sum(value_bytes(k) + value_bytes(v) for k, v in value.items())
    if isinstance(value, _CONTAINERS):
        for item in value:  # scalars summed inline: this runs for every value of a result
            size += value_bytes(item) if isinstance(item, _CONTAINERS) else sys.getsizeof(item)
    return size


def _too_large(rows: int, max_bytes: int) -> str:
    which = "its first row already holds" if rows == 1 else f"its first {rows:,} rows already hold"
    return (f"the result is too large: {which} more than {_mb(max_bytes)}, the limit on a "
            "result's size in memory")


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else f"{size:,} bytes"


def _spawned(fd: int, parent: int) -> None:
    """Entry point of the fresh-interpreter worker: settings arrive over the channel."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    channel = Connection(fd)
    from nl2sql.safety.engine import Limits
    from nl2sql.schema.source import Source

    source, limits, cache_dir = channel.recv()
    serve(channel, Source(**source), Limits(**limits), Path(cache_dir))


if __name__ == "__main__":
    _spawned(int(sys.argv[1]), int(sys.argv[2]))
