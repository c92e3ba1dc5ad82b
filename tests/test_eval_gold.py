"""Every gold SQL of every question set in tests/eval runs on its database and returns rows.

A gold answer that errors or comes back empty would make a question meaningless (any empty
answer would "match" it), so each one is executed here, without any drafter. The shop sets
were written against the full-scale sample database (as tests/test_offline_eval.py uses);
the Chinook sets need ../shared and are skipped without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from nl2sql.drafting import evaluate
from nl2sql.interfaces.cli import ensure_sample_db
from nl2sql.schema.source import sqlite_extension_path
from nl2sql.settings import PROJECT_ROOT

EVAL_DIR = Path(__file__).parent / "eval"
SETS = sorted(EVAL_DIR.glob("*.yaml"))
CHINOOK = PROJECT_ROOT.parent / "shared" / "datasets" / "chinook" / "Chinook_Sqlite.sqlite"
NO_AUTOLOAD = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}


@pytest.fixture(scope="module")
def connections(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], duckdb.DuckDBPyConnection]]:
    opened: dict[str, duckdb.DuckDBPyConnection] = {}
    cache = tmp_path_factory.mktemp("gold-cache")

    def open_db(name: str) -> duckdb.DuckDBPyConnection:
        if name not in opened:
            if name == "shop":
                db = PROJECT_ROOT / "sample_db" / "shop.duckdb"
                ensure_sample_db(str(db))
                opened[name] = duckdb.connect(str(db), read_only=True, config=NO_AUTOLOAD)
            else:
                if not CHINOOK.is_file():
                    pytest.skip(f"{CHINOOK} is not here (../shared is absent)")
                con = duckdb.connect(":memory:", config=NO_AUTOLOAD)
                con.execute(f"LOAD '{sqlite_extension_path(cache)}'")
                con.execute(f"ATTACH '{CHINOOK}' AS chinook (TYPE sqlite, READ_ONLY)")
                con.execute("USE chinook")
                opened[name] = con
        return opened[name]

    yield open_db
    for con in opened.values():
        con.close()


@pytest.mark.slow  # builds the full-size sample database
@pytest.mark.parametrize("path", SETS, ids=[p.name for p in SETS])
def test_every_gold_sql_returns_rows(
        path: Path, connections: Callable[[str], duckdb.DuckDBPyConnection]) -> None:
    database, cases = evaluate.load_cases(path)
    con = connections("shop" if database == "shop" else "chinook")  # the only two in tests/eval
    problems = []
    for case in cases:
        if not case.sql:  # an unanswerable question: nothing to run
            continue
        try:
            rows = con.execute(case.sql).fetchall()
        except duckdb.Error as exc:
            problems.append(f"{case.id}: {str(exc).splitlines()[0]}")
            continue
        if not rows:
            problems.append(f"{case.id}: no rows")
    assert not problems, problems
