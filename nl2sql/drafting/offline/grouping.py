"""Groupings: "per city", "by customer", "each dept's": a column, or a table grouped by its key
and the columns that name its rows.
"""

from __future__ import annotations

from collections.abc import Callable

from nl2sql.column_types import is_temporal, is_text
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.dates import series_groups
from nl2sql.drafting.offline.intent import ColumnRef, Group, Intent
from nl2sql.drafting.offline.reading import (
    Parse,
    column_of,
    column_targets,
    cues_of,
    is_han,
    measurable,
    nearest,
    pick_column,
    table_of,
    use_class_suffix,
)
from nl2sql.drafting.offline.words import Cue
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts
from nl2sql.schema import graph


def add_groups(p: Parse, intent: Intent, counted: idx.Match | None) -> None:
    series_groups(p, intent)
    for cue in cues_of(p, "group", "list", "top", "bottom"):
        if cue.kind == "group" and (_agentive(p, cue) or _quantifier(p, cue)):
            p.use(cue.start, cue.end)
            p.cues.remove(cue)  # not a grouping: nothing later may read it as one
            continue
        target = nearest(p, cue, _group_candidate(p, counted), window=14, after_only=True)
        if target is None and cue.kind == "list" and is_han(p.text[cue.start]):
            target = nearest(p, cue, _group_candidate(p, counted), window=3)  # "流派是哪个"
        if target is None:
            continue
        if cue.kind in ("list", "top", "bottom") and not (intent.measure or cues_of(p, "most", "fewest")):
            continue
        if cue.kind == "list" and not cues_of(p, "most", "fewest", "max", "min", "top", "bottom"):
            continue  # "what are our total sales": a question word, not "which X has the most"
        if _names_a_value(p, target, intent, counted):
            continue  # "tickets that came in by email": email is a channel here, a filter
        group = _group_for(p, target, intent)
        if group is None:
            continue
        if cue.kind == "group":
            p.use(cue.start, cue.end)
        p.use(target.start, target.end)
        measured = intent.measure.column if intent.measure else None
        if group.column == measured:
            continue  # "by total invoice amount": what is summed is never also a grouping
        if all(g.column != group.column for g in intent.groups):
            intent.groups.append(group)


# Verbs whose "by" groups or orders; after any other participle "by" names who did it.
ARRANGING = {"grouped", "broken", "split", "sorted", "ordered", "ranked", "segmented",
             "categorized", "categorised", "partitioned", "aggregated", "arranged", "classified",
             "divided", "listed", "counted", "summed", "averaged", "totaled", "totalled",
             "down", "up", "out"}
PARTICIPLES = {"made", "done", "written", "taken", "given", "driven", "sold", "run", "held",
               "led", "won", "drawn", "seen", "known", "shown", "taught", "bought", "brought",
               "paid", "sent", "spent", "sung", "built", "chosen", "directed", "owned"}


def _agentive(p: Parse, cue: Cue) -> bool:
    """"tickets opened by platinum customers", "songs sung by X": who did it, not a grouping."""
    if p.text[cue.start:cue.end] != "by":
        return False
    before = p.text[:cue.start].split()
    word = before[-1] if before else ""
    return word not in ARRANGING and (word in PARTICIPLES or (word.endswith("ed") and len(word) > 3))


def _quantifier(p: Parse, cue: Cue) -> bool:
    """"the name of every agent on the VIP team": with nothing to count or total, "every"
    only means all of them."""
    if p.text[cue.start:cue.end] not in ("each", "every", "for each", "for every"):
        return False
    aggregates = cues_of(p, "count", "sum", "avg", "max", "min", "most", "fewest", "percent",
                         "top", "bottom", "gt", "ge", "lt", "le", "series_year", "series_month",
                         "series_quarter")
    nxt = nearest(p, cue, lambda m: m.kind in ("table", "column"), window=3, after_only=True)
    return not aggregates and cues_of(p, "list") != [] and nxt is not None and nxt.kind == "table"


def _names_a_value(p: Parse, target: idx.Match, intent: Intent, counted: idx.Match | None) -> bool:
    """A word that is a column of another table and a value of the counted rows ("by email"
    on tickets whose channel can be 'email') reads as the value; the match turns into one."""
    rows = intent.measure.table if intent.measure else intent.base
    values = [t for t in target.targets if t.kind == "value" and t.table == rows]
    columns_here = [t for t in column_targets(target) if t.table == rows]
    if not values or columns_here:
        return False
    target.targets = values + [t for t in target.targets if t not in values]
    return True


