"""Turn an :class:`~nl2sql.drafting.offline.intent.Intent` into DuckDB SQL with sqlglot's builder.

Joins follow foreign keys along the shortest path from the base table. A
filter reached through a one-to-many hop becomes an ``EXISTS`` subquery so
that sums and counts over the base table are not multiplied; a grouping that
would multiply them is refused rather than answered wrongly.
"""

from __future__ import annotations

import datetime as dt

import sqlglot
from sqlglot import exp

from nl2sql.catalog import Catalog, Column, ForeignKey, Table
from nl2sql.column_types import is_text
from nl2sql.drafting.offline import lineage
from nl2sql.drafting.offline.intent import ColumnRef, Filter, Group, Intent, Measure
from nl2sql.errors import DrafterDeclined
from nl2sql.lexicon import name_parts
from nl2sql.schema.graph import join_keys, neighbours, repeats_rows, shortest_path


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=not (name.islower() and name.isidentifier()))


def col(ref: ColumnRef) -> exp.Column:
    return exp.Column(this=ident(ref.column), table=ident(ref.table))


def _edge(catalog: Catalog, a: str, b: str) -> tuple[ForeignKey, bool]:
    """The foreign key joining ``a`` to ``b``; True when ``a`` holds it (many-to-one)."""
    keys = join_keys(catalog, a, b)
    if not keys:
        raise DrafterDeclined(f"no foreign key joins {a} and {b}")
    if len(keys) > 1:  # Likes.student_id and Likes.liked_id both point at Highschooler
        raise joined_several_ways(a, b, keys)
    return keys[0]


def joined_several_ways(a: str, b: str, keys: list[tuple[ForeignKey, bool]]) -> DrafterDeclined:
    """The decline for a join the question does not choose (which key is the user's call)."""
    ways = " or ".join(f"{a if holds else b}.{'/'.join(fk.columns)}" for fk, holds in keys)
    return DrafterDeclined(f"{a} and {b} are joined in {len(keys)} ways ({ways}), and the "
                           "question does not say which")


def _on(catalog: Catalog, a: str, b: str) -> exp.Expr:
    fk, a_holds = _edge(catalog, a, b)
    holder, target = (a, b) if a_holds else (b, a)
    conditions = [exp.EQ(this=col(ColumnRef(holder, c)), expression=col(ColumnRef(target, r)))
                  for c, r in zip(fk.columns, fk.ref_columns, strict=False)]
    return exp.and_(*conditions)


def path_to(catalog: Catalog, base: str, table: str) -> list[str]:
    path = shortest_path(neighbours(catalog), base, table)
    if path is None:
        raise DrafterDeclined(f"I cannot find how {table} relates to {base} (no foreign-key path)")
    return path


def fans_out(catalog: Catalog, path: list[str]) -> bool:
    """True when walking ``path`` from its start can repeat rows of the start table."""
    repeats = repeats_rows(catalog, path)
    if repeats is None:
        a, b = next((a, b) for a, b in zip(path, path[1:], strict=False)
                    if not join_keys(catalog, a, b))
        raise DrafterDeclined(f"no foreign key joins {a} and {b}")
    return repeats


def compose(intent: Intent, catalog: Catalog) -> str:
    """SQL for ``intent`` (DuckDB dialect)."""
    joined, fanout = _joined_tables(intent, catalog)
    lineage.check_reach(catalog, [intent.base, *(table for _, table in joined),
                                  *(f.column.table for f in intent.filters)])
    select = exp.select(*_projections(intent, catalog, fanout)).from_(
        exp.Table(this=ident(intent.base)))
    for a, b in joined:
        select = select.join(exp.Table(this=ident(b)), on=_on(catalog, a, b), join_type="inner")
    conditions = [_condition(f) for f in intent.filters if _is_local(f, joined, intent)]
    conditions += [_exists(f, intent.base, catalog) for f in intent.filters
                   if not _is_local(f, joined, intent)]
    if conditions:
        select = select.where(exp.and_(*conditions))
    select = _group_having_order(select, intent, catalog, fanout)
    if intent.distinct:
        select = select.distinct()
        if not intent.order_column:
            select = select.order_by(*[col(ref) for ref in intent.show])
    return select.sql(dialect="duckdb")


def _needed_for_rows(intent: Intent) -> list[str]:
    """Tables whose columns are selected, grouped or measured (these must be joined)."""
    refs = [g.column for g in intent.groups] + [e for g in intent.groups for e in g.extra]
    refs += intent.show + ([intent.order_column] if intent.order_column else [])
    refs += [f.column for f in intent.percent_of]
    tables = [r.table for r in refs]
    if intent.measure:
        tables += [intent.measure.table] + _term_tables(intent.measure)
        if intent.measure.column:
            tables.append(intent.measure.column.table)
    return list(dict.fromkeys(t for t in tables if t != intent.base))


