"""The hostile and benign SQL corpus (tests/fixtures/guard_corpus.yaml) against both walls.

* Hostile cases must be refused by ``guard.check`` with :class:`UnsafeSQL`: a one-line message
  that names the offending part (``mentions``) and the expected ``rule`` where one is given.
* Benign cases must be accepted, must stay accepted when their own output is checked again,
  and must run on the confined engine with the same rows DuckDB gives directly.
* The second wall: every hostile text that is safe to run (not exhaustion, not generated) is
  also run *unguarded* on a confined engine. Whatever it does, a canary file with random content
  (and a canary environment variable) never shows up in a result or an error, no file appears
  in tmp_path, the working directory, the engine's cache or next to the database, and the
  database file is unchanged.

A summary of outcomes per category is printed at the end of the module.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import load_yaml
from rows import as_list, normalize

from nl2sql.catalog import Catalog
from nl2sql.errors import NL2SQLError, UnsafeSQL
from nl2sql.safety import guard
from nl2sql.safety.engine import Engine, Limits
from nl2sql.schema.source import resolve
from nl2sql.values import GuardedQuery, Result

CORPUS_PATH = Path(__file__).parent / "fixtures" / "guard_corpus.yaml"
CASES: list[dict[str, Any]] = load_yaml(CORPUS_PATH.read_text(encoding="utf-8"))["cases"]
HOSTILE = [c for c in CASES if c["verdict"] == "refuse"]
BENIGN = [c for c in CASES if c["verdict"] == "allow"]
POLICY = guard.Policy(row_limit=100)
GUARD_SECONDS = 2.0  # a refusal (or an acceptance) must not take the guard longer than this
ENV_CANARY = "NL2SQL_GUARD_CANARY"

KNOWN_RULES = {
    "parse", "single_statement", "read_only", "recursive_cte", "function", "table_function",
    "catalog", "unknown_identifier", "too_long", "too_deep", "control_character", "empty",
    # added by the rewrite of the guard
    "node", "cte_shadows_table", "resource",
}
NEVER_EXECUTED = {"exhaustion", "deep_nesting", "huge_input"}


# --------------------------------------------------------------------------- generated SQL


def _nested_subqueries(n: int) -> str:
    sql = "SELECT order_id FROM orders"
    for i in range(n):
        sql = f"SELECT order_id FROM ({sql}) AS t{i}"
    return sql


GENERATORS = {
    "nested_parens": lambda n: "SELECT " + "(" * n + "1" + ")" * n,
    "nested_functions": lambda n: "SELECT " + "abs(" * n + "1" + ")" * n,
    "nested_lists": lambda n: "SELECT " + "[" * n + "1" + "]" * n,
    "nested_case": lambda n: "SELECT " + "CASE WHEN true THEN " * n + "1" + " END" * n,
    "nested_subqueries": _nested_subqueries,
    "not_chain": lambda n: "SELECT " + "NOT " * n + "true",
    "minus_chain": lambda n: "SELECT " + "- " * n + "1",
    "long_sum": lambda n: "SELECT " + "+".join(["1"] * n),
    "long_and": lambda n: "SELECT count(*) FROM orders WHERE "
                          + " AND ".join(f"order_id <> {i}" for i in range(n)),
    "union_chain": lambda n: " UNION ALL ".join(["SELECT 1"] * n),
    "padding": lambda n: "SELECT 1" + " " * n,
    "big_string": lambda n: "SELECT '" + "x" * n + "'",
    "big_comment": lambda n: "SELECT 1 -- " + "x" * n,
    "big_identifier": lambda n: "SELECT * FROM " + "x" * n,
    "long_concat": lambda n: "SELECT " + " || ".join(["'x'"] * n),
    "many_statements": lambda n: "SELECT 1;" * n,
    "statements_then_drop": lambda n: "SELECT 1; " * n + "DROP TABLE orders",
}


@dataclass(frozen=True)
class Place:
    """Where a case runs: tmp_path (also the working directory) and the canaries in it."""

    tmp: Path
    canary: Path
    secrets: tuple[str, ...]  # the canary file's token and the canary environment value

    def sql(self, case: dict[str, Any]) -> str:
        spec = case.get("generate")
        if spec is not None:
            return str(GENERATORS[spec["kind"]](int(spec["n"])))
        text = str(case["sql"])
        return text.replace("{canary}", str(self.canary)).replace("{tmp}", str(self.tmp))

    def assert_no_leak(self, *texts: str) -> None:
        for text in texts:
            for secret in self.secrets:
                assert secret not in text, f"canary leaked: {text[:300]!r}"


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Place:
    token = "canary" + secrets.token_hex(16)
    env_value = "envcanary" + secrets.token_hex(16)
    canary = tmp_path / "canary.csv"  # a CSV name, so replacement scans would pick it up
    canary.write_text(f"secret\n{token}\n", encoding="utf-8")
    monkeypatch.setenv(ENV_CANARY, env_value)
    monkeypatch.chdir(tmp_path)
    return Place(tmp=tmp_path, canary=canary, secrets=(token, env_value))


def snapshot(*folders: Path) -> set[str]:
    """Every file and folder under ``folders`` (absolute paths)."""
    found: set[str] = set()
    for folder in folders:
        if folder.exists():
            found.update(str(p) for p in folder.rglob("*"))
    return found


def file_state(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def result_text(result: Result) -> str:
    return repr(result.columns) + repr(result.rows)


# --------------------------------------------------------------------------- tally


class Tally:
    """Outcomes per (check, category), printed when the module ends."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], Counter[str]] = {}

    @contextmanager
    def record(self, check: str, case: dict[str, Any]) -> Iterator[None]:
        counter = self.counts.setdefault((check, case["category"]), Counter())
        try:
            yield
        except pytest.skip.Exception:
            counter["skipped"] += 1
            raise
        except BaseException:
            counter["failed"] += 1
            raise
        counter["passed"] += 1

    def lines(self) -> list[str]:
        out = ["", "guard corpus: outcomes per category (check / category: passed, failed)"]
        for (check, category), counter in sorted(self.counts.items()):
            out.append(f"  {check:<8} {category:<22} passed {counter['passed']:>3}  "
                       f"failed {counter['failed']:>3}")
        return out


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    t = Tally()
    yield t
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not t.counts:
        return
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        for line in t.lines():
            reporter.write_line(line)


