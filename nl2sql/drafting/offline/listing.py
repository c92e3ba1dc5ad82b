"""What the answer shows besides a measure: a percentage share, the rows of a listing and the
columns it names, the distinct values of one column, and rows that have related rows.
"""

from __future__ import annotations

import re

from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.compose import fans_out
from nl2sql.drafting.offline.dates import event_date
from nl2sql.drafting.offline.intent import ColumnRef, Filter, Intent
from nl2sql.drafting.offline.measures import term_columns
from nl2sql.drafting.offline.reading import (
    Parse,
    bridge_to,
    column_of,
    column_targets,
    cues_of,
    distance,
    join_path,
    only_key_to,
    pick_column,
    table_of,
)
from nl2sql.errors import DrafterDeclined


def percent(p: Parse, intent: Intent) -> None:
    cues = cues_of(p, "percent")
    if not cues:
        return
    candidates = [f for f in intent.filters if f.op in ("=", "in", "!=", "is_null", "not_null")]
    if not candidates:
        raise DrafterDeclined("I don't know the share of what is asked for")
    for cue in cues:
        p.use(cue.start, cue.end)
    numerator = candidates[-1]
    intent.filters.remove(numerator)
    intent.percent_of = [numerator]
    if intent.measure and intent.measure.func == "count":
        intent.measure = None


def listing_columns(p: Parse, intent: Intent) -> None:
    _existence(p, intent)
    term_columns(p, intent)
    for m in p.matches:
        if m.start in p.used:
            continue
        if m.kind == "table" and (m.targets[0].table == intent.base or _related(p, intent, m)):
            p.use(m.start, m.end)
        elif m.kind == "column" and intent.measure is None and not intent.groups:
            ref = pick_column(p, m, base=intent.base)
            if ref not in intent.show:
                intent.show.append(ref)
            if ref not in intent.named:
                intent.named.append(ref)
            p.use(m.start, m.end)
    for cue in cues_of(p, "list"):
        p.use(cue.start, cue.end)
    _rows_of_named_table(p, intent)
    _distinct_values(p, intent)


def _rows_of_named_table(p: Parse, intent: Intent) -> None:
    """"the paragraph texts of the document named X": the rows listed are paragraphs (the
    table whose columns are asked for), and the document is their condition."""
    tables = {ref.table for ref in intent.named}
    if intent.measure or intent.groups or len(tables) != 1 or intent.base in tables:
        return
    table = tables.pop()
    if any(f.op in ("related_count", "no_related") for f in intent.filters) or not any(
            f.column.table == intent.base for f in intent.filters):
        return  # only a base that carries a condition becomes the condition
    if fans_out(p.catalog, join_path(p, intent.base, table)) and not fans_out(
            p.catalog, join_path(p, table, intent.base)):
        intent.base = table


def _existence(p: Parse, intent: Intent) -> None:
    """"customers who have written reviews", "2024年下过单的客户": base rows with related rows;
    a date the question gave without naming a column then belongs to the related rows."""
    counting_base = intent.measure is None or (intent.measure.func == "count"
                                               and intent.measure.table == intent.base)
    base = table_of(p, intent.base)
    if not counting_base or intent.groups or not base.primary_key:
        return
    used_tables = {f.column.table for f in intent.filters}
    for m in p.matches:
        table = m.targets[0].table if m.kind == "table" else ""
        if m.start in p.used or not table or table == intent.base or table in used_tables:
            continue
        if re.search(r"\band\s+(?:the\s+|their\s+|its\s+)?$", p.text[:m.start]):
            continue  # "the teachers and the courses they teach": courses to show, not a condition
        fk = only_key_to(p, table, intent.base)
        moved = [f for f in intent.filters if f.implicit and f.column.table == intent.base]
        if fk is None and not moved and not _conditions_on(intent, table):
            bridge = bridge_to(p, table, intent.base)  # "students who have a pet" (Has_Pet)
            if bridge is not None:
                p.use(m.start, m.end)
                intent.filters.append(Filter(ColumnRef(intent.base, base.primary_key[0]),
                                             "related_count", [bridge[0], bridge[1], ">=", 1, []]))
            continue
        if fk is None:
            continue
        event = event_date(table_of(p, table))
        conditions = [Filter(event, f.op, f.values) for f in moved] if event else []
        if event:
            intent.filters = [f for f in intent.filters if f not in moved]
        p.use(m.start, m.end)
        intent.filters.append(Filter(ColumnRef(intent.base, base.primary_key[0]), "related_count",
                                     [table, fk, ">=", 1, conditions]))


def _conditions_on(intent: Intent, table: str) -> bool:
    return any(f.column.table == table for f in intent.filters)


def _first_catalog_match(p: Parse) -> idx.Match | None:
    return next((m for m in p.matches if m.kind in ("table", "column")), None)


def _distinct_values(p: Parse, intent: Intent) -> None:
    """"list all the product categories" -> the distinct values of one categorical column;
    "the different/distinct/unique names" -> the distinct values of what is shown."""
    grouped = {g.column for g in intent.groups}
    for cue in cues_of(p, "distinct"):  # "different hometowns and the number of teachers
        if any(m.start >= cue.end and m.start - cue.end <= 2  # from each": the groups
               and {ColumnRef(t.table, t.column) for t in column_targets(m)} & grouped
               for m in p.matches):
            p.use(cue.start, cue.end)
    if intent.measure or intent.groups or intent.order_column or not intent.show:
        return
    for cue in cues_of(p, "distinct"):
        named = [m for m in p.matches if m.start >= cue.end and m.start - cue.end <= 2
                 and any(ColumnRef(t.table, t.column) in intent.show for t in column_targets(m))]
        if named:
            p.use(cue.start, cue.end)
            intent.distinct = True
            return
    if len(intent.show) != 1:
        return
    column = column_of(p, intent.show[0])
    profile = column.profile
    label = idx.label_column(table_of(p, intent.show[0].table))
    naming = label is not None and label.name == column.name  # names of people repeat
    categorical = bool(profile and profile.top_values) and not column.primary_key and not naming
    shown = next((m for m in p.matches if any(ColumnRef(t.table, t.column) == intent.show[0]
                                              for t in column_targets(m))), None)
    tables = [m for m in p.matches if m.kind == "table"]
    owner_only = all(t.targets[0].table == intent.show[0].table for t in tables)
    head = shown is not None and shown is _first_catalog_match(p) and owner_only
    modifier = shown is not None and (head or all(0 <= shown.start - t.end <= 1 for t in tables))
    if categorical and intent.show[0].table == intent.base and modifier:
        intent.distinct = True


def _related(p: Parse, intent: Intent, m: idx.Match) -> bool:
    """A table named in passing ("orders from customers in Beijing") is the join path."""
    table = m.targets[0].table
    tables = {f.column.table for f in intent.filters} | {g.column.table for g in intent.groups}
    if intent.measure:
        tables.add(intent.measure.table)
    if table in tables or distance(p, intent.base, table)[1] <= 1:
        return True
    on_path = {n for t in tables for n in join_path(p, intent.base, t)}
    return table in on_path  # "revenue of Rock tracks": tracks lie between lines and genres
