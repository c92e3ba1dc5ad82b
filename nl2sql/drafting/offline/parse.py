"""Read a question into an :class:`Intent`, or decline with what was not understood.

The question is covered by catalog matches (tables, columns, values, terms),
cues (aggregates, grouping, comparisons, dates, ordering) and stop words. Any
word left over is a word the drafter does not understand, and it declines
rather than guess: a wrong answer is worse than no answer.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nl2sql.catalog import Catalog, Column, Table
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.compose import fans_out
from nl2sql.drafting.offline.glossary import (
    ANTONYMS,
    CN_STOP,
    CN_STOP_WORDS,
    CUE_WORDS,
    EN_STOP,
    STATE_SYNONYMS,
)
from nl2sql.drafting.offline.intent import ColumnRef, Filter, Group, Intent, Measure
from nl2sql.drafting.offline.words import Cue, find_cues, find_dates
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts, normalize, singular
from nl2sql.schema import graph

NUMERIC = ("INT", "DECIMAL", "NUMERIC", "DOUBLE", "FLOAT", "REAL", "HUGEINT")
TEMPORAL = ("DATE", "TIME")
IMPLIED_SUM = {"总额", "总金额", "总价", "合计金额", "总收入", "总销售额", "total", "sum"}
AMOUNT_PARTS = ("total", "amount", "price", "cost", "value", "revenue", "salary", "fee", "spend")

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

    def use(self, start: int, end: int) -> None:
        self.used.update(range(start, end))


def understand(question: str, catalog: Catalog, index: idx.Index) -> Intent:
    """The :class:`Intent` of ``question`` over ``catalog``, or :class:`DrafterDeclined`."""
    question = prepare(question, index)
    text = normalize(question)
    matches = idx.find(question, index)
    dates = find_dates(text)
    matches = [m for m in matches if not _overlaps(m.start, m.end, dates)]
    matches = [m for m in matches if not _count_word_after_table(m, matches)]
    cues = _pick_cues(find_cues(text), matches, dates)
    p = Parse(catalog, index, text, matches, cues, dates)
    for cue in _cues(p, "light"):
        p.use(cue.start, cue.end)
    try:
        intent = _read(p)
    except DrafterDeclined as exc:
        if exc.details:
            raise
        unknown = _unknown_words(p)
        if not unknown:
            raise
        raise DrafterDeclined(f"{exc.message}; I don't know what {', '.join(f'“{w}”' for w in unknown)} "
                              "means here", understood="", unknown=unknown) from None
    _dates_to_related(intent, p)
    _repeated_mentions(p, intent)
    _translations(p)
    _check_coverage(p, intent)
    return intent


_CONTRACTIONS = [(re.compile(r"\b(what|that|it|there|who|where|how)['’]s\b"), r"\1 is"),
                 (re.compile(r"n['’]t\b"), " not"), (re.compile(r"['’](re|ve|ll|d)\b"), ""),
                 (re.compile(r"(\w)['’]s\b"), r"\1"), (re.compile(r"(\w)s['’](?=\s|$)"), r"\1s")]


def prepare(question: str, index: idx.Index) -> str:
    """Expand contractions and correct likely typos of known words ("custmers", "avarage")."""
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


def _overlaps(start: int, end: int, spans: list[Cue] | list[idx.Match]) -> bool:
    return any(s.start < end and start < s.end for s in spans)


def _pick_cues(cues: list[Cue], matches: list[idx.Match], dates: list[Cue]) -> list[Cue]:
    """Cues that do not overlap catalog matches or dates; longest first among themselves."""
    free = [c for c in cues if not _overlaps(c.start, c.end, matches)
            and not _overlaps(c.start, c.end, dates)]
    priority = {"group": 0, "series_month": 0, "series_year": 0, "top": 0}
    free.sort(key=lambda c: (-(c.end - c.start), priority.get(c.kind, 1)))
    chosen: list[Cue] = []
    for cue in free:
        if not _overlaps(cue.start, cue.end, chosen):
            chosen.append(cue)
    return sorted(chosen, key=lambda c: c.start)


def _cues(p: Parse, *kinds: str) -> list[Cue]:
    return [c for c in p.cues if c.kind in kinds]


# --- reading -------------------------------------------------------------------------------


def _read(p: Parse) -> Intent:
    adjective = _superlative_adjective(p)
    measure, counted = _measure(p)
    base = _base_table(p, measure)
    _rank_values_by_table(p)
    intent = Intent(base=base, measure=measure)
    _plural_events(p, intent)
    _groups(p, intent, counted)
    if intent.measure is None and intent.groups and adjective is None:
        intent.measure = Measure("count", base, label="count")  # "customers per country"
    _superlative_rows(p, intent, adjective)
    _filters(p, intent)
    _comparisons(p, intent, counted)
    _order_and_limit(p, intent)
    _percent(p, intent)
    _listing_columns(p, intent)
    if intent.measure and intent.measure.func == "term":
        _choose_term_grain(p, intent)
    return intent


def _table(p: Parse, name: str) -> Table:
    return p.catalog.tables[name]


def _column(p: Parse, ref: ColumnRef) -> Column:
    column = _table(p, ref.table).column(ref.column)
    assert column is not None
    return column


def _is_numeric(column: Column) -> bool:
    """A measurable number: numeric type, and not a key (ids are labels, not amounts)."""
    parts = name_parts(column.name)
    is_key = column.primary_key or (parts and parts[-1] in ("id", "key", "no")) or column.tags.get("key")
    return any(t in column.type.upper() for t in NUMERIC) and not is_key


def _is_temporal(column: Column) -> bool:
    return any(t in column.type.upper() for t in TEMPORAL)


def _column_targets(match: idx.Match) -> list[idx.Target]:
    return [t for t in match.targets if t.kind == "column"]


def _nearest(p: Parse, cue: Cue, pred: Callable[[idx.Match], bool], window: int = 30,
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


ADVERBIAL_SUM = {"一共", "总共", "共", "总计", "合计", "total", "overall", "altogether", "in total"}


def _measure(p: Parse) -> tuple[Measure | None, idx.Match | None]:
    """The aggregate asked for, and the match that names what is counted (if any)."""
    _drop_adverbial_sums(p)
    terms = [m for m in p.matches if m.kind == "term" and not _compared_next(p, m)]
    if terms:
        return _term_measure(p, terms[0]), None
    for cue in _cues(p, "avg", "sum", "max", "min"):
        found = _nearest(p, cue, _aggregable(p, dates_ok=cue.kind in ("max", "min")))
        if found is None and cue.kind in ("sum", "avg"):
            amount = _table_amount(p, cue)
            if amount is not None:
                return amount, None
        if found is None or (cue.kind in ("max", "min") and _cues(p, "list") and not _cues(p, "group")):
            continue
        ref = _pick_column(p, found, numeric=True)
        p.use(cue.start, cue.end)
        p.use(found.start, found.end)
        label = f"{cue.kind}_{ref.column}".lower()
        return Measure(cue.kind, ref.table, column=ref, label=label), None
    implied = _implied_sum(p)
    if implied is not None:
        return implied, None
    if not _cues(p, "count"):
        for m in p.matches:  # "quarterly sales" on a table named sale: the measure, not rows
            second = [t for t in m.targets if t.kind == "term"]
            if second and m.kind == "table":
                m.targets = second + [t for t in m.targets if t.kind != "term"]
                return _term_measure(p, m), None
    for cue in _cues(p, "count", "most", "fewest", "distinct"):
        valued = _value_table_after(p, cue) if cue.kind in ("most", "fewest") else None
        if valued is not None:  # "the most cancelled orders": rows of that value's table
            p.use(cue.start, cue.end)
            return Measure("count", valued, label="count"), None
        counted = _counted(p, cue)
        if counted is None and cue.kind == "count":
            table = _table_of_values(p)
            if table is not None:  # "how many platinum members": rows of the values' table
                p.use(cue.start, cue.end)
                return Measure("count", table, label="count"), None
        if counted is None:
            continue
        p.use(cue.start, cue.end)
        _use_distinct_next_to(p, counted)
        return _count_measure(p, counted), counted
    return None, None


def _value_table_after(p: Parse, cue: Cue) -> str | None:
    """The table of a value named next to "most" ("the most delivery complaints", "物流投诉
    最多"), whose rows are then what is counted; None when a table is named there ("most
    orders", "订单最多")."""
    if _is_han(p.text[cue.start]):  # Chinese puts 最多 after what is counted
        def beside(m: idx.Match) -> bool:
            return 0 <= cue.start - m.end <= 2
    else:
        def beside(m: idx.Match) -> bool:
            return 0 <= m.start - cue.end <= 3
    if any(m.kind == "table" and beside(m) for m in p.matches):
        return None
    values = [m for m in p.matches if m.kind == "value" and beside(m)]
    tables = sorted({t.table for m in values[-1:] for t in m.targets if t.kind == "value"})
    return tables[0] if len(tables) == 1 else None


def _table_of_values(p: Parse) -> str | None:
    """The table most of the question's values belong to ("门店 ... 退款" -> orders)."""
    votes: dict[str, int] = {}
    for m in p.matches:
        if m.kind == "value":
            for table in {t.table for t in m.targets if t.kind == "value"}:
                votes[table] = votes.get(table, 0) + 1
    return max(votes, key=lambda t: votes[t]) if votes else None


def _drop_adverbial_sums(p: Parse) -> None:
    """"一共有多少订单" / "total number of orders": with a count, "total" is an adverb."""
    if not _cues(p, "count"):
        return
    for cue in _cues(p, "sum"):
        if p.text[cue.start:cue.end].strip() in ADVERBIAL_SUM:
            nxt = _nearest(p, cue, _aggregable(p, dates_ok=False), window=3, after_only=True)
            if nxt is None:
                p.use(cue.start, cue.end)
                p.cues.remove(cue)


def _compared_next(p: Parse, m: idx.Match) -> bool:
    """A term followed by a comparison ("满意度低于3分") names a column, not a measure."""
    return any(c.kind in ("gt", "ge", "lt", "le", "between") and 0 <= c.start - m.end <= 2
               for c in p.cues) and any(t.kind == "column" for t in m.targets)


def _counted(p: Parse, cue: Cue) -> idx.Match | None:
    """What "how many" counts: a category named right beside it ("how many brands",
    "几个品类"), else the nearest table ("多少注册用户" counts users, not dates)."""
    def categorical(m: idx.Match) -> bool:
        columns = [_column(p, ColumnRef(t.table, t.column)) for t in _column_targets(m)]
        return m.kind == "column" and any(not _is_temporal(c) and not _is_numeric(c) for c in columns)
    beside = _nearest(p, cue, categorical, window=3, after_only=True)
    if beside is None:
        distinct = [c for c in _cues(p, "distinct") if 0 <= c.start - cue.end <= 2]
        if distinct:  # "how many different cities"
            beside = _nearest(p, distinct[0], categorical, window=3, after_only=True)
    if beside is None and p.text[cue.start:cue.end] in ("数", "数量", "个数"):
        beside = _nearest(p, cue, categorical, window=1)  # "品类数"
    table = _nearest(p, cue, lambda m: m.kind == "table", window=40)
    if beside is not None and (table is None or beside.start < table.start or
                               _is_han(p.text[cue.start])):
        return beside
    return table or _nearest(p, cue, categorical, window=40)


def _use_distinct_next_to(p: Parse, counted: idx.Match) -> None:
    """"unique customers", "不同的客户": counting rows of a table is already distinct."""
    for cue in _cues(p, "distinct"):
        if 0 <= counted.start - cue.end <= 2 or 0 <= cue.start - counted.end <= 2:
            p.use(cue.start, cue.end)


def _aggregable(p: Parse, dates_ok: bool) -> Callable[[idx.Match], bool]:
    """Matches naming a column that can be summed or averaged (or, for max/min, a date)."""
    def check(m: idx.Match) -> bool:
        columns = [_column(p, ColumnRef(t.table, t.column)) for t in _column_targets(m)]
        return any(_is_numeric(c) or (dates_ok and _is_temporal(c)) for c in columns)
    return check


def _table_amount(p: Parse, cue: Cue) -> Measure | None:
    """"total sales" with no column named: the amount column of the table named next to it."""
    table = _nearest(p, cue, lambda m: m.kind == "table", window=12)
    if table is None:
        return None
    ref = _amount_column(p, table.targets[0].table)
    if ref is None:
        return None
    p.use(cue.start, cue.end)
    p.use(table.start, table.end)
    return Measure(cue.kind, ref.table, column=ref, label=f"{cue.kind}_{ref.column}".lower())


def _implied_sum(p: Parse) -> Measure | None:
    """"发票总额" names a total column and means its sum."""
    for m in p.matches:
        implied = m.text in IMPLIED_SUM or m.text.split(" ")[0] in ("total", "sum")
        suffix = re.match(r"(总额|总数|总和|合计|之和|加起来)", p.text[m.end:])
        if suffix and _column_targets(m) and not implied:  # "工资总额": the sum of wages
            ref = _pick_column(p, m, numeric=True)
            if _is_numeric(_column(p, ref)):
                p.use(m.start, m.end + suffix.end())
                return Measure("sum", ref.table, column=ref, label=f"sum_{ref.column}".lower())
        adverb = p.text[max(0, m.start - 3):m.start] == "in " and _cues(p, "count")
        if adverb:
            p.use(m.start - 3, m.end)  # "how many invoices in total"
            continue
        if implied and _column_targets(m) and not _cues(p, "list"):
            ref = _pick_column(p, m, numeric=True)
            if _is_numeric(_column(p, ref)):
                p.use(m.start, m.end)
                return Measure("sum", ref.table, column=ref, label=f"sum_{ref.column}".lower())
    return None


def _term_measure(p: Parse, match: idx.Match) -> Measure:
    p.use(match.start, match.end)
    for cue in _cues(p, "avg", "sum", "count"):  # "average CSAT" where CSAT is an average
        if 0 <= match.start - cue.end <= 1 or 0 <= cue.start - match.end <= 1:
            p.use(cue.start, cue.end)
    for m in p.matches:  # "total sales", "total spending": "total" repeats the term
        if m.text in ("total", "overall") and 0 <= match.start - m.end <= 1:
            p.use(m.start, m.end)
    names = [t.term for t in match.targets if t.kind == "term"]
    term = idx.term_by_name(p.index, names[0])
    assert term is not None
    tables = _term_tables(term.sql)
    base = _fact_table(p, tables) if tables else next(iter(p.catalog.tables))
    return Measure("term", base, term_sql=term.sql, label=_label(term.name))


def _label(name: str) -> str:
    cleaned = re.sub(r"\W+", "_", name.strip().lower()).strip("_")
    return cleaned or "value"


def _term_tables(sql: str) -> list[str]:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    return list(dict.fromkeys(c.table for c in tree.find_all(exp.Column) if c.table))


def _fact_table(p: Parse, tables: list[str]) -> str:
    """The table from which every other one is reached without fan-out."""
    for table in tables:
        if all(t == table or not fans_out(p.catalog, _path(p, table, t)) for t in tables):
            return table
    return tables[0]


def _path(p: Parse, a: str, b: str) -> list[str]:
    return graph.shortest_path(graph.neighbours(p.catalog), a, b) or [a, b]


def _count_measure(p: Parse, counted: idx.Match) -> Measure:
    p.use(counted.start, counted.end)
    tables = [t for t in counted.targets if t.kind == "table"]
    if tables:
        name = tables[0].table
        return Measure("count", name, label="count")
    ref = _pick_column(p, counted)
    column = _column(p, ref)
    if column.primary_key:
        return Measure("count", ref.table, label="count")
    return Measure("count_distinct", ref.table, column=ref, label=f"distinct_{_label(ref.column)}")


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
    if tables and _is_han(p.text[tables[0].start]) and heads:
        return heads[0].targets[0].table  # "没有关联订单的工单": 订单 modifies 工单
    for m in tables:
        return m.targets[0].table
    for m in p.matches:
        if m.kind in ("column", "value"):
            return m.targets[0].table
    raise DrafterDeclined("I could not tell which table the question is about")


def _distance(p: Parse, base: str, table: str) -> tuple[int, int]:
    """(fans out?, hops) from base to table: a cheap ranking of candidate columns."""
    if table == base:
        return (0, 0)
    path = graph.shortest_path(graph.neighbours(p.catalog), base, table)
    if path is None:
        return (2, 99)
    return (1 if fans_out(p.catalog, path) else 0, len(path) - 1)


def _pick_column(p: Parse, match: idx.Match, numeric: bool = False, temporal: bool = False,
                 base: str | None = None) -> ColumnRef:
    targets = _column_targets(match)
    if numeric:
        targets = [t for t in targets if _is_numeric(_column(p, ColumnRef(t.table, t.column)))
                   or _is_temporal(_column(p, ColumnRef(t.table, t.column)))] or targets
    if temporal:
        targets = [t for t in targets if _is_temporal(_column(p, ColumnRef(t.table, t.column)))] or targets
    anchor = _anchor_table(p, match) or base
    named = _named_tables(p)
    best = min(targets, key=lambda t: (
        -t.strength, t.table != anchor, t.table not in named,
        *(_distance(p, anchor, t.table) if anchor else (0, 0))))
    return ColumnRef(best.table, best.column)


def _named_tables(p: Parse) -> set[str]:
    return {t.table for m in p.matches for t in m.targets if t.kind == "table"}


def _anchor_table(p: Parse, match: idx.Match) -> str | None:
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


# --- grouping ------------------------------------------------------------------------------


def _entity_group(p: Parse, table_name: str) -> Group:
    """A table as a grouping: its key plus every naming column (first and last names too)."""
    table = _table(p, table_name)
    label = idx.label_column(table)
    keys = [ColumnRef(table.name, k) for k in table.primary_key]
    names = [ColumnRef(table.name, c.name) for c in table.columns if not c.primary_key
             and set(name_parts(c.name)) & {"name", "title"} and "CHAR" in c.type.upper()
             and not set(name_parts(c.name)) & {"user", "file", "company"}]
    if len(names) > 1 and label is not None:
        others = [n for n in names if n.column != label.name]
        return Group(ColumnRef(table.name, label.name), extra=keys[:1] + others)
    if label is not None and (not keys or label.name not in table.primary_key):
        return Group(ColumnRef(table.name, label.name), extra=keys[:1])
    if keys:
        return Group(keys[0])
    raise DrafterDeclined(f"I cannot group by {table.name}: it has no key or name column")


def _groups(p: Parse, intent: Intent, counted: idx.Match | None) -> None:
    for kind, bucket in (("series_year", "year"), ("series_month", "month"),
                         ("series_quarter", "quarter")):
        for cue in _cues(p, kind):
            p.use(cue.start, cue.end)
            ref = _date_column(p, intent.base)
            intent.groups.append(Group(ref, bucket=bucket))
    for cue in _cues(p, "group", "list", "top", "bottom"):
        target = _nearest(p, cue, _group_candidate(p, counted), window=14, after_only=True)
        if target is None and cue.kind == "list" and _is_han(p.text[cue.start]):
            target = _nearest(p, cue, _group_candidate(p, counted), window=3)  # "流派是哪个"
        if target is None:
            continue
        if cue.kind in ("list", "top", "bottom") and not (intent.measure or _cues(p, "most", "fewest")):
            continue
        if cue.kind == "list" and not _cues(p, "most", "fewest", "max", "min", "top", "bottom"):
            continue  # "what are our total sales": a question word, not "which X has the most"
        group = _group_for(p, target, intent)
        if group is None:
            continue
        if cue.kind == "group":
            p.use(cue.start, cue.end)
        p.use(target.start, target.end)
        if all(g.column != group.column for g in intent.groups):
            intent.groups.append(group)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _own_column_after(p: Parse, table: idx.Match, name: str) -> idx.Match | None:
    for m in p.matches:
        gap = p.text[table.end:m.start]
        if m.start >= table.end and len(gap) <= 2 and gap.strip() in ("", "的", "'s") and any(
                t.table == name for t in _column_targets(m)) and m.start not in p.used:
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
            return Group(_pick_column(p, own, base=name))
        if intent.measure and name == intent.measure.table and intent.measure.func == "count":
            return None
        return _entity_group(p, name)
    ref = _pick_column(p, target, base=intent.base)
    if intent.measure and intent.measure.column == ref:
        return None
    column = _column(p, ref)
    if _is_numeric(column) and intent.measure is None and _cues(p, "top", "bottom"):
        intent.order_column = ref  # "top 3 staff by salary": rank rows, don't group amounts
        intent.show.append(ref)
        p.use(target.start, target.end)
        return None
    if _is_temporal(column):
        return Group(ref, bucket="month")
    referenced = _referenced_table(p, ref)
    if referenced is not None:  # "per support rep" (SupportRepId): the employee it points to
        return _entity_group(p, referenced)
    return Group(ref)


def _referenced_table(p: Parse, ref: ColumnRef) -> str | None:
    return graph.referenced_table(p.catalog, ref.table, ref.column)



ADJECTIVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "expensive": ("desc", AMOUNT_PARTS), "priciest": ("desc", AMOUNT_PARTS),
    "costliest": ("desc", AMOUNT_PARTS), "贵": ("desc", AMOUNT_PARTS),
    "cheapest": ("asc", AMOUNT_PARTS), "cheap": ("asc", AMOUNT_PARTS), "便宜": ("asc", AMOUNT_PARTS),
    "newest": ("desc", ("date", "time", "at")), "latest": ("desc", ("date", "time", "at")),
    "recent": ("desc", ("date", "time", "at")), "最新": ("desc", ("date", "time", "at")),
    "最近": ("desc", ("date", "time", "at")), "oldest": ("asc", ("date", "time", "at")),
    "earliest": ("asc", ("date", "time", "at")), "最早": ("asc", ("date", "time", "at")),
    "longest": ("desc", ("millisecond", "duration", "length")),
    "最长": ("desc", ("millisecond", "duration", "length")),
    "shortest": ("asc", ("millisecond", "duration", "length")),
    "最短": ("asc", ("millisecond", "duration", "length")),
}


