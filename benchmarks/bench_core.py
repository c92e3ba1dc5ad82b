"""Core latency benchmarks for nl2sql: everything except the model.

Run::

    .venv/bin/python benchmarks/bench_core.py            # full (~1-3 min)
    .venv/bin/python benchmarks/bench_core.py --quick    # smoke (~30 s)
    .venv/bin/python benchmarks/bench_core.py --json out.json

Measurements (all offline; every file lives in one temporary directory that is
removed at the end):

1. cold CLI start: ``nl2sql sql "select 1"`` as a fresh process, introspection
   cache warm (so this is imports + settings + cached catalog, read without opening
   the database + guard + a forked query worker + rendering). ``bench_start.py``
   compares it (and ``ask``, and a first question on a new database) with a bare
   DuckDB process.
2. introspection of the bundled sample database (scale 1): cold (empty cache
   directory per run) and cached. Timed: ``resolve`` + ``connect`` + ``introspect``
   (the cached case checks the schema fingerprint through the connection; the CLI's
   warm path, ``load_unchanged``, skips even that).
3. cold introspection of a generated 300-table DuckDB database.
4. per-question overhead on a warm session: guard, context + prompt (English and
   Chinese), engine, ``run_sql`` and a full ``ask`` with an instant in-process
   fake model (the per-question cost that is not the model's).

"ok" compares the p50 with the target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql and sample_db importable
    sys.path.insert(0, str(ROOT))

# --------------------------------------------------------------------------- #
# Results
# --------------------------------------------------------------------------- #


@dataclass
class Measurement:
    name: str
    samples_ms: list[float]
    target_ms: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples_ms)
        rank = max(1, -(-95 * len(ordered) // 100))  # nearest-rank percentile
        return ordered[rank - 1]

    @property
    def ok(self) -> bool | None:
        return None if self.target_ms is None else self.p50 < self.target_ms

    def to_json(self) -> dict[str, Any]:
        s = self.samples_ms
        return {
            "name": self.name, "n": len(s), "p50_ms": round(self.p50, 3),
            "p95_ms": round(self.p95, 3), "mean_ms": round(statistics.fmean(s), 3),
            "min_ms": round(min(s), 3), "max_ms": round(max(s), 3),
            "target_ms": self.target_ms, "ok": self.ok, "note": self.note,
            "samples_ms": [round(x, 3) for x in s], **self.extra,
        }


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- #
# Databases
# --------------------------------------------------------------------------- #


def build_sample(folder: Path) -> Path:
    """The bundled sample shop at scale 1 (named shop.duckdb so schemas/shop.yaml applies)."""
    from sample_db.generate import build

    return Path(build(folder / "shop.duckdb", scale=1.0))


_WORDS = ("account", "region", "invoice", "payment", "shipment", "vendor", "asset", "ledger",
          "contract", "employee", "branch", "warehouse", "campaign", "device", "policy",
          "claim", "route", "batch", "station", "project")
_TYPES = ("INTEGER", "BIGINT", "VARCHAR", "VARCHAR", "DOUBLE", "DATE", "DECIMAL(10,2)",
          "BOOLEAN", "TIMESTAMP")


def _value_sql(type_name: str, j: int, low_cardinality: bool) -> str:
    """A deterministic expression over ``range`` (0..rows-1) for a column of this type."""
    if type_name in ("INTEGER", "BIGINT"):
        return f"CAST((range * {7 + j}) % 1000 AS {type_name})"
    if type_name == "VARCHAR":
        if low_cardinality:
            return f"'kind_' || CAST(range % {3 + j % 5} AS VARCHAR)"
        return f"'item ' || CAST(range * {j + 1} AS VARCHAR)"
    if type_name == "DOUBLE":
        return f"range * {j + 0.5}"
    if type_name == "DATE":
        return "DATE '2024-01-01' + CAST(range AS INTEGER)"
    if type_name == "DECIMAL(10,2)":
        return f"CAST(range * 1.25 + {j} AS DECIMAL(10,2))"
    if type_name == "BOOLEAN":
        return "range % 2 = 0"
    return f"TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (range * {j + 1}) MINUTE"


def build_wide(path: Path, n_tables: int = 300, rows: int = 100, seed: int = 300) -> Path:
    """``n_tables`` tables of 5-15 columns: PKs, an FK to an earlier table for most,
    comments on every table and column, ``rows`` rows each. Deterministic."""
    import duckdb

    rng = random.Random(seed)
    names: list[str] = []
    con = duckdb.connect(str(path))
    try:
        for i in range(n_tables):
            name = f"t{i:03d}_{rng.choice(_WORDS)}"
            n_cols = rng.randint(5, 15)
            cols: list[tuple[str, str, str]] = [("id", "INTEGER PRIMARY KEY", "range + 1")]
            if names and rng.random() < 0.85:
                parent = names[rng.randrange(len(names))]
                cols.append((f"{parent}_id", f"INTEGER REFERENCES {parent} (id)",
                             f"CAST((range * 13) % {rows} + 1 AS INTEGER)"))
            while len(cols) < n_cols:
                j = len(cols)
                type_name = rng.choice(_TYPES)
                col = f"c{j:02d}_{rng.choice(_WORDS)}"
                nullable = "" if rng.random() < 0.5 else " NOT NULL"
                cols.append((col, type_name + nullable,
                             _value_sql(type_name, j, low_cardinality=rng.random() < 0.4)))
            ddl = ", ".join(f"{c} {t}" for c, t, _ in cols)
            values = ", ".join(f"{v} AS {c}" for c, _, v in cols)
            comments = [f"COMMENT ON TABLE {name} IS 'Synthetic table {i}: {name} records'"]
            comments += [f"COMMENT ON COLUMN {name}.{c} IS 'The {c.replace('_', ' ')} of a "
                         f"{name.split('_', 1)[1]}'" for c, _, _ in cols]
            con.execute(f"CREATE TABLE {name} ({ddl}); "
                        f"INSERT INTO {name} SELECT {values} FROM range({rows}); "
                        + "; ".join(comments))
            names.append(name)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


# --------------------------------------------------------------------------- #
# 1. cold CLI start
# --------------------------------------------------------------------------- #


def _cli_command() -> list[str]:
    script = Path(sys.executable).parent / "nl2sql"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "nl2sql.interfaces.cli"]


def _clean_env(db: Path, cache_dir: Path) -> dict[str, str]:
    """No inherited configuration (keys, models, databases): only ours."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NL2SQL_", "OPENAI_"))}
    env.update(NL2SQL_DB=str(db), NL2SQL_CACHE_DIR=str(cache_dir))
    return env


