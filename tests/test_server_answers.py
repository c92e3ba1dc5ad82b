"""Server databases for real (issue 14): the sample database loaded into throw-away
PostgreSQL and MariaDB servers (``tests/servers.py``), asked through the same pipeline as the
DuckDB file, and compared with it.

What must hold on every engine: the same answers (the question sets, access-policy masks and
denials), read-only on the server whatever reaches it, the server's own statement timeout and
cancellation, and no password in any output.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import load_yaml

from nl2sql import pipeline
from nl2sql.drafting import evaluate
from nl2sql.errors import ConfigError, ExecutionError, QueryTimeout
from nl2sql.safety.engine import Limits
from nl2sql.safety.server_engine import ServerEngine
from nl2sql.schema.source import resolve
from nl2sql.settings import PROJECT_ROOT, Settings
from nl2sql.values import GuardedQuery

if TYPE_CHECKING:
    from conftest import IsolatedEnv

pytestmark = [pytest.mark.server, pytest.mark.slow]



@dataclass
class Shop:
    """The sample database on one server: the admin's URL and a read-only login's."""

    engine: str
    url: str
    reader: str
    server: Any


def _load(server: Any, sample: Path) -> Shop:
    from sample_db.to_server import load

    url = server.create_database("shop")  # named shop: schemas/shop.yaml binds to it
    load(url, sample)  # the very file the DuckDB session reads: the same rows
    return Shop(server.scheme, url, server.create_reader("shop"), server)


@pytest.fixture(scope="session")
def shops(postgres_server: Any, mariadb_server: Any, sample_db_path: Path) -> dict[str, Shop]:
    return {"postgres": _load(postgres_server, sample_db_path),
            "mariadb": _load(mariadb_server, sample_db_path)}


def settings_for(db: str, cache: Path, **overrides: Any) -> Settings:
    return Settings(db=db, drafter="offline", row_limit=100_000, cache_dir=cache,
                    schemas_dir=PROJECT_ROOT / "schemas", audit_log=cache / "audit.jsonl",
                    **overrides)


@pytest.fixture(scope="module")
def sessions(shops: dict[str, Shop], sample_db_path: Path, shared_cache_dir: Path
             ) -> Iterator[dict[str, pipeline.Session]]:
    opened = {"duckdb": pipeline.open_session(settings_for(str(sample_db_path), shared_cache_dir))}
    try:
        for name, shop in shops.items():
            opened[name] = pipeline.open_session(settings_for(shop.reader, shared_cache_dir))
        yield opened
    finally:
        for session in opened.values():
            session.close()


# --------------------------------------------------------------------------- same answers


def test_the_readme_question_answers_alike_on_every_engine(
        sessions: dict[str, pipeline.Session]) -> None:
    answers = {name: pipeline.ask(s, "How many customers are in each city?")
               for name, s in sessions.items()}
    expected = sorted(answers["duckdb"].rows)
    assert len(expected) == 12
    for name in ("postgres", "mariadb"):
        assert sorted(answers[name].rows) == expected, name
        assert answers[name].columns == answers["duckdb"].columns


def spread(cases: list[Any], every: int) -> list[Any]:
    """Every ``every``-th case, and the first of each category the stride missed: every
    shape of question (a percentage, a date series, a HAVING…) reaches the engine.

    >>> from types import SimpleNamespace as Case
    >>> [c.id for c in spread([Case(id=i, category="ab"[i > 4]) for i in range(8)], 4)]
    [0, 4, 5]
    """
    picked = cases[::every]
    seen = {c.category for c in picked}
    for case in cases:
        if case.category not in seen:
            picked.append(case)
            seen.add(case.category)
    return sorted(picked, key=cases.index)


# The whole shop set agrees on every engine (benchmarks/bench_servers.py, and when this was
# written shop_holdout and shop_fresh too); the suite asks every third question and one of
# each category, to stay inside its time.
@pytest.mark.parametrize("name", ["shop"])
def test_the_shop_question_sets_agree_across_engines(
        name: str, sessions: dict[str, pipeline.Session]) -> None:
    """Every question asked is answered with the same rows on every engine, or
    declined on every engine (each drafted answer orders its ties, so rows compare in order
    when the question ranks)."""
    _, all_cases = evaluate.load_cases(PROJECT_ROOT / "tests" / "eval" / f"{name}.yaml")
    cases = spread(all_cases, 3)
    outcomes: dict[str, list[Any]] = {}
    for engine, session in sessions.items():
        outcomes[engine] = [_outcome(session, case.question) for case in cases]
    answered = sum(o != "declined" for o in outcomes["duckdb"])
    assert answered >= 0.75 * len(cases)
    for engine in ("postgres", "mariadb"):
        disagree = [(c.id, c.question) for c, a, b in zip(cases, outcomes["duckdb"],
                                                          outcomes[engine], strict=True) if a != b]
        assert disagree == [], (engine, disagree)


def _outcome(session: pipeline.Session, question: str) -> Any:
    from nl2sql.errors import DrafterDeclined

    try:
        answer = pipeline.ask(session, question)
    except DrafterDeclined:
        return "declined"
    return [tuple(_cell(v) for v in row) for row in answer.rows]


def _cell(value: Any) -> Any:
    """Values as every engine's driver returns them: numbers to 2 places, JSON parsed (a
    driver's dict or DuckDB's text), the rest as text."""
    import json

    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return round(float(value), 2)
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):  # a whole row as JSON: the same fields and values
        return json.dumps({k: _cell(v) for k, v in value.items()}, sort_keys=True,
                          ensure_ascii=False)
    return str(value).replace("T", " ") if _STAMP.match(str(value)) else str(value)


_STAMP = __import__("re").compile(r"\d{4}-\d\d-\d\dT\d\d:")


@pytest.mark.parametrize("sql", [
    "SELECT name, phone, email, city FROM customers ORDER BY customer_id LIMIT 20",
    "SELECT id_number FROM customers ORDER BY customer_id LIMIT 5",
    "SELECT review_id, review_text FROM reviews ORDER BY review_id LIMIT 30",
    "SELECT ticket_id, transcript FROM support_tickets ORDER BY ticket_id LIMIT 30",
    "SELECT city, count(*) FROM customers GROUP BY city ORDER BY 2 DESC, 1",
])
def test_masks_give_the_same_rows_on_every_engine(sql: str,
                                                  sessions: dict[str, pipeline.Session]) -> None:
    """The default role's masks (partial, redacted, redacted within free text) agree."""
    answers = {name: pipeline.run_sql(s, sql) for name, s in sessions.items()}
    expected = [tuple(_cell(v) for v in r) for r in answers["duckdb"].rows]
    assert answers["duckdb"].masking or "GROUP BY" in sql
    for name in ("postgres", "mariadb"):
        got = [tuple(_cell(v) for v in r) for r in answers[name].rows]
        assert got == expected, (name, answers[name].sql)
        assert [m.source for m in answers[name].masking] == [
            m.source for m in answers["duckdb"].masking]