@dataclass
class Adjective:
    start: int
    end: int
    direction: str
    parts: tuple[str, ...]


def _superlative_adjective(p: Parse) -> Adjective | None:
    """"most expensive" / "最贵" / "cheapest": found first so "most" is not read as a count."""
    for word, (direction, parts) in ADJECTIVES.items():
        pattern = re.escape(word) if not word.isascii() else rf"\b{word}\b"
        for m in re.finditer(pattern, p.text):
            if _overlaps(m.start(), m.end(), p.matches):
                continue
            start = m.start()
            for cue in _cues(p, "most", "max", "min", "fewest"):
                if 0 <= start - cue.end <= 2:
                    start = cue.start
            p.cues = [c for c in p.cues if not (start <= c.start < m.end())]
            return Adjective(start, m.end(), direction, parts)
    return None


def _superlative_rows(p: Parse, intent: Intent, adjective: Adjective | None) -> None:
    """"the most expensive product" -> rows ordered by a column, not an aggregate."""
    if adjective is not None:
        ref = _column_with_parts(p, intent.base, adjective.parts)
        if ref is None:
            raise DrafterDeclined(f"I don't know which column “{p.text[adjective.start:adjective.end]}” "
                                  f"refers to in {intent.base}")
        p.use(adjective.start, adjective.end)
        if intent.measure is None:
            intent.order, intent.order_column = adjective.direction, ref
            intent.limit = intent.limit or 1
            intent.show.append(ref)
        else:
            intent.order = adjective.direction
        return
    for cue in _cues(p, "max", "min"):
        if intent.measure is not None or intent.order_column is not None:
            continue
        found = _nearest(p, cue, lambda m: bool(_column_targets(m)))
        if found is None:
            continue
        ref = _pick_column(p, found, numeric=True, base=intent.base)
        p.use(cue.start, cue.end)
        p.use(found.start, found.end)
        intent.order = "desc" if cue.kind == "max" else "asc"
        intent.order_column = ref
        intent.limit = intent.limit or 1
        intent.show.append(ref)


