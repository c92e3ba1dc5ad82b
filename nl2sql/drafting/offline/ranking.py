"""Ranking: superlative adjectives ("the most expensive", "最新"), highest/lowest values,
"top 5" and "which ... the most": the order and the limit of the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nl2sql.column_types import is_temporal
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.dates import event_date
from nl2sql.drafting.offline.grouping import ensure_group, group_on
from nl2sql.drafting.offline.intent import ColumnRef, Intent
from nl2sql.drafting.offline.reading import (
    AMOUNT_PARTS,
    Parse,
    amount_column,
    column_of,
    column_targets,
    cues_of,
    measurable,
    nearest,
    overlaps,
    pick_column,
    table_of,
)
from nl2sql.drafting.offline.words import Cue
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts

TIME_PARTS = ("date", "time", "at")
ADJECTIVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "expensive": ("desc", AMOUNT_PARTS), "priciest": ("desc", AMOUNT_PARTS),
    "costliest": ("desc", AMOUNT_PARTS), "贵": ("desc", AMOUNT_PARTS),
    "cheapest": ("asc", AMOUNT_PARTS), "cheap": ("asc", AMOUNT_PARTS), "便宜": ("asc", AMOUNT_PARTS),
    "newest": ("desc", TIME_PARTS), "latest": ("desc", TIME_PARTS),
    "recent": ("desc", TIME_PARTS), "最新": ("desc", TIME_PARTS),
    "最近": ("desc", TIME_PARTS), "oldest": ("asc", TIME_PARTS),
    "earliest": ("asc", TIME_PARTS), "最早": ("asc", TIME_PARTS),
    "longest": ("desc", ("millisecond", "duration", "length")),
    "最长": ("desc", ("millisecond", "duration", "length")),
    "shortest": ("asc", ("millisecond", "duration", "length")),
    "最短": ("asc", ("millisecond", "duration", "length")),
    "tallest": ("desc", ("height",)), "heaviest": ("desc", ("weight",)),
    "lightest": ("asc", ("weight",)),
    "youngest": ("asc", ("age",)), "最年轻": ("asc", ("age",)),
    "eldest": ("desc", ("age",)), "最年长": ("desc", ("age",)),
}
# Words about people's age: with an age column, "oldest" is the highest age, not the
# earliest date (a birth date orders the other way round, and is never an event date).
AGE_WORDS = {"oldest": "desc", "eldest": "desc", "最年长": "desc", "youngest": "asc",
             "最年轻": "asc"}


@dataclass
class Adjective:
    start: int
    end: int
    direction: str
    parts: tuple[str, ...]
    word: str = ""


def superlative_adjective(p: Parse) -> Adjective | None:
    """"most expensive" / "最贵" / "cheapest": found first so "most" is not read as a count."""
    for word, (direction, parts) in ADJECTIVES.items():
        pattern = re.escape(word) if not word.isascii() else rf"\b{word}\b"
        for m in re.finditer(pattern, p.text):
            if overlaps(m.start(), m.end(), p.matches) or overlaps(
                    m.start(), m.end(), cues_of(p, "sort_range")):
                continue  # "from the oldest to the youngest" orders; it picks no one
            start = m.start()
            for cue in cues_of(p, "most", "max", "min", "fewest"):
                if 0 <= start - cue.end <= 2:
                    start = cue.start
            p.cues = [c for c in p.cues if not (start <= c.start < m.end())]
            return Adjective(start, m.end(), direction, parts, word)
    return None


def superlative_rows(p: Parse, intent: Intent, adjective: Adjective | None) -> None:
    """"the most expensive product" -> rows ordered by a column, not an aggregate."""
    if adjective is not None:
        ref, direction = _ranked_column(p, intent.base, adjective)
        if ref is None:
            raise DrafterDeclined(f"I don't know which column “{p.text[adjective.start:adjective.end]}” "
                                  f"refers to in {intent.base}")
        p.use(adjective.start, adjective.end)
        if adjective.parts == TIME_PARTS or adjective.word in AGE_WORDS:
            p.choices.assume(f"“{adjective.word}” ranks by {ref}")  # the question named no column
        if intent.measure is None:
            intent.order, intent.order_column = direction, ref
            intent.limit = intent.limit or 1
            intent.show.append(ref)
        else:
            intent.order = direction
        return
    for cue in cues_of(p, "max", "min"):
        if intent.measure is not None or intent.order_column is not None:
            continue
        word = p.text[cue.start:cue.end]

        def rankable(m: idx.Match, word: str = word) -> bool:
            return any(_rankable(p, t, word) for t in column_targets(m))
        found = nearest(p, cue, rankable)
        amount = amount_column(p, intent.base) if cue.kind == "max" else None
        if amount is not None and _next_to_base(p, cue, intent.base):
            found = None  # "the 5 biggest orders": the orders' amount, not a column nearby
        if found is None:
            if amount is None or not _next_to_base(p, cue, intent.base):
                continue
            p.use(cue.start, cue.end)
            intent.order, intent.order_column = "desc", amount
            intent.limit = intent.limit or 1
            intent.show.append(amount)
            continue
        ref = pick_column(p, found, numeric=True, base=intent.base)
        p.use(cue.start, cue.end)
        p.use(found.start, found.end)
        intent.order = "desc" if cue.kind == "max" else "asc"
        intent.order_column = ref
        intent.limit = intent.limit or 1
        intent.show.append(ref)


def _rankable(p: Parse, target: idx.Target, word: str) -> bool:
    """Rows rank by an amount; by a date only for "max"/"min" ("the biggest" is never a date)."""
    column = column_of(p, ColumnRef(target.table, target.column))
    dated = word in ("max", "maximum", "min", "minimum") and is_temporal(column.type)
    return measurable(column) or dated


def _next_to_base(p: Parse, cue: Cue, base: str) -> bool:
    return any(m.kind == "table" and m.targets[0].table == base and 0 <= m.start - cue.end <= 2
               for m in p.matches)


def _ranked_column(p: Parse, table_name: str,
                   adjective: Adjective) -> tuple[ColumnRef | None, str]:
    """The column a superlative adjective ranks by, and the direction. Recency binds to a
    time column (the table's event date), never to a column whose name merely contains
    "at" (category, rating); price words bind to a measurable amount column."""
    table = table_of(p, table_name)
    if adjective.word in AGE_WORDS:
        age = next((c for c in table.columns if "age" in name_parts(c.name)
                    and measurable(c)), None)
        if age is not None:
            return ColumnRef(table.name, age.name), AGE_WORDS[adjective.word]
    birth = next((c for c in table.columns if is_temporal(c.type)
                  and {"birth", "birthday", "dob"} & set(name_parts(c.name))), None)
    if adjective.word in AGE_WORDS and birth is not None:
        # The youngest has the latest birth date. "oldest" could also mean the earliest
        # event (hire date, order date): with both at hand that is two readings.
        if adjective.word == "oldest" and event_date(table) is not None:
            return None, adjective.direction
        direction = "desc" if AGE_WORDS[adjective.word] == "asc" else "asc"
        return ColumnRef(table.name, birth.name), direction
    if adjective.parts == TIME_PARTS:
        return event_date(table), adjective.direction
    for column in table.columns:
        names = name_parts(column.name)
        if any(n.startswith(part) for n in names for part in adjective.parts) \
                and measurable(column):  # whole name parts: "Milliseconds", never "c-at-egory"
            return ColumnRef(table.name, column.name), adjective.direction
    return None, adjective.direction


def order_and_limit(p: Parse, intent: Intent) -> None:
    if intent.groups and cues_of(p, "most", "fewest", "max", "min") and re.search(
            r"\bthe one (?:with|that|who|which)\b", p.text):
        # "for each semester, the one with the most students": the top row within each
        # group, a nested ranking the drafter does not write
        raise DrafterDeclined("I cannot rank within each group (the one with the most per "
                              "group)")
    for cue in cues_of(p, "top", "bottom"):
        p.use(cue.start, cue.end)
        intent.limit = int(cue.value) if cue.value else intent.limit  # type: ignore[call-overload]
        intent.order = "asc" if cue.kind == "bottom" else (intent.order or "desc")
    for cue in cues_of(p, "most", "fewest", "min"):
        if intent.measure is not None and intent.measure.func == "count" and not intent.groups:
            if p.ranked is not None:  # "the most common citizenship"
                group_on(p, intent, p.ranked)
            # "the document id with the least number of paragraphs": rank what is named before
            if cue.kind != "min":
                ensure_group(p, intent, cue, _counted_match(p, intent))
            if not intent.groups:
                raise DrafterDeclined(f"I don't know what “{p.text[cue.start:cue.end]}” ranks")
    for cue in cues_of(p, "most", "max"):
        if intent.groups and intent.measure:
            p.use(cue.start, cue.end)
            intent.order = intent.order or "desc"
            intent.limit = intent.limit or (1 if _asks_which(p) else None)
    for cue in cues_of(p, "fewest", "min"):
        if intent.groups and intent.measure:
            p.use(cue.start, cue.end)
            intent.order = "asc"
            intent.limit = intent.limit or (1 if _asks_which(p) else None)
    if intent.groups and intent.measure and intent.order is None and not any(
            g.bucket for g in intent.groups):
        intent.order = "desc"
    if intent.limit and not intent.order and intent.measure is None and intent.order_column is None:
        raise DrafterDeclined("I don't know what to rank by for the top rows")


def _counted_match(p: Parse, intent: Intent) -> idx.Match | None:
    assert intent.measure is not None
    return next((m for m in p.matches if m.kind == "table"
                 and m.targets[0].table == intent.measure.table), None)


def _asks_which(p: Parse) -> bool:
    """True when one group is asked for: "which grade has the most", "the id of the document
    with the fewest paragraphs" (no "per/each/by" ranks all groups)."""
    if not any(c.kind in ("group", "top", "bottom") for c in p.cues):
        return True
    return _which_word(p)


def _which_word(p: Parse) -> bool:
    for cue in cues_of(p, "series_month", "series_year", "series_quarter"):
        if "哪" in p.text[cue.start:cue.end] or "which" in p.text[cue.start:cue.end]:
            return True
    for cue in cues_of(p, "list"):
        word = p.text[cue.start:cue.end]
        if word in ("which", "哪个", "哪", "who", "谁", "what"):
            p.use(cue.start, cue.end)
            return True
    return False


DESCENDING = {"descending", "desc", "decreasing", "reverse alphabetical", "highest", "largest",
              "most", "high", "big", "large", "latest", "newest", "best", "greatest", "biggest"}
ELDER = {"oldest", "old"}
YOUNGER = {"youngest", "young"}


def explicit_order(p: Parse, intent: Intent) -> None:
    """"in descending order of age", "sorted by name", "order the results by level from high
    to low": the rows' order, with no limit. Read before groupings, so the "by" of "ordered
    by" is never a grouping."""
    for cue in cues_of(p, "sort"):
        ref = _sort_column(p, cue, intent)
        word = str(cue.value or "")
        if ref is None and word.startswith(("alphabetic", "reverse alpha")):
            label = idx.label_column(table_of(p, intent.base))
            ref = ColumnRef(intent.base, label.name) if label is not None else None
        if ref is None:
            raise DrafterDeclined("I don't know which column to order the rows by")
        p.use(cue.start, cue.end)
        direction = _direction(p, word, ref)
        intent.order, intent.order_column = direction, ref
        return


def _sort_column(p: Parse, cue: Cue, intent: Intent) -> ColumnRef | None:
    after = [m for m in p.matches if m.start >= cue.end and m.start - cue.end <= 4
             and m.start not in p.used]
    if not after:
        return None
    first = after[0]
    if first.kind == "table":  # "by the teacher's name": the column of that table
        own = [m for m in p.matches if m.start >= first.end and m.start - first.end <= 4
               and any(t.table == first.targets[0].table for t in column_targets(m))]
        if not own:
            return None
        p.use(first.start, first.end)
        first = own[0]
        ref = pick_column(p, first, base=first.targets[0].table)
    elif column_targets(first):
        ref = pick_column(p, first, base=intent.base)
    else:
        return None
    p.use(first.start, first.end)
    return ref


def _direction(p: Parse, word: str, ref: ColumnRef) -> str:
    for cue in cues_of(p, "sort_dir", "sort_range"):
        p.use(cue.start, cue.end)
        word = str(cue.value or word)
    aged = "age" in name_parts(ref.column)
    if word in ELDER:
        return "desc" if aged else "asc"
    if word in YOUNGER:
        return "asc" if aged else "desc"
    return "desc" if word in DESCENDING else "asc"
