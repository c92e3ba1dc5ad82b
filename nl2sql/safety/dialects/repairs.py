"""The repairs: each a small named function whose docstring says which habit it fixes.

A repair takes the tree, the catalog and the dialect and returns the tree and what it
changed (``name: what changed``), for the answer's notes. :data:`REPAIRS` lists, per
dialect, the ones that run and their order.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from nl2sql.catalog import Catalog
from nl2sql.safety.dialects.kinds import (
    INT,
    REAL,
    TEMPORAL,
    TEXT,
    Types,
    _local_columns,
    _projection_aliases,
    local_walk,
)

# --- the repairs ----------------------------------------------------------------------------

Repair = Callable[[exp.Expr, Catalog, str], tuple[exp.Expr, list[str]]]


def repair_double_quoted_strings(tree: exp.Expr, catalog: Catalog,
                                 dialect: str) -> tuple[exp.Expr, list[str]]:
    """SQLite (and Spider) habit: ``WHERE country = "USA"``. A double-quoted name that is
    not a column of any table in reach, nor an output name, is SQLite's string literal;
    DuckDB would report an unknown column."""
    types = Types(tree, catalog)
    done: list[str] = []
    for scope in types.scopes:
        aliases = _projection_aliases(scope.expression) | _outer_aliases(scope)
        for column in list(_local_columns(scope.expression)):
            ident = column.this
            if column.table or not isinstance(ident, exp.Identifier) or not ident.quoted:
                continue
            if types.ref(column) is not None or ident.name.lower() in aliases:
                continue
            text = ident.name
            column.replace(exp.Literal.string(text))
            done.append(f'double_quoted_string: "{text}" is not a column; read as the string '
                        f"'{text}'")
    return tree, done


def _outer_aliases(scope: Scope) -> set[str]:
    names: set[str] = set()
    parent = scope.parent
    while parent is not None:
        names |= _projection_aliases(parent.expression)
        parent = parent.parent
    return names


def repair_case_insensitive_like(tree: exp.Expr, catalog: Catalog,
                                 dialect: str) -> tuple[exp.Expr, list[str]]:
    """SQLite's LIKE ignores ASCII case (MySQL's default collation too); DuckDB's LIKE does
    not: ``name LIKE '%john%'`` becomes ``ILIKE``. LIKE on a number or a date compares its
    text in SQLite; DuckDB needs the text spelled out (``CAST(x AS VARCHAR)``)."""
    types = Types(tree, catalog)
    done: list[str] = []
    for like in list(tree.find_all(exp.Like)):
        subject, pattern = like.this, like.expression
        if types.kind(subject) in (INT, REAL, TEMPORAL):
            subject.replace(_cast(subject.copy(), "VARCHAR"))
            done.append(f"like_on_non_text: {subject.sql(dialect='duckdb')} compared as text")
        if isinstance(pattern, exp.Literal) and pattern.is_string \
                and pattern.this.lower() == pattern.this.upper():
            continue  # no letters: case does not matter
        like.replace(exp.ILike(**like.args))  # keeps NOT (``negate``) and the rest
        done.append(f"case_insensitive_like: LIKE {pattern.sql(dialect='duckdb')} → ILIKE "
                    f"({dialect} LIKE ignores case)")
    return tree, done


TEXT_FUNCTIONS = (exp.Length, exp.Upper, exp.Lower, exp.Substring, exp.Trim, exp.StrPosition,
                  exp.Replace, exp.Reverse)


def repair_text_functions(tree: exp.Expr, catalog: Catalog,
                          dialect: str) -> tuple[exp.Expr, list[str]]:
    """String functions on numbers and dates: ``substr(order_date, 1, 7)``, ``length(zip)``.
    SQLite and MySQL hand such a value to a string function as its text; DuckDB has no
    ``substr(TIMESTAMP, …)``, so the text is spelled out (``CAST(x AS VARCHAR)``)."""
    types = Types(tree, catalog)
    done: list[str] = []
    for function in list(tree.find_all(*TEXT_FUNCTIONS)):
        subject = function.this
        if types.kind(subject) in (INT, REAL, TEMPORAL):
            subject.replace(_cast(subject.copy(), "VARCHAR"))
            done.append(f"text_function_on_non_text: {subject.sql(dialect='duckdb')} passed to "
                        f"{function.key} as text ({dialect} converts it)")
    return tree, done


COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
               exp.NullSafeNEQ)


def repair_loose_comparisons(tree: exp.Expr, catalog: Catalog,
                             dialect: str) -> tuple[exp.Expr, list[str]]:
    """Text compared with numbers. SQLite columns are loosely typed (``year TEXT``
    holding ``'2014'``) and SQLite converts by affinity before comparing: a number
    compared with a text column is compared as text, a text column compared with a
    numeric column as a number. MySQL compares text with numbers as numbers. DuckDB
    refuses both; the conversion is written out explicitly, the way the source
    database would have made it."""
    types = Types(tree, catalog)
    done: list[str] = []
    for comparison in list(tree.find_all(*COMPARISONS)):
        done += _reconcile(comparison.this, comparison.expression, types, dialect)
    for between in list(tree.find_all(exp.Between)):
        for side in ("low", "high"):
            if between.args.get(side) is not None:
                done += _reconcile(between.this, between.args[side], types, dialect)
    for member in list(tree.find_all(exp.In)):
        done += _reconcile_in(member, types, dialect)
    return tree, done


def _reconcile(left: exp.Expr, right: exp.Expr, types: Types, dialect: str) -> list[str]:
    """Make one comparison's operands comparable in DuckDB, per the source dialect."""
    kinds = {types.kind(left), types.kind(right)}
    if dialect == "sqlite" and kinds == {TEMPORAL, TEXT}:
        return _sqlite_text_vs_date(left, right, types)
    if kinds not in ({TEXT, INT}, {TEXT, REAL}):
        return []
    text, number = (left, right) if types.kind(left) == TEXT else (right, left)
    if dialect == "sqlite":
        return _sqlite_text_vs_number(text, number, types)
    if dialect == "mysql":
        return _as_number(text, number, "mysql compares text with numbers as numbers")
    return []


