"""Shared pytest configuration and fixtures for the nl2sql test suite."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# ---------------------------------------------------------------------------------------
# Bytecode is written during the tests even where the environment turns it off
# (PYTHONDONTWRITEBYTECODE): otherwise every xdist worker rewrites every test module's
# asserts again (collection 8.7 s instead of 3.7 s, per worker) and every `nl2sql`
# subprocess compiles the package again (~0.25 s each). The files go to gitignored
# __pycache__ folders; set here, before the test modules and the workers start.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# ---------------------------------------------------------------------------------------
# Test helpers live in tests/ (which is not a package): make them importable as top-level
# modules (``from chat_server import ChatServer``) whatever pytest's import mode is.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

# ---------------------------------------------------------------------------------------
# BEGIN Hypothesis profiles: quick by default (the inner loop), thorough in CI.
#
# Hypothesis loads its "ci" profile by itself when CI is set (``.ci/run`` exports CI=true);
# both profiles are re-registered here. ``--hypothesis-profile NAME`` still picks one.
# Fuzz tests size their example counts with ``examples(n)``: n in CI, a tenth by default.
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

CI_EXAMPLES = 100  # Hypothesis' own default, kept for CI
FAST_EXAMPLES = 10
# deadline=None: a per-example deadline measures the machine's load, not the code
hypothesis_settings.register_profile(
    "default", hypothesis_settings.get_profile("default"), max_examples=FAST_EXAMPLES,
    deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile(
    "ci", hypothesis_settings.get_profile("ci"), max_examples=CI_EXAMPLES, deadline=None)


def load_yaml(text: str) -> Any:
    """A fixture file's data, read with libyaml when it is there (pii_values.yaml: 0.74 s
    with the pure-Python loader, 0.10 s with libyaml — on every xdist worker)."""
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def known_safe_sql() -> list[str]:
    """The gold SQL of the shop evaluation sets and the guard corpus's benign queries: the
    queries a restricted role's property tests start from."""
    tests = Path(__file__).parent
    found: list[str] = []
    for name in ("shop.yaml", "shop_holdout.yaml"):
        data = load_yaml((tests / "eval" / name).read_text(encoding="utf-8"))
        found += [q["sql"] for q in data["questions"] if q.get("sql")]
    corpus = load_yaml((tests / "fixtures" / "guard_corpus.yaml").read_text(encoding="utf-8"))
    found += [c["sql"] for c in corpus["cases"] if c["verdict"] == "allow" and "generate" not in c
              and "{" not in c["sql"]]
    return found


def one_fast(values: Sequence[Any]) -> list[Any]:
    """Parameters of a matrix for ``parametrize``: the first runs in the fast subset, the
    rest are marked ``slow`` (CI runs them all). For attack matrices where every case
    costs a CLI run and the first already proves the route is wired. A tuple value is one
    value per parameter name."""
    def slow(value: Any) -> Any:  # a tuple is one value per name of the parametrize
        args = value if isinstance(value, tuple) else (value,)
        return pytest.param(*args, marks=pytest.mark.slow)

    return [value if i == 0 else slow(value) for i, value in enumerate(values)]


def examples(thorough: int) -> int:
    """``thorough`` examples under the CI profile, proportionally fewer under the fast one
    (never fewer than 10): read when a test module is imported, after the profile is set."""
    scale = hypothesis_settings().max_examples / CI_EXAMPLES
    return max(10, round(thorough * scale))


# END Hypothesis profiles
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# BEGIN chat_server fixture: a local OpenAI-compatible server (no internet in tests).
from chat_server import ChatServer  # noqa: E402


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started :class:`ChatServer` on 127.0.0.1, stopped after the test.

    Point the product at it with ``monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url)``.
    """
    server = ChatServer().start()
    try:
        yield server
    finally:
        server.stop()


# END chat_server fixture
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# BEGIN shared databases and isolated CLI environment (test_introspect, test_guard,
# test_pipeline, test_cli, ...). Appended; the blocks above are untouched.
import io  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


def _compile_package() -> None:
    """Bytecode for nl2sql, written once: where PYTHONDONTWRITEBYTECODE is set (sandboxes, CI
    images), every CLI process and query worker a test starts would otherwise compile the
    package from source again."""
    import compileall

    compileall.compile_dir(str(REPO_ROOT / "nl2sql"), quiet=1)


_compile_package()
CHINOOK_PATH = (REPO_ROOT.parent / "shared" / "datasets" / "chinook" / "Chinook_Sqlite.sqlite")
SAMPLE_SCALE = 0.2  # ~400 customers, 4,000 orders: big enough to profile, quick to build
NO_TRACEBACK = "Traceback (most recent call last)"


@pytest.fixture(scope="session", autouse=True)
def _private_audit_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Audit records written by the suite go to a temporary XDG_STATE_HOME, never to the
    real ``~/.local/state/nl2sql/audit.jsonl`` (subprocesses inherit it via the env)."""
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def sample_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample shop database, built once per session (read it, never write it).

    The file is called ``shop.duckdb`` so it is attached as ``shop`` like the bundled one.
    Tests that change a database copy this file first (see ``sample_db_copy``).
    """
    from sample_db.generate import build

    path = tmp_path_factory.mktemp("sample_db") / "shop.duckdb"
    return Path(build(path, scale=SAMPLE_SCALE))


def copy_database(source: Path, target: Path) -> Path:
    """A private, writable copy of ``source`` at ``target`` (its folder made here)."""
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    return target


@pytest.fixture
def sample_db_copy(sample_db_path: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the sample database (also named ``shop.duckdb``)."""
    return copy_database(sample_db_path, tmp_path / "copy" / "shop.duckdb")


