"""Stage 5 — the guard: decide on the AST whether a query may run.

Fail closed: anything not understood is refused with a reason a person can
act on. The SQL that runs is regenerated from the checked AST, never the text
the model wrote.

    >>> from nl2sql.catalog import Catalog, Table, Column
    >>> cat = Catalog(name="shop", tables={"t": Table("t", [Column("a", "INTEGER")])})
    >>> check("select a from t", cat, Policy(row_limit=10)).sql
    'SELECT a FROM t LIMIT 10'
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from nl2sql.catalog import Catalog, Table
from nl2sql.errors import UnknownIdentifier, UnsafeSQL, first_line
from nl2sql.safety import deadline
from nl2sql.safety import policy as access_policy
from nl2sql.safety.guard_rules import (
    ALLOWED_NAMED_FUNCTIONS,
    ALLOWED_NODES,
    FORBIDDEN_FUNCTION_CLASSES,
    FORBIDDEN_FUNCTIONS,
    FORBIDDEN_NODES,
    FORBIDDEN_PREFIXES,
    FORMAT_WIDTH_LIMIT,
    MAX_NODES,
    QUERY_ROOTS,
    SERIES_LIMIT,
    SIZE_LIMITS,
    TABLE_FUNCTIONS_ALLOWED,
)
from nl2sql.safety.parse_errors import first_word, parse_failure
from nl2sql.values import GuardedQuery

# sqlglot logs "unsupported syntax, falling back to Command" warnings; the
# guard reports those statements itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Policy:
    """Limits the guard enforces for one caller."""

    row_limit: int = 1000
    max_chars: int = 20_000
    timeout: float | None = None  # seconds checking may take (the query timeout); None: any



def check(sql: str, catalog: Catalog, policy: Policy | None = None,
          dialect: str = "duckdb", access: access_policy.AccessPolicy | None = None,
          ) -> GuardedQuery:
    """Accept ``sql`` as a :class:`GuardedQuery` or raise :class:`UnsafeSQL`.

    The regenerated SQL is checked once more and must come out unchanged: what runs
    is exactly what was checked. With an ``access`` policy, references to denied tables
    and columns are refused, and the query that runs (``executed_sql``) reads restricted
    tables through their secure views (:mod:`nl2sql.safety.policy`). With a ``timeout``
    in ``policy``, checking that takes longer raises :class:`QueryTimeout`
    (:mod:`nl2sql.safety.deadline`).
    """
    limits = policy or Policy()
    # the collector's context outermost: the timer is off before it resumes collecting
    with _no_cycle_collection(), deadline.time_limit(limits.timeout):
        try:
            return _check(sql, catalog, limits, dialect, access)
        except RecursionError as exc:  # a stage past the parser (qualify, the generator)
            raise UnsafeSQL("the query is nested too deeply to check", rule="too_deep") from exc


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a query is checked. sqlglot trees are cyclic
    (every node links to its parent), so each copy and rewrite is garbage only that
    collector frees, and its passes over a heap that grows with the query took a third to
    a half of a wide query's check. A check's garbage is bounded by the input limits (tens
    of MB for 2,400 columns) and is freed by the first collection after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check(sql: str, catalog: Catalog, policy: Policy, dialect: str,
           access: access_policy.AccessPolicy | None) -> GuardedQuery:
    query, _, _ = _check_once(sql, catalog, policy, dialect, access)
    again, tree, qualified = _check_once(query.sql, catalog, policy, "duckdb", access)
    if again.sql != query.sql:
        raise UnsafeSQL("the query does not read the same after it is rewritten; write it "
                        "more plainly", rule="parse")
    if access is not None and access.restricts:
        _secure(query, tree, qualified, catalog, access)
    return query


def _secure(query: GuardedQuery, tree: exp.Expr, qualified: exp.Expr, catalog: Catalog,
            access: access_policy.AccessPolicy) -> None:
    """Fill ``executed_sql`` and ``masking`` for a query that passed under ``access``;
    ``tree`` and ``qualified`` are the second pass's, i.e. of exactly ``query.sql``."""
    touched = access.restricted_tables() & set(query.tables)
    if not touched:
        return
    rewritten = access_policy.rewrite(tree, catalog, access)  # a fresh copy, ours alone
    deadline.checkpoint()
    # copy=False: the generator need not copy a tree that is ours alone (a wide query's
    # rewrite is tens of thousands of nodes)
    executed = rewritten.sql(dialect="duckdb", copy=False)
    deadline.checkpoint()
    _second_opinion(executed)
    query.executed_sql = executed
    if access.key:  # the same plan without the mask key, for EXPLAIN output people see
        key = access.key

        def explain_sql() -> str:  # built only if an EXPLAIN asks (GuardedQuery.shown_sql)
            blanked = _blank_key(rewritten, key)
            return rewritten.sql(dialect="duckdb", copy=False) if blanked else executed

        query.explain_builder = explain_sql
    deadline.checkpoint()
    query.masking = access_policy.masking(qualified, catalog, access, query.columns,
                                          schema=schema_of(catalog))
    filtered = sorted(touched & set(access.row_filters))
    if filtered:
        query.notes.append(f"row filter of role {access.role} applied to {', '.join(filtered)}")