def _column_with_parts(p: Parse, table_name: str, parts: tuple[str, ...]) -> ColumnRef | None:
    table = _table(p, table_name)
    for column in table.columns:
        names = name_parts(column.name)
        if any(part in n for n in names for part in parts) and not column.primary_key \
                and "birth" not in names:
            return ColumnRef(table.name, column.name)
    return None


def _date_column(p: Parse, base: str) -> ColumnRef:
    """The column a date in the question refers to: one named in it, else the base table's
    event date, else the nearest table's (without fan-out)."""
    for m in p.matches:
        for t in _column_targets(m):
            column = _column(p, ColumnRef(t.table, t.column))
            if _is_temporal(column) and m.start not in p.used:
                p.use(m.start, m.end)
                return ColumnRef(t.table, t.column)
    ranked = sorted(p.catalog.tables, key=lambda n: _distance(p, base, n))
    for name in ranked:
        if _distance(p, base, name)[0]:
            continue
        ref = _event_date(_table(p, name))
        if ref is not None:
            return ref
    raise DrafterDeclined(f"I could not find a date column for {base}")


def _event_date(table: Table) -> ColumnRef | None:
    dates = [c for c in table.columns if _is_temporal(c)
             and not {"birth", "birthday", "dob"} & set(name_parts(c.name))]
    if not dates:
        return None
    own = set(name_parts(table.name)) | {n.rstrip("s") for n in name_parts(table.name)}
    best = sorted(dates, key=lambda c: (
        not (own & set(name_parts(c.name))),
        not ({"created", "opened", "date", "time", "at"} & set(name_parts(c.name))),
        c.nullable is not False))
    return ColumnRef(table.name, best[0].name)


