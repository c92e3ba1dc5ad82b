"""Throw-away PostgreSQL and MariaDB servers for the ``server`` tests (no mocks).

Each server lives in a fresh temporary folder, runs as an unprivileged user (the system
user ``nl2sqltest``, created when the suite runs as root; else the current user), listens
on a free TCP port of 127.0.0.1 only, and has an ``admin`` login with a random password.
Every pytest-xdist worker that needs one starts its own (its own folder and port: nothing
to share, nothing to lock); ``stop()`` ends it and removes the folder.

Why the settings: the servers hold a few kilobytes of test data and are thrown away, so
durability is switched off (no fsync, small buffers, no binary log) to start in about a
second on a 2-core machine. Grants stay on: the tests check a read-only login.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

SERVICE_USER = "nl2sqltest"
PG_BIN_DIRS = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
# mariadbd lives in /usr/sbin, which a non-root PATH often lacks
SYSTEM_DIRS = ("/usr/sbin", "/usr/bin", "/sbin")
INSTALL_HINT = {
    "postgres": "PostgreSQL server not found: install it with "
                "`apt-get install -y postgresql` (Debian/Ubuntu), then run the tests again",
    "mariadb": "MariaDB server not found: install it with "
               "`apt-get install -y mariadb-server` (Debian/Ubuntu), then run the tests again",
}
READY_TIMEOUT = 30.0  # seconds; a healthy start takes about one (two workers at once: two)
STOP_TIMEOUT = 10.0


class ServerError(RuntimeError):
    """A test server could not be found, started or stopped (the message says why)."""


@dataclass(frozen=True)
class RunAs:
    """Who the server processes run as: ``uid``/``gid`` for ``subprocess`` (None: as us)."""

    name: str
    uid: int | None = None
    gid: int | None = None

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


def run_as() -> RunAs:
    """The unprivileged user for the servers: ``nl2sqltest`` (created if missing) as root,
    else whoever runs the tests. Neither PostgreSQL nor MariaDB should run as root."""
    if os.geteuid() != 0:
        return RunAs(pwd.getpwuid(os.geteuid()).pw_name)
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        # two xdist workers may race to create it: the loser's useradd fails, the user exists
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_USER], capture_output=True, check=False)
        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise ServerError(f"could not create the system user {SERVICE_USER!r} "
                              "(useradd --system failed)") from None
    return RunAs(SERVICE_USER, entry.pw_uid, entry.pw_gid)


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now (the server retries if it loses a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _libc_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


# looked up here, not in the forked child: loading a library there could wait forever on a
# lock another thread of the test process held at the fork
_PRCTL = _libc_prctl()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child (after the switch of user, which would clear it): the kernel kills the
    server when the test process dies, so even a killed pytest leaves no server behind."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def _find(names: tuple[str, ...], extra_dirs: tuple[Path, ...], kind: str) -> dict[str, str]:
    found: dict[str, str] = {}
    search = os.pathsep.join([*(str(d) for d in extra_dirs), os.environ.get("PATH", ""),
                              *SYSTEM_DIRS])
    for name in names:
        path = shutil.which(name, path=search)
        if path is None:
            raise ServerError(INSTALL_HINT[kind])
        found[name] = path
    return found


def _run(args: list[str], user: RunAs, *, cwd: Path, timeout: float = 60) -> None:
    """A setup command (initdb, mariadb-install-db) as ``user``; its output on failure."""
    try:
        result = subprocess.run(args, user=user.uid, group=user.gid, extra_groups=[] if
                                user.uid is not None else None, cwd=cwd, capture_output=True,
                                text=True, timeout=timeout, check=False,
                                env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8",
                                     "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{Path(args[0]).name} took more than {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise ServerError(f"{Path(args[0]).name} failed (exit {result.returncode}):\n"
                          f"{result.stdout}\n{result.stderr}")


@dataclass
class Server:
    """A running throw-away server: URLs, an admin connection, fresh databases, readers.

    ``scheme`` is ``postgresql`` or ``mysql``; ``admin_user``/``admin_password`` may do
    anything (create databases, logins, grants). ``started_in`` is the start-up time in
    seconds (set up the folder, start, wait until it answers, create the admin login).
    """

    scheme: str
    folder: Path
    port: int
    admin_user: str
    admin_password: str
    process: subprocess.Popen[bytes]
    started_in: float = 0.0
    log: Path | None = None
    host: str = "127.0.0.1"
    _names: Iterator[int] = field(default_factory=lambda: iter(range(1, 1_000_000)))

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, database: str, user: str | None = None, password: str | None = None) -> str:
        """``postgresql://user:password@127.0.0.1:port/database`` (or ``mysql://``); the
        admin's login unless ``user`` is given."""
        user = self.admin_user if user is None else user
        password = self.admin_password if password is None and user == self.admin_user else password
        login = quote(user, safe="")
        if password is not None:
            login += ":" + quote(password, safe="")
        return f"{self.scheme}://{login}@{self.host}:{self.port}/{quote(database, safe='')}"

    # -- admin work ------------------------------------------------------------------------
    def connect(self, database: str | None = None) -> Any:
        """A DB-API connection as the admin (autocommit), to ``database`` or the default one."""
        raise NotImplementedError

    def execute(self, *statements: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run admin statements (autocommit); the rows of the last one, if any."""
        con = self.connect(database)
        try:
            rows: list[tuple[Any, ...]] = []
            with con.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = list(cur.fetchall()) if cur.description else []
            return rows
        finally:
            con.close()

    def new_name(self, prefix: str) -> str:
        """A database or login name not used before on this server (per worker)."""
        return f"{prefix}_{os.getpid()}_{next(self._names)}"

    def ready(self) -> None:
        """Connects (and sets up what a fresh server needs) or raises: the start-up probe."""
        raise NotImplementedError

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database (named ``name`` or a new name); its admin URL."""
        raise NotImplementedError

    def create_reader(self, database: str, user: str | None = None,
                      password: str | None = None) -> str:
        """A login that may only read ``database`` (SELECT on its tables, now and later):
        its URL (the password quoted in it; a random one unless given)."""
        raise NotImplementedError

    # -- life cycle ------------------------------------------------------------------------
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the server (politely, then the whole process group) and remove its folder."""
        try:
            stop_process(self.process, self.polite_signal)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    polite_signal: signal.Signals = signal.SIGTERM


def stop_process(process: subprocess.Popen[bytes], polite: signal.Signals) -> None:
    """``polite`` to the server's process group, SIGKILL to the group after STOP_TIMEOUT."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, polite)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # the leader may be gone while a child it started lingers: the group goes in every case
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT)