def _blank_key(rewritten: exp.Expr, key: str) -> bool:
    """The mask key appears only as the salt literal of ``hash`` masks; each becomes
    asterisks (the same plan as rewriting again with a blank key, at no second rewrite).
    False when the query reads no hashed column (nothing to blank)."""
    blank = "*" * len(key)
    found = [literal for literal in rewritten.find_all(exp.Literal)
             if literal.is_string and literal.this == key]
    for literal in found:
        literal.replace(exp.Literal.string(blank))
    return bool(found)


def _check_once(sql: str, catalog: Catalog, policy: Policy, dialect: str,
                access: access_policy.AccessPolicy | None = None,
                ) -> tuple[GuardedQuery, exp.Expr, exp.Expr]:
    """One pass: the accepted query, its final tree and its qualified tree."""
    _check_text(sql, policy)
    tree = _parse_one(sql, dialect)
    deadline.checkpoint()  # between stages: the bound where no timer interrupts them
    _check_size_of(tree)
    _check_nodes(tree)
    _check_series_product(tree)
    tables = _check_tables(tree, catalog)
    deadline.checkpoint()
    qualified = _qualified(tree, catalog)
    deadline.checkpoint()
    columns = _columns_read(qualified, catalog)
    if access is not None and access.restricts:
        access_policy.check_refs(tree, qualified, tables, columns, catalog, access)
    deadline.checkpoint()
    tree, limited, limit = _apply_limit(tree, policy.row_limit)
    notes = [f"LIMIT {limit} applied (row limit)"] if limited else []
    final = tree.sql(dialect="duckdb")
    deadline.checkpoint()
    _second_opinion(final)
    query = GuardedQuery(sql=final, original=sql, tables=tables,
                         columns=columns, limit=limit, limited=limited, notes=notes)
    return query, tree, qualified