# --- filters -------------------------------------------------------------------------------


def _filters(p: Parse, intent: Intent) -> None:
    for m in p.matches:
        if m.kind == "value":
            _value_filter(p, intent, m)
    _numeric_equalities(p, intent)
    _qualifiers(p, intent)
    _negated_tables(p, intent)
    _negated_states(p, intent)
    _negated_columns(p, intent)
    for cue in p.dates:
        p.use(cue.start, cue.end)
        named = len(p.used)
        ref = _date_column(p, intent.base)
        implicit = len(p.used) == named  # no date column was named: the base's event date
        intent.filters.append(Filter(ref, cue.kind, list(cue.value),  # type: ignore[call-overload]
                                     implicit=implicit))
    _state_filters(p, intent)


def _value_filter(p: Parse, intent: Intent, m: idx.Match) -> None:
    p.use(m.start, m.end)
    values = [t for t in m.targets if t.kind == "value"]
    anchor = _anchor_table(p, m)
    counted = intent.measure.table if intent.measure and intent.measure.func == "count" else None
    pick = min(values, key=lambda t: (
        _own_label(p, t, counted), 0 if anchor and t.table == anchor else 1,
        *_distance(p, intent.base, t.table)))
    ref = ColumnRef(pick.table, pick.column)
    negation = _negation_before(p, m.start)
    negated = negation is not None
    if negation is not None:
        p.use(negation.start, negation.end)
    op = "!=" if negated else "="
    _use_class_suffix(p, m.end)
    bound = re.match(r"\s*(及以上|以上|or more|or above|and above|or higher|plus|及以下|以下|or less|"
                     r"or below|or fewer|or lower|and below)", p.text[m.end:])
    value: object = pick.value
    column = _column(p, ref)
    if any(t in column.type.upper() for t in NUMERIC):
        try:
            value = float(pick.value) if "." in pick.value else int(pick.value)
        except ValueError:
            pass
    if bound and isinstance(value, (int, float)) and not negated:
        p.use(m.end, m.end + bound.end())
        op = ">=" if bound.group(1) in ("及以上", "以上", "or more", "or above", "and above",
                                        "or higher", "plus") else "<="
        intent.filters.append(Filter(ref, op, [value]))
        return
    for f in intent.filters:
        if f.column == ref and f.op in ("=", "in") and not negated:
            f.op = "in"
            if value not in f.values:
                f.values.append(value)
            return
    intent.filters.append(Filter(ref, op, [value]))