# --------------------------------------------------------------------------- read-only


def test_the_server_refuses_writes_even_past_the_guard(shops: dict[str, Shop]) -> None:
    """The second wall: a write handed straight to the engine (as if the guard had failed)
    runs in a read-only transaction, and the server says no."""
    for shop in shops.values():
        engine = ServerEngine(resolve(shop.url), Limits(timeout=10))  # the admin: may write
        for sql in ("DELETE FROM reviews", "UPDATE customers SET city = 'x'",
                    "CREATE TABLE hacked (a INTEGER)"):
            with pytest.raises(ExecutionError) as caught:
                engine.run(GuardedQuery(sql=sql, original=sql))
            assert "read" in caught.value.message.lower(), caught.value.message
        count = engine.run(GuardedQuery(sql="SELECT count(*) FROM reviews", original=""))
        assert count.rows[0][0] > 0


def test_a_login_that_can_write_is_warned_and_a_reader_is_not(
        shops: dict[str, Shop], shared_cache_dir: Path) -> None:
    for shop in shops.values():
        with pipeline.open_session(settings_for(shop.url, shared_cache_dir)) as admin:
            notes = pipeline.run_sql(admin, "SELECT 1 AS one").notes
            assert any("can write" in n for n in notes), notes
        with pipeline.open_session(settings_for(shop.reader, shared_cache_dir)) as reader:
            assert not any("can write" in n for n in pipeline.run_sql(reader, "SELECT 1").notes)


# --------------------------------------------------------------------------- time limits


