"""A throw-away Spark Connect server for the ``spark`` tests (issue 15; no mocks).

The server comes from the full ``pyspark`` package (its ``sbin/start-connect-server.sh`` and
jars), installed outside the project's venv by ``.ci/install-spark``, on Debian's OpenJDK 17.
It runs in the foreground (``SPARK_NO_DAEMONIZE``) as the unprivileged user of the other
test servers, listens on a free port of 127.0.0.1 only, keeps its warehouse (Parquet files)
and scratch space in a fresh temporary folder, and dies with the test process that started
it (``PR_SET_PDEATHSIG``).

One per test run: a JVM costs a second of CPU per core and a gigabyte of memory, so the
first pytest-xdist worker that needs it starts it (under a file lock in the run's shared
temporary folder) and the others use it. Every worker registers while it uses the server;
the one that started it stops it at the end, once the others have let go (or died).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers import (
    RunAs,
    ServerError,
    _pid_alive,
    _start,
    _tempdir,
    _wait_ready,
    free_port,
    run_as,
    stop_process,
)

SPARK_VERSION = "4.3.0"
READY_TIMEOUT = 120.0  # seconds; about 7 cold on an idle 2-core machine, 15 under load
RELEASE_TIMEOUT = 180.0  # how long the starter waits for other workers to let go


def spark_home() -> Path:
    """Where ``.ci/install-spark`` puts pyspark (the same rule as the script)."""
    if os.environ.get("NL2SQL_SPARK_HOME"):
        base = Path(os.environ["NL2SQL_SPARK_HOME"])
    elif os.geteuid() == 0:
        base = Path(f"/opt/nl2sql/spark-{SPARK_VERSION}")
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(cache) / "nl2sql" / f"spark-{SPARK_VERSION}"
    return base / "pyspark"


@dataclass
class SparkServer:
    """A running Spark Connect server: its URL, and a client session for setting up data."""

    port: int
    folder: Path
    pid: int
    process: subprocess.Popen[bytes] | None = None  # set in the worker that started it
    started_in: float = 0.0
    host: str = "127.0.0.1"

    def url(self, database: str | None = None) -> str:
        base = f"sc://{self.host}:{self.port}"
        return base + (f"/;database={database}" if database else "")

    def session(self) -> Any:
        """A plain Spark Connect session (the test's own, for setting up data)."""
        from nl2sql.schema import spark
        from nl2sql.schema.source import spark_source

        return spark.session_for(spark_source(self.url()))

    def answering(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def start_spark() -> SparkServer:
    """Start a server (a new port on a lost race) and wait until it answers."""
    home = spark_home()
    script = home / "sbin" / "start-connect-server.sh"
    if not script.is_file():
        raise ServerError(f"the Spark Connect server is not installed at {home}: run "
                          "`bash .ci/install-spark` (Java 17 and pyspark "
                          f"{SPARK_VERSION}), then run the tests again")
    user = run_as()
    folder = _tempdir("spark", user)
    for name in ("warehouse", "scratch", "logs"):
        (folder / name).mkdir()
        user.chown(folder / name)
    started = time.monotonic()
    for _attempt in range(3):
        port = free_port()
        log = folder / "logs" / f"server-{port}.log"
        process = _launch(script, home, folder, port, user, log)
        if _wait_ready(process, log, "the Spark Connect server",
                       lambda port=port: socket.create_connection(("127.0.0.1", port), 1).close(),
                       timeout=READY_TIMEOUT):
            return SparkServer(port=port, folder=folder, pid=process.pid, process=process,
                               started_in=round(time.monotonic() - started, 2))
    raise ServerError(f"the Spark Connect server would not start:\n{log.read_text(errors='replace')[-3000:]}")


def _launch(script: Path, home: Path, folder: Path, port: int, user: RunAs,
            log: Path) -> subprocess.Popen[bytes]:
    confs = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.extraJavaOptions": f"-Djava.io.tmpdir={folder / 'scratch'} -XX:+UseSerialGC",
    }
    # four task slots on two cores: a cancelled job whose tasks finish their current loop
    # before they stop (Spark's cancellation is cooperative) leaves slots for other tests
    args = [str(script), "--master", "local[4]", "--driver-memory", "1g"]
    for key, value in confs.items():
        args += ["--conf", f"{key}={value}"]
    env = {"HOME": str(folder), "SPARK_HOME": str(home), "SPARK_NO_DAEMONIZE": "1",
           "SPARK_LOG_DIR": str(folder / "logs"), "SPARK_PID_DIR": str(folder),
           "SPARK_LOCAL_DIRS": str(folder / "scratch"), "SPARK_LOCAL_IP": "127.0.0.1"}
    return _start(args, user, folder, log, env)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_spark(shared: Path) -> tuple[SparkServer, Callable[[], None]]:
    """The test run's server (started here if no worker has yet) and this worker's
    release function, which the starter's waits for the other workers before stopping."""
    info, users = shared / "spark-server.json", shared / "spark-users"
    with _locked(shared / "spark.lock"):
        server = None
        if info.is_file():
            data = json.loads(info.read_text(encoding="utf-8"))
            candidate = SparkServer(port=data["port"], folder=Path(data["folder"]), pid=data["pid"])
            if _pid_alive(candidate.pid) and candidate.answering():
                server = candidate
        if server is None:
            server = start_spark()
            info.write_text(json.dumps({"port": server.port, "folder": str(server.folder),
                                        "pid": server.pid}), encoding="utf-8")
            (shared / "spark-shop.loaded").unlink(missing_ok=True)
        users.mkdir(exist_ok=True)
        (users / str(os.getpid())).touch()

    def release() -> None:
        from nl2sql.schema import spark

        spark.forget_all()  # this worker's sessions end before the server does
        (users / str(os.getpid())).unlink(missing_ok=True)
        if server.process is None:
            return
        deadline = time.monotonic() + RELEASE_TIMEOUT
        while time.monotonic() < deadline:
            others = [p for p in users.iterdir() if p.name.isdigit() and _pid_alive(int(p.name))]
            if not others:
                break
            time.sleep(0.5)
        with _locked(shared / "spark.lock"):
            info.unlink(missing_ok=True)
            server.stop()

    return server, release


def load_shop_once(shared: Path, server: SparkServer, sample: Path) -> str:
    """The sample database as the Spark database ``shop`` (loaded by the first worker that
    asks); its URL."""
    from sample_db.to_spark import load

    url = server.url("shop")
    with _locked(shared / "spark.lock"):
        marker = shared / "spark-shop.loaded"
        if not marker.is_file():
            load(url, sample)
            marker.write_text(str(server.port), encoding="ascii")
    return url
