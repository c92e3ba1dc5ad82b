"""Stage 3 — select context: the tables, terms and examples a question needs.

Small databases go to the prompt whole; large ones are cut down to the
tables the question mentions (by name, synonym, column or value) plus the
tables on the foreign-key paths that join them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nl2sql.catalog import Catalog, Example, Table, Term
from nl2sql.lexicon import mentions, phrase_of, words
from nl2sql.schema.graph import neighbours, shortest_path

WHOLE_CATALOG_UP_TO = 12
MAX_TABLES = 8
MAX_EXAMPLES = 3


@dataclass
class Context:
    """What the prompt shows of the catalog for one question."""

    tables: list[Table]
    terms: list[Term] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)


def select(question: str, catalog: Catalog) -> Context:
    """Choose tables, business terms and examples relevant to ``question``."""
    terms = [t for t in catalog.terms if _term_mentioned(question, t)]
    scores = {name: _table_score(question, t, terms) for name, t in catalog.tables.items()}
    if len(catalog.tables) <= WHOLE_CATALOG_UP_TO:
        names = sorted(catalog.tables, key=lambda n: -scores[n])
    else:
        names = _connected(catalog, [n for n in sorted(scores, key=lambda n: -scores[n])
                                     if scores[n] > 0][:MAX_TABLES] or _hubs(catalog))
    return Context(tables=[catalog.tables[n] for n in names], terms=terms,
                   examples=similar_examples(question, catalog.examples))


def _term_mentioned(question: str, term: Term) -> bool:
    return any(mentions(question, s) for s in [term.name, *term.synonyms])


def _table_score(question: str, table: Table, terms: list[Term]) -> int:
    score = 0
    if any(mentions(question, s) for s in [phrase_of(table.name), *table.synonyms]):
        score += 3
    for column in table.columns:
        if any(mentions(question, s) for s in [phrase_of(column.name), *column.synonyms]):
            score += 2
        aliases = [a for stored, al in column.values.items() for a in [stored, *al]]
        top = [v for v, _ in (column.profile.top_values if column.profile else [])]
        if any(mentions(question, v) for v in aliases + top if len(v) > 1):
            score += 2
    score += sum(3 for t in terms if table.name.lower() in t.sql.lower())
    return score


def _hubs(catalog: Catalog) -> list[str]:
    """With no match at all, the most connected tables are the best guess."""
    degree = {name: len(t.foreign_keys) for name, t in catalog.tables.items()}
    for t in catalog.tables.values():
        for fk in t.foreign_keys:
            degree[fk.ref_table] = degree.get(fk.ref_table, 0) + 1
    return sorted(degree, key=lambda n: -degree[n])[:3]


def _connected(catalog: Catalog, names: list[str]) -> list[str]:
    graph = neighbours(catalog)
    chosen = list(dict.fromkeys(names))
    for other in names[1:]:
        path = shortest_path(graph, names[0], other) or []
        chosen += [n for n in path if n not in chosen]
    return chosen


def similar_examples(question: str, examples: list[Example], k: int = MAX_EXAMPLES) -> list[Example]:
    """The ``k`` verified examples sharing the most words (or Chinese bigrams) with the question."""
    wanted = _grams(question)
    scored = [(len(wanted & _grams(e.question)) / (len(wanted | _grams(e.question)) or 1), i)
              for i, e in enumerate(examples)]
    best = sorted((s for s in scored if s[0] > 0), reverse=True)[:k]
    return [examples[i] for _, i in best]


def _grams(text: str) -> set[str]:
    grams: set[str] = set()
    for w in words(text):
        if "\u4e00" <= w[0] <= "\u9fff":
            grams.update(w[i:i + 2] for i in range(max(1, len(w) - 1)))
        else:
            grams.add(w)
    return grams
