"""Every reading of a question, with what each assumed.

A question is read once; where a parser step meets a word with two readings and nothing
to choose between them (:class:`~.intent.Ambiguous`), it is read again once per reading,
that choice settled. Readings that fail on their own (a reading the rest of the question
does not fit) drop out; when one survives it is the answer, when two or more do the
drafter declines and offers them (:func:`declined`), and a person picks one.

What a reading assumed where the question did not say is listed with it: defaults the
parser steps recorded (a column among same-named ones, a time column) and the join paths
the composer walks through tables the question never named.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nl2sql.catalog import Catalog
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.compose import compose, path_to
from nl2sql.drafting.offline.intent import Ambiguous, Choice, Choices, ColumnRef, Intent
from nl2sql.drafting.offline.parse import understand
from nl2sql.errors import DrafterDeclined
from nl2sql.values import Reading

MAX_READINGS = 4  # more than this is not a choice a person can make at a glance


@dataclass
class Understood:
    """One complete reading: the intent, its SQL, what it settled and what it assumed."""

    intent: Intent
    sql: str
    settled: list[Choice] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def reading(self) -> Reading:
        return Reading(understood=self.intent.explain(), sql=self.sql,
                       choice="; ".join(c.describe for c in self.settled),
                       assumptions=tuple(self.assumptions))


def read(question: str, catalog: Catalog, index: idx.Index) -> list[Understood]:
    """The readings of ``question`` that survive (one, unless it is ambiguous), or
    :class:`DrafterDeclined` when none does."""
    return _read(question, catalog, index, {})


def _read(question: str, catalog: Catalog, index: idx.Index,
          settled: dict[str, Choice]) -> list[Understood]:
    choices = Choices(settled=dict(settled))
    try:
        intent = understand(question, catalog, index, choices)
        sql = compose(intent, catalog)
    except Ambiguous as amb:
        found: list[Understood] = []
        declined: DrafterDeclined | None = None
        for choice in amb.choices:
            try:
                found += _read(question, catalog, index, {**settled, amb.point: choice})
            except DrafterDeclined as exc:
                declined = declined or exc
            if len(found) >= MAX_READINGS:
                break
        if not found:
            assert declined is not None
            raise declined from None
        return found[:MAX_READINGS]
    taken = list(settled.values())
    intent.assumptions = _unique(choices.assumed + intent.assumptions
                                 + _dates_assumed(intent) + _joins_assumed(intent, catalog))
    return [Understood(intent, sql, taken, intent.assumptions)]


def declined(found: list[Understood]) -> DrafterDeclined:
    """The decline that offers two or more readings (``readings`` in its JSON)."""
    words = "; ".join(u.reading().choice for u in found)
    return DrafterDeclined(
        f"I can read this question {len(found)} ways ({words}) and will not guess which: "
        "name the table to say which",
        readings=[u.reading() for u in found], understood="", unknown=[], unknown_words=[])


def _dates_assumed(intent: Intent) -> list[str]:
    """Dates given without a date column: read on the event date of the table."""
    columns: list[ColumnRef] = [f.column for f in intent.filters if f.implicit]
    for f in intent.filters:  # "customers who ordered in 2024": moved to the related rows
        if f.op == "related_count" and len(f.values) > 4:
            columns += [inner.column for inner in f.values[4]]  # type: ignore[attr-defined]
    return [f"time column {c} (no date named)" for c in dict.fromkeys(columns)]


def _joins_assumed(intent: Intent, catalog: Catalog) -> list[str]:
    """Join paths through tables the question did not name ("customers → orders →
    order_items"): another path could join the same tables."""
    refs = [g.column for g in intent.groups] + [e for g in intent.groups for e in g.extra]
    refs += intent.show + [f.column for f in intent.filters + intent.percent_of]
    refs += [intent.order_column] if intent.order_column else []
    if intent.measure is not None and intent.measure.column is not None:
        refs.append(intent.measure.column)
    paths = [path_to(catalog, intent.base, t)
             for t in dict.fromkeys(r.table for r in refs) if t != intent.base]
    long = [p for p in paths if len(p) > 2]
    kept = [p for p in long if not any(q != p and q[:len(p)] == p for q in long)]
    return ["join path " + " → ".join(p) for p in kept]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
