"""`nl2sql schema` shows the catalog as the role sees it (it printed the denied birth_date's
min and max — two customers' exact birth dates — to the analyst)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import IsolatedEnv


def db_values(db: Path, sql: str) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [str(v) for (v,) in con.execute(sql).fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_analyst_schema_shows_no_denied_or_masked_value(fmt: str, isolated_env: IsolatedEnv,
                                                        sample_db_path: Path) -> None:
    result = isolated_env.run("schema", "--format", fmt, "--db", str(sample_db_path),
                              env={"NL2SQL_ROLE": "analyst"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    births = db_values(sample_db_path, "SELECT DISTINCT CAST(birth_date AS VARCHAR) FROM customers")
    secrets = births + db_values(sample_db_path,
                                 "SELECT phone FROM customers UNION ALL SELECT email FROM customers "
                                 "UNION ALL SELECT id_number FROM customers")
    leaked = [value for value in secrets if value in out]
    assert not leaked, leaked[:5]
    if fmt == "json":
        customers = json.loads(out)["tables"]["customers"]
        names = [c["name"] for c in customers["columns"]]
        assert "birth_date" not in names and "phone" in names  # denied: gone; masked: named


def test_steward_schema_still_shows_what_the_steward_may_see(isolated_env: IsolatedEnv,
                                                             sample_db_path: Path) -> None:
    result = isolated_env.run("schema", "--format", "json", "--db", str(sample_db_path),
                              env={"NL2SQL_ROLE": "steward"})
    assert result.returncode == 0, result.stderr
    columns = {c["name"]: c for c in json.loads(result.stdout)["tables"]["customers"]["columns"]}
    earliest = db_values(sample_db_path, "SELECT CAST(min(birth_date) AS VARCHAR) FROM customers")
    assert columns["birth_date"]["profile"]["min"] == earliest[0]