def _sqlite_text_vs_number(text: exp.Expr, number: exp.Expr, types: Types) -> list[str]:
    """SQLite's rules: a numeric column makes the other side a number; a text column makes
    an expression without affinity (a literal, a computed value) text. Where neither side
    has an affinity SQLite compares as is (a number never equals text), which DuckDB
    refuses; the comparison is then made the way the literal reads."""
    if types.has_affinity(number):
        return _as_number(text, number, "sqlite compares a numeric column with text as numbers")
    if types.has_affinity(text):
        return _as_text(number, text)
    if isinstance(text, exp.Literal) and _literal_number(text.this) is not None:
        return _as_number(text, number, "the text reads as a number")
    return _as_text(number, text)


def _as_text(number: exp.Expr, text: exp.Expr) -> list[str]:
    """Compare ``number`` as text: a literal is spelled as SQLite would, else CAST."""
    shown = text.sql(dialect="duckdb")
    if isinstance(number, exp.Literal):
        literal = exp.Literal.string(_number_text(number))
        number.replace(literal)
        return [f"text_vs_number: {number.sql()} compared with {shown} as the text "
                f"{literal.sql()} (sqlite compares text with numbers as text)"]
    number.replace(_cast(number.copy(), "VARCHAR"))
    return [f"text_vs_number: {number.sql(dialect='duckdb')} compared with {shown} as text "
            "(sqlite compares text with numbers as text)"]


def _sqlite_text_vs_date(left: exp.Expr, right: exp.Expr, types: Types) -> list[str]:
    """SQLite keeps dates as text and compares them as text; DuckDB reads the column as a
    date and cannot convert a literal like ``'2018'`` — such a comparison stays textual."""
    date, text = (left, right) if types.kind(left) == TEMPORAL else (right, left)
    if not isinstance(text, exp.Literal) or _is_iso_date(text.this):
        return []
    date.replace(_cast(date.copy(), "VARCHAR"))
    return [f"text_vs_date: {date.sql(dialect='duckdb')} compared with '{text.this}' as text "
            "(sqlite stores dates as text)"]


def _is_iso_date(text: str) -> bool:
    import datetime

    try:
        datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


def _as_number(text: exp.Expr, number: exp.Expr, why: str) -> list[str]:
    """Compare ``text`` as a number; a literal that is no number leaves ``number`` compared
    as text instead (it can never be equal to it, and DuckDB could not convert it)."""
    if isinstance(text, exp.Literal):
        value = _literal_number(text.this)
        if value is None:
            number.replace(_cast(number.copy(), "VARCHAR"))
            return [f"text_vs_number: {number.sql(dialect='duckdb')} compared with the text "
                    f"'{text.this}' as text ({why})"]
        text.replace(value)
        return [f"text_vs_number: '{text.this}' read as the number {value.sql()} ({why})"]
    text.replace(exp.TryCast(this=text.copy(), to=exp.DataType.build("DOUBLE")))
    return [f"text_vs_number: {text.sql(dialect='duckdb')} read as a number ({why})"]