def _negated_tables(p: Parse, intent: Intent) -> None:
    """"tickets without an order", "customers who never placed an order"."""
    for cue in _cues(p, "not"):
        target = _nearest(p, cue, lambda m: m.kind == "table" and m.start not in p.used,
                          window=20, after_only=True)
        if target is not None and not all(w in EN_STOP or w in CN_STOP or _is_han(w[0])
                                          for w in p.text[cue.end:target.start].split()):
            continue
        if target is None or target.targets[0].table == intent.base:
            continue
        table = target.targets[0].table
        own_fk = _foreign_key_to(p, intent.base, table)
        their_fk = _foreign_key_to(p, table, intent.base)
        base = _table(p, intent.base)
        if own_fk is not None and (base.column(own_fk) or Column("", "")).nullable:
            intent.filters.append(Filter(ColumnRef(intent.base, own_fk), "is_null"))
        elif their_fk is not None and base.primary_key:
            intent.filters.append(Filter(ColumnRef(intent.base, base.primary_key[0]), "no_related",
                                         [table, their_fk]))
        else:
            continue
        p.use(cue.start, cue.end)
        p.use(target.start, target.end)


def _own_label(p: Parse, target: idx.Target, counted: str | None) -> int:
    """Counting albums *named* "Iron Maiden" is unlikely; the artist of that name is meant."""
    if counted is None or target.table != counted:
        return 0
    label = idx.label_column(_table(p, counted))
    naming = label is not None and set(name_parts(label.name)) & {"name", "title"}
    return 1 if naming and label is not None and label.name == target.column else 0


def _qualifiers(p: Parse, intent: Intent) -> None:
    """"the electronics category", "门店渠道", "Acme品牌": a column named right next to one of
    its values only qualifies the value."""
    for m in p.matches:  # "公司名称", "州信息": the name/information of a column is the column
        suffix = re.match(r"(名称|名字|信息|字段|的信息)", p.text[m.end:])
        if suffix and _column_targets(m):
            p.use(m.end, m.end + suffix.end())
    filtered = {f.column for f in intent.filters}
    for m in p.matches:
        if m.start in p.used or not _column_targets(m):
            continue
        for value in (v for v in p.matches if v.kind == "value" and v.start in p.used):
            near = 0 <= m.start - value.end <= 3 or 0 <= value.start - m.end <= 3
            same = {ColumnRef(t.table, t.column) for t in _column_targets(m)} & filtered
            if near and same:
                p.use(m.start, m.end)
                _use_class_suffix(p, m.end)
                break


def _use_class_suffix(p: Parse, end: int) -> None:
    """"图书类", "摇滚(Rock)类": the 类 after a category name is part of it."""
    while p.text[end:end + 1] in (")", "）"):
        end += 1
    if p.text[end:end + 1] in ("类", "系"):
        p.use(end, end + 1)


def _state_filters(p: Parse, intent: Intent) -> None:
    """"still open" / "未关闭" -> closed_at IS NULL; "closed tickets" -> IS NOT NULL."""
    tokens = idx.tokens(p.text)
    for word, start, end in tokens:
        opposite = ANTONYMS.get(word)
        if opposite is None or start in p.used:
            continue
        ref = _state_column(p, intent.base, opposite)
        if ref is not None and not _negation_before(p, start):
            p.use(start, end)
            _use_nearby_not(p, start)
            intent.filters.append(Filter(ref, "is_null"))
    for m in p.matches:
        if m.start in p.used or not _column_targets(m):
            continue
        t = _column_targets(m)[0]
        column = _column(p, ColumnRef(t.table, t.column))
        if _is_temporal(column) and m.text != t.column:
            negated = _use_nearby_not(p, m.start)
            p.use(m.start, m.end)
            if column.nullable or negated:  # "registered customers": always set, no filter
                intent.filters.append(Filter(ColumnRef(t.table, t.column),
                                             "is_null" if negated else "not_null"))


def _negation_before(p: Parse, start: int) -> Cue | None:
    """A "not"/"未"/"never" right before ``start`` (nothing but a space or 的 between)."""
    for cue in p.cues:
        gap = p.text[cue.end:start]
        if cue.kind == "not" and cue.end <= start and len(gap) <= 2 and gap.strip() in (
                "", "的", "被") and p.text[cue.start:cue.end] not in CONTINUING:
            return cue
    return None


CONTINUING = {"still", "仍", "还"}  # "still open": not a negation


def _use_nearby_not(p: Parse, start: int) -> bool:
    for cue in p.cues:
        if cue.kind == "not" and 0 <= start - cue.end <= 3:
            p.use(cue.start, cue.end)
            return True
    return False


def _state_column(p: Parse, base: str, words: tuple[str, ...]) -> ColumnRef | None:
    for word in words:
        for name in sorted(p.catalog.tables, key=lambda n: _distance(p, base, n)):
            if _distance(p, base, name)[0]:
                continue
            for column in _table(p, name).columns:
                parts = name_parts(column.name)
                if parts and parts[0] == word and _is_temporal(column) and column.nullable:
                    return ColumnRef(name, column.name)
    return None


