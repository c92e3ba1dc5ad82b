"""DuckDB or Spark? The same ten questions over a large copy of the sample, side by side.

    .venv/bin/python benchmarks/bench_spark_scale.py            # --scale 100: 3.5M order items
    .venv/bin/python benchmarks/bench_spark_scale.py --scale 600  # 21M order items, ~7 GB RAM

The sample database (scale 1) is replicated ``--scale`` times into Parquet files with DuckDB
(orders, order items, customers, reviews and tickets get fresh keys per copy; products and
agents stay): a big shop whose joins still mean something. The same files back both engines:

- DuckDB: a database file whose tables are loaded from the Parquet files, asked through
  nl2sql's own engine (confined worker, one file on this machine);
- Spark: a local Spark Connect server (``tests/spark_server.py``, ``local[4]``, 1 GB driver
  memory, from ``.ci/install-spark``) with external Parquet tables over the same files and the
  key properties nl2sql reads, asked through nl2sql's push-down.

Each question runs through ``pipeline.ask`` (offline drafter: the same SQL on both), once to
warm up, then timed ``--repeat`` times; the table prints the median per engine and their ratio.
The data is built in a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

QUESTIONS = [
    "How many customers are in each city?",
    "How many orders are there?",
    "Total sales by month in 2024",
    "Top 5 products by sales",
    "What is the average order value by customer city?",
    "How many orders per status?",
    "How many orders came from customers living in Beijing?",
    "Average rating per product category",
    "How many support tickets per channel?",
    "Total sales from platinum members",
]
# Per copy k, keys move by k times the table's largest key: copies never collide.
KEYED = {
    "customers": {"customer_id": "customers"},
    "orders": {"order_id": "orders", "customer_id": "customers"},
    "order_items": {"order_id": "orders"},
    "reviews": {"review_id": "reviews", "customer_id": "customers", "order_id": "orders"},
    "support_tickets": {"ticket_id": "support_tickets", "customer_id": "customers",
                        "order_id": "orders"},
}
KEY_OF = {"customers": "customer_id", "orders": "order_id",
          "reviews": "review_id", "support_tickets": "ticket_id"}


def build_parquet(sample: Path, folder: Path, scale: int) -> dict[str, int]:
    """One Parquet folder per table under ``folder``; rows per table."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"ATTACH '{sample}' AS s (READ_ONLY)")
    tops = {t: con.execute(f"SELECT max({k}) FROM s.{t}").fetchone()[0] for t, k in KEY_OF.items()}
    rows: dict[str, int] = {}
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 's'").fetchall()]
    columns_of = {t: [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = 's' AND table_name = ? "
        "ORDER BY column_index", [t]).fetchall()] for t in tables}
    for table in tables:
        moved = KEYED.get(table, {})
        present = [c for c in moved if c in columns_of[table]]
        if present:
            replace = ", ".join(f"CAST(t.{c} + k * {tops[moved[c]]} AS INTEGER) AS {c}"
                                for c in present)
            select = (f"SELECT t.* REPLACE ({replace}) FROM s.{table} AS t, "
                      f"range({scale}) AS copies(k)")
        else:
            select = f"SELECT * FROM s.{table}"
        target = folder / table
        target.mkdir(parents=True)
        con.execute(f"COPY ({select}) TO '{target}/part.parquet' (FORMAT parquet, "
                    "ROW_GROUP_SIZE 1000000)")
        rows[table] = con.execute(f"SELECT count(*) FROM '{target}/part.parquet'").fetchone()[0]
    con.close()
    return rows


def duckdb_file(sample: Path, parquet: Path, out: Path) -> None:
    """A DuckDB file with the sample's schema (keys, comments) and the big rows."""
    import shutil

    import duckdb

    shutil.copyfile(sample, out)
    con = duckdb.connect(str(out))
    order = ["customers", "products", "agents", "orders", "order_items", "reviews",
             "support_tickets"]  # parents first (foreign keys)
    for table in reversed(order):
        con.execute(f"DELETE FROM {table}")
    for table in order:
        con.execute(f"INSERT INTO {table} SELECT * FROM '{parquet / table}/part.parquet'")
    con.execute("CHECKPOINT")
    con.close()


def spark_tables(url: str, sample: Path, parquet: Path) -> None:
    """External Parquet tables over the same files, with the comments and key properties."""
    import duckdb

    from nl2sql.schema import spark
    from nl2sql.schema.source import spark_source
    from sample_db.to_server import read_specs
    from sample_db.to_spark import create_statement

    session = spark.session_for(spark_source(url))
    con = duckdb.connect(str(sample), read_only=True)
    for spec in read_specs(con):
        statement = create_statement(spec).replace(
            " USING parquet", f" USING parquet LOCATION '{parquet / spec.name}'")
        session.sql(statement)
    con.close()


def time_questions(db: str, cache: Path, repeat: int) -> list[float | None]:
    from nl2sql import pipeline
    from nl2sql.errors import NL2SQLError
    from nl2sql.settings import PROJECT_ROOT, Settings

    settings = Settings(db=db, drafter="offline", cache_dir=cache, query_timeout=600,
                        schemas_dir=PROJECT_ROOT / "schemas", audit_log=cache / "audit.jsonl",
                        memory_limit="8GB")
    out: list[float | None] = []
    with pipeline.open_session(settings) as session:
        for question in QUESTIONS:
            try:
                pipeline.ask(session, question)
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    pipeline.ask(session, question)
                    times.append(time.perf_counter() - started)
                out.append(statistics.median(times))
            except NL2SQLError as exc:
                print(f"  {question!r}: {exc.message}", file=sys.stderr)
                out.append(None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    from spark_server import start_spark

    from sample_db.generate import DEFAULT_PATH, build

    with tempfile.TemporaryDirectory(prefix="nl2sql-scale-") as work:
        base = Path(work)
        sample = DEFAULT_PATH if DEFAULT_PATH.is_file() else build(base / "shop1.duckdb")
        started = time.perf_counter()
        parquet = base / "parquet"
        rows = build_parquet(sample, parquet, args.scale)
        parquet.chmod(0o755)
        for path in parquet.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        base.chmod(0o755)
        built = time.perf_counter() - started
        started = time.perf_counter()
        duck = base / "shop.duckdb"
        duckdb_file(sample, parquet, duck)
        loaded = time.perf_counter() - started
        server = start_spark()
        try:
            spark_tables(server.url(), sample, parquet)
            print(f"scale {args.scale}: {rows['order_items']:,} order items, "
                  f"{rows['orders']:,} orders, {rows['customers']:,} customers; Parquet in "
                  f"{built:.1f} s, DuckDB file in {loaded:.1f} s, Spark up in {server.started_in:.1f} s")
            duck_times = time_questions(str(duck), base / "cache-duckdb", args.repeat)
            spark_times = time_questions(server.url(), base / "cache-spark", args.repeat)
        finally:
            from nl2sql.schema import spark

            spark.forget_all()
            server.stop()
    print("| question | DuckDB (s) | Spark local (s) | Spark / DuckDB |")
    print("|---|---:|---:|---:|")
    for question, d, s in zip(QUESTIONS, duck_times, spark_times, strict=True):
        ratio = f"{s / d:.1f}x" if d and s else "-"
        print(f"| {question} | {d if d is None else f'{d:.2f}'} | "
              f"{s if s is None else f'{s:.2f}'} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