def case_params(cases: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(c, id=c["id"]) for c in cases]


# --------------------------------------------------------------------------- the corpus itself


def test_corpus_shape(capsys: pytest.CaptureFixture[str]) -> None:
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for case in CASES:
        assert {"id", "category", "sql", "verdict"} <= set(case), case
        assert case["verdict"] in ("refuse", "allow"), case["id"]
        if case["verdict"] == "allow":
            assert not {"rule", "mentions", "execute", "generate"} & set(case), case["id"]
        for rule in as_list(case.get("rule", [])):
            assert rule in KNOWN_RULES, (case["id"], rule)
        if "generate" in case:
            assert case["generate"]["kind"] in GENERATORS, case["id"]
            assert case.get("execute") is False, case["id"]
        if case["category"] in NEVER_EXECUTED:
            assert case.get("execute") is False, case["id"]
    assert len(HOSTILE) >= 150, len(HOSTILE)
    assert len(BENIGN) >= 40, len(BENIGN)
    by_category = Counter((c["verdict"], c["category"]) for c in CASES)
    with capsys.disabled():
        print(f"\nguard corpus: {len(HOSTILE)} hostile, {len(BENIGN)} benign")
        for (verdict, category), n in sorted(by_category.items()):
            print(f"  {verdict:<7} {category:<22} {n:>3}")


# --------------------------------------------------------------------------- first wall: refuse


@pytest.mark.parametrize("case", case_params(HOSTILE))
def test_hostile_is_refused(case: dict[str, Any], sample_catalog: Catalog, place: Place,
                            tally: Tally) -> None:
    with tally.record("refuse", case):
        sql = place.sql(case)
        started = time.perf_counter()
        try:
            with pytest.raises(UnsafeSQL) as info:
                query = guard.check(sql, sample_catalog, POLICY)
                pytest.fail(f"accepted as {query.sql[:300]!r}")
        finally:
            elapsed = time.perf_counter() - started
        error = info.value
        assert error.message and error.message.strip(), "empty message"
        assert "\n" not in error.message and "\r" not in error.message, error.message
        assert str(error) == error.message
        assert error.exit_code == 3
        if "rule" in case:
            assert error.rule in as_list(case["rule"]), f"rule {error.rule!r}: {error.message}"
        for part in case.get("mentions", []):
            assert str(part).lower() in error.message.lower(), (
                f"message does not name {part!r}: {error.message}")
        place.assert_no_leak(error.message)
        assert elapsed < GUARD_SECONDS, f"the guard took {elapsed:.2f} s"