def _negated_states(p: Parse, intent: Intent) -> None:
    """"not resolved" / "还没解决" / "not closed": the state column is still empty."""
    for m in list(p.matches) + _state_words(p):
        if m.start in p.used:
            continue
        state = m.text if m.text in STATE_SYNONYMS else None
        words = STATE_SYNONYMS.get(state or "", ())
        if not words and _column_targets(m):
            continue
        negation = _negation_before(p, m.start)
        if negation is None or not words:
            continue
        ref = _state_column(p, intent.base, words)
        if ref is not None:
            p.use(negation.start, negation.end)
            p.use(m.start, m.end)
            intent.filters.append(Filter(ref, "is_null"))


def _state_words(p: Parse) -> list[idx.Match]:
    """Finished-state words in the question that no catalog name claimed."""
    found = []
    for word in [*STATE_SYNONYMS, *STATE_CHINESE]:
        for hit in re.finditer(re.escape(word), p.text):
            english = STATE_CHINESE.get(word, word)
            found.append(idx.Match(hit.start(), hit.end(), english))
    return found


STATE_CHINESE = {"解决": "resolved", "关闭": "closed", "完成": "completed", "结束": "finished",
                 "处理完": "completed"}


def _negated_columns(p: Parse, intent: Intent) -> None:
    """"tickets with no satisfaction rating", "还没打分的工单": an empty nullable column."""
    for m in p.matches:
        if m.start in p.used or not _column_targets(m):
            continue
        negation = _negation_before(p, m.start) or _negation_word_before(p, m.start)
        if negation is None:
            continue
        ref = _pick_column(p, m, base=intent.base)
        column = _column(p, ref)
        if column.nullable and not column.primary_key:
            p.use(negation.start, negation.end)
            p.use(m.start, m.end)
            intent.filters.append(Filter(ref, "is_null"))


def _negation_word_before(p: Parse, start: int) -> Cue | None:
    """"no satisfaction score", "never got a score": a negation a few words back."""
    for cue in p.cues:
        gap = p.text[cue.end:start].split()
        if cue.kind != "not" or p.text[cue.start:cue.end] in CONTINUING:
            continue
        if 0 < start - cue.end <= 12 and all(w in EN_STOP or w in CN_STOP for w in gap):
            return cue
    return None


def _comparisons(p: Parse, intent: Intent, counted: idx.Match | None) -> None:
    """Attach each "more than N" to what it compares: a column (WHERE), the measure or a count
    per group (HAVING), or a count of related rows ("customers with more than 50 orders")."""
    ops = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    ops["between"] = "between"
    for cue in _cues(p, "gt", "ge", "lt", "le", "between"):
        if cue.value is None:
            continue
        p.use(cue.start, cue.end)
        value = cue.value if isinstance(cue.value, tuple) else float(cue.value)  # type: ignore[arg-type]
        _compare(p, intent, cue, ops[cue.kind], value, counted)


def _compare(p: Parse, intent: Intent, cue: Cue, op: str, number: object,
             counted: idx.Match | None = None) -> None:
    column = _nearest(p, cue, lambda m: any(_is_numeric(_column(p, ColumnRef(t.table, t.column)))
                                            for t in _column_targets(m)), window=12)
    if column is not None and column.end > cue.start:
        column = None  # only a column named before the comparison is compared
    values = list(number) if isinstance(number, tuple) else [number]
    if column is not None and not _is_measured(intent, column, p):
        p.use(column.start, column.end)
        ref = _compared_column(p, column, intent)
        values = _as_fraction(p, cue, ref, values)
        intent.filters.append(Filter(ref, op, values))
        return
    right_after = _nearest(p, cue, lambda m: m.kind == "table" and m is not counted
                           and not p.text[cue.end:m.start].strip(), window=1, after_only=True)
    if right_after is not None and op != "between" and column is None:
        _related_count(p, intent, cue, right_after, op, float(values[0]))  # type: ignore[arg-type]
        return
    term = _nearest(p, cue, lambda m: m.kind == "term", window=6)
    measured = column is not None or (term is not None and intent.measure is not None
                                      and intent.measure.func == "term")
    counted_here = counted is not None and 0 <= cue.start - counted.end <= 2
    if (measured or counted_here) and op != "between":
        _use_match(p, column or term)
        _ensure_group(p, intent, cue, None)
        if intent.groups:
            intent.having.append((op, float(values[0])))  # type: ignore[arg-type]
            return
    related = _related_mention(p, cue, counted)
    if related is not None and op != "between":
        _related_count(p, intent, cue, related, op, float(values[0]))  # type: ignore[arg-type]
        return
    amount = _amount_column(p, intent.base)
    if amount is None:
        phrase = p.text[cue.start:cue.end].strip()
        raise DrafterDeclined(f"I don't know which number “{phrase}” applies to")
    intent.filters.append(Filter(amount, op, values))


def _related_mention(p: Parse, cue: Cue, counted: idx.Match | None) -> idx.Match | None:
    """The table counted by a comparison: right before it ("下单超过50次"), else right after
    it ("more than 5 orders", "超过30个客户")."""
    before = _nearest(p, cue, lambda m: m.kind == "table" and m.end <= cue.start
                      and m.start not in p.used and m is not counted, window=4)
    if before is not None:
        return before
    return _nearest(p, cue, lambda m: m.kind == "table" and m is not counted, window=10,
                    after_only=True)


def _as_fraction(p: Parse, cue: Cue, ref: ColumnRef, values: list[object]) -> list[object]:
    """"a discount of 20% or more" against a column holding 0.2 means 0.2."""
    if "%" not in p.text[cue.start:cue.end] and "percent" not in p.text[cue.start:cue.end]:
        return values
    profile = _column(p, ref).profile
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
    refs = {ColumnRef(t.table, t.column) for t in _column_targets(m)}
    if intent.measure.column in refs:
        return True  # "categories with an average price above 300"
    if not (intent.groups or _cues(p, "group")):
        return False
    sql = (intent.measure.term_sql or "").lower()
    return any(f"{r.table}.{r.column}".lower() in sql for r in refs)


def _compared_column(p: Parse, m: idx.Match, intent: Intent) -> ColumnRef:
    """"products that cost less than 30": the verb "cost" means the price."""
    if m.text in ("cost", "costs") and intent.base:
        for part in ("price", "amount", "total"):
            for column in _table(p, intent.base).columns:
                if part in name_parts(column.name) and _is_numeric(column):
                    return ColumnRef(intent.base, column.name)
    return _pick_column(p, m, numeric=True, base=intent.base)