def bench_cli(db: Path, work: Path, runs: int) -> list[Measurement]:
    cache_dir = Path(tempfile.mkdtemp(prefix="cli-cache-", dir=work))
    cwd = Path(tempfile.mkdtemp(prefix="cli-cwd-", dir=work))  # no stray .env
    env = _clean_env(db, cache_dir)
    command = [*_cli_command(), "sql", "select 1"]

    def once(argv: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        elapsed = _ms(started)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: "
                               f"{done.stderr.strip() or done.stdout.strip()}")
        return elapsed

    once(command)  # warms the introspection cache (and the OS file cache)
    samples = [once(command) for _ in range(runs)]
    baseline = [once([sys.executable, "-c", "pass"]) for _ in range(runs)]
    return [
        Measurement("cold CLI start: nl2sql sql 'select 1' (cache warm)", samples, 1000.0,
                    extra={"command": command}),
        Measurement("  baseline: python -c pass", baseline),
    ]


# --------------------------------------------------------------------------- #
# 2 + 3. introspection
# --------------------------------------------------------------------------- #


def _introspect_once(db: Path, cache_dir: Path) -> tuple[float, int]:
    from nl2sql.schema.introspect import introspect
    from nl2sql.schema.source import connect, resolve

    started = time.perf_counter()
    source = resolve(str(db))
    con = connect(source, cache_dir)
    try:
        catalog = introspect(source, con, cache_dir)
        elapsed = _ms(started)
    finally:
        con.close()
    return elapsed, len(catalog.tables)


def _cold(db: Path, work: Path) -> tuple[float, int]:
    cache_dir = Path(tempfile.mkdtemp(prefix="cold-cache-", dir=work))
    try:
        return _introspect_once(db, cache_dir)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def bench_introspection(sample: Path, wide: Path, work: Path, cold_runs: int,
                        cached_runs: int, wide_runs: int) -> list[Measurement]:
    first, _ = _cold(sample, work)  # pays the imports (sqlalchemy, duckdb_engine) once
    cold = [_cold(sample, work)[0] for _ in range(cold_runs)]
    cache_dir = Path(tempfile.mkdtemp(prefix="warm-cache-", dir=work))
    _introspect_once(sample, cache_dir)
    cached = [_introspect_once(sample, cache_dir)[0] for _ in range(cached_runs)]
    _progress(f"introspecting the {wide.stem} database cold ×{wide_runs}")
    wide_samples: list[float] = []
    tables = 0
    for _ in range(wide_runs):
        elapsed, tables = _cold(wide, work)
        wide_samples.append(elapsed)
    return [
        Measurement("introspect sample, cold, 1st in process (imports)", [first]),
        Measurement("introspect sample, cold", cold),
        Measurement("introspect sample, cached", cached),
        Measurement(f"introspect {tables}-table db, cold", wide_samples, 3000.0),
    ]