def _second_opinion(sql: str) -> None:
    """DuckDB's own parser must also see exactly one SELECT in the SQL that will run."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise UnsafeSQL(f"DuckDB cannot parse the checked query: {first_line(exc)}",
                        rule="parse") from exc
    kinds = [s.type for s in statements]
    if kinds != [duckdb.StatementType.SELECT]:
        raise UnsafeSQL(f"DuckDB reads the checked query as {', '.join(k.name for k in kinds)}, "
                        "not one SELECT", rule="read_only")


def _check_text(sql: str, policy: Policy) -> None:
    if not sql.strip():
        raise UnsafeSQL("the query is empty", rule="empty")
    if len(sql) > policy.max_chars:
        raise UnsafeSQL(f"the query is {len(sql):,} characters long; the limit is "
                        f"{policy.max_chars:,}", rule="too_long")
    bad = next((c for c in sql if ord(c) < 32 and c not in "\t\n\r"), None)
    if bad is not None:
        raise UnsafeSQL(f"the query contains a control character (0x{ord(bad):02x})",
                        rule="control_character")



def _check_size_of(tree: exp.Expr) -> None:
    for count, _node in enumerate(tree.walk(), start=1):
        if count > MAX_NODES:
            raise UnsafeSQL(f"the query has more than {MAX_NODES:,} parts; the limit keeps "
                            "checking fast", rule="too_big")


def _parse_one(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise parse_failure(sql, exc, dialect) from exc
    except RecursionError as exc:
        raise UnsafeSQL("the query is nested too deeply to check", rule="too_deep") from exc
    except (AttributeError, ValueError, TypeError, IndexError, KeyError) as exc:
        # sqlglot can trip over malformed input; that is a parse failure, not a crash
        raise UnsafeSQL("the SQL does not parse", rule="parse") from exc
    if not statements:
        raise UnsafeSQL("the query is empty", rule="empty")
    if len(statements) > 1:
        raise UnsafeSQL(f"only one statement may run; this text has {len(statements)}",
                        rule="single_statement")
    tree = statements[0]
    if not isinstance(tree, QUERY_ROOTS):
        word = first_word(sql) or type(tree).__name__.upper()
        reason = FORBIDDEN_NODES.get(type(tree))
        detail = f"{word}: {reason}" if reason and word.lower() not in reason.lower() else (
            reason or f"{word} is not a query")
        if reason == FORBIDDEN_NODES[exp.Command]:
            detail = f"{word} is not a query"
        raise UnsafeSQL(f"only read-only queries may run: {detail}", rule="read_only")
    return tree



def _check_nodes(tree: exp.Expr) -> None:
    """Every node must be a known query node, an operator, or an allowed function."""
    for node in tree.walk():
        reason = FORBIDDEN_NODES.get(type(node))
        if reason is not None:
            raise UnsafeSQL(f"only read-only queries may run: {reason}", rule="read_only")
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise UnsafeSQL("WITH RECURSIVE is not allowed: it can run without end",
                            rule="recursive_cte")
        if isinstance(node, exp.Func):
            _check_function(node)
        elif not (isinstance(node, (exp.Binary, exp.Unary)) or type(node) in ALLOWED_NODES):
            name = type(node).__name__
            raise UnsafeSQL(f"{name} is not allowed: the guard only runs query constructs it "
                            "knows to be safe", rule="node", node=name)


def function_name(node: exp.Func) -> str:
    """The lower-case name a person would write for a function node."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _check_function(node: exp.Func) -> None:
    by_class = FORBIDDEN_FUNCTION_CLASSES.get(type(node))
    if by_class is not None:
        _refuse_function(*by_class)
    name = function_name(node)
    reason = FORBIDDEN_FUNCTIONS.get(name) or next(
        (why for prefix, why in FORBIDDEN_PREFIXES.items() if name.startswith(prefix)), None)
    if reason is not None:
        _refuse_function(name, reason)
    if isinstance(node, exp.Anonymous) and name not in ALLOWED_NAMED_FUNCTIONS:
        _refuse_function(name, "it is not on the list of functions known to be safe")
    _check_size(node, name)


def _check_size(node: exp.Func, name: str) -> None:
    """Refuse sizes that would exhaust memory or time before the engine's limits bite."""
    args = list(node.expressions) if isinstance(node, exp.Anonymous) else [
        v for v in node.args.values() if isinstance(v, exp.Expr)]
    if isinstance(node, exp.Pad):
        name = "lpad" if node.args.get("is_left") else "rpad"
    limit = SIZE_LIMITS.get(name) or SIZE_LIMITS.get(type(node).__name__.lower())
    if limit is not None:
        index, largest, why = limit
        values = [_constant(a) for a in args]
        if any(v is not None and abs(v) > largest for v in values[index:]):
            _refuse_resource(name, f"the size is above {largest:,}: {why}")
    if isinstance(node, exp.GenerateSeries):
        _check_series(node)
    if name in ("printf", "format"):
        _check_format(args, name)


def series_size(node: exp.GenerateSeries) -> float:
    """Rows a range()/generate_series() produces; refuses bounds that are not numbers."""
    start = _constant(node.args.get("start"))
    end = _constant(node.args.get("end"))
    step = _constant(node.args.get("step")) or 1
    if start is None or end is None:
        _refuse_resource("range/generate_series",
                         "its bounds must be numbers so its size can be checked")
    assert start is not None and end is not None
    return abs((end - start) / step) if step else float("inf")


def _check_series(node: exp.GenerateSeries) -> None:
    if series_size(node) > SERIES_LIMIT:
        _refuse_resource("range/generate_series",
                         f"it would produce more than {SERIES_LIMIT:,} rows")


def _check_series_product(tree: exp.Expr) -> None:
    """Cross joins of series multiply: their product is bounded too."""
    total = 1.0
    for node in tree.find_all(exp.GenerateSeries):
        total *= max(series_size(node), 1)
    if total > SERIES_LIMIT:
        _refuse_resource("range/generate_series",
                         f"together they would produce more than {SERIES_LIMIT:,} rows")


