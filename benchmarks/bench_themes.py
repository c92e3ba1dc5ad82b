"""Themes and search on the sample database: quality, speed, and exact vs HNSW search.

Run: python benchmarks/bench_themes.py [--db sample_db/shop.duckdb] [--sizes 2000,20000]

1. Quality. The themes of ``support_tickets.transcript`` (the product's own stages:
   text preparation, the local embedder and vector store, k-means with k by silhouette)
   against the known ``support_tickets.category``, which the clustering never sees:
   purity (share of tickets whose theme's majority category is their own) and adjusted
   mutual information, for the texts as stored ("first contact") and as ``nl2sql themes``
   prepares them (boilerplate lines dropped), with k chosen by silhouette and k = 6 (the
   number of categories).
2. Speed: texts embedded per second on this machine, hence seconds (the cost: no money,
   the model is local) per 1,000 texts. Vectors are kept in a workspace file
   (``--workspace``), so a rerun measures only what it has to embed.
3. Search: one query over N random unit vectors (384 numbers), exact
   (``array_inner_product`` over all) vs the ``vss`` HNSW index: the index's build time
   and its query time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster_metrics import adjusted_mutual_information, purity  # noqa: E402

from nl2sql.embeddings import LocalEmbedder  # noqa: E402
from nl2sql.embeddings.store import VectorStore, load_vss  # noqa: E402
from nl2sql.extract import themes  # noqa: E402


def quality(db: Path, workspace: Path, share: float) -> list[list[str]]:
    source = duckdb.connect(str(db), read_only=True)
    rows = source.execute("SELECT ticket_id, category, transcript FROM support_tickets "
                          "ORDER BY ticket_id").fetchall()
    source.close()
    truth = [r[1] for r in rows]
    raw = [r[2] for r in rows]
    con = duckdb.connect(str(workspace))
    store = VectorStore(con, LocalEmbedder())
    table: list[list[str]] = []
    for label, texts in (("as stored (first contact)", raw),
                         ("prepared (boilerplate dropped)", themes.prepare_texts(raw, share))):
        started = time.process_time()
        hashes, report = store.ensure(texts)
        cpu = time.process_time() - started
        speed = (f"{report.texts_per_s:.1f} texts/s, {1000 / report.texts_per_s:.0f} s "
                 f"({1000 * cpu / report.embedded:.0f} CPU s) per 1,000"
                 if report.embedded else "cached")
        for k in (None, 6):
            started = time.perf_counter()
            _, found = themes.group(store, texts, hashes, k, "support_tickets.transcript")
            took = time.perf_counter() - started
            labels = found.labels.tolist()
            table.append([label, "auto" if k is None else str(k), str(found.k),
                          f"{purity(truth, labels):.3f}",
                          f"{adjusted_mutual_information(truth, labels):.3f}",
                          f"{found.silhouette or 0:.3f}", f"{took:.1f} s", speed])
            print(" | ".join(table[-1]), flush=True)
    con.close()
    return table


def search_timing(sizes: list[int], repeats: int = 5) -> list[list[str]]:
    table: list[list[str]] = []
    rng = np.random.default_rng(0)
    for n in sizes:
        con = duckdb.connect(":memory:")
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        con.execute("CREATE TABLE v (h VARCHAR, vec FLOAT[384])")
        for start in range(0, n, 5000):
            chunk = vectors[start:start + 5000]
            con.execute("INSERT INTO v SELECT unnest(?::VARCHAR[]), unnest(?::FLOAT[384][])",
                        [[str(i) for i in range(start, start + len(chunk))], chunk.tolist()])
        query = vectors[n // 2].tolist()
        started = time.perf_counter()
        for _ in range(repeats):
            exact = con.execute("SELECT h FROM v ORDER BY array_inner_product(vec, "
                                "?::FLOAT[384]) DESC LIMIT 10", [query]).fetchall()
        exact_ms = (time.perf_counter() - started) / repeats * 1000
        load_vss(con)
        started = time.perf_counter()
        con.execute("CREATE INDEX v_hnsw ON v USING HNSW (vec) WITH (metric = 'ip')")
        build = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(repeats):
            fast = con.execute("SELECT h FROM v ORDER BY array_negative_inner_product(vec, "
                               "?::FLOAT[384]) LIMIT 10", [query]).fetchall()
        hnsw_ms = (time.perf_counter() - started) / repeats * 1000
        saved = exact_ms - hnsw_ms
        pays = f"{build * 1000 / saved:,.0f} searches" if saved > 0 else "never"
        recall = len({r[0] for r in exact} & {r[0] for r in fast}) / 10
        table.append([f"{n:,}", f"{exact_ms:.1f} ms", f"{build:.1f} s", f"{hnsw_ms:.1f} ms",
                      f"{recall:.0%}", pays])
        print(" | ".join(table[-1]), flush=True)
        con.close()
    return table


def show(title: str, head: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=ROOT / "sample_db" / "shop.duckdb")
    parser.add_argument("--workspace", type=Path,
                        default=Path.home() / ".cache" / "nl2sql" / "bench_themes.duckdb")
    parser.add_argument("--sizes", default="2000,20000",
                        help="vector counts for the search timing (100000 takes minutes)")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--share", type=float, default=themes.BOILERPLATE_SHARE,
                        help="a line in more than this share of the texts is boilerplate")
    args = parser.parse_args()
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    if not args.skip_quality:
        rows = quality(args.db, args.workspace, args.share)
        show("themes of support_tickets.transcript vs support_tickets.category (2,000 tickets, "
             "6 categories)", ["texts", "k asked", "k", "purity", "AMI", "silhouette",
                               "clustering", "local embedding"], rows)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if not sizes:
        return
    timing = search_timing(sizes)
    show("search: one query, top 10 of N vectors (384 numbers)",
         ["N", "exact", "HNSW build", "HNSW query", "HNSW recall@10", "build pays off after"],
         timing)


if __name__ == "__main__":
    main()
