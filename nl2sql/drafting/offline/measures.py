"""What a question aggregates: a count of rows, a sum/average/min/max of a column, a count of
distinct values, or a business term from the semantic layer, and the grain a term is
computed at so that no row is counted twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from nl2sql.column_types import is_temporal
from nl2sql.drafting.offline import index as idx
from nl2sql.drafting.offline.ambiguity import measure_column
from nl2sql.drafting.offline.compose import fans_out
from nl2sql.drafting.offline.intent import ColumnRef, Intent, Measure
from nl2sql.drafting.offline.reading import (
    Parse,
    amount_column,
    column_of,
    column_targets,
    cues_of,
    is_han,
    join_path,
    measurable,
    nearest,
    pick_column,
)
from nl2sql.drafting.offline.words import Cue
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts, singular

IMPLIED_SUM = {"总额", "总金额", "总价", "合计金额", "总收入", "总销售额", "total", "sum"}
COUNTING_DISTINCT = {"多少种", "几种"}  # "how many kinds": a count on its own
ADVERBIAL_SUM = {"一共", "总共", "共", "总计", "合计", "total", "overall", "altogether", "in total"}


def find_measure(p: Parse) -> tuple[Measure | None, idx.Match | None]:
    """The aggregate asked for, and the match that names what is counted (if any)."""
    _drop_adverbial_sums(p)
    terms = [m for m in p.matches if m.kind == "term" and not _compared_next(p, m)]
    if terms:
        return _term_measure(p, terms[0]), None
    for cue in cues_of(p, "avg", "sum", "max", "min"):
        found = nearest(p, cue, _aggregable(p, dates_ok=cue.kind in ("max", "min")))
        if found is None and cue.kind in ("sum", "avg"):
            amount = _table_amount(p, cue)
            if amount is not None:
                return amount, None
        if found is None or (cue.kind in ("max", "min") and cues_of(p, "list") and not cues_of(p, "group")):
            continue
        ref = measure_column(p, found)  # Ambiguous: two columns by that name, no way to choose
        p.use(cue.start, cue.end)
        p.use(found.start, found.end)
        func = cue.kind
        if func in ("max", "min") and _names_a_total(p, found) and cues_of(p, "top", "group"):
            func = "sum"  # "订单总金额最高的3个城市": groups ranked by their total, highest first
        label = f"{func}_{ref.column}".lower()
        return Measure(func, ref.table, column=ref, label=label), None
    implied = _implied_sum(p)
    if implied is not None:
        return implied, None
    if not cues_of(p, "count"):
        for m in p.matches:  # "quarterly sales" on a table named sale: the measure, not rows
            second = [t for t in m.targets if t.kind == "term"]
            if second and m.kind == "table":
                m.targets = second + [t for t in m.targets if t.kind != "term"]
                return _term_measure(p, m), None
    common = _most_common(p)
    if common is not None:
        return common, None
    for cue in cues_of(p, "count", "most", "fewest", "distinct"):
        if cue.kind == "distinct" and p.text[cue.start:cue.end] not in COUNTING_DISTINCT:
            continue  # "the different cities" lists them; "how many different" counts
        if cue.kind in ("most", "fewest") and any(
                c.kind == "count" and 0 <= c.start - cue.end <= 2 for c in p.cues):
            continue  # "the fewest number of flights": the count that follows says what
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
        if counted.kind == "column" and _counts_rows(p, cue, counted):
            # "每种订单状态各有多少笔": the classifier counts orders; the status is the grouping
            p.use(cue.start, cue.end)
            return Measure("count", pick_column(p, counted).table, label="count"), None
        p.use(cue.start, cue.end)
        _use_distinct_next_to(p, counted)
        return _count_measure(p, counted), counted
    return None, None


_COMMON = re.compile(r"\s+(?:common(?:ly)?|frequent(?:ly)?|popular)\b")


def _most_common(p: Parse) -> Measure | None:
    """"the most common citizenship of singers", "the least frequent type": rows counted per
    value of the column named after, the top one first."""
    for cue in cues_of(p, "most", "fewest", "min"):
        word = _COMMON.match(p.text[cue.end:])
        if word is None:
            continue
        after = cue.end + word.end()
        column = next((m for m in p.matches if m.start >= after and m.start - after <= 6
                       and column_targets(m)), None)
        if column is None:
            return None
        ref = pick_column(p, column)
        p.use(cue.start, after)
        p.ranked = column
        return Measure("count", ref.table, label="count")
    return None


def _value_table_after(p: Parse, cue: Cue) -> str | None:
    """The table of a value named next to "most" ("the most delivery complaints", "物流投诉
    最多"), whose rows are then what is counted; None when a table is named there ("most
    orders", "订单最多")."""
    if is_han(p.text[cue.start]):  # Chinese puts 最多 after what is counted
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
            # In target order, not a set's: a tie goes to the best-ranked table on every run.
            for table in dict.fromkeys(t.table for t in m.targets if t.kind == "value"):
                votes[table] = votes.get(table, 0) + 1
    return max(votes, key=lambda t: votes[t]) if votes else None


def _drop_adverbial_sums(p: Parse) -> None:
    """"一共有多少订单" / "total number of orders": with a count, "total" is an adverb."""
    if not cues_of(p, "count"):
        return
    for cue in cues_of(p, "sum"):
        if p.text[cue.start:cue.end].strip() in ADVERBIAL_SUM:
            nxt = nearest(p, cue, _aggregable(p, dates_ok=False), window=3, after_only=True)
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
        columns = [column_of(p, ColumnRef(t.table, t.column)) for t in column_targets(m)]
        return m.kind == "column" and any(not is_temporal(c.type) and not measurable(c) for c in columns)
    beside = nearest(p, cue, categorical, window=3, after_only=True)
    if beside is None:
        distinct = [c for c in cues_of(p, "distinct") if 0 <= c.start - cue.end <= 2]
        if distinct:  # "how many different cities"
            beside = nearest(p, distinct[0], categorical, window=3, after_only=True)
    if beside is None and p.text[cue.start:cue.end] in ("数", "数量", "个数"):
        beside = nearest(p, cue, categorical, window=1)  # "品类数"
    if p.text[cue.start:cue.end].endswith("单"):  # "下了多少单": 单 is an order
        def is_orders(table: str) -> bool:
            return [singular(w) for w in name_parts(table)] == ["order"]
        orders = [m for m in p.matches if m.kind == "table" and is_orders(m.targets[0].table)]
        if orders:
            return orders[0]
        order_table = next((t for t in p.catalog.tables if is_orders(t)), None)
        if order_table is not None:
            return idx.Match(cue.start, cue.end, p.text[cue.start:cue.end],
                             [idx.Target("table", table=order_table)])
    table = nearest(p, cue, lambda m: m.kind == "table", window=40)
    if beside is not None and (table is None or beside.start < table.start or
                               is_han(p.text[cue.start])):
        return beside
    return table or nearest(p, cue, categorical, window=40)


ROW_CLASSIFIERS = ("笔", "条", "单", "张", "件", "次", "首")


def _counts_rows(p: Parse, cue: Cue, counted: idx.Match) -> bool:
    """A Chinese count whose classifier counts rows ("多少笔", "几条") and that stands away
    from the column it found counts the column's rows, not its distinct values."""
    word = p.text[cue.start:cue.end]
    beside = 0 <= counted.start - cue.end <= 2 or 0 <= cue.start - counted.end <= 1
    return word.endswith(ROW_CLASSIFIERS) and not beside


def _use_distinct_next_to(p: Parse, counted: idx.Match) -> None:
    """"unique customers", "不同的客户": counting rows of a table is already distinct, unless
    rows share their name ("how many different degrees": 15 programs, 3 degree names)."""
    for cue in cues_of(p, "distinct"):
        if 0 <= counted.start - cue.end <= 2 or 0 <= cue.start - counted.end <= 2:
            p.use(cue.start, cue.end)
            if counted.kind == "table":
                table = p.catalog.tables[counted.targets[0].table]
                label = idx.label_column(table)
                profile = label.profile if label is not None else None
                rows = table.row_count
                named = label is not None and {"name", "title"} & set(name_parts(label.name))
                # rows that mostly share a name (3 degree names over 15 programs); people
                # with the same name are still different people
                if named and label is not None and profile is not None \
                        and profile.distinct_exact and rows is not None \
                        and 0 < profile.distinct * 2 < rows and not label.primary_key:
                    raise DrafterDeclined(
                        f"“different {counted.text}” can count {table.name} rows ({rows}) or "
                        f"their distinct {label.name} values ({profile.distinct})")


def _aggregable(p: Parse, dates_ok: bool) -> Callable[[idx.Match], bool]:
    """Matches naming a column that can be summed or averaged (or, for max/min, a date)."""
    def check(m: idx.Match) -> bool:
        columns = [column_of(p, ColumnRef(t.table, t.column)) for t in column_targets(m)]
        return any(measurable(c) or (dates_ok and is_temporal(c.type)) for c in columns)
    return check


def _table_amount(p: Parse, cue: Cue) -> Measure | None:
    """"total sales" with no column named: the amount column of the table named next to it."""
    table = nearest(p, cue, lambda m: m.kind == "table", window=12)
    if table is None:
        return None
    ref = amount_column(p, table.targets[0].table)
    if ref is None:
        return None
    p.use(cue.start, cue.end)
    p.use(table.start, table.end)
    words = p.text[min(cue.start, table.start):max(cue.end, table.end)]
    p.choices.assume(f"{words} read as {cue.kind} of {ref} (no column named)")
    return Measure(cue.kind, ref.table, column=ref, label=f"{cue.kind}_{ref.column}".lower())


def _names_a_total(p: Parse, m: idx.Match) -> bool:
    words = p.text[m.start:m.end]
    return words in IMPLIED_SUM or words.startswith(("总", "total "))


def _implied_sum(p: Parse) -> Measure | None:
    """"发票总额" names a total column and means its sum."""
    for m in p.matches:
        implied = m.text in IMPLIED_SUM or m.text.split(" ")[0] in ("total", "sum")
        suffix = re.match(r"(总额|总数|总和|合计|之和|加起来)", p.text[m.end:])
        if suffix and column_targets(m) and not implied:  # "工资总额": the sum of wages
            ref = pick_column(p, m, numeric=True)
            if measurable(column_of(p, ref)):
                p.use(m.start, m.end + suffix.end())
                return Measure("sum", ref.table, column=ref, label=f"sum_{ref.column}".lower())
        adverb = p.text[max(0, m.start - 3):m.start] == "in " and cues_of(p, "count")
        if adverb:
            p.use(m.start - 3, m.end)  # "how many invoices in total"
            continue
        compared = any(c.kind in ("gt", "ge", "lt", "le", "between") and 0 <= c.start - m.end <= 2
                       for c in p.cues)  # "invoices that have a total over 10": a column
        counting = any(p.text[c.start:c.end] not in ("多少", "是多少") for c in cues_of(p, "count"))
        if implied and column_targets(m) and not cues_of(p, "list") and not counting \
                and not compared:  # bare 多少 asks "how much" as well as "how many"
            ref = pick_column(p, m, numeric=True)
            if measurable(column_of(p, ref)):
                p.use(m.start, m.end)
                return Measure("sum", ref.table, column=ref, label=f"sum_{ref.column}".lower())
    return None


def _term_measure(p: Parse, match: idx.Match) -> Measure:
    p.use(match.start, match.end)
    for cue in cues_of(p, "avg", "sum", "count"):  # "average CSAT" where CSAT is an average
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
        if all(t == table or not fans_out(p.catalog, join_path(p, table, t)) for t in tables):
            return table
    return tables[0]


def _count_measure(p: Parse, counted: idx.Match) -> Measure:
    p.use(counted.start, counted.end)
    tables = [t for t in counted.targets if t.kind == "table"]
    if tables:
        name = tables[0].table
        return Measure("count", name, label="count")
    ref = pick_column(p, counted)
    column = column_of(p, ref)
    if column.primary_key:
        return Measure("count", ref.table, label="count")
    return Measure("count_distinct", ref.table, column=ref, label=f"distinct_{_label(ref.column)}")


def plural_events(p: Parse, intent: Intent) -> None:
    """"customer signups in 2024", "hires per year": a plural event noun counts its rows."""
    if intent.measure is not None or cues_of(p, "list"):
        return
    for m in p.matches:
        targets = [t for t in column_targets(m) if t.strength == 1]
        if not targets or not p.text[m.start:m.end].endswith("s"):
            continue
        column = column_of(p, ColumnRef(targets[0].table, targets[0].column))
        if is_temporal(column.type):
            p.use(m.start, m.end)
            intent.measure = Measure("count", targets[0].table, label="count")
            intent.base = targets[0].table
            return


def term_columns(p: Parse, intent: Intent) -> None:
    """"average star rating": the column a term aggregates may be named beside it."""
    if intent.measure is None or not intent.measure.term_sql:
        return
    sql = intent.measure.term_sql.lower()
    for m in p.matches:
        if m.start in p.used:
            continue
        if any(f"{t.table}.{t.column}".lower() in sql for t in column_targets(m)):
            p.use(m.start, m.end)


def choose_term_grain(p: Parse, intent: Intent) -> None:
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
                intent.base = base
                return
    split = next(g.column for g in intent.groups if _fans(p, intent.base, g.column.table))
    raise DrafterDeclined(f"{measure.label} is defined on {intent.base}; splitting it by {split} "
                          f"would count {intent.base} rows more than once")


def _fans(p: Parse, base: str, table: str) -> bool:
    return table != base and fans_out(p.catalog, join_path(p, base, table))


def _row_columns(intent: Intent) -> list[ColumnRef]:
    return [e for g in intent.groups for e in g.extra]
