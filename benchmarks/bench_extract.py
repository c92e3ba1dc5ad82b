"""Extraction throughput and prompt size: ``nl2sql extract`` against a model that always
answers after a fixed delay.

Run::

    .venv/bin/python benchmarks/bench_extract.py               # 2,000 rows (~2 min)
    .venv/bin/python benchmarks/bench_extract.py --rows 400 --c1-rows 40   # smoke (~25 s)
    .venv/bin/python benchmarks/bench_extract.py --json out.json

What it does (everything offline; files live in one temporary folder, removed at the end):

1. builds a source DuckDB file with ``--rows`` product reviews (the sample database's
   review generator, Chinese and English; every text distinct, so neither the cache nor
   the in-run de-duplication can make a row free);
2. starts ``tests/chat_server.py`` **in a child process** (so the model server does not
   share this interpreter's GIL, as a real one would not) answering every request after
   ``--delay`` seconds (default 200 ms) with a valid answer
   (``tests/fixtures/extract_model.py``);
3. runs the extraction in-process (``nl2sql.extract.runner``, spec ``review_insights``,
   structured output) at each ``--concurrency`` into a fresh workspace, timing the run
   (the model calls, validation and the committed writes — not the planning, nor the
   one-time import of ``openai``);
4. reports rows/s and the speedup over concurrency 1. Concurrency 1 takes ``delay`` per
   row (2,000 rows = 400 s), so it runs on ``--c1-rows`` rows (default 200) — rows/s
   does not depend on the row count when every reply takes the same time;
5. reports tokens sent per row — the messages plus the JSON schema sent in
   ``response_format``, estimated with the runner's own estimator (≈4 ASCII characters
   or 1 other character per token, +4 per message) — against the text's own tokens
   plus the spec's (its JSON schema), with the same estimator. The server-reported
   prompt tokens (chat_server counts ``len // 4`` of the messages only, not the schema)
   are shown too.

Targets (issue 7): at concurrency 32 ≥ 25× the throughput of concurrency 1; tokens per
row within 1.3× of the text's tokens plus the spec.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests"):  # nl2sql, sample_db; chat_server and fixtures
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

SPEC = "review_insights"


def build_source(path: Path, rows: int, seed: int = 7) -> Path:
    """``rows`` distinct reviews in ``reviews(review_id, review_text)``."""
    import duckdb

    from sample_db.generate import review_text

    rng = random.Random(seed)
    nouns = ("phone", "kettle", "jacket", "racket", "lamp", "backpack", "blender", "novel")
    texts: list[str] = []
    seen: set[str] = set()
    while len(texts) < rows:
        lang = "zh" if rng.random() < 0.5 else "en"
        text = review_text(rng, lang, rng.randint(1, 5), rng.choice(nouns))
        if text in seen:
            text = f"{text} #{len(texts)}"  # keep every row a separate, paid request
        seen.add(text)
        texts.append(text)
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE reviews (review_id INTEGER PRIMARY KEY, "
                    "review_text VARCHAR NOT NULL)")
        con.executemany("INSERT INTO reviews VALUES (?, ?)",
                        [(i + 1, t) for i, t in enumerate(texts)])
    finally:
        con.close()
    return path


def _serve(delay: float, port_out: Any) -> None:
    """Child process: the chat server with the fixed-delay responder, until killed."""
    import threading

    from chat_server import ChatServer
    from fixtures import extract_model

    server = ChatServer().start()
    server.default_delay = delay
    server.responder = extract_model.answer
    port_out.put(server.base_url)
    threading.Event().wait()


def start_server(delay: float) -> tuple[Any, str]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_serve, args=(delay, queue), daemon=True)
    process.start()
    return process, str(queue.get(timeout=60))


def run_once(db: Path, folder: Path, base_url: str, concurrency: int, rows: int,
             ) -> dict[str, Any]:
    from nl2sql.extract import runner
    from nl2sql.settings import load_settings

    ws = folder / f"ws-c{concurrency}.duckdb"
    settings = load_settings({"db": str(db), "api_key": "bench", "base_url": base_url,
                              "workspace": ws, "cache_dir": folder / "cache",
                              "model_timeout": 30.0, "model_retries": 3},
                             environ={}, env_file=None)
    job = runner.prepare(settings, runner.Request(source="reviews.review_text", spec=SPEC,
                                                  limit=rows, concurrency=concurrency))
    texts = [t for _, t in job.rows]
    started = time.perf_counter()
    outcome = runner.run(job)
    seconds = time.perf_counter() - started
    s = outcome.summary
    if s.status["ok"] != rows or s.requests != rows:
        raise SystemExit(f"c={concurrency}: expected {rows} ok rows and requests, got "
                         f"{s.status} and {s.requests} requests")
    sent, own = token_sizes(texts)
    return {"rows": rows, "concurrency": concurrency, "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds, 2),
            "sent_tokens_per_row": round(sent, 1), "text_spec_tokens_per_row": round(own, 1),
            "ratio": round(sent / own, 3),
            "server_prompt_tokens_per_row": round(s.prompt_tokens / rows, 1),
            "completion_tokens_per_row": round(s.completion_tokens / rows, 1)}


def token_sizes(texts: list[str]) -> tuple[float, float]:
    """(tokens sent per row, the text's own + the spec's tokens per row), same estimator."""
    from nl2sql.extract import prompt, spec

    loaded, _ = spec.load(SPEC, ROOT / "schemas" / "extract")
    spec_tokens = prompt.estimate_tokens(prompt.schema_text(loaded))
    sent = [prompt.chat_tokens(prompt.messages(loaded, t, structured=True), loaded) for t in texts]
    own = [prompt.estimate_tokens(t) + spec_tokens for t in texts]
    return statistics.fmean(sent), statistics.fmean(own)


def table(results: list[dict[str, Any]], delay: float) -> str:
    base = next((r["rows_per_s"] for r in results if r["concurrency"] == 1), None)
    lines = ["| rows | concurrency | seconds | rows/s | speedup vs c=1 | tokens sent/row "
             "| text+spec tokens/row | ratio | server prompt tokens/row |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        speedup = f"{r['rows_per_s'] / base:.1f}×" if base else "—"
        lines.append(f"| {r['rows']:,} | {r['concurrency']} | {r['seconds']:.1f} | "
                     f"{r['rows_per_s']:.1f} | {speedup} | {r['sent_tokens_per_row']:.0f} | "
                     f"{r['text_spec_tokens_per_row']:.0f} | {r['ratio']:.2f} | "
                     f"{r['server_prompt_tokens_per_row']:.0f} |")
    lines.append(f"\nmodel reply delay {delay * 1000:.0f} ms; spec {SPEC}; "
                 f"ideal rows/s = concurrency / delay")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows per run (default 2000)")
    parser.add_argument("--c1-rows", type=int, default=200,
                        help="rows for concurrency 1 (default 200; 2,000 would take 400 s)")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated (1,8,32)")
    parser.add_argument("--delay", type=float, default=0.2, help="model reply delay, s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the numbers here")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    import openai  # noqa: F401 - imported once here: its ~0.5 s import is start-up, not throughput

    folder = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    process, base_url = start_server(args.delay)
    results: list[dict[str, Any]] = []
    try:
        db = build_source(folder / "reviews.duckdb", max(args.rows, args.c1_rows))
        for level in levels:
            rows = min(args.c1_rows, args.rows) if level == 1 else args.rows
            print(f"  … concurrency {level}, {rows:,} rows", file=sys.stderr, flush=True)
            results.append(run_once(db, folder, base_url, level, rows))
    finally:
        process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    print(table(results, args.delay))
    base = next((r for r in results if r["concurrency"] == 1), None)
    top = next((r for r in results if r["concurrency"] == 32), None)
    if base and top:
        speedup = top["rows_per_s"] / base["rows_per_s"]
        print(f"c=32 vs c=1: {speedup:.1f}× (target ≥ 25×: {'ok' if speedup >= 25 else 'MISSED'})")
    worst = max(r["ratio"] for r in results)
    print(f"tokens sent / (text + spec): {worst:.2f} (target ≤ 1.3: "
          f"{'ok' if worst <= 1.3 else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps({"delay_s": args.delay, "results": results}, indent=2),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
