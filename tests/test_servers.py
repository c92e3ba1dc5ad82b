"""Real PostgreSQL and MariaDB servers (tests/servers.py) and ``nl2sql sample-db --out URL``:
the sample loads into an empty server database with the DuckDB file's rows, keys and
comments; a non-empty target, a wrong password or a closed port is one line, exit 2, and
never shows the password."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pytest
import servers
import sqlalchemy as sa
from conftest import IsolatedEnv
from servers import Server, ServerError, free_port, run_as, start_mariadb, start_postgres

from sample_db.generate import COLUMN_COMMENTS, TABLE_COMMENTS, TABLE_ORDER, row_counts

pytestmark = pytest.mark.server

SCALE = 0.01  # the smallest scale: 20 customers, 200 orders (0.2 s to build)
SERVERS = ["postgres_server", "mariadb_server"]
SECRET = "Pa55-not-for-your-eyes"


def sa_url(url: str) -> str:
    """The test's URL with the driver installed here (SQLAlchemy's defaults are others)."""
    for scheme, driver in (("postgresql://", "postgresql+psycopg://"),
                           ("mysql://", "mysql+pymysql://")):
        if url.startswith(scheme):
            return driver + url[len(scheme):]
    raise AssertionError(url)


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(sa_url(url), poolclass=sa.NullPool)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> Server:
    """Each test runs on both servers (each started once per worker session)."""
    found: Server = request.getfixturevalue(request.param)
    return found


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB file ``sample-db --scale 0.01`` builds (deterministic: the same rows)."""
    from sample_db.generate import build

    return build(tmp_path_factory.mktemp("small-sample") / "shop.duckdb", scale=SCALE)


