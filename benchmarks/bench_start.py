"""Start-up benchmark: what a one-shot ``nl2sql`` costs next to DuckDB on its own.

Run::

    .venv/bin/python benchmarks/bench_start.py            # full (~1-2 min)
    .venv/bin/python benchmarks/bench_start.py --quick    # smoke (~20 s)
    .venv/bin/python benchmarks/bench_start.py --json out.json

Every CLI measurement is a fresh process, compared with the bare baseline
``python -c "import duckdb; duckdb.connect(DB, read_only=True).execute(Q).fetchall()"``
on the same sample database (scale 1, built in a temporary directory) and query.
The processes of one repetition run back to back in turn (baseline, sql, ask),
so a burst of load on a shared machine hits all of them; the table shows medians, and
beside them the median CPU time (user + system, worker included), a steadier measure
where other work competes for the cores.

1. ``nl2sql sql Q``, introspection cache warm: target ≤ 3× the baseline.
2. ``nl2sql ask QUESTION --drafter offline``, cache warm: target ≤ 4× the baseline.
3. the first question on a database never seen before (empty cache: cold
   introspection and profiling): ``nl2sql sql`` on the sample database ≤ 1.5 s, also
   when no semantic-layer file covers it (the scanner's defaults then scan it first), on a
   generated 300-table database (``bench_core.build_wide``) ≤ 5 s. Introspection alone,
   in process, is reported beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):  # run as a script: nl2sql, sample_db and bench_core importable
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_core import _clean_env, _cli_command, _cold, build_sample, build_wide  # noqa: E402

QUERY = "SELECT city, count(*) AS customers FROM customers GROUP BY city ORDER BY 2 DESC"
QUESTION = "How many customers are in each city?"


@dataclass
class Row:
    name: str
    samples_ms: list[float]
    ratio_of: float | None = None  # the baseline's p50, for rows judged as a ratio
    target: float | None = None  # a ratio when ratio_of is set, else milliseconds
    cpu: list[float] | None = None  # CPU ms per run, where measured

    @property
    def cpu_p50(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def ratio(self) -> float | None:
        return self.p50 / self.ratio_of if self.ratio_of else None

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        value = self.ratio if self.ratio_of else self.p50
        return value is not None and value <= self.target

    def cells(self, cpu_base: float | None = None) -> tuple[str, ...]:
        ratio = f"{self.ratio:.2f}×" if self.ratio is not None else "-"
        if self.target is None:
            target = "-"
        elif self.ratio_of:
            target = f"≤ {self.target:g}×"
        else:
            target = f"≤ {self.target / 1000:g} s"
        passed = {None: "-", True: "yes", False: "**NO**"}[self.passed]
        cpu = "-"
        if self.cpu_p50 is not None:
            cpu = f"{self.cpu_p50:,.0f} ms"
            if cpu_base and self.ratio_of:
                cpu += f" ({self.cpu_p50 / cpu_base:.2f}×)"
        return self.name, f"{self.p50:,.0f} ms", ratio, target, passed, cpu

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "n": len(self.samples_ms), "p50_ms": round(self.p50, 1),
                "ratio": None if self.ratio is None else round(self.ratio, 3),
                "target": self.target, "pass": self.passed, "cpu_p50_ms": self.cpu_p50,
                "samples_ms": [round(s, 1) for s in self.samples_ms]}


CPU: dict[str, list[float]] = {}  # CPU ms (user + system, the process and its workers)


def _timed_run(argv: list[str], cwd: Path, env: dict[str, str], label: str = "") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    elapsed = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    CPU.setdefault(label, []).append(cpu)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: "
                           f"{done.stderr.strip() or done.stdout.strip()}")
    return elapsed


def bench_warm(db: Path, work: Path, runs: int) -> list[Row]:
    cache_dir = Path(tempfile.mkdtemp(prefix="warm-cache-", dir=work))
    cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=work))  # no stray .env
    env = _clean_env(db, cache_dir)
    bare = [sys.executable, "-c", "import duckdb; duckdb.connect(" + repr(str(db))
            + ", read_only=True).execute(" + repr(QUERY) + ").fetchall()"]
    sql = [*_cli_command(), "sql", QUERY, "-f", "csv"]
    ask = [*_cli_command(), "ask", QUESTION, "--drafter", "offline", "-f", "csv"]
    for argv in (sql, ask, bare):  # warm the introspection cache and the OS file cache
        _timed_run(argv, cwd, env)
    samples: dict[str, list[float]] = {"bare": [], "sql": [], "ask": []}
    for _ in range(runs):
        for name, argv in (("bare", bare), ("sql", sql), ("ask", ask)):
            samples[name].append(_timed_run(argv, cwd, env, name))
    base = statistics.median(samples["bare"])
    return [
        Row("baseline: python -c 'import duckdb; connect; execute Q'", samples["bare"], base,
            cpu=CPU["bare"]),
        Row("nl2sql sql Q (cache warm)", samples["sql"], base, 3.0, cpu=CPU["sql"]),
        Row("nl2sql ask Q --drafter offline (cache warm)", samples["ask"], base, 4.0,
            cpu=CPU["ask"]),
    ]


def bench_cold(db: Path, work: Path, runs: int, label: str, target_ms: float,
               extra_env: dict[str, str] | None = None, alone: bool = True) -> list[Row]:
    """``extra_env``: more settings for the CLI runs; ``alone``: also time introspection
    by itself, in process."""
    cwd = Path(tempfile.mkdtemp(prefix="cwd-", dir=work))
    from nl2sql.schema.source import connect, resolve

    source = resolve(str(db))
    con = connect(source, work)
    try:  # any table of the database will do for the first question
        table = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                            "ORDER BY table_name LIMIT 1", [source.alias]).fetchone()
    finally:
        con.close()
    assert table is not None
    argv = [*_cli_command(), "sql", f'SELECT count(*) FROM "{table[0]}"', "-f", "csv"]
    first: list[float] = []
    in_process: list[float] = []
    for _ in range(runs):
        cache_dir = Path(tempfile.mkdtemp(prefix="cold-cache-", dir=work))
        first.append(_timed_run(argv, cwd, _clean_env(db, cache_dir) | (extra_env or {}), label))
        shutil.rmtree(cache_dir, ignore_errors=True)
        if alone:
            in_process.append(_cold(db, work)[0])
    rows = [Row(f"first question, {label}: nl2sql sql (cache empty)", first, target=target_ms,
                cpu=CPU[label])]
    if alone:
        rows.append(Row(f"  of which introspection + profiling, in process ({label})",
                        in_process))
    return rows


def print_table(rows: list[Row], title: str) -> None:
    header = ("measurement", "p50", "ratio", "target", "pass", "CPU p50 (ratio)")
    cpu_base = rows[0].cpu_p50 if rows else None
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r.cells(cpu_base)) + " |" for r in rows]
    lines += ["", "p50 and ratio: wall-clock medians (the targets). CPU: user + system time of "
              "the process and its query worker, which load on a shared machine disturbs less."]
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~20 s)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the raw numbers here")
    args = parser.parse_args(argv)
    warm_runs, cold_runs, wide_runs = (3, 1, 1) if args.quick else (11, 5, 3)

    started = time.perf_counter()
    # Bytecode for nl2sql, as an installed package has it (pip compiles site-packages, so
    # the baseline's duckdb has it): where PYTHONDONTWRITEBYTECODE is set, an editable
    # checkout would otherwise compile every module from source on every run.
    import compileall

    import nl2sql

    compileall.compile_dir(str(Path(nl2sql.__file__).parent), quiet=1)
    with tempfile.TemporaryDirectory(prefix="nl2sql-bench-start-") as tmp:
        work = Path(tmp)
        print("  … building the sample database and the 300-table database", file=sys.stderr)
        sample = build_sample(work / "sample")
        (work / "wide").mkdir()
        wide = build_wide(work / "wide" / "wide300.duckdb")
        print(f"  … warm start ×{warm_runs}", file=sys.stderr)
        rows = bench_warm(sample, work, warm_runs)
        print(f"  … first question ×{cold_runs} / ×{wide_runs}", file=sys.stderr)
        rows += bench_cold(sample, work, cold_runs, "sample db", 1500.0)
        # no semantic-layer file applies: the scanner's defaults scan it first (then cached)
        (work / "no-schemas").mkdir()
        rows += bench_cold(sample, work, cold_runs, "sample db, no policy", 1500.0,
                           {"NL2SQL_SCHEMAS": str(work / "no-schemas")}, alone=False)
        rows += bench_cold(wide, work, wide_runs, "300 tables", 5000.0)
    total_s = time.perf_counter() - started

    import duckdb

    title = (f"nl2sql start-up{' (--quick)' if args.quick else ''} — "
             f"{platform.python_implementation()} {platform.python_version()}, "
             f"duckdb {duckdb.__version__}, {os.cpu_count()} CPUs, "
             f"load {os.getloadavg()[0]:.1f}, {total_s:.0f} s")
    print_table(rows, title)
    if args.json:
        payload = {"meta": {"quick": args.quick, "python": platform.python_version(),
                            "cpus": os.cpu_count(), "duckdb": duckdb.__version__,
                            "total_s": round(total_s, 1)},
                   "rows": [r.to_json() for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