def test_a_slow_query_is_stopped_by_the_server(shops: dict[str, Shop],
                                               shared_cache_dir: Path) -> None:
    slow = ("SELECT count(*) FROM order_items a CROSS JOIN order_items b "
            "CROSS JOIN order_items c WHERE a.quantity + b.quantity > c.quantity")
    for shop in shops.values():
        with pipeline.open_session(settings_for(shop.reader, shared_cache_dir,
                                                query_timeout=1.0)) as session:
            started = time.perf_counter()
            with pytest.raises(QueryTimeout):
                pipeline.run_sql(session, slow)
            assert time.perf_counter() - started < 8
        assert not _still_running(shop, "CROSS JOIN"), shop.engine


def _still_running(shop: Shop, marker: str) -> bool:
    """Whether the server still runs a query containing ``marker`` (half a second later)."""
    time.sleep(0.5)
    return _running_now(shop, marker)


# --------------------------------------------------------------------------- bad input


def test_bad_logins_and_addresses_are_one_line_without_the_password(
        shops: dict[str, Shop], isolated_env: IsolatedEnv) -> None:
    for shop in shops.values():
        server = shop.server
        cases = [server.url("shop", user="nobody_here", password="pw-wrong-1"),
                 server.url("no_such_database", password=None),
                 shop.url.replace(f":{server.port}/", ":1/")]
        for url in cases:
            result = isolated_env.run("sql", "SELECT 1", "--db", url)
            assert result.returncode == 2, (url, result.stderr)
            assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
            assert "pw-wrong-1" not in result.stderr + result.stdout
            assert server.admin_password not in result.stderr
        listing = isolated_env.run("audit", "-f", "json", "--limit", "3")
        records = __import__("json").loads(listing.stdout)
        assert [r["decision"] for r in records] == ["failed"] * 3, records
        assert all(r["error"]["kind"] == "config" and r["source_kind"] in ("postgres", "mysql")
                   for r in records)
        assert "pw-wrong-1" not in listing.stdout and server.admin_password not in listing.stdout


def _two_tables(server: Any, first: str, second: str) -> tuple[str, str]:
    """A fresh database with tables ``first`` (one row) and ``second`` (empty): its name and
    a read-only login's URL."""
    name = server.create_database().rsplit("/", 1)[1]
    server.execute(f"CREATE TABLE {first} (a INTEGER)", f"CREATE TABLE {second} (a INTEGER)",
                   f"INSERT INTO {first} VALUES (1)", database=name)
    return name, server.create_reader(name)


def test_a_table_dropped_after_introspection_is_one_line(shops: dict[str, Shop],
                                                          isolated_env: IsolatedEnv) -> None:
    for shop in shops.values():
        server = shop.server
        name, reader = _two_tables(server, "gone", "kept")
        result = isolated_env.run("sql", "SELECT count(*) FROM gone", "--db", reader)
        assert result.returncode == 0, result.stderr
        server.execute("DROP TABLE gone", database=name)  # after introspection was cached
        dropped = isolated_env.run("sql", "SELECT count(*) FROM gone", "--db", reader)
        assert dropped.returncode in (3, 4), dropped.stderr  # stale catalog: unknown, or run
        assert dropped.stderr.count("\n") == 1 and "Traceback" not in dropped.stderr


def test_the_password_is_nowhere_in_outputs_caches_or_the_audit_log(
        shops: dict[str, Shop], isolated_env: IsolatedEnv) -> None:
    for shop in shops.values():
        secret = shop.server.admin_password
        result = isolated_env.run("ask", "How many customers are in each city?", "--db",
                                  shop.url, "-f", "json")
        assert result.returncode == 0, result.stderr
        listing = isolated_env.run("audit")
        homes = [isolated_env.cwd.parent, isolated_env.cache_dir]
        written = [p.read_text(encoding="utf-8", errors="replace")
                   for home in homes for p in home.rglob("*") if p.is_file()
                   and p.suffix not in (".duckdb", ".sqlite") and p.stat().st_size < 5_000_000]
        for text in [result.stdout, result.stderr, listing.stdout, *written]:
            assert secret not in text


def test_a_url_without_a_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="names no database"):
        resolve("postgresql://u:secret@127.0.0.1:5432")