def _ensure_group(p: Parse, intent: Intent, cue: Cue, exclude: idx.Match | None) -> None:
    if intent.groups:
        return
    head = _group_head(p, cue, exclude)
    if head is not None:
        group = _group_for(p, head, intent)
        if group is not None:
            p.use(head.start, head.end)
            _use_class_suffix(p, head.end)
            intent.groups.append(group)


def _related_count(p: Parse, intent: Intent, cue: Cue, related: idx.Match, op: str,
                   number: float) -> None:
    table = related.targets[0].table
    p.use(related.start, related.end)
    counting_other = (intent.measure is not None and intent.measure.func == "count"
                      and intent.measure.table != table)
    fk = _foreign_key_to(p, table, intent.base)
    if counting_other and fk is not None and not intent.groups:
        intent.filters.append(Filter(ColumnRef(intent.base, _table(p, intent.base).primary_key[0]),
                                     "related_count", [table, fk, op, number]))
        return
    _ensure_group(p, intent, cue, related)
    if intent.measure is None or intent.measure.table != table or intent.measure.func != "count":
        if intent.measure is None:
            intent.measure = Measure("count", table, label="count")
            intent.base = table
        else:
            intent.extra_having.append(("count", table, op, number))
            return
    intent.having.append((op, number))


def _foreign_key_to(p: Parse, table: str, target: str) -> str | None:
    return graph.foreign_key_to(p.catalog, table, target)


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


def _amount_column(p: Parse, table_name: str) -> ColumnRef | None:
    table = _table(p, table_name)
    for part in AMOUNT_PARTS:
        for column in table.columns:
            if part in name_parts(column.name) and _is_numeric(column):
                return ColumnRef(table.name, column.name)
    return None


# --- ordering, shares, listings --------------------------------------------------------------


def _order_and_limit(p: Parse, intent: Intent) -> None:
    for cue in _cues(p, "top", "bottom"):
        p.use(cue.start, cue.end)
        intent.limit = int(cue.value) if cue.value else intent.limit  # type: ignore[call-overload]
        intent.order = "asc" if cue.kind == "bottom" else (intent.order or "desc")
    for cue in _cues(p, "most", "max"):
        if intent.groups and intent.measure:
            p.use(cue.start, cue.end)
            intent.order = intent.order or "desc"
            intent.limit = intent.limit or (1 if _asks_which(p) else None)
    for cue in _cues(p, "fewest", "min"):
        if intent.groups and intent.measure:
            p.use(cue.start, cue.end)
            intent.order = "asc"
            intent.limit = intent.limit or (1 if _asks_which(p) else None)
    if intent.groups and intent.measure and intent.order is None and not any(
            g.bucket for g in intent.groups):
        intent.order = "desc"
    if intent.limit and not intent.order and intent.measure is None and intent.order_column is None:
        raise DrafterDeclined("I don't know what to rank by for the top rows")


def _asks_which(p: Parse) -> bool:
    for cue in _cues(p, "series_month", "series_year", "series_quarter"):
        if "哪" in p.text[cue.start:cue.end] or "which" in p.text[cue.start:cue.end]:
            return True
    for cue in _cues(p, "list"):
        word = p.text[cue.start:cue.end]
        if word in ("which", "哪个", "哪", "who", "谁", "what"):
            p.use(cue.start, cue.end)
            return True
    return False


def _percent(p: Parse, intent: Intent) -> None:
    cues = _cues(p, "percent")
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


def _plural_events(p: Parse, intent: Intent) -> None:
    """"customer signups in 2024", "hires per year": a plural event noun counts its rows."""
    if intent.measure is not None or _cues(p, "list"):
        return
    for m in p.matches:
        targets = [t for t in _column_targets(m) if t.strength == 1]
        if not targets or not p.text[m.start:m.end].endswith("s"):
            continue
        column = _column(p, ColumnRef(targets[0].table, targets[0].column))
        if _is_temporal(column):
            p.use(m.start, m.end)
            intent.measure = Measure("count", targets[0].table, label="count")
            intent.base = targets[0].table
            return


def _dates_to_related(intent: Intent, p: Parse) -> None:
    """"customers who ordered in 2024": a date given without a column belongs to the related
    rows being counted, not to the customers."""
    related = [f for f in intent.filters if f.op == "related_count" and len(f.values) == 4]
    moved = [f for f in intent.filters if f.implicit and f.column.table == intent.base]
    if len(related) != 1 or not moved:
        return
    table = str(related[0].values[0])
    event = _event_date(_table(p, table))
    if event is None:
        return
    related[0].values = [*related[0].values, [Filter(event, f.op, f.values) for f in moved]]
    intent.filters = [f for f in intent.filters if f not in moved]


def _existence(p: Parse, intent: Intent) -> None:
    """"customers who have written reviews", "2024年下过单的客户": base rows with related rows;
    a date the question gave without naming a column then belongs to the related rows."""
    counting_base = intent.measure is None or (intent.measure.func == "count"
                                               and intent.measure.table == intent.base)
    base = _table(p, intent.base)
    if not counting_base or intent.groups or not base.primary_key:
        return
    used_tables = {f.column.table for f in intent.filters}
    for m in p.matches:
        table = m.targets[0].table if m.kind == "table" else ""
        if m.start in p.used or not table or table == intent.base or table in used_tables:
            continue
        fk = _foreign_key_to(p, table, intent.base)
        if fk is None:
            continue
        moved = [f for f in intent.filters if f.implicit and f.column.table == intent.base]
        event = _event_date(_table(p, table))
        conditions = [Filter(event, f.op, f.values) for f in moved] if event else []
        if event:
            intent.filters = [f for f in intent.filters if f not in moved]
        p.use(m.start, m.end)
        intent.filters.append(Filter(ColumnRef(intent.base, base.primary_key[0]), "related_count",
                                     [table, fk, ">=", 1, conditions]))


def _listing_columns(p: Parse, intent: Intent) -> None:
    _existence(p, intent)
    _term_columns(p, intent)
    for m in p.matches:
        if m.start in p.used:
            continue
        if m.kind == "table" and (m.targets[0].table == intent.base or _related(p, intent, m)):
            p.use(m.start, m.end)
        elif m.kind == "column" and intent.measure is None and not intent.groups:
            ref = _pick_column(p, m, base=intent.base)
            if ref not in intent.show:
                intent.show.append(ref)
            p.use(m.start, m.end)
    for cue in _cues(p, "list"):
        p.use(cue.start, cue.end)
    _distinct_values(p, intent)


def _first_catalog_match(p: Parse) -> idx.Match | None:
    return next((m for m in p.matches if m.kind in ("table", "column")), None)


def _term_columns(p: Parse, intent: Intent) -> None:
    """"average star rating": the column a term aggregates may be named beside it."""
    if intent.measure is None or not intent.measure.term_sql:
        return
    sql = intent.measure.term_sql.lower()
    for m in p.matches:
        if m.start in p.used:
            continue
        if any(f"{t.table}.{t.column}".lower() in sql for t in _column_targets(m)):
            p.use(m.start, m.end)


