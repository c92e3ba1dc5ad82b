"""Comparisons ("more than 30", "超过1000元", "between 5 and 10"): on a column (WHERE), on the
measure per group (HAVING), or on a count of related rows ("customers with more than 5 orders").
"""

from __future__ import annotations

from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.grouping import ensure_group
from nl2sql.drafting.offline.intent import ColumnRef, Filter, Intent, Measure
from nl2sql.drafting.offline.reading import (
    Parse,
    amount_column,
    column_of,
    column_targets,
    cues_of,
    measurable,
    nearest,
    only_key_to,
    pick_column,
    table_of,
)
from nl2sql.drafting.offline.words import Cue
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts


def add_comparisons(p: Parse, intent: Intent, counted: idx.Match | None) -> None:
    """Attach each "more than N" to what it compares: a column (WHERE), the measure or a count
    per group (HAVING), or a count of related rows ("customers with more than 50 orders")."""
    ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    ops["between"] = "between"
    for cue in cues_of(p, "gt", "ge", "lt", "le", "between"):
        if cue.value is None:
            continue
        p.use(cue.start, cue.end)
        value = cue.value if isinstance(cue.value, tuple) else float(cue.value)  # type: ignore[arg-type]
        _compare(p, intent, cue, ops[cue.kind], value, counted)


# "older than 30" compares the age; the comparative names the column.
COMPARATIVE_COLUMNS = {"older": "age", "younger": "age", "taller": "height", "shorter": "height",
                       "heavier": "weight", "lighter": "weight"}


def _compare(p: Parse, intent: Intent, cue: Cue, op: str, number: object,
             counted: idx.Match | None = None) -> None:
    word = p.text[cue.start:cue.end].split(" ")[0]
    if word in COMPARATIVE_COLUMNS or word in ("later", "earlier"):
        part = COMPARATIVE_COLUMNS.get(word)
        table = table_of(p, intent.base)
        found = [c for c in table.columns if part in name_parts(c.name) and measurable(c)] \
            if part else []
        if len(found) != 1:
            raise DrafterDeclined(f"I don't know which column “{word}” compares in {intent.base}")
        values = list(number) if isinstance(number, tuple) else [number]
        intent.filters.append(Filter(ColumnRef(intent.base, found[0].name), op, values))
        return
    column = nearest(p, cue, lambda m: any(measurable(column_of(p, ColumnRef(t.table, t.column)))
                                           for t in column_targets(m)), window=12)
    if column is not None and column.end > cue.start:
        column = None  # only a column named before the comparison is compared
    values = list(number) if isinstance(number, tuple) else [number]
    counted_after = nearest(p, cue, lambda m: m.kind == "table" and m is not counted
                            and not p.text[cue.end:m.start].strip(), window=1, after_only=True)
    if counted_after is not None and op != "between":
        column = None  # "grades with 4 or more high schoolers": the number counts the table
    if column is not None and not _is_measured(intent, column, p):
        p.use(column.start, column.end)
        ref = _compared_column(p, column, intent)
        values = _as_fraction(p, cue, ref, values)
        intent.filters.append(Filter(ref, op, values))
        return
    right_after = nearest(p, cue, lambda m: m.kind == "table" and m is not counted
                          and not p.text[cue.end:m.start].strip(), window=1, after_only=True)
    if right_after is not None and op != "between" and column is None:
        _related_count(p, intent, cue, right_after, op, float(values[0]))  # type: ignore[arg-type]
        return
    term = nearest(p, cue, lambda m: m.kind == "term", window=6)
    measured = column is not None or (term is not None and intent.measure is not None
                                      and intent.measure.func == "term")
    counted_here = counted is not None and 0 <= cue.start - counted.end <= 2
    if (measured or counted_here) and op != "between":
        _use_match(p, column or term)
        ensure_group(p, intent, cue, None)
        if intent.groups:
            intent.having.append((op, float(values[0])))  # type: ignore[arg-type]
            return
    related = _related_mention(p, cue, counted)
    if related is not None and op != "between":
        _related_count(p, intent, cue, related, op, float(values[0]))  # type: ignore[arg-type]
        return
    amount = amount_column(p, intent.base)
    if amount is None:
        phrase = p.text[cue.start:cue.end].strip()
        raise DrafterDeclined(f"I don't know which number “{phrase}” applies to")
    intent.filters.append(Filter(amount, op, values))


