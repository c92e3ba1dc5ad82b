"""Stage 3 — select context: the tables, terms and examples a question needs.

Small databases (up to :data:`WHOLE_CATALOG_UP_TO` tables) go to the prompt whole. Larger
ones are cut down to at most :data:`MAX_TABLES` tables:

1. word matching ranks the tables the question mentions (by name, synonym, column or
   frequent value);
2. with a :class:`Ranker` (the session's, :mod:`nl2sql.drafting.retrieval`), embeddings
   rank every table twice more, by its own description and by its best column; this is
   what finds ``singer`` for "我们一共有多少位歌手？", where no word matches;
3. the rankings are fused by reciprocal rank (:func:`fuse`) and the tables taken in that
   order, each with the foreign-key path that joins it to those already taken, until
   :data:`MAX_TABLES` are chosen.

Verified examples are chosen the same way: shared words fused with embedding similarity.
An example that names a table or column the catalog (the role's view of it) does not
have, or compares a column whose values the role may not see with a literal, is never
chosen. The prompt builder then holds everything under its token budget
(:func:`nl2sql.drafting.prompt.fit`), dropping the least relevant first: the order of
``Context.tables`` and ``Context.columns`` is that relevance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from nl2sql.catalog import Catalog, Example, Table, Term
from nl2sql.lexicon import has_chinese, normalize, phrase_of, words
from nl2sql.schema.graph import Graph, neighbours, shortest_path

if TYPE_CHECKING:
    from sqlglot import exp

WHOLE_CATALOG_UP_TO = 12
MAX_TABLES = 8
MAX_EXAMPLES = 3
#: Reciprocal-rank fusion constant (Cormack et al. 2009 use 60): a place in one ranking
#: is worth 1 / (RRF_K + place). Smaller than 60 because a catalog's rankings are short
#: and their heads matter most; the benchmark's figures are with this value.
RRF_K = 10
#: How much a table's best-placed direct neighbour counts, beside its own place (see
#: :func:`by_neighbour`); and how many of the best tables are kept whatever their
#: neighbours, so a crowd of one table's neighbours cannot push out the second subject.
NEIGHBOUR_WEIGHT = 0.5
SEEDS = 2


@dataclass
class Ranking:
    """What a :class:`Ranker` says of a question: orders, best first.

    ``tables``: one or more rankings of table names (each best first); ``columns``: per
    table, its column names best first; ``examples``: indices into ``catalog.examples``
    best first, only those similar enough to be worth showing."""

    tables: list[list[str]] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    examples: list[int] = field(default_factory=list)


class Ranker(Protocol):
    """Ranks a catalog's tables, columns and examples for a question (by embeddings)."""

    def rank(self, question: str, catalog: Catalog) -> Ranking: ...


@dataclass
class Context:
    """What the prompt shows of the catalog for one question.

    ``tables`` most relevant first, each table's join path before it (so every leading
    part of the list is joined up); ``columns``: per table, the columns most relevant
    first (absent: the table's own order); ``notes``: what the answer should say about
    how the context was chosen (retrieval unavailable)."""

    tables: list[Table]
    terms: list[Term] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def select(question: str, catalog: Catalog, retriever: Ranker | None = None) -> Context:
    """Choose tables, business terms and examples relevant to ``question``.

    ``retriever`` is asked only when the catalog has more than
    :data:`WHOLE_CATALOG_UP_TO` tables: a small catalog never loads a model."""
    asked = Asked(question)
    terms = [t for t in catalog.terms if _term_mentioned(asked, t)]
    scores = {name: _table_score(asked, t, terms) for name, t in catalog.tables.items()}
    by_words = _ranked(scores)
    if len(catalog.tables) <= WHOLE_CATALOG_UP_TO:
        names = sorted(catalog.tables, key=lambda n: -scores[n])
        return Context(tables=[catalog.tables[n] for n in names], terms=terms,
                       examples=similar_examples(question, catalog))
    ranking = Ranking()
    notes: list[str] = []
    if retriever is not None:
        from nl2sql.errors import ConfigError, ModelError

        try:
            ranking = retriever.rank(question, catalog)
        except (ModelError, ConfigError) as exc:  # the words alone still choose
            notes.append(f"schema retrieval unavailable ({exc.message}); tables chosen by "
                         "word matching only")
    graph = neighbours(catalog)
    fused = fuse([by_words, *ranking.tables])
    joined = fuse([fused, by_neighbour(graph, fused)], weights=[1.0, NEIGHBOUR_WEIGHT])
    order = fused[:SEEDS] + [n for n in joined if n not in fused[:SEEDS]]
    names = connected(catalog, order or _hubs(catalog), MAX_TABLES, graph)
    examples = similar_examples(question, catalog, ranking.examples if retriever else None)
    return Context(tables=[catalog.tables[n] for n in names], terms=terms, examples=examples,
                   columns={n: ranking.columns[n] for n in names if n in ranking.columns},
                   notes=notes)