def _start(args: list[str], user: RunAs, folder: Path, log: Path,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server as ``user`` in ``folder``, its output in ``log``; ``env`` adds to a
    minimal environment (PATH, a UTF-8 locale, UTC)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            args, user=user.uid, group=user.gid,
            extra_groups=[] if user.uid is not None else None, cwd=folder, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl: safe after fork
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                 "TZ": "UTC", **(env or {})})


def _wait_ready(process: subprocess.Popen[bytes], log: Path, what: str,
                try_connect: Callable[[], None], timeout: float = READY_TIMEOUT) -> bool:
    """True once ``try_connect`` succeeds; False when the server exited (a lost port race);
    ServerError when it neither answers nor exits within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            try_connect()
            return True
        except Exception:  # noqa: BLE001 - not up yet: any connection error means wait
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)
    stop_process(process, signal.SIGKILL)
    raise ServerError(f"{what} did not answer within {timeout:.0f} s:\n"
                      f"{log.read_text(errors='replace')[-3000:]}")


OWNER_FILE = "owner.pid"


def _tempdir(kind: str, user: RunAs) -> Path:
    """A fresh folder for a server, with the test process's pid in it. Folders left by a
    test process that was killed (SIGKILL: no finalizer ran; its servers died with it) are
    removed here."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"nl2sql-{kind}-*"):
        try:
            owner = int((old / OWNER_FILE).read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue  # being set up right now by another worker, or not ours
        if not _pid_alive(owner):
            shutil.rmtree(old, ignore_errors=True)
    # not pytest's tmp_path: it is private to root (0700), and the server runs as another user
    folder = Path(tempfile.mkdtemp(prefix=f"nl2sql-{kind}-"))
    (folder / OWNER_FILE).write_text(str(os.getpid()), encoding="ascii")
    user.chown(folder)
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass
class PostgresServer(Server):
    polite_signal: signal.Signals = signal.SIGQUIT  # immediate shutdown: nothing to keep

    def connect(self, database: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.admin_user,
                               password=self.admin_password, dbname=database or "postgres",
                               autocommit=True, connect_timeout=5)

    def ready(self) -> None:
        self.connect().close()

    def create_database(self, name: str | None = None) -> str:
        name = name or self.new_name("db")
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_reader(self, database: str, user: str | None = None,
                      password: str | None = None) -> str:
        user = user or self.new_name("reader")
        password = password or secrets.token_urlsafe(12)
        quoted = password.replace("'", "''")
        self.execute(f"CREATE ROLE \"{user}\" LOGIN PASSWORD '{quoted}'")
        self.execute(
            f'GRANT CONNECT ON DATABASE "{database}" TO "{user}"',
            f'GRANT USAGE ON SCHEMA public TO "{user}"',
            f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{user}"',
            f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO "{user}"',
            # PostgreSQL 15 no longer lets PUBLIC create in public; said anyway (older servers)
            f'REVOKE CREATE ON SCHEMA public FROM "{user}"',
            database=database)
        return self.url(database, user=user, password=password)


def start_postgres() -> PostgresServer:
    """initdb into a temporary folder and start PostgreSQL on a free port of 127.0.0.1."""
    tools = _find(("initdb", "postgres"), PG_BIN_DIRS, "postgres")
    user = run_as()
    started = time.monotonic()
    folder = _tempdir("pg", user)
    try:
        password = secrets.token_urlsafe(16)
        pwfile = folder / "pw"
        pwfile.write_text(password + "\n", encoding="utf-8")
        user.chown(pwfile)
        data = folder / "data"
        _run([tools["initdb"], "--no-sync", "--no-instructions", "-D", str(data), "-U", "admin",
              f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
             user, cwd=folder)
        pwfile.unlink()
        for _attempt in range(3):
            port = free_port()
            log = folder / "postgres.log"
            process = _start([
                tools["postgres"], "-D", str(data), "-p", str(port), "-k", str(folder),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "shared_buffers=16MB", "-c", "max_connections=40",
                "-c", "autovacuum=off", "-c", "jit=off", "-c", "logging_collector=off",
            ], user, folder, log)
            server = PostgresServer("postgresql", folder, port, "admin", password, process, log=log)
            if _wait_ready(process, log, "PostgreSQL", server.ready):
                server.started_in = time.monotonic() - started
                return server
            stop_process(process, signal.SIGKILL)
        raise ServerError(f"PostgreSQL did not start:\n{log.read_text(errors='replace')[-3000:]}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------
# MariaDB


@dataclass
class MariaDBServer(Server):
    socket_path: Path | None = None

    def connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.admin_user,
                               password=self.admin_password, database=database,
                               autocommit=True, connect_timeout=5, charset="utf8mb4")

    def ready(self) -> None:
        _root_setup(self)

    def create_database(self, name: str | None = None) -> str:
        name = name or self.new_name("db")
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        return self.url(name)

    def create_reader(self, database: str, user: str | None = None,
                      password: str | None = None) -> str:
        user = user or self.new_name("reader")
        password = password or secrets.token_urlsafe(12)
        quoted = password.replace("\\", "\\\\").replace("'", "''")
        self.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{quoted}'",
                     f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
        return self.url(database, user=user, password=password)


def start_mariadb() -> MariaDBServer:
    """mariadb-install-db into a temporary folder and start MariaDB on a free port."""
    tools = _find(("mariadb-install-db", "mariadbd"), (), "mariadb")
    user = run_as()
    started = time.monotonic()
    folder = _tempdir("mariadb", user)
    try:
        data = folder / "data"
        sock = folder / "mysqld.sock"
        # --no-defaults everywhere: the machine's /etc/mysql config (a datadir, a socket,
        # a log) is not ours to use
        _run([tools["mariadb-install-db"], "--no-defaults", f"--datadir={data}",
              "--auth-root-authentication-method=normal", "--skip-test-db",
              "--skip-name-resolve", f"--user={user.name}"], user, cwd=folder)
        password = secrets.token_urlsafe(16)
        for _attempt in range(3):
            port = free_port()
            log = folder / "mariadb.log"
            process = _start([
                tools["mariadbd"], "--no-defaults", f"--datadir={data}", f"--port={port}",
                "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={folder}/mariadb.pid",
                "--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0", "--skip-innodb-adaptive-hash-index",
                "--performance-schema=OFF", "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin", "--default-time-zone=+00:00",
                f"--log-error={log}",
            ], user, folder, folder / "mariadb.out")
            server = MariaDBServer("mysql", folder, port, "admin", password, process, log=log,
                                   socket_path=sock)
            if _wait_ready(process, log, "MariaDB", server.ready):
                server.started_in = time.monotonic() - started
                return server
            stop_process(process, signal.SIGKILL)
        raise ServerError(f"MariaDB did not start:\n{log.read_text(errors='replace')[-3000:]}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _root_setup(server: MariaDBServer) -> None:
    """As root over the unix socket (no password yet): the admin login, reachable over TCP."""
    import pymysql

    con = pymysql.connect(unix_socket=str(server.socket_path), user="root", autocommit=True,
                          connect_timeout=2)
    try:
        with con.cursor() as cur:
            for statement in (
                f"CREATE USER IF NOT EXISTS '{server.admin_user}'@'%' "
                f"IDENTIFIED BY '{server.admin_password}'",
                f"GRANT ALL PRIVILEGES ON *.* TO '{server.admin_user}'@'%' WITH GRANT OPTION",
            ):
                cur.execute(statement)
    finally:
        con.close()