def _reconcile_in(node: exp.In, types: Types, dialect: str) -> list[str]:
    done: list[str] = []
    query = node.args.get("query")
    if query is not None:
        select = query.unnest() if isinstance(query, exp.Subquery) else query
        if isinstance(select, exp.Select) and len(select.expressions) == 1:
            projection = select.expressions[0]
            inner = projection.unalias()
            done += _reconcile(node.this, inner, types, dialect)
        return done
    for value in list(node.expressions):
        done += _reconcile(node.this, value, types, dialect)
    return done


def _number_text(literal: exp.Literal) -> str:
    """How SQLite spells a number as text (``1.50`` → ``1.5``, ``2014`` → ``2014``)."""
    if literal.is_int:
        return str(int(literal.this))
    return repr(float(literal.this))


def _literal_number(text: str) -> exp.Expr | None:
    """The number a string literal spells (``'12'`` → ``12``), else None."""
    stripped = text.strip()
    try:
        return exp.Literal.number(int(stripped))
    except ValueError:
        pass
    try:
        value = float(stripped)
    except ValueError:
        return None
    return exp.Literal.number(repr(value)) if value == value and abs(value) != float("inf") \
        else None


def _cast(node: exp.Expr, to: str) -> exp.Cast:
    return exp.Cast(this=node, to=exp.DataType.build(to))


def repair_text_arithmetic(tree: exp.Expr, catalog: Catalog,
                           dialect: str) -> tuple[exp.Expr, list[str]]:
    """Arithmetic on text columns: ``avg(mpg)`` where ``mpg TEXT`` holds numbers. SQLite
    and MySQL read the text as a number (text that is not a number counts as 0);
    DuckDB has no ``avg(VARCHAR)``. The conversion is written out, NULL kept NULL."""
    types = Types(tree, catalog)
    done: list[str] = []
    targets: list[exp.Expr] = []
    for aggregate in tree.find_all(exp.Sum, exp.Avg):
        targets.append(aggregate.this)
    for operation in tree.find_all(exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod):
        targets += [operation.this, operation.expression]
    for negation in tree.find_all(exp.Neg):
        targets.append(negation.this)
    for target in targets:
        if types.kind(target) == TEXT and not isinstance(target, exp.Literal):
            target.replace(_text_to_number(target.copy()))
            done.append(f"text_arithmetic: {target.sql(dialect='duckdb')} read as a number "
                        f"({dialect} converts text in arithmetic)")
    return tree, done


def _text_to_number(node: exp.Expr) -> exp.Expr:
    """``COALESCE(TRY_CAST(x AS DOUBLE), CASE WHEN x IS NOT NULL THEN 0 END)``."""
    zero_unless_null = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=node.copy(),
                                                                        expression=exp.Null())),
                                            true=exp.Literal.number(0))])
    return exp.Coalesce(this=exp.TryCast(this=node, to=exp.DataType.build("DOUBLE")),
                        expressions=[zero_unless_null])


def repair_integer_division(tree: exp.Expr, catalog: Catalog,
                            dialect: str) -> tuple[exp.Expr, list[str]]:
    """``count(*) / 2`` divides integers in SQLite and Postgres (the result is truncated);
    DuckDB's ``/`` always gives a fraction, its integer division is ``//``."""
    types = Types(tree, catalog)
    done: list[str] = []
    for node in list(tree.find_all(exp.Div)):
        if types.is_integer_division(node):
            node.replace(exp.IntDiv(this=node.this.copy(), expression=node.expression.copy()))
            done.append(f"integer_division: {node.sql(dialect=dialect)} divides integers in "
                        f"{dialect}; written with //")
    return tree, done


def repair_bare_group_columns(tree: exp.Expr, catalog: Catalog,
                              dialect: str) -> tuple[exp.Expr, list[str]]:
    """SQLite and MySQL let a grouped query show columns that are neither grouped nor
    aggregated (``SELECT name … GROUP BY id``); Postgres allows it for a grouped primary
    key. DuckDB requires ``any_value(name)``. In SQLite, a bare column next to exactly
    one ``max(x)``/``min(x)`` comes from the row holding that extreme: ``arg_max`` /
    ``arg_min`` say so in DuckDB."""
    types = Types(tree, catalog)
    done: list[str] = []
    for scope in types.scopes:
        select = scope.expression
        if isinstance(select, exp.Select) and _is_aggregate_query(select):
            done += _wrap_bare_columns(select, scope, types, dialect)
    return tree, done