def _term_tables(measure: Measure) -> list[str]:
    if not measure.term_sql:
        return []
    tree = sqlglot.parse_one(measure.term_sql, read="duckdb")
    return list(dict.fromkeys(c.table for c in tree.find_all(exp.Column) if c.table))


def _joined_tables(intent: Intent, catalog: Catalog) -> tuple[list[tuple[str, str]], bool]:
    edges: list[tuple[str, str]] = []
    seen = {intent.base}
    fanout = False
    needed = _needed_for_rows(intent)
    # Filters on a table reached without fan-out can join too (a plain WHERE).
    for f in intent.filters:
        path = path_to(catalog, intent.base, f.column.table)
        if not fans_out(catalog, path) and f.column.table not in needed:
            needed.append(f.column.table)
    for table in needed:
        path = path_to(catalog, intent.base, table)
        fanout = fanout or fans_out(catalog, path)
        for a, b in zip(path, path[1:], strict=False):
            if b not in seen:
                edges.append((a, b))
                seen.add(b)
    return edges, fanout


def _is_local(f: Filter, joined: list[tuple[str, str]], intent: Intent) -> bool:
    if f.absent:
        return False  # only a subquery can say that no related row matches
    return f.column.table == intent.base or any(b == f.column.table for _, b in joined)


def _exists(f: Filter, base: str, catalog: Catalog) -> exp.Expr:
    """``EXISTS (SELECT 1 FROM path ... WHERE correlated AND filter)`` for a one-to-many hop."""
    path = path_to(catalog, base, f.column.table)
    inner = exp.select("1").from_(exp.Table(this=ident(path[1])))
    for a, b in zip(path[1:], path[2:], strict=False):
        inner = inner.join(exp.Table(this=ident(b)), on=_on(catalog, a, b), join_type="inner")
    inner = inner.where(exp.and_(_on(catalog, base, path[1]), _condition(f)))
    return exp.Not(this=exp.Exists(this=inner)) if f.absent else exp.Exists(this=inner)


def _year_range(ref: ColumnRef, start: dt.date, end: dt.date) -> exp.Expr:
    lo = exp.GTE(this=col(ref), expression=exp.cast(exp.Literal.string(start.isoformat()), "DATE"))
    hi = exp.LT(this=col(ref), expression=exp.cast(exp.Literal.string(end.isoformat()), "DATE"))
    return exp.and_(lo, hi)


def _date_bounds(f: Filter) -> tuple[dt.date, dt.date]:
    v = [int(x) for x in f.values if isinstance(x, (int, float))]
    if f.op == "year":
        return dt.date(v[0], 1, 1), dt.date(v[0] + 1, 1, 1)
    if f.op == "years":
        return dt.date(min(v), 1, 1), dt.date(max(v) + 1, 1, 1)
    if f.op == "month":
        start = dt.date(v[0], v[1], 1)
        return start, dt.date(v[0] + (v[1] == 12), v[1] % 12 + 1, 1)
    if f.op == "quarter":
        start = dt.date(v[0], 3 * v[1] - 2, 1)
        return start, dt.date(v[0] + (v[1] == 4), (3 * v[1]) % 12 + 1, 1)
    if f.op == "after":
        return dt.date(v[0] + 1, 1, 1), dt.date(9999, 1, 1)
    if f.op == "half":
        return (dt.date(v[0], 1, 1), dt.date(v[0], 7, 1)) if v[1] == 1 else (
            dt.date(v[0], 7, 1), dt.date(v[0] + 1, 1, 1))
    if f.op == "day":
        day = dt.date(v[0], v[1], v[2])
        return day, day + dt.timedelta(days=1)
    return dt.date(1, 1, 1), dt.date(v[0], 1, 1)  # before


def _literal(value: object) -> exp.Expr:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(int(value) if float(value).is_integer() else value)
    return exp.Literal.string(str(value))


