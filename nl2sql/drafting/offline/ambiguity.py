"""Choice points: where a word has two readings that both make sense and the question gives
no way to choose, a parser step raises :class:`~.intent.Ambiguous` instead of guessing.

A choice point is named by what it decides and where the word is ("measure@14"); on a
later pass the drafter settles it in ``Parse.choices`` and the step takes that reading.
Only readings that can both be answered are offered: same-named columns of tables that
foreign keys join.
"""

from __future__ import annotations

from nl2sql.column_types import is_temporal
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.intent import Ambiguous, Choice, ColumnRef
from nl2sql.drafting.offline.reading import (
    Parse,
    anchor_table,
    column_of,
    column_targets,
    measurable,
    pick_column,
)
from nl2sql.schema import graph


def measure_column(p: Parse, match: idx.Match) -> ColumnRef:
    """The column an aggregate's word names ("average unit price").

    :class:`Ambiguous` when the word names such a column, equally well, in two or more
    tables joined by foreign keys and no table is named beside it or anywhere in the
    question to pick one ("categories with an average unit price above 1500": the price
    each line was sold at, or the catalogue price of the products)."""
    point = f"measure@{match.start}"
    settled = p.choices.settled.get(point)
    if settled is not None:
        return settled.column
    ref = pick_column(p, match, numeric=True)
    owner = None if _table_named(p, match) else _owner_by_other_columns(p, match)
    if owner is not None:
        p.choices.assume(f"{match.text} read as {owner} (the table of the other columns named)")
        return owner
    rivals = _rivals(p, match, ref)
    if rivals:
        raise Ambiguous(point, [Choice(point, c, f"{match.text} read as {c}")
                                for c in [ref, *rivals]])
    return ref


def _table_named(p: Parse, match: idx.Match) -> bool:
    """A table named beside the word or anywhere in the question settles it (``_rivals``)."""
    named = {t.table for m in p.matches for t in m.targets if t.kind == "table"}
    return anchor_table(p, match) is not None or bool(named & {t.table for t in column_targets(match)})


def _owner_by_other_columns(p: Parse, match: idx.Match) -> ColumnRef | None:
    """"categories with an average unit price above 1500": the other column the question
    names (category) is the products', so the price is the products' price too. Only when
    exactly one of the same-named columns sits in a table the question's other columns do."""
    targets = column_targets(match)
    best = max(t.strength for t in targets)
    candidates = [ColumnRef(t.table, t.column) for t in targets if t.strength == best]
    if len({c.table for c in candidates}) < 2:
        return None
    others = {t.table for m in p.matches if m is not match and m.kind == "column"
              for t in column_targets(m)}
    owned = [c for c in candidates if c.table in others]
    return owned[0] if len({c.table for c in owned}) == 1 else None


def _rivals(p: Parse, match: idx.Match, ref: ColumnRef) -> list[ColumnRef]:
    if anchor_table(p, match) is not None:
        return []  # "unit price of products": the table is named beside it
    targets = column_targets(match)
    best = max(t.strength for t in targets)
    candidates = [ColumnRef(t.table, t.column) for t in targets if t.strength == best]
    candidates = [c for c in candidates
                  if measurable(column_of(p, c)) or is_temporal(column_of(p, c).type)]
    tables = {c.table for c in candidates}
    named = {t.table for m in p.matches for t in m.targets if t.kind == "table"}
    if len(tables) < 2 or tables & named:
        return []  # one table, or the question names the one it means
    links = graph.neighbours(p.catalog)
    rivals: dict[str, ColumnRef] = {}
    for c in candidates:
        if c.table != ref.table and c.table not in rivals and graph.shortest_path(
                links, ref.table, c.table) is not None:
            rivals[c.table] = c
    return list(rivals.values())
