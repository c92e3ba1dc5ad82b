"""Schema retrieval by embeddings (issue 16): ranks a big catalog's tables, columns and
verified examples by meaning, for :func:`nl2sql.drafting.context.select`.

Every table and every column becomes two texts (*documents*): its name alone in words
(``transcript``, without a schema or database qualifier), and a fuller one with its
description, its synonyms and the values the prompt would show of it (frequent values,
value aliases; a table's also lists its columns). The short ones are what a question in
another language matches best ("成绩单" is nearer "transcript" than a long English
description); the long ones carry meaning and values. Documents are embedded once per
catalog as ``passage``s, the question as a ``query``; cosine similarity ranks the tables
four times (own document, best column, own name, best column name), the columns within
each table, and the examples (question against question, both as ``query``: a
symmetric comparison).

What is embedded is what the role may see. Documents are built from the catalog the
caller passes, which in the pipeline is the role's view
(:func:`nl2sql.safety.policy.visible`): denied tables and columns are not in it and
masked columns have no values left. On top of that, a column tagged as personal data
contributes no values (the prompt withholds them too, and a remote embedding server
must not receive them), and ``Profile.labels`` (every name of a naming column, never
sent to a model) are never used.

Vectors are cached in one owner-only file (0600, folder 0700) per catalog fingerprint,
model and the exact documents (:func:`cache_key`): a changed semantic layer, another
role's view or another model is another file, and vectors of two models are never
mixed. Within a process the index is kept in memory.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nl2sql.catalog import Catalog, Column, Table
from nl2sql.drafting.context import Ranking
from nl2sql.files import write_private
from nl2sql.lexicon import has_chinese, phrase_of

if TYPE_CHECKING:
    from nl2sql.embeddings import Embedder

CACHE_VERSION = 1
CACHE_FOLDER = "schema-vectors"
#: Cache files kept (the most recently written): one per catalog, role's view and model
#: in use, so a few roles or databases do not embed again, and edits do not pile up.
CACHE_FILES_KEPT = 8
MAX_VALUES = 8  # as many values per column as the prompt shows (prompt.MAX_VALUES_SHOWN)
MAX_VALUE_CHARS = 40
MAX_DOCUMENT_CHARS = 600  # e5-small reads 512 tokens; a table with 300 columns is cut
#: An example is offered by meaning only when its question is at least this similar to
#: the one asked (cosine on e5-small's scale: the shop's examples scored 0.87-0.98 against
#: paraphrases in either language, 0.76-0.85 against unrelated questions).
EXAMPLE_SIMILARITY = 0.86


@dataclass(frozen=True)
class Document:
    """One text to embed: a table (``column`` None) or one of its columns, by its name
    alone (``short``) or described."""

    table: str
    column: str | None
    text: str
    short: bool = False


@dataclass
class Index:
    """A catalog's documents and their vectors (rows in the same order)."""

    documents: list[Document]
    vectors: np.ndarray
    example_vectors: np.ndarray


def documents(catalog: Catalog) -> list[Document]:
    """The catalog's documents: per table, the table's then each column's."""
    out: list[Document] = []
    for table in catalog.tables.values():
        out.append(Document(table.name, None, _table_text(table)))
        out.append(Document(table.name, None, phrase_of(unqualified(table.name)), short=True))
        for c in table.columns:
            out.append(Document(table.name, c.name, _column_text(table, c)))
            out.append(Document(table.name, c.name, phrase_of(c.name), short=True))
    return out


def unqualified(name: str) -> str:
    """A table's own name without its schema or database: ``sales.orders`` and
    ``crm__orders`` (a common flattening of schemas into names) are both ``orders``.

    >>> unqualified("concert_singer__singer"), unqualified("sales.orders"), unqualified("t")
    ('singer', 'orders', 't')
    """
    return name.rsplit(".", 1)[-1].rsplit("__", 1)[-1] or name