def assert_one_line_error(result: Any, *secrets: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (config): "), result.stderr
    for secret in secrets:
        assert secret not in result.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------
# the fixtures' servers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow  # a server of its own: 0.7 s alone, 2 s beside another worker's
@pytest.mark.parametrize("start", [start_postgres, start_mariadb], ids=["postgres", "mariadb"])
def test_a_server_starts_unprivileged_and_stops_leaving_nothing(
        start: Callable[[], Server]) -> None:
    server = start()
    try:
        pid, folder = server.pid, server.folder
        assert _alive(pid) and folder.is_dir()
        assert server.started_in < 10, f"{server.scheme} took {server.started_in:.1f} s to start"
        uid = os.stat(f"/proc/{pid}").st_uid
        assert uid != 0, "a database server must not run as root"
        if os.geteuid() == 0:
            assert run_as().uid == uid
        assert server.execute("SELECT 1") == [(1,)]
    finally:
        server.stop()
    assert not _alive(pid) and not _group_alive(pid), "the server's processes outlived stop()"
    assert not folder.exists()
    server.stop()  # a second stop is harmless (finalizers may run after a failed test's own)


def test_the_reader_login_may_read_and_nothing_else(server: Server) -> None:
    url = server.create_database()
    database = database_of(url)
    server.execute("CREATE TABLE t (x INTEGER)", "INSERT INTO t VALUES (1), (2)",
                   database=database)
    reader = engine_for(server.create_reader(database))
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 2
        for statement in ("INSERT INTO t VALUES (3)", "CREATE TABLE u (y INTEGER)",
                          "DELETE FROM t", "DROP TABLE t"):
            with pytest.raises(sa.exc.DBAPIError), reader.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        reader.dispose()
    assert server.execute("SELECT count(*) FROM t", database=database) == [(2,)]


# ------------------------------------------------------------------------------------------
# sample-db --out URL


def _duckdb_keys(path: Path) -> tuple[dict[str, list[str]], dict[str, set[tuple[Any, ...]]]]:
    """Primary and foreign keys as the DuckDB file declares them."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        primary: dict[str, list[str]] = {}
        foreign: dict[str, set[tuple[Any, ...]]] = {t: set() for t in TABLE_ORDER}
        for table, kind, cols, ref_table, ref_cols in con.execute(
                "SELECT table_name, constraint_type, constraint_column_names, referenced_table, "
                "referenced_column_names FROM duckdb_constraints() "
                "WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')").fetchall():
            if kind == "PRIMARY KEY":
                primary[table] = list(cols)
            else:
                foreign[table].add((tuple(cols), ref_table, tuple(ref_cols)))
        return primary, foreign
    finally:
        con.close()


def _duckdb_rows(path: Path, table: str, order: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [tuple(r) for r in con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()]
    finally:
        con.close()


@pytest.mark.slow
def test_sample_db_out_copies_rows_keys_and_comments(
        server: Server, small_sample: Path, isolated_env: IsolatedEnv) -> None:
    url = server.create_database()
    if server.scheme == "mysql":  # MySQL's usual default: the loader must ask for utf8mb4
        server.execute(f"ALTER DATABASE `{database_of(url)}` CHARACTER SET latin1")
    started = time.monotonic()
    result = isolated_env.run("sample-db", "--scale", str(SCALE), "--out", url)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert server.admin_password not in result.stdout + result.stderr
    assert result.stdout.strip() == url.replace(server.admin_password, "***")
    assert took < 20, f"loading took {took:.1f} s"

    primary, foreign = _duckdb_keys(small_sample)
    engine = engine_for(url)
    try:
        inspector = sa.inspect(engine)
        assert sorted(inspector.get_table_names()) == sorted(TABLE_ORDER)
        pks = inspector.get_multi_pk_constraint()
        fks = inspector.get_multi_foreign_keys()
        table_comments = inspector.get_multi_table_comment()
        columns = inspector.get_multi_columns()
        counts = row_counts(small_sample)
        with engine.connect() as conn:
            for table in TABLE_ORDER:
                key = (None, table)
                assert pks[key]["constrained_columns"] == primary[table], table
                assert {(tuple(fk["constrained_columns"]), fk["referred_table"],
                         tuple(fk["referred_columns"])) for fk in fks[key]} == foreign[table]
                assert table_comments[key]["text"] == TABLE_COMMENTS[table]
                assert {c["name"]: c.get("comment") for c in columns[key]} == \
                    COLUMN_COMMENTS[table]
                # the same rows, value for value (Decimal, date, datetime, str, int, None)
                order = ", ".join(primary[table])
                loaded = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY {order}")).all()
                assert len(loaded) == counts[table] > 0, table
                assert [tuple(r) for r in loaded] == _duckdb_rows(small_sample, table, order)
    finally:
        engine.dispose()


def test_a_non_empty_target_is_refused_and_left_alone(
        server: Server, isolated_env: IsolatedEnv) -> None:
    url = server.create_database()
    database = database_of(url)
    server.execute("CREATE TABLE precious (x INTEGER)", "INSERT INTO precious VALUES (42)",
                   database=database)
    result = isolated_env.run("sample-db", "--scale", str(SCALE), "--out", url)
    line = assert_one_line_error(result, server.admin_password)
    assert "not empty" in line and "precious" in line
    assert server.execute("SELECT * FROM precious", database=database) == [(42,)]
    engine = engine_for(url)
    try:
        assert sa.inspect(engine).get_table_names() == ["precious"]
    finally:
        engine.dispose()


def test_a_password_with_url_characters_works_and_is_never_shown(
        server: Server, isolated_env: IsolatedEnv) -> None:
    """The password goes into the URL quoted (``%40`` for ``@``); neither form is printed.
    A read-only login on a non-empty database: refused at the emptiness check, which it
    only reaches once logged in."""
    password = "p@ss:w/rd%?#'x"
    database = database_of(server.create_database())
    server.execute("CREATE TABLE keep (x INTEGER)", database=database)
    url = server.create_reader(database, password=password)
    assert quote(password, safe="") in url
    result = isolated_env.run("sample-db", "--scale", str(SCALE), "--out", url)
    line = assert_one_line_error(result, password, quote(password, safe=""), "rd%")
    assert "not empty" in line and ":***@" in line


def test_a_missing_server_fails_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(servers, "PG_BIN_DIRS", ())
    monkeypatch.setattr(servers, "SYSTEM_DIRS", ())
    for start, package in ((start_postgres, "postgresql"), (start_mariadb, "mariadb-server")):
        with pytest.raises(ServerError) as caught:
            start()
        message = str(caught.value)
        assert "\n" not in message and f"apt-get install -y {package}" in message


@pytest.mark.parametrize("fault", ["wrong password", "closed port", "no such database"])
def test_a_target_that_cannot_be_reached_is_one_line_without_the_password(
        server: Server, isolated_env: IsolatedEnv, fault: str) -> None:
    database = database_of(server.create_database())
    if fault == "wrong password":
        url = server.url(database, password=SECRET)
    elif fault == "closed port":
        url = server.url(database, password=SECRET).replace(f":{server.port}/", f":{free_port()}/")
    else:
        url = server.url("no_such_database")
    result = isolated_env.run("sample-db", "--scale", str(SCALE), "--out", url)
    line = assert_one_line_error(result, SECRET, server.admin_password)
    assert "cannot connect to" in line and ":***@" in line


@pytest.mark.parametrize("url", [
    f"oracle://scott:{SECRET}@127.0.0.1:1521/shop",
    f"postgresql://scott:{SECRET}@127.0.0.1:5432",
])
def test_an_unusable_url_is_refused_before_anything_is_built(
        isolated_env: IsolatedEnv, url: str) -> None:
    result = isolated_env.run("sample-db", "--out", url)  # scale 1: fails before building
    assert_one_line_error(result, SECRET)
