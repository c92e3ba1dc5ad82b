"""The secure rewrite: each restricted table is read through a derived table.

The derived table exposes only the allowed columns, masked, and only the permitted rows,
so masking also holds inside WHERE, JOIN and functions, and no construct the guard did
not foresee (a whole-row reference, ``COLUMNS(*)``) can reach a raw value.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from nl2sql import column_types, pii_patterns
from nl2sql.catalog import Catalog, Column, Table
from nl2sql.errors import ConfigError, first_line

if TYPE_CHECKING:  # roles imports row_condition from here, so only the type is imported back
    from nl2sql.safety.policy.roles import AccessPolicy

def rewrite(tree: exp.Expr, catalog: Catalog, policy: AccessPolicy) -> exp.Expr:
    """A copy of ``tree`` where each restricted table is read through its secure view."""
    restricted = policy.restricted_tables()
    rewritten = tree.copy()
    ctes = {cte.alias_or_name.lower() for cte in rewritten.find_all(exp.CTE)}
    # A table read many times (a UNION of hundreds of branches) gets its view built once
    # and copied, and the tree is searched once for columns named by a full path: each
    # per reference made the rewrite grow with the square of the query.
    views: dict[tuple[str, str, str, str], exp.Subquery] = {}
    full_paths: list[exp.Column] | None = None
    for table in list(rewritten.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier) or (
                not table.db and table.name.lower() in ctes):
            continue
        real = catalog.table(table.name)
        if real is not None and real.name in restricted:
            if (table.db or table.catalog) and not table.alias:
                if full_paths is None:
                    full_paths = [c for c in rewritten.find_all(exp.Column)
                                  if c.args.get("db") or c.args.get("catalog")]
                _unqualify_columns(full_paths, table)
            key = (real.name, table.alias_or_name, table.db, table.catalog)
            view = views.get(key)
            if view is None:
                view = views[key] = secure_view(table, real, policy)
            table.replace(view.copy())
    _drop_denied_exclusions(rewritten, tree, catalog, policy)
    return rewritten


def _unqualify_columns(columns: list[exp.Column], table: exp.Table) -> None:
    """``shop.customers.phone`` names the table by its full path, which the secure view
    (aliased ``customers``) no longer has: the column keeps only the alias. ``columns`` are
    the query's columns named by a full path; ``table`` has no alias (with one, columns
    already use it)."""
    for column in columns:
        if column.table.lower() == table.name.lower() and (column.args.get("db")
                                                          or column.args.get("catalog")):
            column.set("db", None)
            column.set("catalog", None)


def _drop_denied_exclusions(rewritten: exp.Expr, original: exp.Expr, catalog: Catalog,
                            policy: AccessPolicy) -> None:
    """``* EXCLUDE (birth_date)`` is how to leave a denied column out; the secure view has
    no such column, so DuckDB would reject the EXCLUDE. Drop it from the list, unless another
    table in the query has a column of that name (the exclusion then still means something)."""
    tables = [t for t in (catalog.table(x.name) for x in original.find_all(exp.Table)) if t]
    names = {t.name for t in tables}
    denied = {ref.split(".", 1)[1].lower() for ref in policy.denied_columns
              if ref.split(".")[0] in names}
    elsewhere = {c.name.lower() for t in tables for c in t.columns
                 if f"{t.name}.{c.name}" not in policy.denied_columns}
    droppable = denied - elsewhere
    for star in rewritten.find_all(exp.Star):
        excluded = star.args.get("except_") or []
        kept = [c for c in excluded if c.name.lower() not in droppable]
        if len(kept) != len(excluded):
            star.set("except_", kept or None)


def secure_view(table: exp.Table, real: Table, policy: AccessPolicy) -> exp.Subquery:
    """``(SELECT <allowed columns, masked> FROM t WHERE <row filter>) AS <alias>``."""
    source = exp.Table(this=exp.to_identifier(real.name, quoted=True),
                       db=table.args.get("db"), catalog=table.args.get("catalog"))
    projections = [_projection(real, c, policy) for c in real.columns
                   if f"{real.name}.{c.name}" not in policy.denied_columns]
    # copy=False: the parts are new; copying the SELECT per clause cost a wide table dearly
    inner = exp.select(*projections).from_(source, copy=False)
    condition = policy.row_filters.get(real.name)
    if condition:
        inner = inner.where(exp.Paren(this=row_condition(condition)), copy=False)
    alias = exp.TableAlias(this=exp.to_identifier(table.alias_or_name, quoted=True))
    return exp.Subquery(this=inner, alias=alias)


def row_condition(text: str) -> exp.Expr:
    """A row filter as the secure view will use it: one SQL condition, parsed once.

    Raises ConfigError for anything else (``true ORDER BY 1``, a second statement), so a
    filter that would fail every query is refused when the session opens.
    """
    try:
        return _parsed_condition(text).copy()
    except (ParseError, TokenError) as exc:
        raise ConfigError(f"not one SQL condition: {first_line(exc)}") from exc


@functools.lru_cache(maxsize=64)
def _parsed_condition(text: str) -> exp.Expr:
    tree = sqlglot.parse_one(text, read="duckdb")
    for node in tree.walk():  # token positions, copied with every view for nothing
        node._meta = None
    return tree


def _projection(table: Table, column: Column, policy: AccessPolicy) -> exp.Expr:
    ref = exp.column(column.name, quoted=True)
    mode = policy.masks.get(f"{table.name}.{column.name}")
    kinds = policy.redactions.get(f"{table.name}.{column.name}")
    if mode is None and not kinds:
        return ref
    shown: exp.Expr = redact_expression(ref, column, kinds) if kinds else ref
    if mode is not None:  # a mask on top of the redaction sees only the redacted text
        shown = mask_expression(shown, column, mode, policy.key)
    return exp.alias_(shown, column.name, quoted=True, copy=False)


def redact_expression(ref: exp.Expr, column: Column, kinds: frozenset[str]) -> exp.Expr:
    """``column``'s text with each value of ``kinds`` replaced by its token (``[phone]``).

    One ``regexp_replace(..., 'g')`` per kind over the value folded to ASCII (the patterns
    of :mod:`nl2sql.pii_patterns`, which the detectors use too), for texts that can hold
    one (:data:`~nl2sql.pii_patterns.CANDIDATE`), so what the secure view
    exposes, and every filter, function and error message over it, holds only the tokens.
    A list of texts (an extracted column) is redacted item by item.

    >>> sql = redact_expression(exp.column("t"), Column("t", "VARCHAR"), frozenset({"email"})).sql()
    >>> sql.startswith("CASE WHEN REGEXP_MATCHES(t, '[@+]|"), "'[email]', 'g')" in sql
    (True, True)
    """
    item_type = column_types.item_type(column.type)
    if item_type is not None:
        item = redact_expression(exp.column("x"), Column("x", item_type), kinds)
        return exp.Anonymous(this="list_transform", expressions=[
            ref, exp.Lambda(this=item, expressions=[exp.to_identifier("x")])])
    text = ref if column.type.strip().upper() == "VARCHAR" else exp.Cast(
        this=ref, to=exp.DataType.build("VARCHAR"))
    # Folding and the replacements run only on texts that can hold a value (the CASE tests
    # the stored text, a plain column, so no expression is computed twice).
    shown: exp.Expr = _when(text, pii_patterns.FULL_WIDTH, exp.Anonymous(
        this="translate", expressions=[text, exp.Literal.string(pii_patterns.FOLD_FROM),
                                       exp.Literal.string(pii_patterns.FOLD_TO)]))
    for kind in pii_patterns.REDACT_ORDER:
        if kind in kinds:
            replaced = exp.Anonymous(this="regexp_replace", expressions=[
                shown.copy(), exp.Literal.string(_alternatives(kind)),
                exp.Literal.string(pii_patterns.token(kind)), exp.Literal.string("g")])
            gate = pii_patterns.GATES.get(kind)
            # a gated kind repeats the expression so far in its ELSE: DuckDB evaluates
            # only the branch a row takes, so each row still runs each step at most once
            shown = _when(text, gate, replaced, otherwise=shown) if gate else replaced
    return _when(text, pii_patterns.CANDIDATE, shown)


def _when(text: exp.Expr, pattern: str, then: exp.Expr,
          otherwise: exp.Expr | None = None) -> exp.Expr:
    """``CASE WHEN regexp_matches(text, pattern) THEN then ELSE otherwise (text) END``."""
    matches = exp.Anonymous(this="regexp_matches",
                            expressions=[text.copy(), exp.Literal.string(pattern)])
    return exp.Case(ifs=[exp.If(this=matches, true=then)],
                    default=(otherwise if otherwise is not None else text).copy())


@functools.lru_cache(maxsize=16)
def _alternatives(kind: str) -> str:
    """A kind's patterns as one RE2 alternation (one pass over the text per kind)."""
    return "|".join(f"(?:{p})" for p in pii_patterns.PATTERNS[kind])