ODD_DB_SQL = (
    'CREATE TABLE "Order Details" (id INTEGER PRIMARY KEY, "Unit Price" DECIMAL(10,2), '
    '"select" VARCHAR, CamelCase INTEGER)',
    """INSERT INTO "Order Details" VALUES (1, 9.5, 'a', 3), (2, 1.0, 'b', 4)""",
    "CREATE TABLE 订单 (编号 INTEGER PRIMARY KEY, 金额 DOUBLE, 城市 VARCHAR)",
    "INSERT INTO 订单 VALUES (1, 10.0, '上海'), (2, 20.0, '北京'), (3, 30.0, '上海')",
    "CREATE VIEW big_orders AS SELECT * FROM 订单 WHERE 金额 > 15",
    "CREATE SCHEMA other",
    "CREATE TABLE other.secret (x INTEGER)",
)


@pytest.fixture(scope="session")
def odd_db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small DuckDB file with awkward names: spaces, a keyword, Chinese, a view and a
    second schema (attached as ``odd``)."""
    import duckdb

    path = tmp_path_factory.mktemp("odd_db") / "odd.duckdb"
    con = duckdb.connect(str(path))
    try:
        for statement in ODD_DB_SQL:
            con.execute(statement)
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def chinook_path() -> Path:
    """The Chinook SQLite database from ../shared/datasets; skips when it is not there."""
    if not CHINOOK_PATH.is_file():
        pytest.skip(f"Chinook database not found at {CHINOOK_PATH} "
                    "(../shared/datasets/chinook/Chinook_Sqlite.sqlite relative to the repo)")
    return CHINOOK_PATH


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One introspection cache for the session (the cache is keyed by database path)."""
    return tmp_path_factory.mktemp("nl2sql-cache")


@pytest.fixture(scope="session")
def empty_schemas_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A semantic-layer folder with no files: the catalog is pure introspection."""
    return tmp_path_factory.mktemp("no-schemas")


def introspect_db(path: Path, cache_dir: Path) -> Any:
    """Resolve, attach, introspect and close, as ``pipeline.open_session`` does."""
    from nl2sql.schema.introspect import introspect
    from nl2sql.schema.source import connect, resolve

    source = resolve(str(path))
    con = connect(source, cache_dir)
    try:
        return introspect(source, con, cache_dir)
    finally:
        con.close()


@pytest.fixture(scope="session")
def sample_catalog(sample_db_path: Path, shared_cache_dir: Path) -> Any:
    """The introspected catalog of the sample database (no semantic layer)."""
    return introspect_db(sample_db_path, shared_cache_dir)


@pytest.fixture(scope="session")
def sample_engine(sample_db_path: Path, shared_cache_dir: Path) -> Iterator[Any]:
    """A confined :class:`nl2sql.safety.engine.Engine` on the sample database."""
    from nl2sql.safety.engine import Engine, Limits
    from nl2sql.schema.source import resolve

    engine = Engine(resolve(str(sample_db_path)), Limits(timeout=20, max_rows=100_000),
                    shared_cache_dir)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture
def gold(sample_db_path: Path) -> Iterator[Any]:
    """``gold(sql) -> rows``: run trusted SQL directly on the sample database (read-only).

    The connection opens on first use: while a plain DuckDB connection to the file is
    open, SQLAlchemy (used by introspection) cannot open the same file in this process.
    """
    import duckdb

    cons: list[Any] = []

    def run(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        if not cons:
            cons.append(duckdb.connect(str(sample_db_path), read_only=True))
        return [tuple(r) for r in cons[0].execute(sql, params or []).fetchall()]

    try:
        yield run
    finally:
        for con in cons:
            con.close()


def cli_command() -> list[str]:
    """The ``nl2sql`` console script of this interpreter's environment, else ``-m``."""
    script = shutil.which("nl2sql", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "nl2sql"]