def _related_mention(p: Parse, cue: Cue, counted: idx.Match | None) -> idx.Match | None:
    """The table counted by a comparison: right before it ("下单超过50次"), else right after
    it ("more than 5 orders", "超过30个客户")."""
    before = nearest(p, cue, lambda m: m.kind == "table" and m.end <= cue.start
                     and m.start not in p.used and m is not counted, window=4)
    if before is not None:
        return before
    return nearest(p, cue, lambda m: m.kind == "table" and m is not counted, window=10,
                   after_only=True)


def _as_fraction(p: Parse, cue: Cue, ref: ColumnRef, values: list[object]) -> list[object]:
    """"a discount of 20% or more" against a column holding 0.2 means 0.2."""
    if "%" not in p.text[cue.start:cue.end] and "percent" not in p.text[cue.start:cue.end]:
        return values
    profile = column_of(p, ref).profile
    try:
        small = profile is not None and profile.max is not None and float(profile.max) <= 1
    except ValueError:
        small = False
    return [float(v) / 100 for v in values] if small else values  # type: ignore[arg-type]


def _use_match(p: Parse, m: idx.Match | None) -> None:
    if m is not None:
        p.use(m.start, m.end)


def _is_measured(intent: Intent, m: idx.Match, p: Parse) -> bool:
    """True when the compared column is the one being aggregated per group."""
    if intent.measure is None:
        return False
    refs = {ColumnRef(t.table, t.column) for t in column_targets(m)}
    if intent.measure.column in refs:
        return True  # "categories with an average price above 300"
    sql = (intent.measure.term_sql or "").lower()
    beside_term = any(t.kind == "term" and (0 <= m.start - t.end <= 1 or 0 <= t.start - m.end <= 1)
                      for t in p.matches)
    if beside_term and any(f"{r.table}.{r.column}".lower() in sql for r in refs):
        return True  # "消费总额超过45": the total of the spending term, per group
    if not (intent.groups or cues_of(p, "group")):
        return False
    return any(f"{r.table}.{r.column}".lower() in sql for r in refs)


def _compared_column(p: Parse, m: idx.Match, intent: Intent) -> ColumnRef:
    """"products that cost less than 30": the verb "cost" means the price."""
    if m.text in ("cost", "costs") and intent.base:
        for part in ("price", "amount", "total"):
            for column in table_of(p, intent.base).columns:
                if part in name_parts(column.name) and measurable(column):
                    return ColumnRef(intent.base, column.name)
    return pick_column(p, m, numeric=True, base=intent.base)


def _related_count(p: Parse, intent: Intent, cue: Cue, related: idx.Match, op: str,
                   number: float) -> None:
    table = related.targets[0].table
    p.use(related.start, related.end)
    counting_other = (intent.measure is not None and intent.measure.table != table and (
        intent.measure.func == "count"
        or (intent.measure.func == "term" and intent.measure.table == intent.base)))
    fk = only_key_to(p, table, intent.base)
    if counting_other and fk is not None and not intent.groups:
        intent.filters.append(Filter(ColumnRef(intent.base, table_of(p, intent.base).primary_key[0]),
                                     "related_count", [table, fk, op, number]))
        return
    ensure_group(p, intent, cue, related)
    if intent.measure is None or intent.measure.table != table or intent.measure.func != "count":
        if intent.measure is None:
            intent.measure = Measure("count", table, label="count")
            intent.base = table
        else:
            intent.extra_having.append(("count", table, op, number))
            return
    intent.having.append((op, number))
