"""Dates in a question: which date column a date means, date-range filters and time series
("per month", "每季度"), and dates that belong to the related rows being counted.
"""

from __future__ import annotations

from nl2sql.catalog import Table
from nl2sql.column_types import is_temporal, is_text
from nl2sql.drafting.offline.intent import ColumnRef, Filter, Group, Intent
from nl2sql.drafting.offline.reading import (
    Parse,
    column_of,
    column_targets,
    cues_of,
    distance,
    table_of,
)
from nl2sql.drafting.offline.words import Cue
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts


def series_groups(p: Parse, intent: Intent) -> None:
    """"per year", "monthly", "每季度": a time bucket of the date the question is about."""
    for kind, bucket in (("series_year", "year"), ("series_month", "month"),
                         ("series_quarter", "quarter")):
        for cue in cues_of(p, kind):
            p.use(cue.start, cue.end)
            named = len(p.used)
            ref = date_column(p, intent.base)
            if len(p.used) == named:  # no date column was named: the base's event date
                intent.assumptions.append(f"time column {ref} (no date named)")
            intent.groups.append(Group(ref, bucket=bucket))


def date_filters(p: Parse, intent: Intent) -> None:
    """"in 2024", "2025年第二季度": a range on the date column named, else the event date."""
    added: list[tuple[Cue, Filter]] = []
    for cue in p.dates:
        p.use(cue.start, cue.end)
        named = len(p.used)
        try:
            ref = date_column(p, intent.base)
        except DrafterDeclined:
            year = year_column(p, intent.base)
            if year is None:
                raise
            added.append((cue, _year_number_filter(p, year, cue)))
            continue
        implicit = len(p.used) == named  # no date column was named: the base's event date
        added.append((cue, Filter(ref, cue.kind, list(cue.value),  # type: ignore[call-overload]
                                  implicit=implicit)))
    intent.filters += _alternatives(p, added)


def year_column(p: Parse, base: str) -> ColumnRef | None:
    """A year kept as a number or text ("Year", "Open_Year") when no date column exists: one
    named in the question, else the base table's."""
    for m in p.matches:
        for t in column_targets(m):
            if "year" in name_parts(t.column) and m.start not in p.used:
                p.use(m.start, m.end)
                return ColumnRef(t.table, t.column)
    table = table_of(p, base)
    years = [c for c in table.columns if "year" in name_parts(c.name)]
    return ColumnRef(base, years[0].name) if len(years) == 1 else None


def _year_number_filter(p: Parse, ref: ColumnRef, cue: Cue) -> Filter:
    values = [int(v) for v in cue.value]  # type: ignore[attr-defined]
    text = is_text(column_of(p, ref).type)
    def literal(year: int) -> object:
        return str(year) if text else year
    if cue.kind == "year":
        return Filter(ref, "=", [literal(values[0])])
    if cue.kind == "years":
        return Filter(ref, "between", [literal(min(values)), literal(max(values))])
    if cue.kind in ("after", "before"):
        return Filter(ref, ">" if cue.kind == "after" else "<", [literal(values[0])])
    raise DrafterDeclined(f"{ref} holds years, not dates: I cannot take a {cue.kind} from it")


def _alternatives(p: Parse, added: list[tuple[Cue, Filter]]) -> list[Filter]:
    """"in 2014 or 2015": one condition with both years; "in both 2014 and 2015" is a
    different question (rows related to each year), which the drafter declines."""
    out: list[Filter] = []
    for cue, f in added:
        prev = out[-1] if out else None
        if prev is not None and prev.column == f.column and f.op in ("=", "year") \
                and prev.op in ("=", "in", "year", "years"):
            gap = p.text[added[len(out) - 1][0].end:cue.start].strip(" ,")
            if gap not in ("or", "或", "或者", "和", "and"):
                out.append(f)
                continue
            if gap in ("and", "和") or "both" in p.text:
                raise DrafterDeclined("two years joined by “and” can mean either year or both: "
                                      "say “or” for either")
            p.use(cue.start - len(gap) - 1, cue.start)
            if f.op == "=":
                prev.op = "in"
                prev.values = [*prev.values, *f.values]
            else:  # dates: the two years must be a range
                years = sorted({int(v) for v in [*prev.values, *f.values]})  # type: ignore[call-overload]
                if years[-1] - years[0] != len(years) - 1:
                    raise DrafterDeclined("years that are not consecutive, joined by “or”")
                prev.op, prev.values = "years", [years[0], years[-1]]
            continue
        out.append(f)
    return out


def date_column(p: Parse, base: str) -> ColumnRef:
    """The column a date in the question refers to: one named in it, else the base table's
    event date, else the nearest table's (without fan-out)."""
    for m in p.matches:
        for t in column_targets(m):
            column = column_of(p, ColumnRef(t.table, t.column))
            if is_temporal(column.type) and m.start not in p.used:
                p.use(m.start, m.end)
                return ColumnRef(t.table, t.column)
    ranked = sorted(p.catalog.tables, key=lambda n: distance(p, base, n))
    for name in ranked:
        if distance(p, base, name)[0]:
            continue
        ref = event_date(table_of(p, name))
        if ref is not None:
            return ref
    raise DrafterDeclined(f"I could not find a date column for {base}")


def event_date(table: Table) -> ColumnRef | None:
    dates = [c for c in table.columns if is_temporal(c.type)
             and not {"birth", "birthday", "dob"} & set(name_parts(c.name))]
    if not dates:
        return None
    own = set(name_parts(table.name)) | {n.rstrip("s") for n in name_parts(table.name)}
    best = sorted(dates, key=lambda c: (
        not (own & set(name_parts(c.name))),
        not ({"created", "opened", "date", "time", "at"} & set(name_parts(c.name))),
        c.nullable is not False))
    return ColumnRef(table.name, best[0].name)


def dates_to_related(intent: Intent, p: Parse) -> None:
    """"customers who ordered in 2024": a date given without a column belongs to the related
    rows being counted, not to the customers."""
    related = [f for f in intent.filters if f.op == "related_count" and len(f.values) == 4]
    moved = [f for f in intent.filters if f.implicit and f.column.table == intent.base]
    if len(related) != 1 or not moved:
        return
    table = str(related[0].values[0])
    event = event_date(table_of(p, table))
    if event is None:
        return
    related[0].values = [*related[0].values, [Filter(event, f.op, f.values) for f in moved]]
    intent.filters = [f for f in intent.filters if f not in moved]
