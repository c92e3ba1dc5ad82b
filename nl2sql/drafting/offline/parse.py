"""Read a question into an :class:`Intent`, or decline with what was not understood.

The question is covered by catalog matches (tables, columns, values, terms),
cues (aggregates, grouping, comparisons, dates, ordering) and stop words. Any
word left over is a word the drafter does not understand, and it declines
rather than guess: a wrong answer is worse than no answer.

This module stitches the reading together; each part of the question has its
own module: :mod:`.measures` (what is aggregated), :mod:`.grouping`,
:mod:`.dates`, :mod:`.filters`, :mod:`.comparisons` ("more than N"),
:mod:`.ranking` (superlatives, order and limit), :mod:`.listing` (shares and
the columns a listing shows) and :mod:`.coverage` (every word accounted for).
:mod:`.reading` holds the state they share.
"""

from __future__ import annotations

import difflib
import re

from nl2sql.catalog import Catalog
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.comparisons import add_comparisons
from nl2sql.drafting.offline.coverage import check_coverage, repeated_mentions, translations, unknown_words
from nl2sql.drafting.offline.dates import dates_to_related
from nl2sql.drafting.offline.filters import add_filters
from nl2sql.drafting.offline.glossary import CUE_WORDS, EN_STOP
from nl2sql.drafting.offline.grouping import add_groups
from nl2sql.drafting.offline.intent import Choices, Intent, Measure
from nl2sql.drafting.offline.listing import listing_columns, percent
from nl2sql.drafting.offline.measures import choose_term_grain, find_measure, plural_events
from nl2sql.drafting.offline.ranking import (
    explicit_order,
    order_and_limit,
    superlative_adjective,
    superlative_rows,
)
from nl2sql.drafting.offline.reading import Parse, cues_of, is_han, overlaps
from nl2sql.drafting.offline.words import Cue, find_cues, find_dates
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import normalize, singular


def understand(question: str, catalog: Catalog, index: idx.Index,
               choices: Choices | None = None) -> Intent:
    """The :class:`Intent` of ``question`` over ``catalog``, or :class:`DrafterDeclined`
    (:class:`Ambiguous` where two readings survive and ``choices`` settles neither)."""
    question = prepare(question, index)
    text = normalize(question)
    matches = idx.find(question, index)
    dates = find_dates(text)
    matches = [m for m in matches if not overlaps(m.start, m.end, dates)]
    matches = [m for m in matches if not _count_word_after_table(m, matches)]
    cues = _pick_cues(find_cues(text), matches, dates)
    p = Parse(catalog, index, text, matches, cues, dates, choices=choices or Choices())
    for cue in cues_of(p, "light"):
        p.use(cue.start, cue.end)
    try:
        intent = _read(p)
    except DrafterDeclined as exc:
        if exc.details:
            raise
        unknown = unknown_words(p)
        if not unknown:
            raise
        raise DrafterDeclined(f"{exc.message}; I don't know what {', '.join(f'“{w}”' for w in unknown)} "
                              "means here", understood="", unknown=unknown) from None
    dates_to_related(intent, p)
    repeated_mentions(p, intent)
    translations(p)
    check_coverage(p, intent)
    return intent


_CONTRACTIONS = [(re.compile(r"\b(what|that|it|there|who|where|how)['’]s\b"), r"\1 is"),
                 (re.compile(r"n['’]t\b"), " not"), (re.compile(r"['’](re|ve|ll|d)\b"), ""),
                 (re.compile(r"(\w)['’]s\b"), r"\1"), (re.compile(r"(\w)s['’](?=\s|$)"), r"\1s"),
                 (re.compile(r"\b(\d+)-([a-z])"), r"\1 \2")]  # "5-star reviews", "30-day"