# --------------------------------------------------------------------------- first wall: allow


@pytest.mark.parametrize("case", case_params(BENIGN))
def test_benign_is_allowed_and_runs(case: dict[str, Any], sample_catalog: Catalog,
                                    sample_engine: Engine, gold: Any, place: Place,
                                    shared_cache_dir: Path, sample_db_path: Path,
                                    tally: Tally) -> None:
    with tally.record("allow", case):
        sql = place.sql(case)
        watched = (place.tmp, shared_cache_dir, sample_db_path.parent)
        before, db_before = snapshot(*watched), file_state(sample_db_path)

        started = time.perf_counter()
        query = guard.check(sql, sample_catalog, POLICY)
        assert time.perf_counter() - started < GUARD_SECONDS
        assert isinstance(query, GuardedQuery)
        assert query.original == sql
        assert set(query.tables) <= set(sample_catalog.tables)
        again = guard.check(query.sql, sample_catalog, POLICY)  # the guard's output is stable
        assert again.sql == query.sql

        result = sample_engine.run(query)
        assert len(result.rows) <= POLICY.row_limit
        place.assert_no_leak(result_text(result))
        if case.get("compare", True):
            expected = gold(sql)
            if len(expected) <= POLICY.row_limit:
                assert normalize(result.rows) == normalize(expected), query.sql
            else:
                assert len(result.rows) == POLICY.row_limit, query.sql

        assert snapshot(*watched) == before, "a file appeared"
        assert file_state(sample_db_path) == db_before, "the database file changed"


# --------------------------------------------------------------------------- second wall


class Wall:
    """A confined engine of its own (hostile statements may change its session state).

    The engine may run queries in a worker process, which keeps the working directory it was
    started in: every wall test runs in ``home`` so that relative paths always land there.
    """

    def __init__(self, db: Path, home: Path, cache_dir: Path) -> None:
        self.db, self.home, self.cache_dir = db, home, cache_dir
        self.engine: Engine | None = None

    def get(self) -> Engine:
        if self.engine is None:
            self.engine = Engine(resolve(str(self.db)), Limits(timeout=10, max_rows=1000,
                                                               memory_limit="1GB", threads=2),
                                 self.cache_dir)
        return self.engine

    def reset(self) -> None:
        if self.engine is not None:
            try:
                self.engine.close()
            except Exception:  # a broken engine is replaced either way
                pass
        self.engine = None


@pytest.fixture(scope="module")
def wall(sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wall]:
    w = Wall(sample_db_path, tmp_path_factory.mktemp("wall-home"),
             tmp_path_factory.mktemp("wall-cache"))
    yield w
    w.reset()


@pytest.fixture(scope="module")
def order_count(sample_db_path: Path) -> int:
    import duckdb

    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM orders").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def unguarded(sql: str) -> GuardedQuery:
    """A query the guard never saw: tests the engine's own confinement."""
    return GuardedQuery(sql=sql, original=sql)


EXECUTED = [c for c in HOSTILE
            if c.get("execute", True) is not False and c["category"] not in NEVER_EXECUTED
            and "generate" not in c]


@pytest.mark.parametrize("case", case_params(EXECUTED))
def test_second_wall_holds(case: dict[str, Any], wall: Wall, place: Place, order_count: int,
                           sample_db_path: Path, tally: Tally,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    with tally.record("wall", case):
        sql = place.sql(case)
        monkeypatch.chdir(wall.home)
        engine = wall.get()
        watched = (place.tmp, wall.home, wall.cache_dir, sample_db_path.parent)
        before, db_before = snapshot(*watched), file_state(sample_db_path)
        canary_before = place.canary.read_bytes()

        try:
            result = engine.run(unguarded(sql))
        except NL2SQLError as exc:  # refused by DuckDB: fine, as long as nothing leaked
            place.assert_no_leak(exc.message, str(exc.details))
        else:
            place.assert_no_leak(result_text(result))

        try:
            health = engine.run(unguarded("SELECT count(*) FROM orders"))
        except NL2SQLError as exc:
            wall.reset()
            pytest.fail(f"the engine is unusable after this statement: {exc.message}")
        else:
            assert health.rows == [(order_count,)], "the data changed"
        assert snapshot(*watched) == before, "a file appeared"
        assert file_state(sample_db_path) == db_before, "the database file changed"
        assert place.canary.read_bytes() == canary_before, "the canary file changed"
