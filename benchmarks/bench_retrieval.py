"""Retrieval over a big schema: are the tables a question needs in the prompt's context?

Run::

    .venv/bin/python benchmarks/bench_retrieval.py              # English + Chinese, ~35 s
    .venv/bin/python benchmarks/bench_retrieval.py --limit 100  # the first 100 English only
    .venv/bin/python benchmarks/bench_retrieval.py --misses     # list the questions missed

All 19 databases of ``../shared/datasets/spider-dev`` are introspected (profiles included,
as ``nl2sql`` does on a first question) and merged into ONE catalog of 78 tables: each table
is named ``<db_id>__<table>`` (``concert_singer__singer``) and its foreign keys follow; the
databases share no keys, so no join path crosses from one to another. For every question
(507 in English; the 64 Chinese versions of ``tests/fixtures/spider_zh.yaml``, and the 32
of ``spider_zh_heldout.yaml``, written after the settings were chosen), context
selection (:func:`nl2sql.drafting.context.select`, exactly as ``nl2sql ask`` calls it) picks
the tables; a question is *covered* when every table its gold query reads is among them.

Two selections, side by side:

- ``words``: today's selection before issue 16 (word matching of names, synonyms and
  frequent values, then join paths), no embedder;
- ``embeddings``: word matching fused with the local embedding model's ranking
  (multilingual-e5-small) by reciprocal rank, then join paths; the catalog's vectors are
  computed once (timed) and cached like ``nl2sql`` caches them.

Columns: questions, covered (share), mean tables selected, mean prompt tokens (estimated
as the prompt builder does: :func:`nl2sql.drafting.prompt.estimate_tokens`), the largest
prompt, and milliseconds per question. The goal (issue 16): covered ≥ 95% at ≤ 8 tables,
in English and in Chinese.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make nl2sql importable
    sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "spider-dev"
CHINESE = ROOT / "tests" / "fixtures" / "spider_zh.yaml"
HELD_OUT = ROOT / "tests" / "fixtures" / "spider_zh_heldout.yaml"
HELD_OUT_2 = ROOT / "tests" / "fixtures" / "spider_zh_heldout2.yaml"
SEPARATOR = "__"


@dataclass(frozen=True)
class Question:
    text: str
    db_id: str
    gold_tables: frozenset[str]  # merged names, lower case
    index: int


@dataclass
class Outcome:
    label: str
    covered: int = 0
    total: int = 0
    tables: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    misses: list[tuple[Question, list[str]]] = field(default_factory=list)


def merged_catalog(data: Path, cache_dir: Path) -> Any:
    """Every database of ``data`` introspected and merged: ``<db_id>__<table>``."""
    from nl2sql.catalog import Catalog, ForeignKey
    from nl2sql.pipeline.session import load_catalog
    from nl2sql.settings import Settings

    tables: dict[str, Any] = {}
    empty_schemas = cache_dir / "no-schemas"
    empty_schemas.mkdir(parents=True, exist_ok=True)
    for folder in sorted((data / "database").iterdir()):
        db_file = folder / f"{folder.name}.sqlite"
        if not db_file.is_file():
            continue
        settings = Settings(db=str(db_file), cache_dir=cache_dir, schemas_dir=empty_schemas)
        _, catalog = load_catalog(settings)
        for table in catalog.tables.values():
            table.name = f"{folder.name}{SEPARATOR}{table.name}"
            table.foreign_keys = [ForeignKey(fk.columns, f"{folder.name}{SEPARATOR}{fk.ref_table}",
                                             fk.ref_columns) for fk in table.foreign_keys]
            tables[table.name] = table
    return Catalog(name="spider_dev", tables=tables, fingerprint=_fingerprint(tables))


def _fingerprint(tables: dict[str, Any]) -> str:
    import hashlib

    names = sorted(f"{t.name}:{','.join(c.name for c in t.columns)}" for t in tables.values())
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def gold_tables(sql: str, db_id: str, catalog: Any) -> frozenset[str]:
    """The merged names of the tables ``sql`` reads (CTE names are not tables)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="sqlite")
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names = set()
    for table in tree.find_all(exp.Table):
        if table.name.lower() in ctes:
            continue
        found = catalog.table(f"{db_id}{SEPARATOR}{table.name}")
        if found is None:
            raise SystemExit(f"gold query names {table.name}, not in {db_id}: {sql}")
        names.add(found.name.lower())
    return frozenset(names)