def _table_text(table: Table) -> str:
    parts = [f"table {phrase_of(table.name)}"]
    if table.about:
        parts.append(table.about)
    if table.synonyms:
        parts.append("also called " + ", ".join(table.synonyms))
    parts.append("columns: " + ", ".join(phrase_of(c.name) for c in table.columns))
    return "; ".join(parts)[:MAX_DOCUMENT_CHARS]


def _column_text(table: Table, column: Column) -> str:
    parts = [f"{phrase_of(table.name)} {phrase_of(column.name)}"]
    if column.about:
        parts.append(column.about)
    if column.synonyms:
        parts.append("also called " + ", ".join(column.synonyms))
    values = shown_values(column)
    if values:
        parts.append("values: " + ", ".join(values))
    return "; ".join(parts)[:MAX_DOCUMENT_CHARS]


def shown_values(column: Column) -> list[str]:
    """The column's values a document may carry: those the prompt shows (frequent values
    and value aliases), none of a column tagged as personal data or masked.

    >>> from nl2sql.catalog import Profile
    >>> city = Column("city", "VARCHAR", profile=Profile(top_values=[("Shanghai", 9)]),
    ...               values={"Beijing": ["北京"]})
    >>> shown_values(city)
    ['Shanghai', 'Beijing', '北京']
    >>> city.tags = {"pii": "address"}
    >>> shown_values(city)
    []
    """
    if column.tags.get("pii"):
        return []
    top = [v for v, _ in column.profile.top_values[:MAX_VALUES]] if column.profile else []
    aliases = [a for stored, more in column.values.items() for a in [stored, *more]]
    return [v[:MAX_VALUE_CHARS] for v in dict.fromkeys(top + aliases) if v.strip()]


def cache_key(catalog: Catalog, model_id: str, texts: list[str]) -> str:
    """Names the cache file: catalog fingerprint, model and every document's text."""
    digest = hashlib.sha256()
    for part in (str(CACHE_VERSION), catalog.fingerprint, model_id, *texts):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:40]