def fuse(rankings: Sequence[Sequence[str]], k: int = RRF_K,
         weights: Sequence[float] | None = None) -> list[str]:
    """Reciprocal-rank fusion: each name scores the sum of weight / (k + place) over the
    rankings it is in (place 1 = best; weight 1 unless given); ties keep the first
    ranking's order.

    >>> fuse([["a", "b"], ["b", "c"]])
    ['b', 'a', 'c']
    >>> fuse([["a", "b"], ["b", "c"]], weights=[1.0, 0.05])
    ['a', 'b', 'c']
    """
    score: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for place, name in enumerate(ranking, start=1):
            score[name] = score.get(name, 0.0) + weight / (k + place)
    return sorted(score, key=lambda n: -score[n])


def by_neighbour(graph: Graph, ranked: list[str]) -> list[str]:
    """Tables ordered by the best place of a table they join directly (ties: their own
    place): the bridge (``has_pet``) beside a table the question names (``student``)
    comes before a table of another subject that happens to resemble the question.

    >>> by_neighbour({"a": {"b"}, "b": {"a", "c"}, "c": {"b"}, "d": set()}, ["c", "d", "a", "b"])
    ['b', 'c', 'a']
    """
    place = {name: i for i, name in enumerate(ranked)}
    far = len(ranked)
    best = {name: min((place.get(n, far) for n in graph.get(name, ()) if n != name), default=far)
            for name in graph}
    return sorted((n for n in graph if best[n] < far),
                  key=lambda n: (best[n], place.get(n, far)))


def _ranked(scores: dict[str, int]) -> list[str]:
    """The tables word matching found, best first (ties in catalog order)."""
    return [n for n in sorted(scores, key=lambda n: -scores[n]) if scores[n] > 0]


class Asked:
    """The question, normalised and split into words once: :func:`nl2sql.lexicon.mentions`
    for every name, synonym and value of a big catalog would split it again each time
    (seconds for a long question over thousands of columns).

    >>> asked = Asked("How many customers are in 上海?")
    >>> [asked.mentions(p) for p in ("customer", "上海", "scustomer", "")]
    [True, True, False, False]
    """

    def __init__(self, question: str) -> None:
        self.normal = normalize(question)
        self.spaced = " " + " ".join(words(question)) + " "

    def mentions(self, phrase: str) -> bool:
        """:func:`nl2sql.lexicon.mentions` of the question, exactly."""
        phrase = normalize(phrase)
        if not phrase:
            return False
        if has_chinese(phrase):
            return phrase in self.normal
        return " " + " ".join(words(phrase)) + " " in self.spaced


def _term_mentioned(asked: Asked, term: Term) -> bool:
    return any(asked.mentions(s) for s in [term.name, *term.synonyms])


def _table_score(asked: Asked, table: Table, terms: list[Term]) -> int:
    score = 0
    if any(asked.mentions(s) for s in [phrase_of(table.name), *table.synonyms]):
        score += 3
    for column in table.columns:
        if any(asked.mentions(s) for s in [phrase_of(column.name), *column.synonyms]):
            score += 2
        aliases = [a for stored, al in column.values.items() for a in [stored, *al]]
        top = [v for v, _ in (column.profile.top_values if column.profile else [])]
        if any(asked.mentions(v) for v in aliases + top if len(v) > 1):
            score += 2
    score += sum(3 for t in terms if table.name.lower() in t.sql.lower())
    return score


def _hubs(catalog: Catalog) -> list[str]:
    """With no match at all, the most connected tables are the best guess."""
    degree = {name: len(t.foreign_keys) for name, t in catalog.tables.items()}
    for t in catalog.tables.values():
        for fk in t.foreign_keys:
            ref = catalog.table(fk.ref_table)
            if ref is not None:
                degree[ref.name] = degree.get(ref.name, 0) + 1
    return sorted(degree, key=lambda n: -degree[n])[:3]