# --------------------------------------------------------------------------- #
# 4. per-question overhead
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Case:
    en: str
    zh: str
    sql: str


CASES: tuple[Case, ...] = (
    Case("How many customers are in each city?", "每个城市有多少客户？",
         "SELECT city, count(*) AS customers FROM customers GROUP BY city "
         "ORDER BY customers DESC"),
    Case("What were the monthly sales in 2024?", "2024年每个月的销售额是多少？",
         "SELECT date_trunc('month', order_date) AS month, sum(total_amount) AS sales "
         "FROM orders WHERE year(order_date) = 2024 AND status <> 'cancelled' "
         "GROUP BY 1 ORDER BY 1"),
    Case("Who are the top 10 customers by total spend?", "消费总额最高的10位客户是谁？",
         "SELECT c.customer_id, c.name, c.city, sum(o.total_amount) AS total_spend "
         "FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
         "WHERE o.status IN ('paid', 'shipped', 'delivered') "
         "GROUP BY c.customer_id, c.name, c.city ORDER BY total_spend DESC LIMIT 10"),
    Case("What is the revenue by product category?", "各产品类别的收入是多少？",
         "SELECT p.category, round(sum(oi.quantity * oi.unit_price * (1 - oi.discount)), 2) "
         "AS revenue FROM order_items oi JOIN products p ON p.product_id = oi.product_id "
         "GROUP BY p.category ORDER BY revenue DESC"),
    Case("Which product sells best in each category?", "每个类别中销量最高的产品是哪个？",
         "WITH sold AS (SELECT p.category, p.name, sum(oi.quantity) AS units, "
         "row_number() OVER (PARTITION BY p.category ORDER BY sum(oi.quantity) DESC) AS rn "
         "FROM order_items oi JOIN products p ON p.product_id = oi.product_id "
         "GROUP BY p.category, p.name) "
         "SELECT category, name, units FROM sold WHERE rn = 1 ORDER BY units DESC"),
    Case("What is the average order value by channel?", "各渠道的平均订单金额是多少？",
         "SELECT channel, round(avg(total_amount), 2) AS avg_order_value, count(*) AS orders "
         "FROM orders GROUP BY channel ORDER BY avg_order_value DESC"),
    Case("What share of orders was cancelled in each shipping city?",
         "每个收货城市取消订单的比例是多少？",
         "SELECT shipping_city, round(100.0 * count(*) FILTER (WHERE status = 'cancelled') "
         "/ count(*), 2) AS cancelled_pct FROM orders GROUP BY shipping_city "
         "ORDER BY cancelled_pct DESC"),
    Case("How did sales grow month over month?", "销售额的环比增长是多少？",
         "WITH monthly AS (SELECT date_trunc('month', order_date) AS month, "
         "sum(total_amount) AS sales FROM orders GROUP BY 1) "
         "SELECT month, sales, sales - lag(sales) OVER (ORDER BY month) AS change "
         "FROM monthly ORDER BY month"),
    Case("Which gold or platinum customers placed more than 15 orders?",
         "下单超过15次的金卡或白金客户有哪些？",
         "SELECT c.name, c.vip_level, count(o.order_id) AS orders FROM customers c "
         "JOIN orders o ON o.customer_id = c.customer_id "
         "WHERE c.vip_level IN ('gold', 'platinum') GROUP BY c.name, c.vip_level "
         "HAVING count(o.order_id) > 15 ORDER BY orders DESC"),
    Case("What is the average review rating per brand?", "每个品牌的平均评分是多少？",
         "SELECT p.brand, round(avg(r.rating), 2) AS avg_rating, count(*) AS reviews "
         "FROM reviews r JOIN products p ON p.product_id = r.product_id "
         "GROUP BY p.brand ORDER BY avg_rating DESC"),
    Case("How many units of each category were sold to Shanghai customers last year?",
         "去年上海客户购买了每个类别多少件商品？",
         "SELECT p.category, sum(oi.quantity) AS units FROM order_items oi "
         "JOIN orders o ON o.order_id = oi.order_id "
         "JOIN customers c ON c.customer_id = o.customer_id "
         "JOIN products p ON p.product_id = oi.product_id "
         "WHERE c.city = 'Shanghai' AND year(o.order_date) = 2025 "
         "GROUP BY p.category ORDER BY units DESC"),
)


