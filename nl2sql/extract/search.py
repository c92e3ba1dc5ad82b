"""``nl2sql search`` and the shell's ``\\search``: the texts nearest in meaning to a query.

The candidates are the rows the role may read (``--in TABLE.COLUMN`` and ``--where``,
guarded like any query: :mod:`nl2sql.extract.texts`); texts with no vector yet are
embedded first (and kept, so the next search starts at once); the query is embedded with
the model's ``query`` prefix and compared by cosine (:class:`~nl2sql.embeddings.store.
VectorStore`). Results carry each row's key, the score and the text as the role reads
it — redacted for a role under ``redact_text``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nl2sql.errors import ConfigError
from nl2sql.extract import texts
from nl2sql.settings import Settings

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Request:
    query: str
    source: str  # TABLE.COLUMN
    key: str | None = None
    where: str | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(frozen=True)
class Match:
    rank: int
    key: Any
    score: float
    text: str

    def to_json(self) -> dict[str, Any]:
        from nl2sql.encoding import json_value

        return {"rank": self.rank, "key": json_value(self.key), "score": round(self.score, 4),
                "text": self.text}


@dataclass
class Outcome:
    query: str
    source: str
    key: str
    matches: list[Match]
    searched: int  # candidate rows with a text
    embedding: dict[str, Any]
    index: str  # "exact" | "hnsw"
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "source": self.source, "key": self.key,
                "searched": self.searched, "index": self.index, "embedding": self.embedding,
                "matches": [m.to_json() for m in self.matches],
                "elapsed_s": round(self.elapsed_s, 3), "notes": list(self.notes)}


def prepare(settings: Settings, request: Request) -> texts.Texts:
    """Check the request and select the candidates (raises before anything is embedded)."""
    if not request.query.strip():
        raise ConfigError("the search text is empty")
    if not 1 <= request.limit <= MAX_LIMIT:
        raise ConfigError(f"--limit must be between 1 and {MAX_LIMIT}")
    return texts.select(settings, request.source, request.key, request.where, option="--in")


def run(settings: Settings, request: Request, chosen: texts.Texts,
        on_progress: Callable[[int, int], None] | None = None, embedder: Any = None,
        index_from: int | None = None) -> Outcome:
    started = time.perf_counter()
    model = embedder if embedder is not None else texts.embedder(settings)
    opened = texts.open_search_store(settings, chosen, model, index_from)
    store = opened.store
    try:
        raw = [text for _, text in chosen.rows]
        hashes, report = store.ensure(raw, on_progress)
        keys_of: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            if h is not None:
                keys_of.setdefault(h, []).append(i)
        hits = store.search(store.query_vector(request.query), list(keys_of),
                            request.limit) if keys_of else []
        index = "hnsw" if store.index_used else "exact"
    finally:
        opened.close()
    matches: list[Match] = []
    for hit in hits:
        for i in keys_of[hit.text_hash]:  # rows with the same text score the same
            if len(matches) < request.limit:
                key, text = chosen.rows[i]
                matches.append(Match(len(matches) + 1, key, hit.score, text or ""))
    notes = list(report.notes) + ([opened.note] if opened.note and report.embedded else [])
    if not keys_of:
        notes.append(f"no text to search in {chosen.origin} (the selection is empty)")
    return Outcome(query=request.query, source=chosen.origin, key=chosen.key, matches=matches,
                   searched=sum(len(v) for v in keys_of.values()),
                   embedding=report.to_json(), index=index,
                   elapsed_s=time.perf_counter() - started, notes=notes)