def _is_aggregate_query(select: exp.Select) -> bool:
    if select.args.get("group") is not None:
        return True
    places = list(select.expressions) + [select.args.get("having")]
    return any(_local_aggregates(p) for p in places if p is not None)


def _stop_at_aggregate(node: exp.Expr) -> bool:
    return isinstance(node, exp.AggFunc | exp.Window)


def _local_aggregates(node: exp.Expr) -> list[exp.AggFunc]:
    found: list[exp.AggFunc] = []
    for sub in local_walk(node, _stop_at_aggregate):
        if isinstance(sub, exp.AggFunc) and not isinstance(sub.parent, exp.Window):
            found.append(sub)
    return found


def _group_keys(select: exp.Select, types: Types) -> tuple[set[tuple[int, str, str]], list[exp.Expr]]:
    """Identities of grouped columns, and grouped expressions (compared structurally)."""
    keys: set[tuple[int, str, str]] = set()
    expressions: list[exp.Expr] = []
    group = select.args.get("group")
    projections = select.expressions
    by_alias = {p.alias.lower(): p.this for p in projections if isinstance(p, exp.Alias)}
    for item in group.expressions if group is not None else []:
        target = item
        if isinstance(item, exp.Literal) and item.is_int and 0 < int(item.this) <= len(projections):
            target = projections[int(item.this) - 1].unalias()
        elif isinstance(item, exp.Column) and not item.table and types.ref(item) is None:
            target = by_alias.get(item.name.lower(), item)
        expressions.append(target)
        ref = types.ref(target) if isinstance(target, exp.Column) else None
        if ref is not None:
            keys.add(ref.key)
    return keys, expressions


def _wrap_bare_columns(select: exp.Select, scope: Scope, types: Types, dialect: str) -> list[str]:
    keys, grouped = _group_keys(select, types)
    places: list[tuple[exp.Expr, bool]] = [(p, True) for p in select.expressions]
    for arg in ("having", "order"):
        if select.args.get(arg) is not None:
            places.append((select.args[arg], False))
    aggregates = [a for p, _ in places for a in _local_aggregates(p)]
    extreme = next((a for a in aggregates if isinstance(a, exp.Max | exp.Min)
                    and not a.expressions), None) if dialect == "sqlite" else None
    aliases = _projection_aliases(select)
    done: list[str] = []
    for place, is_projection in places:
        for column in _bare_columns(place, scope, keys, grouped, types):
            if not is_projection and not column.table and column.name.lower() in aliases:
                continue  # an output name used in HAVING or ORDER BY
            done.append(_wrap(column, extreme, select))
    return done


def _bare_columns(place: exp.Expr, scope: Scope, keys: set[tuple[int, str, str]],
                  grouped: list[exp.Expr], types: Types) -> list[exp.Column]:
    """Columns of ``scope`` in ``place`` outside aggregates and grouped expressions."""

    def stop(node: exp.Expr) -> bool:
        return _stop_at_aggregate(node) or any(node == g for g in grouped)

    found: list[exp.Column] = []
    for node in local_walk(place, stop):
        if not isinstance(node, exp.Column) or any(node == g for g in grouped):
            continue
        if _inside_aggregate(node, place):
            continue
        ref = types.ref(node)
        if ref is not None and ref.scope is scope and ref.key not in keys:
            found.append(node)
    return found