def _check_format(args: list[exp.Expr], name: str) -> None:
    """Field widths are bounded; so they must be visible: the format is a string literal
    and no width comes from an argument (``printf('%*s', n, …)``, ``format('{:>{}}', …, n)``
    padded a string to any size the query liked)."""
    pattern = args[0] if args else None
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        _refuse_resource(name, "the format must be a string literal, so its field widths can "
                               "be checked")
    assert isinstance(pattern, exp.Literal)
    import re as _re  # the format string is data, not SQL

    text = pattern.this
    if _re.search(r"%[-+ 0#']*(\*|\d*\.\*)", text) or _re.search(r"\{[^{}]*\{", text):
        _refuse_resource(name, "a field width taken from an argument; write the width in the "
                               f"format (at most {FORMAT_WIDTH_LIMIT:,})")
    widths = [int(w) for w in _re.findall(r"%[-+ 0#']*(\d+)", text)]
    widths += [int(w) for w in _re.findall(r"%[-+ 0#']*\d*\.(\d+)", text)]
    widths += [int(w) for w in _re.findall(r"\{[^}]*?(\d+)[^}]*\}", text)]
    if any(w > FORMAT_WIDTH_LIMIT for w in widths):
        _refuse_resource(name, f"a field width above {FORMAT_WIDTH_LIMIT:,} characters")


def _constant(node: exp.Expr | None) -> float | None:
    """The value of a constant numeric expression (literals and + - * /), else None."""
    if node is None:
        return None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Paren):
        return _constant(node.this)
    if isinstance(node, exp.Neg):
        value = _constant(node.this)
        return -value if value is not None else None
    if isinstance(node, exp.Cast):
        return _constant(node.this)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        left, right = _constant(node.this), _constant(node.expression)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Add):
            return left + right
        if isinstance(node, exp.Sub):
            return left - right
        if isinstance(node, exp.Mul):
            return left * right
        return left / right if right else None
    return None


def _refuse_resource(name: str, reason: str) -> None:
    raise UnsafeSQL(f"{name} is not allowed here: {reason}", rule="resource", function=name)


def _refuse_function(name: str, reason: str) -> None:
    raise UnsafeSQL(f"function {name} is not allowed: {reason}", rule="function", function=name)


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _check_tables(tree: exp.Expr, catalog: Catalog) -> list[str]:
    ctes = _cte_names(tree)
    shadow = next((name for name in sorted(ctes) if catalog.table(name) is not None), None)
    if shadow is not None:
        raise UnsafeSQL(f"the query defines {shadow} (WITH {shadow} AS ...), which hides the real "
                        f"table {shadow}; give it another name", rule="cte_shadows_table")
    found: list[str] = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            _check_table_function(table)
            continue
        _check_prefix(table, catalog)
        name = table.name
        if not table.db and name.lower() in ctes:
            continue
        real = catalog.table(name)
        if real is None:
            raise _unknown("table", name, list(catalog.tables))
        if real.name not in found:
            found.append(real.name)
    return found


def _check_table_function(table: exp.Table) -> None:
    func = table.this
    if isinstance(func, TABLE_FUNCTIONS_ALLOWED):
        return
    name = function_name(func) if isinstance(func, exp.Func) else type(func).__name__.lower()
    raise UnsafeSQL(f"table function {name} is not allowed: only the database's tables may be read",
                    rule="table_function", function=name)


def _check_prefix(table: exp.Table, catalog: Catalog) -> None:
    allowed_db = {"", "main", catalog.name.lower()}
    db, cat = table.db.lower(), table.catalog.lower()
    if cat not in ("", catalog.name.lower()) or db not in allowed_db:
        where = ".".join(p for p in (table.catalog, table.db, table.name) if p)
        raise UnsafeSQL(f"table {where} is outside database {catalog.name}: only its own tables "
                        "may be read", rule="catalog")


def _unknown(kind: str, name: str, candidates: list[str]) -> UnknownIdentifier:
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    suggestions = [lowered[c] for c in close]
    hint = f"; did you mean {' or '.join(f'`{s}`' for s in suggestions)}?" if suggestions else ""
    return UnknownIdentifier(f"no {kind} `{name}`{hint}", name=name, suggestions=suggestions)