def assert_no_traceback(args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
    """A crash is never an acceptable answer from the CLI, whatever the test expects."""
    assert NO_TRACEBACK not in result.stderr, (
        f"nl2sql {' '.join(args)} crashed (exit {result.returncode}):\n{result.stderr}")
    assert NO_TRACEBACK not in result.stdout, result.stdout


def _universal_newlines(data: bytes) -> str:
    # what ``subprocess.run(text=True)`` hands back: \r\n and \r read as \n
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


# Native threads the test runner keeps beside the main one: pytest-xdist's channel reader
# in a worker, and faulthandler's watchdog (``faulthandler_timeout``) during each test. Both
# wait on their own locks and hold none a fork could copy. Counted by pytest_configure.
_RUNNER_THREADS = 0


def pytest_configure(config: pytest.Config) -> None:
    global _RUNNER_THREADS
    watchdog = float(config.getini("faulthandler_timeout") or 0) > 0
    _RUNNER_THREADS = int(bool(os.environ.get("PYTEST_XDIST_WORKER"))) + int(watchdog)


def run_cli_in_process(args: Sequence[str], *, cwd: Path, env: Mapping[str, str],
                       input: str | None = None,  # noqa: A002
                       ) -> subprocess.CompletedProcess[str]:
    """``nl2sql *args`` through :func:`nl2sql.interfaces.cli.main`, in this process.

    The run sees exactly what a subprocess would: ``env`` as the whole of ``os.environ``,
    ``cwd`` as the working directory, ``input`` (else nothing) on stdin, and stdout/stderr
    that are UTF-8 pipes, not terminals. All of it is put back afterwards, so nothing
    leaks into the next test. An uncaught exception becomes a traceback on stderr and
    exit 1, as the interpreter would print it.
    """
    from nl2sql.interfaces.cli import main
    from nl2sql.safety import engine

    saved_environ = dict(os.environ)
    # A one-shot `nl2sql` forks its query worker (no thread but DuckDB's allocator's);
    # a process with other threads starts a fresh interpreter instead (~0.15 s more). The
    # runner's own threads are not counted, so a run here forks as the real command does;
    # any other thread (a chat server's, a live DuckDB connection's) still means a fresh
    # interpreter. Engine tests cover both kinds of worker explicitly.
    saved_import_threads = engine._IMPORT_THREADS
    engine._IMPORT_THREADS = saved_import_threads + _RUNNER_THREADS
    saved_cwd = os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    out, err = io.BytesIO(), io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode("utf-8")), encoding="utf-8")
    code: int
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message"): printed, exit 1
                stderr.write(f"{exc.code}\n")
                code = 1
        except Exception:  # noqa: BLE001 - the interpreter's own last resort, reproduced
            stderr.write(traceback.format_exc())
            code = 1
        stdout.flush()
        stderr.flush()
    finally:
        engine._IMPORT_THREADS = saved_import_threads
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)
    return subprocess.CompletedProcess(["nl2sql", *args], code, _universal_newlines(out.getvalue()),
                                       _universal_newlines(err.getvalue()))