def _entity_group(p: Parse, table_name: str) -> Group:
    """A table as a grouping: its key plus every naming column (first and last names too)."""
    table = table_of(p, table_name)
    label = idx.label_column(table)
    keys = [ColumnRef(table.name, k) for k in table.primary_key]
    names = [ColumnRef(table.name, c.name) for c in table.columns if not c.primary_key
             and set(name_parts(c.name)) & {"name", "title"} and is_text(c.type)
             and not set(name_parts(c.name)) & {"user", "file", "company"}]
    if len(names) > 1 and label is not None:
        others = [n for n in names if n.column != label.name]
        return Group(ColumnRef(table.name, label.name), extra=keys[:1] + others)
    if label is not None and (not keys or label.name not in table.primary_key):
        return Group(ColumnRef(table.name, label.name), extra=keys[:1])
    if keys:
        return Group(keys[0])
    raise DrafterDeclined(f"I cannot group by {table.name}: it has no key or name column")


def _own_column_after(p: Parse, table: idx.Match, name: str) -> idx.Match | None:
    for m in p.matches:
        gap = p.text[table.end:m.start]
        if m.start >= table.end and len(gap) <= 2 and gap.strip() in ("", "的", "'s") and any(
                t.table == name for t in column_targets(m)) and m.start not in p.used:
            return m
    return None


def _group_candidate(p: Parse, counted: idx.Match | None) -> Callable[[idx.Match], bool]:
    return lambda m: m.kind in ("table", "column") and m is not counted and m.start not in p.used


def _group_for(p: Parse, target: idx.Match, intent: Intent) -> Group | None:
    if target.kind == "table":
        name = target.targets[0].table
        own = _own_column_after(p, target, name)
        if own is not None:  # "客服团队", "agent team": the team, not each agent
            p.use(own.start, own.end)
            return Group(pick_column(p, own, base=name))
        if intent.measure and name == intent.measure.table and intent.measure.func == "count":
            return None
        return _entity_group(p, name)
    ref = pick_column(p, target, base=intent.base)
    if intent.measure and intent.measure.column == ref:
        return None
    column = column_of(p, ref)
    if measurable(column) and intent.measure is None and cues_of(p, "top", "bottom"):
        intent.order_column = ref  # "top 3 staff by salary": rank rows, don't group amounts
        intent.show.append(ref)
        p.use(target.start, target.end)
        return None
    if is_temporal(column.type):
        return Group(ref, bucket="month")
    referenced = graph.referenced_table(p.catalog, ref.table, ref.column)
    if referenced is not None and len(graph.join_keys(p.catalog, ref.table, referenced)) > 1:
        return Group(ref)  # "per student id" on Likes(student_id, liked_id): the column itself
    if referenced is not None:  # "per support rep" (SupportRepId): the employee it points to
        return _entity_group(p, referenced)
    return Group(ref)


def group_on(p: Parse, intent: Intent, target: idx.Match) -> None:
    """Group by what ``target`` names (a column or a table), if it makes a grouping."""
    group = _group_for(p, target, intent)
    if group is not None:
        p.use(target.start, target.end)
        intent.groups.append(group)


def ensure_group(p: Parse, intent: Intent, cue: Cue, exclude: idx.Match | None) -> None:
    if intent.groups:
        return
    head = _group_head(p, cue, exclude)
    if head is not None:
        group = _group_for(p, head, intent)
        if group is not None:
            p.use(head.start, head.end)
            use_class_suffix(p, head.end)
            intent.groups.append(group)


def _group_head(p: Parse, cue: Cue, exclude: idx.Match | None) -> idx.Match | None:
    """What the groups are: "cities with more than 150 customers" (before), or
    "订单数超过1000的收货城市" (after the 的)."""
    before = [m for m in p.matches if m.end <= cue.start and m.start not in p.used
              and m.kind in ("column", "table") and m is not exclude]
    if before:
        return before[-1]
    tail = p.text[cue.end:]
    k = tail.find("的")
    if k < 0:
        return None
    after = [m for m in p.matches if m.start >= cue.end + k and m.start not in p.used
             and m.kind in ("column", "table") and m is not exclude]
    return after[0] if after else None
