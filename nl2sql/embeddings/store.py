"""Vectors kept in a DuckDB file (the extraction workspace), and search over them.

One table per vector size, ``_nl2sql_vectors_<d>`` (``text_hash``, ``model_id``,
``vec FLOAT[d]``), keyed by the SHA-256 of the text *as embedded* and the model that
embedded it: a rerun embeds only texts it has no vector for (new or changed), and a
model change makes new vectors beside the old ones, never mixed with them. A remote
model's size is recorded (``_nl2sql_vector_models``) on its first reply; a later reply
of another size is refused.

What is embedded: ``prepare(text)`` — the caller's hook, which replaces personal data by
its kind before a *remote* embedder sees it — cut to :data:`MAX_TOKENS` estimated tokens
(E5 reads 512; the beginning of a text carries its topic). Empty texts get no vector.

Vectors are committed every :data:`BATCH` texts, so Ctrl-C (or a crash) keeps every
finished batch; the next run continues from there.

Search is exact (``array_inner_product`` over the candidates; the vectors are unit
length, so it is the cosine) until a table holds :data:`INDEX_FROM` vectors; past that an
HNSW index of the ``vss`` extension (from its PyPI package, loaded from the file like the
sqlite extension) answers, with an exact fallback when the index's nearest neighbours are
not among the candidates. Measured in ``benchmarks/bench_themes.py`` (docs/themes.md):
building the index costs far more than it saves at the sizes local embedding reaches.

Only the foundation is imported: the caller opens the file and passes the connection.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nl2sql.errors import ConfigError, Interrupted, ModelError, first_line

if TYPE_CHECKING:
    import duckdb

    from nl2sql.embeddings.embedder import Embedder, EmbeddingRole

MODELS = "_nl2sql_vector_models"
TABLE_PREFIX = "_nl2sql_vectors_"
BATCH = 64  # texts per embedding call and per commit: Ctrl-C loses at most one batch
MAX_TOKENS = 510  # E5 reads 512 tokens, two of them its own markers
#: vectors in one table from which search uses the HNSW index (see the module docstring)
INDEX_FROM = 200_000
OVERSAMPLE = 10  # the index is asked for limit × this many, then filtered to the candidates


def text_hash(text: str) -> str:
    """The key of a text's vector.

    >>> text_hash("物流太慢")[:12]
    'ba0eaafc10d4'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def estimated_tokens(text: str) -> int:
    """Tokens without the tokenizer: ~4 ASCII characters a token, one token for any other
    character (a Chinese character is one or two); errs high."""
    ascii_chars = sum(1 for c in text if c.isascii())
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)


def truncated(text: str, max_tokens: int = MAX_TOKENS) -> str:
    """``text`` cut to about ``max_tokens`` tokens.

    >>> truncated("好" * 600) == "好" * 510
    True
    >>> truncated("short")
    'short'
    """
    if estimated_tokens(text) <= max_tokens:
        return text
    tokens = 0.0
    for i, c in enumerate(text):
        tokens += 0.25 if c.isascii() else 1.0
        if tokens > max_tokens:
            return text[:i]
    return text


@dataclass
class EmbedReport:
    """What :meth:`VectorStore.ensure` did."""

    model_id: str
    texts: int = 0  # distinct non-empty texts asked for
    empty: int = 0  # texts that are NULL or blank: no vector
    truncated: int = 0  # texts cut to MAX_TOKENS
    cached: int = 0  # already had a vector of this model
    embedded: int = 0  # embedded now
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def texts_per_s(self) -> float:
        return round(self.embedded / self.elapsed_s, 1) if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        return {"model": self.model_id, "texts": self.texts, "empty": self.empty,
                "truncated": self.truncated, "cached": self.cached, "embedded": self.embedded,
                "elapsed_s": round(self.elapsed_s, 3), "texts_per_s": self.texts_per_s}


@dataclass(frozen=True)
class Hit:
    """One search result: the text's hash and its cosine similarity to the query."""

    text_hash: str
    score: float