@dataclass
class IsolatedEnv:
    """A clean place to run the CLI: own cwd (no ``.env``), own cache, no outer config.

    ``run(*args)`` runs ``nl2sql *args`` there (in this process) and fails the test if a
    traceback shows up; ``run_process``, ``popen`` and ``interrupted`` start a real process.
    """

    cwd: Path
    cache_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
        """``nl2sql *args`` in this process (see :func:`run_cli_in_process`): the same
        entry point, arguments, cwd, environment and stdin as a subprocess gets, without
        paying the interpreter start and imports for every call.
        NL2SQL_TEST_SUBPROCESS=1 makes it a real process again (to rule the difference out)."""
        if os.environ.get("NL2SQL_TEST_SUBPROCESS") == "1":
            return self.run_process(*args, env=env, input=input)
        result = run_cli_in_process(args, cwd=self.cwd, env={**self.env, **(env or {})},
                                    input=input)
        assert_no_traceback(args, result)
        return result

    def run_process(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
                    input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
        """``nl2sql *args`` as a real subprocess of the console script: for what only a
        fresh process proves (cold start, the import path, timeouts on the whole command)."""
        full_env = {**self.env, **(env or {})}
        result = subprocess.run(
            [*cli_command(), *args], cwd=self.cwd, env=full_env, capture_output=True,
            text=True, encoding="utf-8", timeout=timeout, input=input, check=False)
        assert_no_traceback(args, result)
        return result

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start ``nl2sql *args`` without waiting (for signals); check its output yourself."""
        return subprocess.Popen(
            [*cli_command(), *args], cwd=self.cwd, env={**self.env, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")

    def interrupted(self, *args: str, when: Callable[[subprocess.Popen[str]], None],
                    env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Start ``nl2sql *args``, press Ctrl-C (SIGINT) once ``when(proc)`` returns, and
        give (exit code, stdout, stderr); the process never outlives the test."""
        proc = self.popen(*args, env=env)
        try:
            when(proc)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert NO_TRACEBACK not in err, err
        return proc.returncode, out, err


def clean_environ(cache_dir: Path) -> dict[str, str]:
    """``os.environ`` without any OPENAI_* / NL2SQL_* setting, plus a private cache and
    private XDG folders: a test's audit log, history and workspace never land in the real
    user's home (they did: a test run appended to ~/.local/state/nl2sql/audit.jsonl)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "NL2SQL_", "XDG_"))}
    env.update({
        "NL2SQL_CACHE_DIR": str(cache_dir),
        "XDG_STATE_HOME": str(cache_dir / "xdg-state"),
        "XDG_DATA_HOME": str(cache_dir / "xdg-data"),
        "XDG_CONFIG_HOME": str(cache_dir / "xdg-config"),
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "200",  # rich tables are not cut to 80 columns in a pipe
        "NO_COLOR": "1",
    })
    return env


@pytest.fixture
def isolated_env(tmp_path: Path, shared_cache_dir: Path) -> IsolatedEnv:
    """A fresh cwd (so no ``.env`` is picked up) and an environment free of outer config.

    The introspection cache is the session's shared one (speed); tests about the cache
    itself use their own ``cache_dir``.
    """
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = clean_environ(shared_cache_dir) | {  # each test's own log, history and workspace
        "XDG_STATE_HOME": str(tmp_path / "xdg-state"), "XDG_DATA_HOME": str(tmp_path / "xdg-data")}
    return IsolatedEnv(cwd=cwd, cache_dir=shared_cache_dir, env=env)


# END shared databases and isolated CLI environment
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# BEGIN private data home (nl2sql extract workspaces, shell history). Appended.


@pytest.fixture(scope="session", autouse=True)
def _private_data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Workspaces the suite creates go to a temporary XDG_DATA_HOME, never to the real
    ``~/.local/share/nl2sql`` (subprocesses inherit it via the env)."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = previous


# END private data home
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# BEGIN server databases (issue 14): real PostgreSQL and MariaDB, one of each per xdist
# worker that asks, started on first use and stopped at the end of the session
# (tests/servers.py says how; docs/development.md how long it takes). Appended.
from servers import MariaDBServer, PostgresServer, Server, ServerError  # noqa: E402


def _serve(request: pytest.FixtureRequest, start: Callable[[], Server]) -> Server:
    try:
        server = start()
    except ServerError as exc:
        # a missing server fails (never skips): CI must run these tests
        pytest.fail(str(exc), pytrace=False)
    # a finalizer, not code after a yield: it runs however the session ends
    request.addfinalizer(server.stop)
    return server


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> PostgresServer:
    """A throw-away PostgreSQL server for this worker's session (admin login, free port)."""
    from servers import start_postgres

    server = _serve(request, start_postgres)
    assert isinstance(server, PostgresServer)
    return server


@pytest.fixture(scope="session")
def mariadb_server(request: pytest.FixtureRequest) -> MariaDBServer:
    """A throw-away MariaDB server for this worker's session (admin login, free port)."""
    from servers import start_mariadb

    server = _serve(request, start_mariadb)
    assert isinstance(server, MariaDBServer)
    return server


# END server databases
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# BEGIN Spark (issue 15): one Spark Connect server per test run, shared by the xdist
# workers that ask (tests/spark_server.py says how), the sample database loaded into it once.


def _run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this test run shares (pytest's per-run base folder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def spark_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The run's Spark Connect server (started by the first worker that needs it)."""
    from spark_server import shared_spark

    try:
        server, release = shared_spark(_run_folder(tmp_path_factory))
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)  # missing Spark fails (never skips): CI runs it
    request.addfinalizer(release)
    return server


@pytest.fixture(scope="session")
def spark_shop(spark_server: Any, sample_db_path: Path,
               tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of the sample database as the Spark database ``shop``."""
    from spark_server import load_shop_once

    return load_shop_once(_run_folder(tmp_path_factory), spark_server, sample_db_path)


# END Spark
# ---------------------------------------------------------------------------------------


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than the cores. The server and Spark tests spend much of
    their time waiting on another process (a JVM, a database server, a sleeping subprocess),
    and a third worker on two cores keeps both busy meanwhile (measured: 271 s against 327 s
    for the whole suite on the 2-core machine)."""
    del config
    return (os.cpu_count() or 1) + 1
