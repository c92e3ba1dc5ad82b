"""The working state of reading one question, and the lookups every part of the reading uses.

A :class:`Parse` holds the question's catalog matches and cues and the character
positions accounted for so far; the helpers find the match nearest a cue, pick
the column a mention means, and measure how far tables are apart along foreign keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nl2sql.catalog import Catalog, Column, Table
from nl2sql.column_types import is_numeric, is_temporal
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.compose import fans_out, joined_several_ways
from nl2sql.drafting.offline.glossary import EN_STOP
from nl2sql.drafting.offline.intent import Choices, ColumnRef
from nl2sql.drafting.offline.words import Cue
from nl2sql.lexicon import name_parts
from nl2sql.schema import graph


@dataclass
class Parse:
    """Working state while reading one question."""

    catalog: Catalog
    index: idx.Index
    text: str
    matches: list[idx.Match]
    cues: list[Cue]
    dates: list[Cue]
    used: set[int] = field(default_factory=set)  # character positions accounted for
    # "the most common citizenship": what a superlative count is grouped by, found with it
    ranked: idx.Match | None = None
    choices: Choices = field(default_factory=Choices)  # settled beforehand, assumed so far

    def use(self, start: int, end: int) -> None:
        self.used.update(range(start, end))


AMOUNT_PARTS = ("total", "amount", "price", "cost", "value", "revenue", "salary", "fee", "spend")


def cues_of(p: Parse, *kinds: str) -> list[Cue]:
    return [c for c in p.cues if c.kind in kinds]


def table_of(p: Parse, name: str) -> Table:
    return p.catalog.tables[name]


def column_of(p: Parse, ref: ColumnRef) -> Column:
    column = table_of(p, ref.table).column(ref.column)
    assert column is not None
    return column


def measurable(column: Column) -> bool:
    """A measurable number: numeric type, and not a key (ids are labels, not amounts)."""
    parts = name_parts(column.name)
    is_key = column.primary_key or (parts and parts[-1] in ("id", "key", "no")) or column.tags.get("key")
    return is_numeric(column.type) and not is_key


def column_targets(match: idx.Match) -> list[idx.Target]:
    return [t for t in match.targets if t.kind == "column"]


def nearest(p: Parse, cue: Cue, pred: Callable[[idx.Match], bool], window: int = 30,
            after_only: bool = False) -> idx.Match | None:
    """The match closest to ``cue`` satisfying ``pred`` (after the cue preferred)."""
    best, best_d = None, window + 1
    for m in p.matches:
        if not pred(m):
            continue
        if m.start >= cue.end:
            d = m.start - cue.end
        elif not after_only and m.end <= cue.start:
            d = cue.start - m.end + 1  # a tie goes to the match after the cue
        else:
            continue
        if d < best_d:
            best, best_d = m, d
    return best


def overlaps(start: int, end: int, spans: list[Cue] | list[idx.Match]) -> bool:
    return any(s.start < end and start < s.end for s in spans)


def is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def distance(p: Parse, base: str, table: str) -> tuple[int, int]:
    """(fans out?, hops) from base to table: a cheap ranking of candidate columns."""
    if table == base:
        return (0, 0)
    path = graph.shortest_path(graph.neighbours(p.catalog), base, table)
    if path is None:
        return (2, 99)
    return (1 if fans_out(p.catalog, path) else 0, len(path) - 1)


def join_path(p: Parse, a: str, b: str) -> list[str]:
    return graph.shortest_path(graph.neighbours(p.catalog), a, b) or [a, b]


def pick_column(p: Parse, match: idx.Match, numeric: bool = False,
                base: str | None = None) -> ColumnRef:
    targets = column_targets(match)
    if numeric:
        targets = [t for t in targets if measurable(column_of(p, ColumnRef(t.table, t.column)))
                   or is_temporal(column_of(p, ColumnRef(t.table, t.column)).type)] or targets
    anchor = anchor_table(p, match) or base
    named = _named_tables(p)
    best = min(targets, key=lambda t: (
        -t.strength, t.table != anchor, t.table not in named,
        *(distance(p, anchor, t.table) if anchor else (0, 0))))
    if best.table not in (anchor, *named) and any(
            t.table != best.table and t.strength == best.strength
            and _keyed(p, t) != _keyed(p, best) for t in targets):  # a real rival
        p.choices.assume(f"{match.text} read as {best.table}.{best.column}")
    return ColumnRef(best.table, best.column)


def _keyed(p: Parse, t: idx.Target) -> str:
    """The table whose rows a key column identifies (its own for a primary key, the one it
    references for a foreign key): order_items.product_id and products.product_id both
    name products, so reading one for the other assumes nothing."""
    if column_of(p, ColumnRef(t.table, t.column)).primary_key:
        return t.table
    return graph.referenced_table(p.catalog, t.table, t.column) or f"{t.table}.{t.column}"


def _named_tables(p: Parse) -> set[str]:
    return {t.table for m in p.matches for t in m.targets if t.kind == "table"}


def anchor_table(p: Parse, match: idx.Match) -> str | None:
    """The table a mention belongs to: one named right before it ("customers in Beijing"),
    else right after it ("unit price of products", "上海的客户")."""
    before = [m for m in p.matches if m.kind == "table" and m.end <= match.start and (
        match.start - m.end <= 12 or all(w in EN_STOP for w in p.text[m.end:match.start].split()))]
    if before:
        return before[-1].targets[0].table
    after = [m for m in p.matches if m.kind == "table" and m.start >= match.end
             and (p.text[match.end:m.start].strip() in ("", "的", "of", "of the")
                  or m.start - match.end <= 1)]
    return after[0].targets[0].table if after else None


def in_projection(p: Parse, m: idx.Match) -> bool:
    """A column named between "list/show/what are" and the first table after it ("List the
    name and hire date of every agent") is something to show, not a condition."""
    listed = [c for c in p.cues if c.kind == "list" and c.end <= m.start]
    if not listed:
        return False
    tables_between = [t for t in p.matches if t.kind == "table" and listed[-1].end <= t.start < m.start]
    return not tables_between and any(t.kind == "table" and t.start >= m.end for t in p.matches)


def only_key_to(p: Parse, table: str, target: str) -> str | None:
    """The column of ``table`` referencing ``target``; declines when several do (which one
    the question means is a choice the drafter does not make for the user)."""
    keys = graph.join_keys(p.catalog, table, target)
    if len(keys) > 1:
        raise joined_several_ways(table, target, keys)
    return graph.foreign_key_to(p.catalog, table, target)


def bridge_to(p: Parse, table: str, base: str) -> tuple[str, str] | None:
    """The one table linking ``table`` to ``base`` (Has_Pet between Pets and Student), and its
    column referencing ``base``: a row there means the base row has a related ``table`` row."""
    found = []
    for name, candidate in p.catalog.tables.items():
        if name in (table, base):
            continue
        to_base = [fk for fk in candidate.foreign_keys if fk.ref_table.lower() == base.lower()]
        to_table = [fk for fk in candidate.foreign_keys if fk.ref_table.lower() == table.lower()]
        if len(to_base) == 1 and len(to_table) == 1 and len(to_base[0].columns) == 1:
            found.append((name, to_base[0].columns[0]))
    return found[0] if len(found) == 1 else None


def amount_column(p: Parse, table_name: str) -> ColumnRef | None:
    table = table_of(p, table_name)
    for part in AMOUNT_PARTS:
        for column in table.columns:
            if part in name_parts(column.name) and measurable(column):
                return ColumnRef(table.name, column.name)
    return None


def use_class_suffix(p: Parse, end: int) -> None:
    """"图书类", "摇滚(Rock)类": the 类 after a category name is part of it."""
    while p.text[end:end + 1] in (")", "）"):
        end += 1
    if p.text[end:end + 1] in ("类", "系"):
        p.use(end, end + 1)