def prepare(question: str, index: idx.Index) -> str:
    """Expand contractions and correct likely typos of known words ("custmers", "avarage").

    >>> from nl2sql.catalog import Catalog, Column, Table
    >>> customers = Table("customers", [Column("customer_id", "INTEGER"), Column("city", "VARCHAR")])
    >>> index = idx.build(Catalog(name="shop", tables={"customers": customers}))
    >>> prepare("What's the avarage spend of custmers who don't shop?", index)
    'what is the average spend of customer who do not shop?'
    """
    text = normalize(question)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    vocabulary = _vocabulary(index)
    out, last = [], 0
    for m in re.finditer(r"[a-z]{5,}", text):
        word = m.group(0)
        if word in vocabulary or singular(word) in vocabulary:
            continue
        close = difflib.get_close_matches(singular(word), vocabulary, n=1, cutoff=0.82)
        if close:
            out.append(text[last:m.start()] + close[0])
            last = m.end()
    return "".join(out) + text[last:]


_VOCAB_CACHE: dict[int, tuple[idx.Index, set[str]]] = {}


def _vocabulary(index: idx.Index) -> set[str]:
    cached = _VOCAB_CACHE.get(id(index))
    if cached is None or cached[0] is not index:
        words = {w for phrase in index.phrases for w in phrase.split(" ") if w.isascii()}
        months = {"january", "february", "march", "april", "june", "july", "august", "september",
                  "october", "november", "december"}
        cached = (index, words | CUE_WORDS | EN_STOP | months)
        _VOCAB_CACHE[id(index)] = cached
    return cached[1]


def _count_word_after_table(m: idx.Match, matches: list[idx.Match]) -> bool:
    """"工单数量" is the number of tickets, not a quantity column."""
    if m.text not in ("数量", "数目", "个数", "总数") or m.kind != "column":
        return False
    before = [t for t in matches if t.kind == "table" and 0 <= m.start - t.end <= 1]
    return bool(before) and not any(t.table == before[0].targets[0].table for t in m.targets)


def _pick_cues(cues: list[Cue], matches: list[idx.Match], dates: list[Cue]) -> list[Cue]:
    """Cues that do not overlap catalog matches or dates; longest first among themselves."""
    free = [c for c in cues if not overlaps(c.start, c.end, matches)
            and not overlaps(c.start, c.end, dates)]
    priority = {"group": 0, "series_month": 0, "series_year": 0, "top": 0}
    free.sort(key=lambda c: (-(c.end - c.start), priority.get(c.kind, 1)))
    chosen: list[Cue] = []
    for cue in free:
        if not overlaps(cue.start, cue.end, chosen):
            chosen.append(cue)
    return sorted(chosen, key=lambda c: c.start)


def _read(p: Parse) -> Intent:
    adjective = superlative_adjective(p)
    measure, counted = find_measure(p)
    base = _base_table(p, measure)
    _rank_values_by_table(p)
    intent = Intent(base=base, measure=measure)
    plural_events(p, intent)
    explicit_order(p, intent)
    add_groups(p, intent, counted)
    if intent.measure is None and intent.groups and adjective is None:
        intent.measure = Measure("count", base, label="count")  # "customers per country"
    superlative_rows(p, intent, adjective)
    add_filters(p, intent)
    add_comparisons(p, intent, counted)
    order_and_limit(p, intent)
    percent(p, intent)
    listing_columns(p, intent)
    if intent.measure and intent.measure.func == "term":
        choose_term_grain(p, intent)
    return intent


def _rank_values_by_table(p: Parse) -> None:
    """Values naming the same table as other values come first ("门店 退款的" -> orders)."""
    votes: dict[str, int] = {}
    for m in p.matches:
        for table in {t.table for t in m.targets if t.kind == "value"}:
            votes[table] = votes.get(table, 0) + 1
    for m in p.matches:
        if m.kind == "value":
            m.targets.sort(key=lambda t: -votes.get(t.table, 0))


def _base_table(p: Parse, measure: Measure | None) -> str:
    if measure is not None:
        return measure.table
    tables = [m for m in p.matches if m.kind == "table"]
    heads = [m for m in tables if not p.text[m.end:m.end + 1] == "的"]
    if tables and is_han(p.text[tables[0].start]) and heads:
        return heads[0].targets[0].table  # "没有关联订单的工单": 订单 modifies 工单
    for m in tables:
        return m.targets[0].table
    for m in p.matches:
        if m.kind in ("column", "value"):
            return m.targets[0].table
    raise DrafterDeclined("I could not tell which table the question is about")