def schema_of(catalog: Catalog) -> MappingSchema:
    """The catalog as sqlglot's schema, built once per distinct schema: building it
    normalizes every column name, which for a wide table cost more than qualifying."""
    frozen = tuple((table, tuple(columns.items()))
                   for table, columns in catalog.sqlglot_schema().items())
    return _schema(frozen)


@functools.lru_cache(maxsize=4)
def _schema(frozen: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> MappingSchema:
    return MappingSchema({table: dict(columns) for table, columns in frozen}, dialect="duckdb")


def _qualified(tree: exp.Expr, catalog: Catalog) -> exp.Expr:
    """Resolve every column with sqlglot's qualify (``*`` expanded); name the first unknown one."""
    try:
        return qualify(tree.copy(), schema=schema_of(catalog), dialect="duckdb",
                       validate_qualify_columns=True, quote_identifiers=False, identify=False)
    except OptimizeError as exc:
        raise _unknown_column(tree, catalog, exc) from exc
    except RecursionError as exc:
        raise UnsafeSQL("the query is nested too deeply to check", rule="too_deep") from exc


def _unknown_column(tree: exp.Expr, catalog: Catalog, exc: Exception) -> UnsafeSQL:
    referenced = [t for t in (catalog.table(x.name) for x in tree.find_all(exp.Table)) if t]
    known = {c.name.lower() for t in referenced for c in t.columns}
    aliases = {a.alias.lower() for a in tree.find_all(exp.Alias)}
    aliases |= {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for column in tree.find_all(exp.Column):
        name = column.name
        if name and name.lower() not in known and name.lower() not in aliases:
            candidates = [c.name for t in referenced for c in t.columns] or [
                c.name for t in catalog.tables.values() for c in t.columns]
            return _unknown("column", name, candidates)
    return UnsafeSQL(f"a name in the query cannot be resolved: {first_line(exc)}",
                     rule="unknown_identifier")


def _columns_read(qualified: exp.Expr, catalog: Catalog) -> list[str]:
    """``table.column`` for every catalog column the query touches (for audit)."""
    from sqlglot.optimizer.scope import traverse_scope

    seen: dict[str, None] = {}  # ordered, and a lookup per column stays O(1)
    tables: dict[str, Table | None] = {}  # as the query names them -> the catalog's table
    by_name: dict[str, dict[str, str]] = {}  # table -> lower-case column -> its catalog name
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if not isinstance(source, exp.Table):
                continue
            if source.name not in tables:
                tables[source.name] = catalog.table(source.name)
            real = tables[source.name]
            if real is None:
                continue
            names = by_name.get(real.name)
            if names is None:  # Table.column scans the columns: once per table, not per use
                names = by_name[real.name] = {}
                for col in real.columns:
                    names.setdefault(col.name.lower(), col.name)
            key = f"{real.name}.{names.get(column.name.lower(), column.name)}"
            seen.setdefault(key, None)
    return list(seen)


def _apply_limit(tree: exp.Expr, row_limit: int) -> tuple[exp.Expr, bool, int]:
    """Add a LIMIT, or lower one above the row limit. Returns (tree, changed, limit).

    A limit the guard cannot read as a number (an expression, a percentage) is
    kept and the whole query is wrapped in an outer LIMIT.
    """
    if not isinstance(tree, (exp.Select, exp.SetOperation)):
        return _wrap_limit(tree, row_limit), True, row_limit
    current = tree.args.get("limit")
    if current is None:
        tree.set("limit", exp.Limit(expression=exp.Literal.number(row_limit)))
        return tree, True, row_limit
    value = _limit_value(current)
    if value is None:
        return _wrap_limit(tree, row_limit), True, row_limit
    if value <= row_limit:
        return tree, False, value
    tree.set("limit", exp.Limit(expression=exp.Literal.number(row_limit)))
    return tree, True, row_limit


def _limit_value(node: exp.Expr) -> int | None:
    options = node.args.get("limit_options")
    if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
        return None
    if isinstance(node, exp.Limit):
        return _literal_int(node.expression)
    if isinstance(node, exp.Fetch):
        return _literal_int(node.args.get("count"))
    return None


def _wrap_limit(tree: exp.Expr, row_limit: int) -> exp.Expr:
    inner = tree if isinstance(tree, exp.Subquery) else exp.Subquery(this=tree)
    return exp.select("*").from_(inner.as_("limited") if not inner.alias else inner).limit(row_limit)


def _literal_int(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None