def load_questions(data: Path, catalog: Any) -> tuple[list[Question], list[Question]]:
    """The English questions and the Chinese versions of ``spider_zh.yaml``."""
    dev = json.loads((data / "dev.json").read_text(encoding="utf-8"))
    english = [Question(d["question"], d["db_id"], gold_tables(d["query"], d["db_id"], catalog), i)
               for i, d in enumerate(dev)]
    return english, chinese_questions(CHINESE, english)


def chinese_questions(path: Path, english: list[Question]) -> list[Question]:
    """The Chinese versions in ``path``, with the gold tables of the English ones."""
    import yaml

    chinese = []
    for item in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]:
        gold = english[item["index"]]
        assert gold.db_id == item["db_id"], item
        chinese.append(Question(item["zh"], gold.db_id, gold.gold_tables, gold.index))
    return chinese


def measure(label: str, questions: list[Question], catalog: Any, retriever: Any) -> Outcome:
    from nl2sql.drafting import context, prompt

    out = Outcome(label)
    for q in questions:
        started = time.perf_counter()
        ctx = context.select(q.text, catalog, retriever=retriever)
        messages = prompt.build(q.text, ctx)
        out.ms.append((time.perf_counter() - started) * 1000)
        shown, _ = prompt.fitted(q.text, ctx)  # what the prompt shows, within its budget
        chosen = {t.name.lower() for t in shown.tables}
        out.total += 1
        out.tables.append(len(chosen))
        out.tokens.append(prompt.message_tokens(messages))
        if q.gold_tables <= chosen:
            out.covered += 1
        else:
            out.misses.append((q, [t.name for t in ctx.tables]))
    return out


def row(out: Outcome) -> str:
    share = out.covered / out.total if out.total else 0.0
    return (f"| {out.label:<30} | {out.total:>4} | {out.covered:>4} ({share:6.1%}) "
            f"| {statistics.mean(out.tables):5.2f} | {max(out.tables):>3} "
            f"| {statistics.mean(out.tokens):6.0f} | {max(out.tokens):>6} "
            f"| {statistics.median(out.ms):7.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="keep introspection and vectors here (default: a temporary folder)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N English questions")
    parser.add_argument("--misses", action="store_true", help="list every question missed")
    parser.add_argument("--words-only", action="store_true", help="skip the embedding model")
    args = parser.parse_args(argv)
    if not (args.data / "dev.json").is_file():
        print(f"no Spider data at {args.data}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or Path(tmp)
        started = time.perf_counter()
        catalog = merged_catalog(args.data, cache_dir)
        print(f"merged catalog: {len(catalog.tables)} tables, "
              f"{sum(len(t.columns) for t in catalog.tables.values())} columns "
              f"(introspected in {time.perf_counter() - started:.1f} s)")
        english, chinese = load_questions(args.data, catalog)
        held_out = chinese_questions(HELD_OUT, english)
        held_out_2 = chinese_questions(HELD_OUT_2, english)
        if args.limit is not None:
            english, chinese, held_out, held_out_2 = english[:args.limit], [], [], []
        sets = [("English", english), ("Chinese", chinese), ("Chinese held out", held_out),
                ("Chinese held out 2", held_out_2)]
        sets = [(name, qs) for name, qs in sets if qs]
        results = [measure(f"words, {name}", qs, catalog, None) for name, qs in sets]
        if not args.words_only:
            from nl2sql.drafting.retrieval import Retriever
            from nl2sql.embeddings import LocalEmbedder

            retriever = Retriever(LocalEmbedder(), cache_dir)
            started = time.perf_counter()
            retriever.index(catalog)
            first = time.perf_counter() - started
            warm = Retriever(LocalEmbedder(), cache_dir)
            started = time.perf_counter()
            warm.index(catalog)
            cached = time.perf_counter() - started
            print(f"embedding the merged catalog: {first:.1f} s "
                  f"({retriever.documents(catalog)} texts); from the cache: {cached * 1000:.0f} ms")
            results += [measure(f"embeddings, {name}", qs, catalog, retriever)
                        for name, qs in sets]
    print()
    print("| selection                      | qs   | covered          | mean tables | max "
          "| mean tokens | max tokens | ms/question (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for out in results:
        print(row(out))
    if args.misses:
        for out in results:
            print(f"\n## missed: {out.label}")
            for q, chosen in out.misses:
                print(f"- [{q.index}] {q.text}\n    gold {sorted(q.gold_tables)}\n    got  {chosen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
