"""Server databases: what a question costs on PostgreSQL and MariaDB next to the DuckDB file.

Run::

    .venv/bin/python benchmarks/bench_servers.py            # ~1 minute; --questions 20

It starts throw-away servers as the tests do (``tests/servers.py``), loads the sample
database into each (``nl2sql sample-db --out URL``), and in one process:

- asks the same questions of the three (in-process ``pipeline.ask``, offline drafter,
  warm session): p50 and p95 per question, and the ratio to DuckDB's p50 — the server's
  cost is the guard, the transpile and the round trip;
- runs ``SELECT 1`` through ``nl2sql sql``'s path: the fixed cost of one round trip;
- introspects a 300-table database on each server, cold (reflection, sampling, profiles).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_questions(db: str, questions: list[str], cache: Path) -> list[float]:
    from nl2sql import pipeline
    from nl2sql.errors import NL2SQLError
    from nl2sql.settings import PROJECT_ROOT, Settings

    settings = Settings(db=db, drafter="offline", cache_dir=cache,
                        schemas_dir=PROJECT_ROOT / "schemas", audit_log=cache / "audit.jsonl")
    out = []
    with pipeline.open_session(settings) as session:
        for question in questions[:2]:  # warm the session's pools and caches
            try:
                pipeline.ask(session, question)
            except NL2SQLError:
                pass
        for question in questions:
            started = time.perf_counter()
            try:
                pipeline.ask(session, question)
            except NL2SQLError:
                continue
            out.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for _ in range(20):
            pipeline.run_sql(session, "SELECT 1 AS one")
        out.append(-(time.perf_counter() - started) * 1000 / 20)  # marker: round trip
    return out


def wide_database(server: Any, tables: int = 300) -> str:
    """A database of ``tables`` small tables (keys to the previous one), for introspection."""
    url = server.create_database()
    name = url.rsplit("/", 1)[1]
    statements = []
    for i in range(tables):
        fk = f", parent_id INTEGER, FOREIGN KEY (parent_id) REFERENCES t{i - 1}(id)" if i else ""
        statements.append(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, name VARCHAR(40), "
                          f"amount NUMERIC(10, 2), created DATE{fk})")
        statements.append(f"INSERT INTO t{i} (id, name, amount, created) VALUES "
                          "(1, 'a', 1.5, '2024-01-01'), (2, 'b', 2.5, '2024-02-01')")
    server.execute(*statements, database=name)
    return str(url)


def introspection_seconds(url: str, cache: Path) -> float:
    from nl2sql.pipeline.session import load_catalog
    from nl2sql.settings import Settings

    started = time.perf_counter()
    load_catalog(Settings(db=url, cache_dir=cache))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    import yaml
    from servers import start_mariadb, start_postgres

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=60)
    args = parser.parse_args(argv)
    cases = yaml.safe_load((ROOT / "tests" / "eval" / "shop.yaml").read_text(encoding="utf-8"))
    questions = [c["question"] for c in cases["questions"] if c.get("sql")][: args.questions]
    servers = {}
    try:
        started = time.perf_counter()
        servers["postgres"] = start_postgres()
        pg_start = time.perf_counter() - started
        started = time.perf_counter()
        servers["mariadb"] = start_mariadb()
        my_start = time.perf_counter() - started
        urls = {"duckdb": str(ROOT / "sample_db" / "shop.duckdb")}
        for name, server in servers.items():
            url = server.create_database("shop")
            subprocess.run([str(ROOT / ".venv" / "bin" / "nl2sql"), "sample-db", "--out", url],
                           check=True, capture_output=True)
            urls[name] = url
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            base = None
            for name, url in urls.items():
                timings = time_questions(url, questions, Path(tmp) / name)
                trip = -timings.pop()
                p50, p95 = statistics.median(timings), _p(timings, 0.95)
                base = base or p50
                wide = (introspection_seconds(wide_database(servers[name]), Path(tmp) / "wide")
                        if name in servers else None)
                rows.append((name, len(timings), p50, p95, p50 / base, trip, wide))
        print(f"servers started in {pg_start:.1f} s (PostgreSQL) and {my_start:.1f} s (MariaDB)\n")
        print("| engine | questions | p50 (ms) | p95 (ms) | p50 ratio to DuckDB | SELECT 1 (ms) "
              "| 300-table introspection (s) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, n, p50, p95, ratio, trip, wide in rows:
            wide_text = f"{wide:.2f}" if wide is not None else "–"
            print(f"| {name} | {n} | {p50:.1f} | {p95:.1f} | {ratio:.2f}× | {trip:.1f} | "
                  f"{wide_text} |")
    finally:
        for server in servers.values():
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
