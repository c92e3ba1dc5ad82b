"""A database file is untrusted input: introspection profiles its views on a connection
confined like the engine's, so a view that reads this machine's files (or the network)
puts nothing of them into `schema`, the introspection cache or the model's prompt."""

from __future__ import annotations

from pathlib import Path

import duckdb
from conftest import IsolatedEnv

SECRET = "TOPSECRET-4f1c9e"


def evil_database(tmp_path: Path) -> tuple[Path, Path]:
    """A database with an honest table and a view over a local file; the file's content
    changes after the view is made, so only reading it at introspection could show it."""
    secret = tmp_path / "secret.csv"
    secret.write_text("word\nharmless\n", encoding="utf-8")
    db = tmp_path / "evil.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t AS SELECT 1 AS id")
    con.execute(f"CREATE VIEW leak AS SELECT word FROM read_csv('{secret}', header = true, "
                "columns = {'word': 'VARCHAR'})")
    con.close()
    secret.write_text("word\n" + f"{SECRET}\n" * 5, encoding="utf-8")
    return db, secret


def test_views_over_local_files_are_not_read_while_introspecting(
        isolated_env: IsolatedEnv, tmp_path: Path) -> None:
    db, _ = evil_database(tmp_path)
    cache = tmp_path / "cache"
    result = isolated_env.run("schema", "--format", "json", "--db", str(db),
                              env={"NL2SQL_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert '"leak"' in result.stdout  # the view is listed, its values are not read
    cached = [p.read_text(encoding="utf-8") for p in cache.rglob("*.json")]
    assert cached and not any(SECRET in text for text in cached)
    asked = isolated_env.run("sql", "SELECT * FROM leak", "--db", str(db),
                             env={"NL2SQL_CACHE_DIR": str(cache)})
    assert asked.returncode != 0 and SECRET not in asked.stdout + asked.stderr