def _related_count(f: Filter) -> exp.Expr:
    """``base.pk IN (SELECT fk FROM related GROUP BY fk HAVING count(*) > n)``."""
    table, fk, op, number = f.values[:4]
    conditions: list[Filter] = list(f.values[4]) if len(f.values) > 4 else []  # type: ignore[call-overload]
    fk_col = col(ColumnRef(str(table), str(fk)))
    inner = exp.select(fk_col).from_(exp.Table(this=ident(str(table))))
    if conditions:
        inner = inner.where(exp.and_(*[_condition(c) for c in conditions]))
    if op == ">=" and number == 1:  # plain existence
        return exp.In(this=col(f.column), query=exp.Subquery(this=inner))
    ops = {">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE, "=": exp.EQ}
    inner = inner.group_by(fk_col.copy()).having(
        ops[str(op)](this=exp.Count(this=exp.Star()), expression=_literal(number)))
    return exp.In(this=col(f.column), query=exp.Subquery(this=inner))


def _no_related(f: Filter) -> exp.Expr:
    """``NOT EXISTS (SELECT 1 FROM related WHERE related.fk = base.pk)``."""
    table, fk = str(f.values[0]), str(f.values[1])
    inner = exp.select("1").from_(exp.Table(this=ident(table))).where(
        exp.EQ(this=col(ColumnRef(table, fk)), expression=col(f.column)))
    return exp.Not(this=exp.Exists(this=inner))


def _condition(f: Filter) -> exp.Expr:
    if f.op == "related_count":
        return _related_count(f)
    if f.op == "no_related":
        return _no_related(f)
    target = col(f.column)
    if f.op in ("year", "years", "month", "quarter", "after", "before", "half", "day"):
        return _year_range(f.column, *_date_bounds(f))
    if f.op == "is_null":
        return exp.Is(this=target, expression=exp.Null())
    if f.op == "not_null":
        return exp.Not(this=exp.Is(this=target, expression=exp.Null()))
    if f.op == "between":
        return exp.Between(this=target, low=_literal(f.values[0]), high=_literal(f.values[1]))
    if f.op == "in" or len(f.values) > 1:
        return exp.In(this=target, expressions=[_literal(v) for v in f.values])
    ops = {"=": exp.EQ, ">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE, "!=": exp.NEQ}
    return ops[f.op](this=target, expression=_literal(f.values[0]))


def measure_expression(measure: Measure, catalog: Catalog, fanout: bool) -> exp.Expr:
    if measure.func == "term":
        assert measure.term_sql is not None
        return sqlglot.parse_one(measure.term_sql, read="duckdb")
    if measure.func == "count":
        table = catalog.tables[measure.table]
        if fanout and table.primary_key:
            keys = [col(ColumnRef(table.name, k)) for k in table.primary_key]
            return exp.Count(this=exp.Distinct(expressions=keys))
        return exp.Count(this=exp.Star())
    assert measure.column is not None
    if measure.func == "count_distinct":
        return exp.Count(this=exp.Distinct(expressions=[col(measure.column)]))
    if fanout:
        raise DrafterDeclined(f"{measure.func} of {measure.column} across the joined tables "
                              "would count rows more than once")
    funcs = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}
    return funcs[measure.func](this=col(measure.column))


def _bucket(group: Group) -> exp.Expr:
    target = col(group.column)
    if group.bucket == "year":
        return exp.func("year", target)
    if group.bucket == "quarter":
        return exp.func("concat", exp.func("year", target), exp.Literal.string("-Q"),
                        exp.func("quarter", target))
    return exp.func("strftime", target, exp.Literal.string("%Y-%m"))


def _group_exprs(intent: Intent) -> list[tuple[exp.Expr, str]]:
    out: list[tuple[exp.Expr, str]] = []
    for group in intent.groups:
        if group.bucket:
            out.append((_bucket(group), group.bucket))
        else:
            out += [(col(ref), ref.column) for ref in [*group.extra, group.column]]
    return out


def _projections(intent: Intent, catalog: Catalog, fanout: bool) -> list[exp.Expr]:
    names = _unique_aliases([alias for _, alias in _group_exprs(intent)])
    projections: list[exp.Expr] = [
        exp.alias_(e, names[i], quoted=not names[i].isidentifier())
        for i, (e, _) in enumerate(_group_exprs(intent))]
    if intent.percent_of:
        projections.append(exp.alias_(_percentage(intent), "percentage"))
    elif intent.measure:
        label = intent.measure.label or intent.measure.func
        projections.append(exp.alias_(measure_expression(intent.measure, catalog, fanout), label,
                                      quoted=not label.isidentifier()))
    elif not intent.groups:
        projections += _listing(intent, catalog)
    return projections


def _unique_aliases(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _listing(intent: Intent, catalog: Catalog) -> list[exp.Expr]:
    """A listing shows the base table's columns, plus any other table's mentioned columns."""
    base = catalog.tables[intent.base]
    for ref in intent.named if not intent.distinct else intent.show:
        if ref.table != base.name and fans_out(catalog, path_to(catalog, base.name, ref.table)):
            raise DrafterDeclined(f"showing {ref} beside each {base.name} row would repeat "
                                  f"{base.name} rows; name the {ref.table} you mean")
    if intent.distinct:
        return [col(ref) for ref in intent.show]
    if intent.named:  # the columns asked for, after the key and the names that tell rows apart
        keys = [ColumnRef(base.name, k) for k in base.primary_key]
        names = [ColumnRef(base.name, c.name) for c in naming_columns(base)]
        wanted = list(dict.fromkeys([*keys, *names, *intent.named, *intent.show]))
        return [col(ref) for ref in wanted]
    out: list[exp.Expr] = [col(ColumnRef(base.name, c.name)) for c in _visible(base)]
    shown = {c.name for c in _visible(base)}
    out += [col(ref) for ref in intent.show if ref.table != base.name or ref.column not in shown]
    return out


def naming_columns(table: Table) -> list[Column]:
    """The text columns that name a row: ``name``/``title``, or first and last names."""
    named = [c for c in _visible(table) if not c.primary_key and is_text(c.type)
             and {"name", "title"} & set(name_parts(c.name))
             and not {"user", "file", "company", "job"} & set(name_parts(c.name))]
    return named[:3]


def _visible(table: Table) -> list[Column]:
    """Columns a listing shows by default: not denied, and no personal data unless asked."""
    return [c for c in table.columns if not c.tags.get("deny") and not c.tags.get("pii")]


def _percentage(intent: Intent) -> exp.Expr:
    numerator = exp.and_(*[_condition(f) for f in intent.percent_of])
    counted = exp.Filter(this=exp.Count(this=exp.Star()),
                         expression=exp.Where(this=numerator))
    share = exp.Div(this=exp.Mul(this=exp.Literal.number("100.0"), expression=counted),
                    expression=exp.Count(this=exp.Star()))
    return exp.func("round", share, exp.Literal.number(2))


def _group_having_order(select: exp.Select, intent: Intent, catalog: Catalog,
                        fanout: bool) -> exp.Select:
    groups = _group_exprs(intent)
    if groups and (intent.measure or intent.percent_of):
        select = select.group_by(*[exp.Literal.number(i + 1) for i in range(len(groups))])
    measure = (measure_expression(intent.measure, catalog, fanout)
               if intent.measure and not intent.percent_of else None)
    ops = {">": exp.GT, ">=": exp.GTE, "<": exp.LT, "<=": exp.LTE, "=": exp.EQ}
    conditions = [ops[op](this=measure.copy(), expression=_literal(n))
                  for op, n in intent.having] if measure is not None else []
    conditions += [ops[op](this=exp.Count(this=exp.Star()), expression=_literal(n))
                   for _, _table, op, n in intent.extra_having]
    if conditions and not groups:
        raise DrafterDeclined("I found a condition on a count or total but not what it is "
                              "counted per")
    if conditions:
        select = select.having(exp.and_(*conditions))
    order = _order_expression(intent, groups, measure)
    ranked_groups = order is not None and measure is not None and bool(groups) \
        and intent.order_column is None
    if order is not None:
        select = select.order_by(order)
        if ranked_groups:  # equal totals come in a stable order: the groups' own
            select = select.order_by(*[exp.Literal.number(i + 1) for i in range(len(groups))],
                                     append=True)
    if intent.limit == 1 and ranked_groups and measure is not None:
        # "Which year has the most concerts?": every group tied for first is the answer
        rank = exp.Window(this=exp.Anonymous(this="rank"), order=exp.Order(expressions=[
            exp.Ordered(this=measure.copy(), desc=intent.order != "asc")]))
        return select.qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)))
    if intent.limit:
        select = select.limit(intent.limit)
    return select


def _order_expression(intent: Intent, groups: list[tuple[exp.Expr, str]],
                      measure: exp.Expr | None) -> exp.Expr | None:
    if intent.order_column is not None:
        return exp.Ordered(this=col(intent.order_column), desc=intent.order != "asc",
                           nulls_first=False)
    if measure is not None and groups:
        position = exp.Literal.number(len(groups) + 1)
        if any(g.bucket for g in intent.groups) and not intent.order:
            return exp.Ordered(this=exp.Literal.number(1))  # a time series reads in time order
        return exp.Ordered(this=position, desc=intent.order != "asc")
    if intent.percent_of and groups:
        return exp.Ordered(this=exp.Literal.number(1))
    return None