def connected(catalog: Catalog, ranked: list[str], limit: int,
              graph: Graph | None = None) -> list[str]:
    """Tables in ``ranked`` order, each preceded by the tables of the shortest foreign-key
    path joining it to one already chosen, up to ``limit`` tables. A table whose path would
    not fit is passed over for the next; one that joins nothing chosen comes alone."""
    graph = graph if graph is not None else neighbours(catalog)
    chosen: list[str] = []
    for name in ranked:
        if len(chosen) >= limit:
            break
        if name in chosen:
            continue
        path = _path_to_chosen(graph, chosen, name)
        new = [n for n in path if n not in chosen]
        if len(chosen) + len(new) <= limit:
            chosen += new
    return chosen


def _path_to_chosen(graph: Graph, chosen: list[str], name: str) -> list[str]:
    """The shortest path from any chosen table to ``name`` (``[name]`` when none joins)."""
    best: list[str] | None = None
    for start in chosen:
        path = shortest_path(graph, start, name)
        if path is not None and (best is None or len(path) < len(best)):
            best = path
    return best[1:] if best else [name]


def similar_examples(question: str, catalog: Catalog, by_meaning: list[int] | None = None,
                     k: int = MAX_EXAMPLES) -> list[Example]:
    """Up to ``k`` verified examples like the question: sharing the most words (or Chinese
    bigrams) with it, fused with ``by_meaning`` (indices, most similar first) when
    embeddings ranked them. Only examples the role's catalog can show (:func:`shows`)."""
    examples = catalog.examples
    wanted = _grams(question)
    scored = [(len(wanted & _grams(e.question)) / (len(wanted | _grams(e.question)) or 1), i)
              for i, e in enumerate(examples)]
    by_words = [str(i) for s, i in sorted(scored, reverse=True) if s > 0]
    order = fuse([by_words, [str(i) for i in by_meaning]]) if by_meaning is not None else by_words
    chosen: list[Example] = []
    for i in order:
        if len(chosen) == k:
            break
        if shows(examples[int(i)], catalog):
            chosen.append(examples[int(i)])
    return chosen


def shows(example: Example, catalog: Catalog) -> bool:
    """Whether the role's ``catalog`` may show ``example``: every table it reads is there,
    every column it names is one of theirs (or a name the query itself defines), and it
    compares no column whose values are withheld (personal data, masked) with a literal.

    >>> from nl2sql.catalog import Column
    >>> t = Table("people", [Column("city", "VARCHAR"), Column("phone", "VARCHAR", tags={"pii": "phone"})])
    >>> cat = Catalog("c", {"people": t})
    >>> [shows(Example("q", sql), cat) for sql in (
    ...     "SELECT city, count(*) AS n FROM people GROUP BY city ORDER BY n",
    ...     "SELECT salary FROM people", "SELECT city FROM people WHERE phone = '13800138000'",
    ...     "SELECT count(*) FROM payroll")]
    [True, False, False, False]
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    try:
        tree = sqlglot.parse_one(example.sql, read="duckdb")
    except (ParseError, TokenError):
        return False
    defined = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    defined |= {a.alias.lower() for a in tree.find_all(exp.Alias, exp.TableAlias) if a.alias}
    defined |= {a.name.lower() for t in tree.find_all(exp.TableAlias) for a in t.columns}
    tables = []
    for node in tree.find_all(exp.Table):
        if node.name.lower() in defined:
            continue
        table = catalog.table(node.name)
        if table is None:
            return False
        tables.append(table)
    for ref in tree.find_all(exp.Column):
        name = ref.name.lower()
        found = [col for t in tables if (col := t.column(name)) is not None]
        if not found and name not in defined:
            return False
        if any(col.tags.get("pii") for col in found) and _compared_with_literal(ref):
            return False
    return True


def _compared_with_literal(column: exp.Column) -> bool:
    """Whether ``column`` sits in a comparison (``=``, ``IN``, ``LIKE``, ...) that holds a
    literal: the literal would be a value of it."""
    from sqlglot import exp

    predicate = column.find_ancestor(exp.Predicate)
    return predicate is not None and any(True for _ in predicate.find_all(exp.Literal))


def _grams(text: str) -> set[str]:
    grams: set[str] = set()
    for w in words(text):
        if "\u4e00" <= w[0] <= "\u9fff":
            grams.update(w[i:i + 2] for i in range(max(1, len(w) - 1)))
        else:
            grams.add(w)
    return grams