def test_the_audit_log_has_the_servers_sql_beside_duckdbs(shops: dict[str, Shop],
                                                          isolated_env: IsolatedEnv) -> None:
    import json

    for shop in shops.values():
        question = "How many customers are in each city?"
        assert isolated_env.run("ask", question, "--db", shop.reader).returncode == 0
        phone = isolated_env.run("sql", "SELECT count(*) FROM customers WHERE phone = '13800001111'",
                                 "--db", shop.reader)
        assert phone.returncode == 0, phone.stderr
        listing = isolated_env.run("audit", "-f", "json", "--limit", "2")
        records = json.loads(listing.stdout)
        kinds = {r["source_kind"] for r in records}
        assert kinds == {"postgres" if shop.engine == "postgresql" else "mysql"}, records
        for record in records:
            assert record["server_sql"] and record["sql"] and record["server_sql"] != ""
        assert all("13800001111" not in json.dumps(r) for r in records)  # redacted in both
        if shop.engine == "mysql":  # MySQL's own quoting and functions
            assert any("CHAR_LENGTH" in r["server_sql"] or "`" in r["server_sql"]
                       or "COUNT(*)" in r["server_sql"] for r in records)


# --------------------------------------------------------------------------- the access policy


@contextlib.contextmanager
def policy_sessions(dbs: dict[str, str], folder: Path, cache: Path
                    ) -> Iterator[dict[tuple[str, str], pipeline.Session]]:
    """``[(engine, role)]``: a session under each of test_policy's roles on each engine of
    ``dbs`` (engine -> --db), opened on first use, all with one mask key (hashes must agree
    too), closed at the end. The shop policy with the extra roles is written to ``folder``."""
    import yaml
    from test_policy import EXTRA_ROLES

    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    data["roles"].update(EXTRA_ROLES)
    (folder / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    key = folder / "mask.key"
    opened: dict[tuple[str, str], pipeline.Session] = {}

    class Lazy(dict[tuple[str, str], pipeline.Session]):
        def __missing__(self, wanted: tuple[str, str]) -> pipeline.Session:
            engine, role = wanted
            settings = Settings(db=dbs[engine], cache_dir=cache, schemas_dir=folder,
                                role=role, mask_key_file=key, drafter="offline",
                                row_limit=100_000, audit_log=folder / "audit.jsonl",
                                query_timeout=60.0)  # servers share the workers' cores
            opened[wanted] = self[wanted] = pipeline.open_session(settings)
            return opened[wanted]

    try:
        yield Lazy()
    finally:
        for session in opened.values():
            session.close()


def policy_outcome(session: pipeline.Session, sql: str) -> Any:
    """A policy case's outcome on one engine: the refusing rule, the failure, or the rows."""
    from rows import normalize

    from nl2sql.errors import UnsafeSQL

    try:
        answer = pipeline.run_sql(session, sql)
    except UnsafeSQL as exc:
        return ("refused", exc.details.get("rule"))
    except ExecutionError as exc:
        return ("failed", exc.message[:80])
    return normalize([tuple(_cell(v) for v in row) for row in answer.rows])


@pytest.fixture(scope="module")
def role_sessions(shops: dict[str, Shop], sample_db_path: Path, shared_cache_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[dict[tuple[str, str], pipeline.Session]]:
    dbs = {"duckdb": str(sample_db_path), **{name: s.reader for name, s in shops.items()}}
    with policy_sessions(dbs, tmp_path_factory.mktemp("server-policy"), shared_cache_dir) as opened:
        yield opened


def test_the_policy_cases_agree_across_engines(
        role_sessions: dict[tuple[str, str], pipeline.Session]) -> None:
    """tests/fixtures/policy_cases.yaml (masks, hashes, denials, row filters, per role): each
    case is refused by the same rule, or gives the same rows, on every engine."""
    from test_policy import CASES

    def outcome(engine: str, case: dict[str, Any]) -> Any:
        return policy_outcome(role_sessions[(engine, case["role"])], case["sql"])

    # MySQL has no whole row as JSON: refused before it runs, and said so.
    cannot = {("mariadb", "whole_row_of_a_masked_table"),
              ("mariadb", "whole_row_of_a_masked_table_is_masked")}
    disagree = []
    for case in CASES:
        expected = outcome("duckdb", case)
        for engine in ("postgres", "mariadb"):
            got = outcome(engine, case)
            if (engine, case["id"]) in cannot:
                assert got == ("failed", "this query cannot be written in mysql's SQL: a whole "
                                         "row as JSON (to_json)"), got
            elif got != expected:
                disagree.append((engine, case["id"], str(got)[:90]))
    assert disagree == [], "\n".join(map(str, disagree))
    assert len(CASES) >= 40


# --------------------------------------------------------------------------- Ctrl-C, grants, a dead server


SLOW = ("SELECT count(*) FROM order_items a CROSS JOIN order_items b "
        "CROSS JOIN order_items c WHERE a.quantity + b.quantity > c.quantity")


def test_ctrl_c_cancels_the_query_on_the_server(shops: dict[str, Shop],
                                                isolated_env: IsolatedEnv) -> None:
    for shop in shops.values():
        def when_running(proc: Any, shop: Shop = shop) -> None:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _running_now(shop, "CROSS JOIN"):
                time.sleep(0.1)
            assert _running_now(shop, "CROSS JOIN"), "the query never started on the server"

        code, _out, err = isolated_env.interrupted(
            "sql", SLOW, "--db", shop.reader, when=when_running,
            env={"NL2SQL_QUERY_TIMEOUT": "60"})
        assert code == 130, err
        assert "interrupted" in err and err.count("\n") == 1
        assert not _still_running(shop, "CROSS JOIN"), shop.engine  # cancelled, not abandoned


def _running_now(shop: Shop, marker: str) -> bool:
    """Whether the server runs a query containing ``marker`` now (not counting this look)."""
    if shop.engine == "postgresql":
        rows = shop.server.execute("SELECT query FROM pg_stat_activity WHERE state = 'active'")
    else:
        rows = shop.server.execute("SELECT info FROM information_schema.processlist "
                                   "WHERE command = 'Query'")
    return any(marker in str(r[0]) and "pg_stat_activity" not in str(r[0])
               and "processlist" not in str(r[0]) for r in rows)


def test_a_table_without_a_grant_is_a_one_line_execution_error(
        shops: dict[str, Shop], isolated_env: IsolatedEnv) -> None:
    for shop in shops.values():
        server = shop.server
        name, reader = _two_tables(server, "open_data", "closed_data")
        user = reader.split("://", 1)[1].split(":", 1)[0]
        if shop.engine == "postgresql":
            server.execute(f'REVOKE SELECT ON closed_data FROM "{user}"', database=name)
        else:  # a reader holds SELECT on the database: narrow it to one table
            server.execute(f"REVOKE SELECT ON `{name}`.* FROM '{user}'@'%'",
                           f"GRANT SELECT ON `{name}`.`open_data` TO '{user}'@'%'")
        ok = isolated_env.run("sql", "SELECT count(*) FROM open_data", "--db", reader)
        assert ok.returncode == 0, ok.stderr
        refused = isolated_env.run("sql", "SELECT count(*) FROM closed_data", "--db", reader)
        assert refused.returncode in (3, 4), refused.stderr  # unknown to it, or denied there
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr


def test_a_connection_killed_mid_query_is_a_one_line_execution_error(
        shops: dict[str, Shop], isolated_env: IsolatedEnv) -> None:
    for shop in shops.values():
        proc = isolated_env.popen("sql", SLOW, "--db", shop.reader,
                                  env={"NL2SQL_QUERY_TIMEOUT": "60"})
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _running_now(shop, "CROSS JOIN"):
                time.sleep(0.1)
            if shop.engine == "postgresql":
                shop.server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE query LIKE '%CROSS JOIN%' AND pid <> pg_backend_pid()")
            else:
                for (thread,) in shop.server.execute(
                        "SELECT id FROM information_schema.processlist WHERE info LIKE "
                        "'%CROSS JOIN%' AND id <> connection_id()"):
                    shop.server.execute(f"KILL {int(thread)}")
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 4, err
        assert err.count("\n") == 1 and "Traceback" not in err, err


# --------------------------------------------------------------------------- the attack corpus


# The SQL tricks, free text and the secure default on both servers; the routes that differ
# little between engines (profiles, audit and history, roles, resources) on one each, to
# keep the suite inside its time.
@pytest.mark.parametrize("engine, group", [
    *[(engine, group) for engine in ("postgres", "mariadb")
      for group in ("0-masks/none", "1-free-text/none", "9-secure-default/no-policy")],
    ("postgres", "2-profiles/none"), ("mariadb", "4-audit-history/steward-audit"),
    ("postgres", "5-roles-environment/steward-limited"), ("mariadb", "8-resources/none")])
def test_the_attack_corpus_finds_nothing_raw_on_a_server(
        engine: str, group: str, shops: dict[str, Shop], sample_db_path: Path,
        tmp_path: Path) -> None:
    """The corpus's SQL tricks on masked columns and on free text, asked of a server with no
    policy file (the scanner's defaults protect it): no raw value on any channel."""
    from attack_corpus import Runner, groups_of, load_corpus, table
    from test_attack_corpus import describe

    cases, setups = load_corpus()
    groups = groups_of(cases, setups)
    runner = Runner(sample_db_path, tmp_path / "work", tmp_path / "cache",
                    server_url=shops[engine].reader)
    outcomes = runner.run_group(group, groups[group])
    bad = [o for o in outcomes if not o.ok]
    assert len(outcomes) >= 10
    assert not bad, "\n" + table(outcomes) + "\n" + "\n".join(describe(o) for o in bad)


def test_a_postgres_schema_other_than_public_by_url(postgres_server: Any,
                                                    isolated_env: IsolatedEnv) -> None:
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    postgres_server.execute(
        "CREATE SCHEMA sales", "CREATE TABLE public.deals (id INTEGER PRIMARY KEY)",
        "CREATE TABLE sales.deals (id INTEGER PRIMARY KEY, region VARCHAR(20))",
        "INSERT INTO sales.deals VALUES (1, 'north'), (2, 'south'), (3, 'north')",
        database=name)
    result = isolated_env.run("sql", "SELECT region, count(*) AS n FROM deals GROUP BY 1 "
                              "ORDER BY 1", "--db", f"{url}?schema=sales", "-f", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["region,n", "north,2", "south,1"]
    public = isolated_env.run("sql", "SELECT count(*) AS n FROM deals", "--db", url, "-f", "csv")
    assert public.stdout.split() == ["n", "0"]


# --------------------------------------------------------------------------- the shell


def test_the_shell_asks_a_server(shops: dict[str, Shop], shared_cache_dir: Path,
                                 tmp_path: Path) -> None:
    """``nl2sql shell --db postgresql://…`` in a pseudo-terminal: a question, typed SQL and
    ``\\explain`` run on the server, and the password is nowhere on the screen."""
    import test_shell as driver

    shop = shops["postgres"]
    shell = driver.Shell(shop.reader, tmp_path / "home", shared_cache_dir,  # type: ignore[arg-type]
                         env={"NL2SQL_DRAFTER": "offline"})
    try:
        out = shell.run("How many customers are in each city?")
        header, rows = driver.table_rows(out)
        assert header == ["city", "customer_count"] and len(rows) == 12, out
        typed = shell.run("SELECT count(*) AS n FROM orders;")
        assert driver.table_rows(typed)[1][0][0].replace(",", "").isdigit(), typed
        plan = shell.run("\\explain")
        assert "Seq Scan" in plan or "Aggregate" in plan, plan  # PostgreSQL's own plan
        screen = shell.tail(20_000)
        password = shop.reader.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password not in screen
    finally:
        shell.close()


# --------------------------------------------------------------------------- extract


def test_extract_reads_its_rows_on_the_server(shops: dict[str, Shop], chat_server: Any,
                                              isolated_env: IsolatedEnv, tmp_path: Path) -> None:
    """``nl2sql extract --db postgresql://…``: the review texts are selected on the server
    (under the role's redaction, as for a file) and the structured rows land in the local
    workspace, which is then asked directly."""
    import json

    from fixtures import extract_model
    from test_extract_cli import REVIEWS, model_env

    chat_server.responder = extract_model.answer
    for name, shop in shops.items():
        ws = tmp_path / f"ws-{name}.duckdb"
        env = model_env(chat_server, ws)
        result = isolated_env.run(*REVIEWS, "--db", shop.reader, "--limit", "30",
                                  "--concurrency", "4", "-f", "json", env=env)
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        summary = json.loads(result.stdout)["summary"]
        assert summary["status"]["ok"] == summary["written"] == 30, summary
        counted = isolated_env.run("sql", "SELECT count(*) AS n FROM review_insights",
                                   "--db", str(ws), "-f", "csv", env=env)
        assert counted.returncode == 0, counted.stderr
        assert counted.stdout.split() == ["n", "30"]
