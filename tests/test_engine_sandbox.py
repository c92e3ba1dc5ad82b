"""The sandboxed engine: runaway queries are stopped on time, the worker comes back,
and the confined worker cannot write files or reach settings. Every engine test runs
with both kinds of worker: a fork of this process and a fresh interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from nl2sql.errors import ExecutionError, QueryTimeout
from nl2sql.safety.engine import Engine, Limits, can_fork
from nl2sql.schema.source import resolve
from nl2sql.values import GuardedQuery


def raw(sql: str) -> GuardedQuery:
    """SQL handed straight to the engine, as if the guard had let it through."""
    return GuardedQuery(sql=sql, original=sql)


@pytest.fixture(params=["fork", "spawn"])
def engine(request: pytest.FixtureRequest, sample_db_path: Path,
           tmp_path: Path):  # type: ignore[no-untyped-def]
    with Engine(resolve(str(sample_db_path)), Limits(timeout=1.0, max_rows=50),
                tmp_path / "cache", worker=request.param) as eng:
        # Started and ready: the timings below are the query's, not an interpreter's start
        # (a spawned one takes ~0.5 s on a loaded machine).
        eng.run(raw("SELECT 1"))
        yield eng


@pytest.mark.slow
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


AUTO_PROBE = """
import json, sys, threading
from pathlib import Path
from nl2sql.safety.engine import Engine, Limits, can_fork
from nl2sql.schema.source import resolve
from nl2sql.values import GuardedQuery

source, limits, cache = resolve(sys.argv[1]), Limits(timeout=5), Path(sys.argv[2])
seen = {"alone": can_fork()}
one, two = (GuardedQuery(sql=s, original=s) for s in ("SELECT 1", "SELECT 2"))
with Engine(source, limits, cache) as eng:
    seen["first"] = [eng.run(one).rows[0][0], eng.worker_kind]
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
try:  # a thread may hold a lock a fork would copy: a fresh interpreter instead
    seen["with_thread"] = can_fork()
    with Engine(source, limits, cache) as eng:
        seen["second"] = [eng.run(two).rows[0][0], eng.worker_kind]
finally:
    stop.set()
    thread.join()
print(json.dumps(seen))
"""


def test_auto_forks_when_single_threaded_else_spawns(sample_db_path: Path,
                                                     tmp_path: Path) -> None:
    """In a fresh process (a test runner's own threads would decide otherwise)."""
    import json

    done = subprocess.run([sys.executable, "-c", AUTO_PROBE, str(sample_db_path),
                           str(tmp_path / "cache")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"alone": True, "first": [1, "fork"],
                                       "with_thread": False, "second": [2, "spawn"]}


def test_a_live_duckdb_database_prevents_forking(sample_db_path: Path) -> None:
    import duckdb

    con = duckdb.connect(":memory:", config={"threads": 4})
    try:
        con.execute("SELECT 1").fetchall()
        assert not can_fork()  # its scheduler's threads are running
    finally:
        con.close()


def _alive(pid: int) -> bool:
    """Running, not a zombie (an orphan may linger as one until init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


PARENT = """
import sys
from pathlib import Path
from nl2sql.safety.engine import Engine, Limits
from nl2sql.schema.source import resolve
from nl2sql.values import GuardedQuery

engine = Engine(resolve(sys.argv[1]), Limits(timeout=60), Path(sys.argv[2]), worker=sys.argv[3])
engine.run(GuardedQuery(sql="SELECT 1", original="SELECT 1"))
print(engine._process.pid, flush=True)
slow = "SELECT count(*) FROM range(1000000000000)"
engine.run(GuardedQuery(sql=slow, original=slow))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("worker", ["fork", "spawn"])
def test_killing_the_parent_leaves_no_worker(worker: str, sample_db_path: Path,
                                             tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(sample_db_path),
         str(tmp_path / "cache"), worker], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        time.sleep(0.3)  # the worker is busy with the slow query
        assert _alive(pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f"the {worker} worker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_forked_worker_is_seen_ending_at_once_and_waited_for_no_longer_than_asked() -> None:
    import os
    import time

    from nl2sql.safety.engine import ForkedWorker

    pid = os.fork()
    if pid == 0:  # the child: end after 0.2 s
        time.sleep(0.2)
        os._exit(3)
    worker = ForkedWorker(pid)
    started = time.perf_counter()
    assert worker.wait(0.05) is None  # still running: gives up after the timeout
    assert 0.04 <= time.perf_counter() - started < 0.15
    assert worker.wait(5) == 3  # then returns as soon as it ends, with its exit code
    assert time.perf_counter() - started < 1.0