class VectorStore:
    """The vectors of one embedder in the DuckDB file ``con`` is connected to (writable)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, embedder: Embedder,
                 prepare: Callable[[str], str] | None = None, batch: int = BATCH,
                 index_from: int = INDEX_FROM) -> None:
        self.con = con
        self.embedder = embedder
        self._prepare = prepare
        self.batch = batch
        self.index_from = index_from
        self.index_used = False  # whether the last search went through the HNSW index
        con.execute(f"CREATE TABLE IF NOT EXISTS {MODELS} (model_id VARCHAR PRIMARY KEY, "
                    "dimensions INTEGER NOT NULL)")

    # -- what is embedded -----------------------------------------------------------------

    def prepared(self, text: str) -> str:
        """The text as the embedder gets it: the caller's ``prepare``, then cut."""
        shown = self._prepare(text) if self._prepare is not None else text
        return truncated(shown)

    def dimensions(self) -> int | None:
        """This model's vector size: known locally, recorded for a remote one."""
        if self.embedder.dimensions is not None:
            return self.embedder.dimensions
        row = self.con.execute(f"SELECT dimensions FROM {MODELS} WHERE model_id = ?",
                               [self.embedder.model_id]).fetchone()
        return int(row[0]) if row else None

    def _table(self, dimensions: int) -> str:
        name = f"{TABLE_PREFIX}{int(dimensions)}"
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} (text_hash VARCHAR NOT NULL, "
                         f"model_id VARCHAR NOT NULL, vec FLOAT[{int(dimensions)}] NOT NULL, "
                         "PRIMARY KEY (text_hash, model_id))")
        return name

    def _known(self, hashes: Sequence[str]) -> set[str]:
        dims = self.dimensions()
        if dims is None or not hashes:
            return set()
        table = self._table(dims)
        rows = self.con.execute(
            f"SELECT text_hash FROM {table} WHERE model_id = ? AND text_hash IN "
            "(SELECT unnest(?::VARCHAR[]))", [self.embedder.model_id, list(hashes)]).fetchall()
        return {r[0] for r in rows}

    # -- embedding --------------------------------------------------------------------------

    def ensure(self, texts: Sequence[str | None],
               on_progress: Callable[[int, int], None] | None = None,
               ) -> tuple[list[str | None], EmbedReport]:
        """The hash of every text's vector (None for an empty text), embedding those with no
        vector of this model yet, committed batch by batch. Ctrl-C: the finished batches are
        kept and :class:`~nl2sql.errors.Interrupted` says how many."""
        report = EmbedReport(self.embedder.model_id)
        started = time.perf_counter()
        hashes: list[str | None] = []
        todo: dict[str, str] = {}  # hash -> prepared text, first occurrence order
        for text in texts:
            if text is None or not text.strip():
                report.empty += 1
                hashes.append(None)
                continue
            base = self._prepare(text) if self._prepare is not None else text
            shown = truncated(base)
            if len(shown) < len(base):
                report.truncated += 1
            h = text_hash(shown)
            hashes.append(h)
            todo.setdefault(h, shown)
        report.texts = len(todo)
        known = self._known(list(todo))
        report.cached = len(known)
        missing = [(h, t) for h, t in todo.items() if h not in known]
        try:
            for start in range(0, len(missing), self.batch):
                chunk = missing[start:start + self.batch]
                rows = self.embedder.embed([t for _, t in chunk], "passage")
                self._save([h for h, _ in chunk], rows)
                report.embedded += len(chunk)
                if on_progress is not None:
                    on_progress(report.embedded, len(missing))
        except (KeyboardInterrupt, Interrupted):
            raise Interrupted(f"stopped: {report.embedded:,} of {len(missing):,} texts embedded "
                              "and kept; run the same command again to continue") from None
        report.elapsed_s = time.perf_counter() - started
        if report.empty:
            report.notes.append(f"{report.empty:,} empty texts skipped (no vector)")
        if report.truncated:
            report.notes.append(f"{report.truncated:,} texts longer than {MAX_TOKENS} tokens: "
                                "only their beginning was embedded (the model reads 512)")
        if missing:
            self._maybe_index()
        return hashes, report

    def _save(self, hashes: list[str], rows: np.ndarray) -> None:
        """One committed batch; a vector size the model did not have before is refused."""
        if rows.ndim != 2 or rows.shape[0] != len(hashes):
            raise ModelError(f"the embedding model returned {rows.shape[0]} vectors for "
                             f"{len(hashes)} texts")
        dims = int(rows.shape[1])
        recorded = self._recorded()
        if recorded is not None and recorded != dims:
            raise ModelError(f"the embedding model {self.embedder.model_id} returned vectors of "
                             f"{dims} numbers; it made vectors of {recorded} before: not the "
                             "same model (name it differently in NL2SQL_EMBEDDING_MODEL)")
        if not np.all(np.isfinite(rows)):
            raise ModelError("the embedding model returned values that are not numbers")
        table = self._table(dims)
        self.con.execute("BEGIN")
        try:
            self.con.execute(f"INSERT OR IGNORE INTO {MODELS} VALUES (?, ?)",
                             [self.embedder.model_id, dims])
            self.con.execute(
                f"INSERT OR REPLACE INTO {table} SELECT h, ?, v::FLOAT[{dims}] FROM "
                "(SELECT unnest(?::VARCHAR[]) AS h, unnest(?::FLOAT[][]) AS v)",
                [self.embedder.model_id, hashes, rows.astype(np.float32).tolist()])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise

    def _recorded(self) -> int | None:
        row = self.con.execute(f"SELECT dimensions FROM {MODELS} WHERE model_id = ?",
                               [self.embedder.model_id]).fetchone()
        return int(row[0]) if row else None

    def matrix(self, hashes: Sequence[str]) -> np.ndarray:
        """The vectors of ``hashes`` (all embedded by :meth:`ensure`), in that order."""
        dims = self.dimensions()
        if dims is None or not hashes:
            return np.zeros((0, dims or 0), dtype=np.float32)
        table = self._table(dims)
        rows = self.con.execute(
            f"SELECT text_hash, vec FROM {table} WHERE model_id = ? AND text_hash IN "
            "(SELECT unnest(?::VARCHAR[]))", [self.embedder.model_id, list(set(hashes))]
        ).fetchall()
        found = {h: v for h, v in rows}
        return np.array([found[h] for h in hashes], dtype=np.float32).reshape(len(hashes), dims)

    # -- search -----------------------------------------------------------------------------

    def query_vector(self, query: str, role: EmbeddingRole = "query") -> np.ndarray:
        """The query's vector (``prepare`` applies: a remote model sees no personal data)."""
        rows = self.embedder.embed([self.prepared(query)], role)
        dims = self.dimensions()
        if rows.ndim != 2 or rows.shape[0] != 1 or (dims is not None and rows.shape[1] != dims):
            raise ModelError(f"the embedding model returned a query vector of {rows.shape[-1]} "
                             f"numbers; its text vectors have {dims}")
        return rows[0]

    def search(self, query: np.ndarray, candidates: Sequence[str], limit: int) -> list[Hit]:
        """The ``limit`` candidates nearest to ``query``, best first (ties by hash)."""
        dims = self.dimensions()
        wanted = sorted(set(candidates))
        if dims is None or not wanted or limit <= 0:
            return []
        table = self._table(dims)
        self.index_used = False
        if self._size(table) >= self.index_from:
            hits = self._indexed(table, dims, query, set(wanted), limit)
            if hits is not None:
                self.index_used = True
                return hits
        rows = self.con.execute(
            f"SELECT text_hash, array_inner_product(vec, ?::FLOAT[{dims}]) AS score FROM {table} "
            "WHERE model_id = ? AND text_hash IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY score DESC, text_hash LIMIT ?",
            [query.astype(np.float32).tolist(), self.embedder.model_id, wanted, limit]).fetchall()
        return [Hit(h, float(s)) for h, s in rows]

    def _size(self, table: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def _indexed(self, table: str, dims: int, query: np.ndarray, wanted: set[str],
                 limit: int) -> list[Hit] | None:
        """The HNSW index's nearest, filtered to this model and the candidates; None when
        fewer than ``limit`` survive the filter (the exact search answers then)."""
        if not self._index_ready(table):
            return None
        rows = self.con.execute(
            f"SELECT text_hash, model_id, -array_negative_inner_product(vec, ?::FLOAT[{dims}]) "
            f"FROM {table} ORDER BY array_negative_inner_product(vec, ?::FLOAT[{dims}]) LIMIT ?",
            [query.astype(np.float32).tolist()] * 2 + [limit * OVERSAMPLE]).fetchall()
        hits = [Hit(h, float(s)) for h, m, s in rows
                if m == self.embedder.model_id and h in wanted]
        if len(hits) < min(limit, len(wanted)):
            return None
        hits.sort(key=lambda hit: (-hit.score, hit.text_hash))
        return hits[:limit]

    # -- the HNSW index ---------------------------------------------------------------------

    def _index_name(self, table: str) -> str:
        return f"{table}_hnsw"

    def _index_ready(self, table: str) -> bool:
        row = self.con.execute("SELECT count(*) FROM duckdb_indexes() WHERE index_name = ? "
                               "AND database_name = current_database()",
                               [self._index_name(table)]).fetchone()
        if not (row and row[0]):
            self._maybe_index()
            row = self.con.execute("SELECT count(*) FROM duckdb_indexes() WHERE index_name = ? "
                                   "AND database_name = current_database()",
                                   [self._index_name(table)]).fetchone()
        if row and row[0]:
            load_vss(self.con)
            return True
        return False

    def _maybe_index(self) -> None:
        """Build the HNSW index of a table that reached :attr:`index_from` vectors (once;
        DuckDB keeps it up to date on later inserts)."""
        dims = self.dimensions()
        if dims is None:
            return
        table = self._table(dims)
        if self._size(table) < self.index_from:
            return
        load_vss(self.con)
        self.con.execute(f"CREATE INDEX IF NOT EXISTS {self._index_name(table)} ON {table} "
                         "USING HNSW (vec) WITH (metric = 'ip')")


def load_vss(con: duckdb.DuckDBPyConnection) -> None:
    """Load the ``vss`` extension from its PyPI package (``duckdb-extension-vss``, whose
    version must equal DuckDB's); its index lives in the workspace file, which needs
    DuckDB's opt-in to persisting HNSW indexes."""
    import duckdb

    try:
        import duckdb_extension_vss
    except ImportError:
        raise ConfigError("the vss extension is not installed: pip install "
                          f"duckdb-extension-vss=={duckdb.__version__}") from None
    folder = Path(duckdb_extension_vss.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    shipped = folder / "vss.duckdb_extension"
    if not shipped.is_file():
        raise ConfigError(f"the vss extension for duckdb {duckdb.__version__} is not installed")
    try:
        con.execute("LOAD '" + str(shipped).replace("'", "''") + "'")
        con.execute("SET hnsw_enable_experimental_persistence = true")
    except duckdb.Error as exc:
        raise ConfigError(f"cannot load the vss extension: {first_line(exc)}") from exc