# A time of day has no year to keep: a partial mask shows nothing of it.
TIME_OF_DAY = (exp.DataType.Type.TIME, exp.DataType.Type.TIMETZ, exp.DataType.Type.TIME_NS)

# Partial masks by the kind of personal data, over a text value ``{c}``. These are SQL
# templates the rewrite parses with sqlglot; ``{c}`` becomes a quoted column reference.
PARTIAL_TEXT = {
    "email": "CASE WHEN strpos({c}, '@') > 1 THEN left({c}, 1) || '***' || "
             "substr({c}, strpos({c}, '@')) ELSE repeat('*', length({c})) END",
    "person_name": "CASE WHEN length({c}) > 1 THEN left({c}, 1) || repeat('*', length({c}) - 1) "
                   "ELSE '*' END",
    "address": "CASE WHEN length({c}) > 6 THEN left({c}, 6) || '***' ELSE '***' END",
    # Free text keeps its words; long digit runs and e-mail addresses inside it go.
    "text": "regexp_replace(regexp_replace({c}, '[0-9][0-9 -]{{5,}}[0-9Xx]', '[number]', 'g'), "
            "'[^\\s@]+@[^\\s@]+', '[email]', 'g')",
    # phones, ID and card numbers: keep the first 3 and last 4 characters
    "number": "CASE WHEN length({c}) >= 8 THEN left({c}, 3) || repeat('*', length({c}) - 7) || "
              "right({c}, 4) WHEN length({c}) > 2 THEN left({c}, 1) || repeat('*', length({c}) - 2)"
              " || right({c}, 1) ELSE repeat('*', length({c})) END",
}