class FakeChat:
    """An in-process ChatClient that answers instantly with the SQL it is told to."""

    model = "bench-fake"

    def __init__(self) -> None:
        self.sql = "SELECT 1"

    def complete(self, messages: list[dict[str, str]]) -> Any:
        from nl2sql.drafting.model_drafter import ChatReply

        chars = sum(len(m["content"]) for m in messages)
        return ChatReply(content=f"Here you go:\n```sql\n{self.sql}\n```",
                         prompt_tokens=chars // 4, completion_tokens=len(self.sql) // 4)


def _timed(rounds: int, items: list[Any], fn: Callable[[Any], object]) -> list[float]:
    """One untimed warm-up pass, then ``rounds`` passes over ``items``."""
    for item in items:
        fn(item)
    samples: list[float] = []
    for _ in range(rounds):
        for item in items:
            started = time.perf_counter()
            fn(item)
            samples.append(_ms(started))
    return samples


# Queries that read masked and filtered columns, for the cost of the access policy.
POLICY_SQL = [
    "SELECT name, upper(phone) AS p, email FROM customers WHERE city = 'Shanghai'",
    "WITH c AS (SELECT customer_id, phone FROM customers) SELECT o.order_id, c.phone "
    "FROM orders AS o JOIN c ON c.customer_id = o.customer_id",
    "SELECT phone FROM customers UNION ALL SELECT email FROM customers",
    "SELECT * EXCLUDE (birth_date) FROM customers",
]


def bench_policy(catalog: Any, limits: Any, rounds: int) -> list[Measurement]:
    """guard.check on queries touching personal data: no policy, steward, analyst (deny
    check, secure-view rewrite and lineage). Same run, so the ratio is what counts."""
    from nl2sql.safety import guard, policy

    analyst = policy.for_role(catalog, "analyst")
    steward = policy.for_role(catalog, "steward")
    plain = _timed(rounds, POLICY_SQL, lambda sql: guard.check(sql, catalog, limits))
    base = statistics.median(plain)
    rows = [Measurement("policy: guard.check, no policy", plain)]
    for name, access in (("steward", steward), ("analyst", analyst)):
        samples = _timed(rounds, POLICY_SQL,
                         lambda sql, a=access: guard.check(sql, catalog, limits, access=a))
        rows.append(Measurement(f"policy: guard.check as {name}", samples,
                                note=f"{statistics.median(samples) / base:.2f}x no policy"))
    return rows


def bench_per_question(sample: Path, work: Path, rounds: int) -> list[Measurement]:
    from nl2sql import pipeline
    from nl2sql.drafting import context, prompt
    from nl2sql.errors import NL2SQLError
    from nl2sql.safety import guard
    from nl2sql.settings import Settings

    cache_dir = Path(tempfile.mkdtemp(prefix="session-cache-", dir=work))
    settings = Settings(db=str(sample), cache_dir=cache_dir, api_key="bench-offline",
                        drafter="model")
    fake = FakeChat()
    session = pipeline.open_session(settings, chat_client=fake)
    try:
        cases = []
        for case in CASES:  # a query the guard or engine refuses would measure an error path
            try:
                pipeline.run_sql(session, case.sql)
                cases.append(case)
            except NL2SQLError as exc:
                print(f"warning: skipping {case.en!r}: {exc}", file=sys.stderr)
        if not cases:
            raise RuntimeError("every benchmark query failed; see the warnings above")
        policy = guard.Policy(row_limit=settings.row_limit)
        catalog = session.catalog
        guarded = {c.sql: guard.check(c.sql, catalog, policy) for c in cases}
        questions = [(c, c.en) for c in cases] + [(c, c.zh) for c in cases]
        stage_timings: list[dict[str, float]] = []

        def ask(item: tuple[Case, str]) -> None:
            case, question = item
            fake.sql = case.sql
            answer = pipeline.ask(session, question, drafter="model")
            stage_timings.append(answer.timings_ms)

        def ctx_prompt(question: str) -> None:
            prompt.build(question, context.select(question, catalog))

        results = [
            Measurement("per question: guard.check", _timed(
                rounds, [c.sql for c in cases], lambda sql: guard.check(sql, catalog, policy))),
            *bench_policy(catalog, policy, rounds),
            Measurement("per question: context + prompt (en)",
                        _timed(rounds, [c.en for c in cases], ctx_prompt)),
            Measurement("per question: context + prompt (zh)",
                        _timed(rounds, [c.zh for c in cases], ctx_prompt)),
            Measurement("per question: engine.run", _timed(
                rounds, [guarded[c.sql] for c in cases], session.engine.run)),
            Measurement("per question: pipeline.run_sql", _timed(
                rounds, [c.sql for c in cases], lambda sql: pipeline.run_sql(session, sql))),
        ]
        stage_timings.clear()
        ask_samples = _timed(rounds, questions, ask)
        stage_timings = stage_timings[len(questions):]  # drop the warm-up pass
        stages = sorted({k for t in stage_timings for k in t if k != "open"})
        stage_p50 = {k: round(statistics.median(t.get(k, 0.0) for t in stage_timings), 3)
                     for k in stages}
        results.append(Measurement(
            "per question: pipeline.ask, fake model (en+zh)", ask_samples, 30.0,
            note="stage p50 ms: " + ", ".join(f"{k} {v:.1f}" for k, v in stage_p50.items()),
            extra={"stage_p50_ms": stage_p50}))
        return results
    finally:
        session.close()


# --------------------------------------------------------------------------- #
# Report
# --------------------------------------------------------------------------- #


def _fmt(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def print_table(results: list[Measurement], title: str) -> None:
    rows = []
    for m in results:
        target = f"p50 < {m.target_ms:,.0f}" if m.target_ms is not None else "report"
        ok = {None: "-", True: "yes", False: "NO"}[m.ok]
        rows.append((m.name, str(len(m.samples_ms)), _fmt(m.p50), _fmt(m.p95), target, ok))
    notes = [f"{m.name.strip()}: {m.note}" for m in results if m.note]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        header = ("measurement", "n", "p50 ms", "p95 ms", "target", "ok")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        print(title)
        for r in [header, *rows]:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        for n in notes:
            print(n)
        return
    table = Table(title=title, caption="\n".join(notes) or None, caption_justify="left")
    table.add_column("measurement")
    for name in ("n", "p50 ms", "p95 ms", "target", "ok"):
        table.add_column(name, justify="right")
    for r in rows:
        style = "bold red" if r[5] == "NO" else None
        table.add_row(*r, style=style)
    Console(width=max(110, shutil.get_terminal_size().columns)).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~30 s)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw numbers here")
    args = parser.parse_args(argv)
    quick = args.quick
    cli_runs, cold_runs, cached_runs, wide_runs, rounds = (
        (3, 2, 10, 1, 10) if quick else (10, 5, 30, 3, 50))

    started = time.perf_counter()
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="nl2sql-bench-") as tmp:
        work = Path(tmp)
        _progress("building the sample database (scale 1)")
        t = time.perf_counter()
        sample = build_sample(work / "sample")
        sample_build_ms = _ms(t)
        _progress("building the 300-table database")
        t = time.perf_counter()
        (work / "wide").mkdir()
        wide = build_wide(work / "wide" / "wide300.duckdb")
        wide_build_ms = _ms(t)
        _progress(f"cold CLI start ×{cli_runs}")
        results += bench_cli(sample, work, cli_runs)
        _progress("introspection")
        results += bench_introspection(sample, wide, work, cold_runs, cached_runs, wide_runs)
        _progress(f"per-question overhead, {rounds} rounds")
        results += bench_per_question(sample, work, rounds)
    total_s = time.perf_counter() - started

    import duckdb
    import sqlglot

    title = (f"nl2sql core benchmarks{' (--quick)' if quick else ''} — "
             f"{platform.python_implementation()} {platform.python_version()}, "
             f"duckdb {duckdb.__version__}, sqlglot {sqlglot.__version__}, "
             f"{os.cpu_count()} CPUs, {total_s:.0f} s")
    print_table(results, title)
    if args.json:
        payload = {
            "meta": {"quick": quick, "python": platform.python_version(),
                     "platform": platform.platform(), "cpus": os.cpu_count(),
                     "duckdb": duckdb.__version__, "sqlglot": sqlglot.__version__,
                     "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                     "total_s": round(total_s, 2),
                     "build_ms": {"sample": round(sample_build_ms, 1),
                                  "wide300": round(wide_build_ms, 1)}},
            "measurements": [m.to_json() for m in results],
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