class Retriever:
    """Ranks for :func:`nl2sql.drafting.context.select` with an injected embedder.

    ``cache_dir``: the settings' cache folder (None: vectors are kept in memory only).
    """

    def __init__(self, embedder: Embedder, cache_dir: Path | None) -> None:
        self.embedder = embedder
        self.cache_dir = cache_dir
        self._indexes: dict[str, Index] = {}
        # the catalog last indexed and its index: building the documents again costs
        # ~25 ms a question on 77 tables (the object is held, so its id is not reused)
        self._last: tuple[Catalog, Index] | None = None

    def documents(self, catalog: Catalog) -> int:
        """How many texts the catalog's index holds (its documents and examples)."""
        return len(documents(catalog)) + len(catalog.examples)

    def index(self, catalog: Catalog) -> Index:
        """The catalog's vectors: from memory, else the cache file, else embedded now."""
        if self._last is not None and self._last[0] is catalog:
            return self._last[1]  # the same catalog object again (catalogs are not edited)
        docs = documents(catalog)
        texts = [d.text for d in docs] + [f"example: {e.question}" for e in catalog.examples]
        key = cache_key(catalog, self.embedder.model_id, texts)
        if key in self._indexes:
            self._last = (catalog, self._indexes[key])
            return self._indexes[key]
        vectors = self._load(key, len(texts))
        if vectors is None:
            unique = list(dict.fromkeys(d.text for d in docs))  # many columns are "id"
            rows = self.embedder.embed(unique, "passage")
            row_of = {text: i for i, text in enumerate(unique)}
            passages = rows[[row_of[d.text] for d in docs]]
            vectors = passages
            if catalog.examples:
                questions = self.embedder.embed([e.question for e in catalog.examples], "query")
                vectors = np.concatenate([passages, questions])
            self._save(key, vectors)
        index = Index(docs, vectors[:len(docs)], vectors[len(docs):])
        self._indexes[key] = index
        self._last = (catalog, index)
        return index

    def rank(self, question: str, catalog: Catalog) -> Ranking:
        index = self.index(catalog)
        content = content_words(question)
        texts = [question] if content == question else [question, content]
        vectors = self.embedder.embed(texts, "query")
        query, schema_query = vectors[0], vectors[-1]
        similarity = index.vectors @ schema_query
        # four rankings of the tables: (described, short) x (the table's own, best column)
        best: dict[tuple[bool, bool], dict[str, float]] = {
            (short, own): {} for short in (False, True) for own in (True, False)}
        column_score: dict[tuple[str, str], float] = {}
        for doc, score in zip(index.documents, similarity.tolist(), strict=True):
            scores = best[(doc.short, doc.column is None)]
            scores[doc.table] = max(scores.get(doc.table, -1.0), score)
            if doc.column is not None:
                at = (doc.table, doc.column)
                column_score[at] = max(column_score.get(at, -1.0), score)
        columns: dict[str, list[tuple[float, str]]] = {}
        for (table, column), score in column_score.items():
            columns.setdefault(table, []).append((score, column))
        examples: list[int] = []
        if len(index.example_vectors):
            scores = (index.example_vectors @ query).tolist()
            examples = [i for i in sorted(range(len(scores)), key=lambda i: -scores[i])
                        if scores[i] >= EXAMPLE_SIMILARITY]
        return Ranking(
            tables=[_best_first(scores) for scores in best.values()],
            columns={t: [c for _, c in sorted(cs, key=lambda sc: -sc[0])]
                     for t, cs in columns.items()},
            examples=examples)

    def _path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / CACHE_FOLDER / f"{key}.json"

    def _load(self, key: str, rows: int) -> np.ndarray | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("model") != self.embedder.model_id:
                return None
            vectors = np.frombuffer(base64.b64decode(data["vectors"]), dtype=np.float32)
            return vectors.reshape(rows, int(data["dimensions"]))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing or damaged: embedded again

    def _save(self, key: str, vectors: np.ndarray) -> None:
        path = self._path(key)
        if path is None:
            return
        payload = {"model": self.embedder.model_id, "dimensions": int(vectors.shape[1]),
                   "vectors": base64.b64encode(np.ascontiguousarray(vectors, np.float32)
                                               .tobytes()).decode("ascii")}
        if write_private(path, json.dumps(payload)):
            _prune(path, CACHE_FILES_KEPT)


def content_words(question: str) -> str:
    """A Chinese question without its question-asking words (统计, 一共, 多少, 列出, …, the
    offline drafter's list), which is what the schema is matched on: in a short question
    they outweigh the one noun that names the table (统计高中生的人数 matched ``city``
    before ``Highschooler``). On the Spider questions written in Chinese this took 150 of
    160 to 153 (docs/drafters.md). Other questions are left as they are.

    >>> content_words("一共有多少份成绩单？"), content_words("How many singers?")
    (' 有 份成绩单？', 'How many singers?')
    """
    if not has_chinese(question):
        return question
    content = question
    for word in _asking_words():
        content = content.replace(word, " ")
    return content if content.strip(" ？?。.，,！!") else question


@functools.cache
def _asking_words() -> tuple[str, ...]:
    """Longest first, so 一共 goes before 共 could (were it listed)."""
    from nl2sql.drafting.offline.glossary import CN_STOP_WORDS

    return tuple(sorted(CN_STOP_WORDS, key=lambda w: (-len(w), w)))


def _best_first(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda name: -scores[name])


def _prune(written: Path, keep: int) -> None:
    """Keep ``written`` and the ``keep - 1`` most recently written other cache files beside
    it; delete the rest (best effort)."""
    try:
        others = [f for f in written.parent.glob("*.json") if f != written]
        others.sort(key=lambda f: f.stat().st_mtime_ns, reverse=True)
        for old in others[max(keep - 1, 0):]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another process pruned it first, or the folder went: nothing to keep tidy