def _inside_aggregate(node: exp.Expr, place: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None and parent is not place.parent:
        if isinstance(parent, exp.AggFunc | exp.Window):
            return True
        parent = parent.parent
    return False


def _wrap(column: exp.Column, extreme: exp.AggFunc | None, select: exp.Select) -> str:
    if isinstance(extreme, exp.Max):
        wrapped: exp.Expr = exp.ArgMax(this=column.copy(), expression=extreme.this.copy())
    elif isinstance(extreme, exp.Min):
        wrapped = exp.ArgMin(this=column.copy(), expression=extreme.this.copy())
    else:
        wrapped = exp.AnyValue(this=column.copy())
    text = column.sql(dialect="duckdb")
    if column.parent is select and column.arg_key == "expressions":
        wrapped = exp.alias_(wrapped, column.name, quoted=column.this.quoted)
    column.replace(wrapped)
    shown = wrapped.unalias().sql(dialect="duckdb")
    return f"bare_group_column: {text} is neither grouped nor aggregated; written {shown}"


def repair_tied_groups(tree: exp.Expr, catalog: Catalog,
                       dialect: str) -> tuple[exp.Expr, list[str]]:
    """``… GROUP BY team ORDER BY count(*) DESC LIMIT 1`` when teams tie: SQLite returns
    the tied groups in group-key order, the same every time; DuckDB's hash aggregation
    returns them in an arbitrary order that changes from run to run. The group keys are
    appended to the ORDER BY as tie-breakers, so the answer is SQLite's and repeatable.

    SQLite sorts the groups and returns ties in the direction of the last ORDER BY term,
    except when it reads the groups in key order from the primary key of the table it
    scans first, where ties come out ascending (which table that is, is a heuristic:
    see :func:`_outer_table`). Not for SELECT DISTINCT, whose ORDER BY may only name
    what it selects."""
    done: list[str] = []
    for select in list(tree.find_all(exp.Select)):
        group, order = select.args.get("group"), select.args.get("order")
        if group is None or order is None or not group.expressions or select.args.get("distinct"):
            continue
        ordered = {o.this for o in order.expressions}
        keys = [g for g in group.expressions if g not in ordered]
        if not keys:
            continue
        desc = bool(order.expressions[-1].args.get("desc")) \
            and not _groups_read_in_key_order(select, catalog)
        for key in keys:
            order.append("expressions", exp.Ordered(this=key.copy(), desc=desc,
                                                    nulls_first=not desc))
        names = ", ".join(k.sql(dialect="duckdb") for k in keys)
        done.append(f"tied_groups: ties broken by the group key{'s' if len(keys) > 1 else ''} "
                    f"{names} {'DESC' if desc else 'ASC'}, as sqlite returns them")
    return tree, done


def _groups_read_in_key_order(select: exp.Select, catalog: Catalog) -> bool:
    """True when the single group key is the leading primary-key column of the table
    SQLite likely scans first: it then groups straight from that key, in ascending order."""
    group = select.args["group"].expressions
    outer = _outer_table(select, catalog)
    if len(group) != 1 or not isinstance(group[0], exp.Column) or outer is None:
        return False
    column = group[0]
    if column.table and column.table.lower() != outer.alias_or_name.lower():
        return False
    table = catalog.table(outer.name)
    return table is not None and bool(table.primary_key) \
        and table.primary_key[0].lower() == column.name.lower()


def _outer_table(select: exp.Select, catalog: Catalog) -> exp.Table | None:
    """SQLite's likely outer loop: the first table in FROM, unless the first join looks it
    up by its whole primary key and not the other way round (a heuristic, for ties only)."""
    source = select.args.get("from_") or select.args.get("from")
    first = source.this if source is not None else None
    if not isinstance(first, exp.Table):
        return None
    joins = select.args.get("joins") or []
    other = joins[0].this if joins else None
    on = joins[0].args.get("on") if joins else None
    if not isinstance(other, exp.Table) or not isinstance(on, exp.EQ):
        return first
    sides = [c for c in (on.this, on.expression) if isinstance(c, exp.Column)]
    first_col = next((c for c in sides if c.table.lower() == first.alias_or_name.lower()), None)
    other_col = next((c for c in sides if c.table.lower() == other.alias_or_name.lower()), None)
    if first_col is None or other_col is None:
        return first
    if _is_whole_key(first, first_col, catalog) and not _is_whole_key(other, other_col, catalog):
        return other
    return first


def _is_whole_key(table: exp.Table, column: exp.Column, catalog: Catalog) -> bool:
    real = catalog.table(table.name)
    return real is not None and [k.lower() for k in real.primary_key] == [column.name.lower()]


# In the order they run: strings first (so literals have their type), then the typed repairs.
REPAIRS: dict[str, list[Repair]] = {
    "sqlite": [repair_double_quoted_strings, repair_case_insensitive_like, repair_text_functions,
               repair_text_arithmetic, repair_loose_comparisons, repair_integer_division,
               repair_bare_group_columns, repair_tied_groups],
    "mysql": [repair_case_insensitive_like, repair_text_functions, repair_text_arithmetic,
              repair_loose_comparisons, repair_bare_group_columns],
    "postgres": [repair_double_quoted_strings, repair_integer_division,
                 repair_bare_group_columns],
    # Spark reads "text" as a string and / as division already, as DuckDB does
    "spark": [repair_bare_group_columns],
}