def mask_expression(ref: exp.Expr, column: Column, mode: str, key: str = "") -> exp.Expr:
    """The SQL expression that shows ``column`` masked by ``mode``.

    >>> from nl2sql.catalog import Column
    >>> mask_expression(exp.column("phone"), Column("phone", "VARCHAR"), "redact").sql()
    "CASE WHEN phone IS NULL THEN NULL ELSE '[redacted]' END"
    """
    item_type = column_types.item_type(column.type)
    if item_type is not None:  # a list (extracted names): mask each item, or redact the list
        if mode == "redact":
            return exp.Cast(this=exp.Null(), to=exp.DataType.build(column.type, dialect="duckdb"))
        item = Column(name="x", type=item_type, tags=column.tags)
        masked = mask_expression(exp.column("x"), item, mode, key)
        return exp.Anonymous(this="list_transform", expressions=[
            ref, exp.Lambda(this=masked, expressions=[exp.to_identifier("x")])])
    if mode == "hash":
        salt = exp.Literal.string(key)
        text = exp.Cast(this=ref, to=exp.DataType.build("VARCHAR"))
        digest = exp.Anonymous(this="sha256", expressions=[exp.DPipe(this=salt, expression=text)])
        return exp.DPipe(this=exp.Literal.string("#"),
                         expression=exp.Anonymous(this="left", expressions=[
                             digest, exp.Literal.number(12)]))
    textual = column_types.is_text(column.type)
    if mode == "redact":
        if textual:
            return _template("CASE WHEN {c} IS NULL THEN NULL ELSE '[redacted]' END", ref)
        return exp.Cast(this=exp.Null(), to=exp.DataType.build(column.type, dialect="duckdb"))
    if textual:
        # ENUM and UUID values are text too, but DuckDB's string functions take VARCHAR only
        as_text = ref if column.type.strip().upper() == "VARCHAR" else exp.Cast(
            this=ref, to=exp.DataType.build("VARCHAR"))
        return _template(PARTIAL_TEXT[_partial_kind(column)], as_text)
    target = exp.DataType.build(column.type, dialect="duckdb")
    if column_types.is_temporal(column.type) and not target.is_type(*TIME_OF_DAY):
        # keep the year: enough for ages, not for identity
        return exp.Cast(this=_template("date_trunc('year', {c})", ref), to=target)
    return exp.Cast(this=exp.Null(), to=target)


def _partial_kind(column: Column) -> str:
    pii = str(column.tags.get("pii") or "")
    if pii in PARTIAL_TEXT:
        return pii
    if column.tags.get("pii_mentions") or pii in ("free_text", "text"):
        return "text"
    return "number"


PLACEHOLDER = "__nl2sql_value__"


Slot = tuple[tuple[str, int | None], ...]  # arg keys (and list positions) from the root


@functools.lru_cache(maxsize=64)
def _parsed_template(sql: str) -> tuple[exp.Expr, tuple[Slot, ...]]:
    """The template's tree and where in it the value goes (each placeholder's path)."""
    tree = sqlglot.parse_one(sql.format(c=PLACEHOLDER), read="duckdb")
    for node in tree.walk():  # token positions: copying them per masked column was its cost
        node._meta = None
    slots = []
    for column in tree.find_all(exp.Column):
        if column.name != PLACEHOLDER:
            continue
        path: list[tuple[str, int | None]] = []
        step: exp.Expr = column
        while step.parent is not None:
            path.append((str(step.arg_key), step.index))
            step = step.parent
        slots.append(tuple(reversed(path)))
    return tree, tuple(slots)


def _template(sql: str, ref: exp.Expr) -> exp.Expr:
    """The template with ``ref`` in each placeholder's place. Parsed once; each use copies
    the tree and puts the value in by path (a search of every node per masked column was
    most of a wide query's rewrite)."""
    template, slots = _parsed_template(sql)
    if slots == ((),):  # the template is the value alone
        return ref.copy()
    tree = template.copy()
    for slot in slots:
        node: exp.Expr = tree
        for key, index in slot:
            child = node.args[key]
            node = child[index] if index is not None else child
        node.replace(ref.copy())
    return tree
