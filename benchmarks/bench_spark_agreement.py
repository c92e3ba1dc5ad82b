"""Every question of the shop set on DuckDB and on Spark: do the answers agree, and how long
does each take?

    .venv/bin/python benchmarks/bench_spark_agreement.py     # about 2 minutes

Starts a local Spark Connect server (``tests/spark_server.py``; ``.ci/install-spark``),
writes the bundled sample to it (``sample-db --out sc://…``), asks all of
``tests/eval/shop.yaml`` through ``pipeline.ask`` (offline drafter) on both, and compares the
rows as the suite does (in order where the query orders them, else as multisets).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def main() -> int:
    from spark_server import start_spark
    from test_spark import _outcome, settings_for

    from nl2sql import pipeline
    from nl2sql.drafting import evaluate
    from nl2sql.schema import spark
    from sample_db.generate import DEFAULT_PATH
    from sample_db.to_spark import load

    _, cases = evaluate.load_cases(ROOT / "tests" / "eval" / "shop.yaml")
    server = start_spark()
    try:
        url = server.url("shop")
        load(url, DEFAULT_PATH)
        with tempfile.TemporaryDirectory() as tmp:
            times: dict[str, list[float]] = {"duckdb": [], "spark": []}
            outcomes: dict[str, list[object]] = {"duckdb": [], "spark": []}
            for name, db in (("duckdb", str(DEFAULT_PATH)), ("spark", url)):
                with pipeline.open_session(settings_for(db, Path(tmp) / name)) as session:
                    for case in cases:
                        started = time.perf_counter()
                        outcomes[name].append(_outcome(session, case.question))
                        times[name].append((time.perf_counter() - started) * 1000)
        agree = sum(a == b for a, b in zip(outcomes["duckdb"], outcomes["spark"], strict=True))
        answered = sum(o != "declined" for o in outcomes["duckdb"])
        print(f"shop set: {len(cases)} questions, {answered} answered on DuckDB; "
              f"{agree} of {len(cases)} agree on Spark\n")
        print("| engine | p50 ask (ms) | p95 ask (ms) |")
        print("|---|---:|---:|")
        for name, values in times.items():
            ordered = sorted(values)
            print(f"| {name} | {statistics.median(values):.0f} | "
                  f"{ordered[int(0.95 * (len(ordered) - 1))]:.0f} |")
        for case, a, b in zip(cases, outcomes["duckdb"], outcomes["spark"], strict=True):
            if a != b:
                print(f"disagree: {case.id} {case.question!r}")
    finally:
        spark.forget_all()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