def _distinct_values(p: Parse, intent: Intent) -> None:
    """"list all the product categories" -> the distinct values of one categorical column."""
    if intent.measure or intent.groups or intent.order_column or len(intent.show) != 1:
        return
    column = _column(p, intent.show[0])
    profile = column.profile
    categorical = bool(profile and profile.top_values) and not column.primary_key
    shown = next((m for m in p.matches if any(ColumnRef(t.table, t.column) == intent.show[0]
                                              for t in _column_targets(m))), None)
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
    if table in tables or _distance(p, intent.base, table)[1] <= 1:
        return True
    on_path = {n for t in tables for n in _path(p, intent.base, t)}
    return table in on_path  # "revenue of Rock tracks": tracks lie between lines and genres


def _choose_term_grain(p: Parse, intent: Intent) -> None:
    """Use the first definition of the term whose table reaches every grouping without
    fan-out; if none does, decline rather than count rows twice."""
    measure = intent.measure
    assert measure is not None and measure.term_sql is not None
    term = next(t for t in p.index.terms if measure.term_sql in (t.sql, *t.alternatives))
    definitions = [term.sql, *term.alternatives]
    filtered = {f.column.table for f in intent.filters}
    # Prefer a grain that reaches the filters without fan-out too (line-level revenue of Rock
    # tracks), else any grain that is right for the groupings (filters then use EXISTS).
    for strict in (True, False):
        for sql in definitions:
            tables = _term_tables(sql)
            base = _fact_table(p, tables) if tables else intent.base
            reach = [g.column.table for g in intent.groups] + [r.table for r in _row_columns(intent)]
            reach += list(filtered) if strict else []
            if all(not _fans(p, base, t) for t in reach):
                measure.term_sql, measure.table = sql, base
                if intent.base != base:
                    _rebase(intent, base)
                return
    split = next(g.column for g in intent.groups if _fans(p, intent.base, g.column.table))
    raise DrafterDeclined(f"{measure.label} is defined on {intent.base}; splitting it by {split} "
                          f"would count {intent.base} rows more than once")


def _fans(p: Parse, base: str, table: str) -> bool:
    return table != base and fans_out(p.catalog, _path(p, base, table))


def _row_columns(intent: Intent) -> list[ColumnRef]:
    return [e for g in intent.groups for e in g.extra]


def _rebase(intent: Intent, base: str) -> None:
    intent.base = base


# --- honesty ---------------------------------------------------------------------------------


def _repeated_mentions(p: Parse, intent: Intent) -> None:
    """"average track length in milliseconds": a second name for a column already used."""
    used = {f.column for f in intent.filters} | {g.column for g in intent.groups} | set(intent.show)
    if intent.measure and intent.measure.column:
        used.add(intent.measure.column)
    if intent.order_column:
        used.add(intent.order_column)
    for m in p.matches:
        if m.start not in p.used and {ColumnRef(t.table, t.column) for t in _column_targets(m)} & used:
            p.use(m.start, m.end)


def _numeric_equalities(p: Parse, intent: Intent) -> None:
    """"售价1.99的曲目", "rating of 5": a number right after a numeric column."""
    for m in p.matches:
        if m.start in p.used or not _column_targets(m):
            continue
        ref = _pick_column(p, m, numeric=True, base=intent.base)
        if not _is_numeric(_column(p, ref)):
            continue
        hit = re.match(r"\s*(?:of|=|is|为|是|等于)?\s*(\d+(?:\.\d+)?)(?![\d.])", p.text[m.end:])
        if hit is None or any(pos in p.used for pos in range(m.end, m.end + hit.end())):
            continue
        if _overlaps(m.end + hit.start(1), m.end + hit.end(1), [
                c for c in p.cues if c.kind in ("gt", "ge", "lt", "le", "between", "top")]):
            continue
        number = float(hit.group(1))
        p.use(m.start, m.end + hit.end())
        intent.filters.append(Filter(ref, "=", [int(number) if number.is_integer() else number]))


def _translations(p: Parse) -> None:
    """"摇滚(Rock)": Chinese words glossing a matched value in parentheses."""
    for hit in re.finditer(r"([\u4e00-\u9fff]{1,6})\s*[(（]([^()（）]{1,40})[)）]", p.text):
        inner = range(hit.start(2), hit.end(2))
        if all(pos in p.used for pos in inner if not p.text[pos].isspace()):
            p.use(hit.start(), hit.end())


def _check_coverage(p: Parse, intent: Intent) -> None:
    unknown = _unknown_words(p)
    unmatched = [m for m in p.matches if m.start not in p.used and m.text not in EN_STOP]
    unknown += [m.text for m in unmatched if m.kind in ("column", "term", "value")]
    if unknown:
        words = list(dict.fromkeys(unknown))
        raise DrafterDeclined(
            f"I understood “{intent.explain()}” but not {', '.join(f'“{w}”' for w in words)}",
            understood=intent.explain(), unknown=words)


def _unknown_words(p: Parse) -> list[str]:
    """Words no match, cue or stop word accounts for; Chinese as runs of adjacent characters
    with stop words taken out ("明年的销售额会是多少" -> 明年, 会)."""
    unknown: list[str] = []
    run: list[tuple[str, int]] = []
    for word, start, end in idx.tokens(p.text) + [("", len(p.text) + 1, len(p.text) + 1)]:
        covered = any(pos in p.used for pos in range(start, end)) or _in_used_match(p, start)
        if _is_han(word[:1] or "a") and not covered:
            if run and run[-1][1] != start - 1:
                unknown += _han_leftovers("".join(w for w, _ in run))
                run = []
            run.append((word, start))
            continue
        if run:
            unknown += _han_leftovers("".join(w for w, _ in run))
            run = []
        if not word or covered or word in EN_STOP or word.replace(".", "").isdigit():
            continue
        unknown.append(word)
    return list(dict.fromkeys(unknown))


def _han_leftovers(run: str) -> list[str]:
    """Split a run of uncovered Chinese at stop words; what is left is not understood."""
    left: list[str] = []
    current = ""
    i = 0
    while i < len(run):
        word = next((run[i:i + n] for n in (4, 3, 2) if run[i:i + n] in CN_STOP_WORDS), None)
        if word is None and run[i] in CN_STOP:
            word = run[i]
        if word is not None:
            if current:
                left.append(current)
                current = ""
            i += len(word)
        else:
            current += run[i]
            i += 1
    return left + ([current] if current else [])


def _in_used_match(p: Parse, pos: int) -> bool:
    return any(m.start <= pos < m.end and m.start in p.used for m in p.matches)

