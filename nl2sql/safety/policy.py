"""Access policy: which tables, columns and rows a role may see, and how values are masked.

The rules live in ``schemas/<database>.yaml`` (README, "Access policy"): per column
``mask: none|partial|hash|redact`` and ``deny: true``, per table ``deny: true`` and
``row_filter: "<condition>"``, and under ``roles:`` what each role changes. A role's
:class:`AccessPolicy` is enforced three times over:

1. the drafters see a catalog without the denied tables and columns (:func:`visible`);
2. the guard refuses any reference to a denied column or table, also through ``*``,
   aliases, subqueries and CTEs, with a reason (:func:`check_refs`);
3. every reference to a restricted table in the query that runs is replaced by a derived
   table exposing only the allowed columns, masked, and only the permitted rows
   (:func:`rewrite`). Masking thus also holds inside WHERE, JOIN and functions, so an
   analyst cannot find a phone number by filtering on it, and no construct the guard did
   not foresee (a whole-row reference, ``COLUMNS(*)``) can reach a raw value.

Column lineage (``sqlglot.lineage``) then says which output columns carry masked data
(:func:`masking`), for the answer's notes and the audit log.
"""

from __future__ import annotations

import copy
import functools
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from nl2sql.catalog import Catalog, Column, Role, Table
from nl2sql.errors import ConfigError, UnsafeSQL, first_line

DEFAULT_ROLE = "default"  # the name of the one role a file without ``roles:`` has
STRENGTH = {"none": 0, "partial": 1, "hash": 2, "redact": 3}


@dataclass(frozen=True)
class AccessPolicy:
    """What one role may see. ``masks`` and ``denied_columns`` use ``table.column`` keys."""

    role: str = DEFAULT_ROLE
    description: str | None = None
    masks: Mapping[str, str] = field(default_factory=dict)
    denied_columns: frozenset[str] = frozenset()
    denied_tables: frozenset[str] = frozenset()
    row_filters: Mapping[str, str] = field(default_factory=dict)
    key: str = ""  # secret for ``hash`` masks
    reasons: Mapping[str, str] = field(default_factory=dict)  # denied table -> why

    @property
    def restricts(self) -> bool:
        return bool(self.masks or self.denied_columns or self.denied_tables or self.row_filters)

    def tables_with_denied_columns(self) -> set[str]:
        return {ref.split(".")[0] for ref in self.denied_columns}

    def restricted_tables(self) -> set[str]:
        """Tables whose references the engine must replace by a secure derived table."""
        masked = {ref.split(".")[0] for ref in self.masks}
        return masked | self.tables_with_denied_columns() | set(self.row_filters)

    def summary(self) -> dict[str, Any]:
        """The policy as plain data (``nl2sql catalog``, ``\\role`` in the shell)."""
        return {"role": self.role, "description": self.description,
                "masked": dict(sorted(self.masks.items())),
                "denied_columns": sorted(self.denied_columns),
                "denied_tables": sorted(self.denied_tables),
                "row_filters": dict(sorted(self.row_filters.items()))}


# --- choosing a role -------------------------------------------------------------------------


def role_names(catalog: Catalog) -> list[str]:
    """The roles a database defines, or ``["default"]`` when it defines none."""
    return list(catalog.roles) or [DEFAULT_ROLE]


def default_role(catalog: Catalog) -> str:
    """The role marked ``default: true``, else the most restricted one (the safe choice).

    >>> default_role(Catalog(name="x", tables={}))
    'default'
    """
    marked = [r.name for r in catalog.roles.values() if r.default]
    if marked:
        return marked[0]
    if not catalog.roles:
        return DEFAULT_ROLE
    return max(catalog.roles, key=lambda name: _restriction(resolve(catalog, name)))


def _restriction(policy: AccessPolicy) -> tuple[int, int, int, int]:
    # max() keeps the first of equals, so ties go to the role listed first
    return (len(policy.denied_tables), len(policy.denied_columns),
            sum(STRENGTH[m] for m in policy.masks.values()), len(policy.row_filters))


def for_role(catalog: Catalog, role: str | None = None, user: str | None = None,
             key_file: Path | None = None) -> AccessPolicy:
    """The policy of ``role`` (None: the default role) for ``user``; raises ConfigError for
    a role the database does not define or one ``user`` may not take."""
    name = role or default_role(catalog)
    if name not in role_names(catalog):
        raise ConfigError(f"no role {name!r} in {catalog.name}'s policy; roles: "
                          f"{', '.join(role_names(catalog))}")
    spec = catalog.roles.get(name)
    if spec is not None and spec.users and user not in spec.users:
        raise ConfigError(f"role {name} is limited to {', '.join(spec.users)}; "
                          f"{user or 'this user'} may not take it")
    policy = resolve(catalog, name)
    if "hash" in policy.masks.values() and key_file is not None:
        policy = replace(policy, key=load_key(key_file))
    return policy


def resolve(catalog: Catalog, name: str) -> AccessPolicy:
    """The base rules of the catalog with role ``name``'s changes applied."""
    spec = catalog.roles.get(name) or Role(name=name)
    masks: dict[str, str] = {}
    denied: set[str] = set()
    for table in catalog.tables.values():
        for column in table.columns:
            ref = f"{table.name}.{column.name}"
            mode, deny = _column_rule(table, column, spec)
            if deny:
                denied.add(ref)
            elif mode != "none":
                masks[ref] = mode
    policy = AccessPolicy(role=name, description=spec.description, masks=masks,
                          denied_columns=frozenset(denied),
                          denied_tables=frozenset(_denied_tables(catalog, spec)),
                          row_filters=_filters(catalog, spec))
    return _close_extracted(catalog, spec, _close_views(catalog, spec, policy))


def _close_extracted(catalog: Catalog, role: Role, policy: AccessPolicy) -> AccessPolicy:
    """A table ``nl2sql extract`` derived from a text column follows that column: denied
    when the role may not see the text in clear (denied or masked), and filtered like the
    source's rows, so extraction never launders data a role may not read."""
    denied: dict[str, str] = {}
    filters = dict(policy.row_filters)
    for table in catalog.tables.values():
        origin = table.tags.get("extracted")
        if not isinstance(origin, dict) or _listed(table.name, role.allow):
            continue
        source, column, key = (str(origin.get(k)) for k in ("source_table", "source_column",
                                                            "key"))
        ref = f"{source}.{column}"
        if source in policy.denied_tables or ref in policy.denied_columns or ref in policy.masks:
            denied[table.name] = (f"it was extracted from {ref}, which role {policy.role} may "
                                  "not read in clear; list it under "
                                  f"roles.{policy.role}.allow to vouch for it")
        elif source in policy.row_filters and table.name not in filters:
            filters[table.name] = _inherited_filter(key, source, policy.row_filters[source])
    if not denied and filters == policy.row_filters:
        return policy
    return replace(policy, row_filters=filters,
                   denied_tables=policy.denied_tables | frozenset(denied),
                   reasons={**policy.reasons, **denied})


def _inherited_filter(key: str, source: str, condition: str) -> str:
    """``key IN (SELECT key FROM source WHERE condition)``, built on the syntax tree."""
    inner = exp.select(exp.column(key, quoted=True)).from_(
        exp.to_table(exp.to_identifier(source, quoted=True).sql(dialect="duckdb"))).where(
        exp.Paren(this=row_condition(condition)))
    return exp.In(this=exp.column(key, quoted=True), query=exp.Subquery(this=inner)).sql(
        dialect="duckdb")


def _close_views(catalog: Catalog, role: Role, policy: AccessPolicy) -> AccessPolicy:
    """A view runs over its tables without the secure rewrite, so a view that reads a table
    with rules (or whose SQL cannot be read) is denied, unless the role's ``allow`` names it:
    a person then vouches for what the view shows."""
    guarded = policy.restricted_tables() | set(policy.denied_tables)
    reasons: dict[str, str] = {}
    changed = True
    while changed:  # views over views
        changed = False
        for view in (t for t in catalog.tables.values() if t.kind == "view"):
            if view.name in reasons or _listed(view.name, role.allow):
                continue
            read = _tables_read_by(view, catalog)
            hit = sorted(read & (guarded | set(reasons))) if read is not None else None
            if read is None and guarded:
                reasons[view.name] = (f"view {view.name} cannot be checked (its SQL is unknown) "
                                      f"and role {policy.role} has access rules")
            elif hit:
                which = "which has" if len(hit) == 1 else "which have"
                reasons[view.name] = (f"view {view.name} reads {', '.join(hit)}, {which} access "
                                      f"rules for role {policy.role}; list it under "
                                      f"roles.{policy.role}.allow to vouch for it")
            changed = changed or view.name in reasons
    if not reasons:
        return policy
    return replace(policy, denied_tables=policy.denied_tables | frozenset(reasons),
                   reasons=reasons)


def _tables_read_by(view: Table, catalog: Catalog) -> set[str] | None:
    """Catalog tables a view's SQL reads (None when it cannot be parsed)."""
    if not view.definition:
        return None
    try:
        tree = sqlglot.parse_one(view.definition, read=catalog.dialect)
    except Exception:  # noqa: BLE001 - any parse failure means "unknown"
        return None
    own = view.name.lower()
    return {real.name for t in tree.find_all(exp.Table)
            if t.name.lower() != own and (real := catalog.table(t.name)) is not None}


def _column_rule(table: Table, column: Column, role: Role) -> tuple[str, bool]:
    ref = f"{table.name}.{column.name}"
    mode = str(column.tags.get("mask", "none"))
    deny = bool(column.tags.get("deny", False))
    if _listed(ref, role.unmask):
        mode = "none"
    if _listed(ref, role.allow):
        deny = False
    override = role.columns.get(ref, {})
    return str(override.get("mask", mode)), bool(override.get("deny", deny))


def _listed(ref: str, names: list[str]) -> bool:
    return "*" in names or ref in names or ref.split(".")[0] in names


def _denied_tables(catalog: Catalog, role: Role) -> set[str]:
    base = {t.name for t in catalog.tables.values() if t.tags.get("deny")}
    lifted = {t for t in base if _listed(t, role.allow)}
    return (base - lifted) | set(role.deny_tables)


def _filters(catalog: Catalog, role: Role) -> dict[str, str]:
    filters = {t.name: str(t.tags["row_filter"]) for t in catalog.tables.values()
               if t.tags.get("row_filter")}
    for table, condition in role.row_filters.items():
        if condition is None:
            filters.pop(table, None)
        else:
            filters[table] = condition
    return filters


def load_key(path: Path) -> str:
    """The secret that keys ``hash`` masks, created (mode 0600) on first use."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the mask key {path}: {exc.strerror}") from exc
    key = secrets.token_hex(16)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()  # another process made it first
    except OSError as exc:
        raise ConfigError(f"cannot create the mask key {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


# --- what the drafters see -------------------------------------------------------------------


def visible(catalog: Catalog, policy: AccessPolicy) -> Catalog:
    """``catalog`` without what ``policy`` denies, and with masked columns' values withheld.

    The drafters work from this, so neither the model nor the offline drafter proposes
    a column the guard would then refuse.
    """
    if not policy.restricts:
        return catalog
    shown = copy.copy(catalog)
    shown.tables = {}
    for name, table in catalog.tables.items():
        if name in policy.denied_tables:
            continue
        shown.tables[name] = _visible_table(table, policy)
    return shown


def _visible_table(table: Table, policy: AccessPolicy) -> Table:
    kept = copy.copy(table)
    kept.columns = []
    for column in table.columns:
        ref = f"{table.name}.{column.name}"
        if ref in policy.denied_columns:
            continue
        if ref in policy.masks:
            column = copy.copy(column)
            column.tags = {**column.tags, "pii": column.tags.get("pii") or "masked"}
        kept.columns.append(column)
    kept.foreign_keys = [fk for fk in table.foreign_keys
                         if not any(f"{table.name}.{c}" in policy.denied_columns
                                    for c in fk.columns)]
    return kept


# --- the guard's part ------------------------------------------------------------------------


def check_refs(tree: exp.Expr, qualified: exp.Expr, tables: list[str], columns: list[str],
               catalog: Catalog, policy: AccessPolicy) -> None:
    """Refuse references to what ``policy`` denies; ``columns`` come from the qualified
    tree, so ``*``, aliases, subqueries and CTEs are seen through."""
    for table in tables:
        if table in policy.denied_tables:
            reason = policy.reasons.get(table)
            raise UnsafeSQL(f"table {table} is not available to role {policy.role}"
                            + (f": {reason}" if reason else ""),
                            rule="denied", table=table, role=policy.role)
    named = {c.name.lower() for c in tree.find_all(exp.Column)}
    for ref in columns:
        if ref in policy.denied_columns:
            raise UnsafeSQL(_denied_message(ref, policy.role, named), rule="denied",
                            column=ref, role=policy.role)
    _check_restricted_tables(tree, catalog, policy)
    _check_row_references(qualified, catalog, policy)
    _check_columns_expressions(tree, tables, policy)


def _check_columns_expressions(tree: exp.Expr, tables: list[str], policy: AccessPolicy) -> None:
    """``COLUMNS(...)`` picks columns at run time, so the guard cannot see which."""
    denied_in = policy.tables_with_denied_columns() & set(tables)
    if denied_in and any(True for _ in tree.find_all(exp.Columns)):
        raise UnsafeSQL(f"COLUMNS(...) cannot be checked against the columns denied to role "
                        f"{policy.role} in {', '.join(sorted(denied_in))}; name the columns",
                        rule="denied", role=policy.role)


def _denied_message(ref: str, role: str, named: set[str]) -> str:
    column = ref.split(".", 1)[1]
    if column.lower() in named:
        return f"column {ref} is not available to role {role}"
    return (f"column {ref} is not available to role {role}, and SELECT * includes it; name the "
            f"columns you need, or write SELECT * EXCLUDE ({column})")


# Table arguments the secure rewrite keeps; anything else on a restricted table is refused.
PLAIN_TABLE_ARGS = {"this", "db", "catalog", "alias"}


def _check_restricted_tables(tree: exp.Expr, catalog: Catalog, policy: AccessPolicy) -> None:
    restricted = policy.restricted_tables()
    for table in tree.find_all(exp.Table):
        real = catalog.table(table.name) if isinstance(table.this, exp.Identifier) else None
        if real is None or real.name not in restricted:
            continue
        alias = table.args.get("alias")
        if alias is not None and alias.columns:
            raise UnsafeSQL(f"renaming the columns of {real.name} in FROM is not supported: it "
                            "has an access policy; use column aliases in SELECT",
                            rule="policy_construct")
        extra = sorted(k for k, v in table.args.items() if v and k not in PLAIN_TABLE_ARGS)
        if extra:
            raise UnsafeSQL(f"{extra[0].upper()} on {real.name} is not supported: it has an access "
                            "policy", rule="policy_construct")


def _check_row_references(qualified: exp.Expr, catalog: Catalog, policy: AccessPolicy) -> None:
    """``SELECT c FROM customers c`` yields the whole row; refuse it where columns are denied."""
    denied_in = policy.tables_with_denied_columns()
    for table in row_references(qualified, catalog):
        if table in denied_in:
            raise UnsafeSQL(f"a whole-row reference to {table} would include columns "
                            f"denied to role {policy.role}; name the columns you need",
                            rule="denied", role=policy.role)


def row_references(qualified: exp.Expr, catalog: Catalog) -> list[str]:
    """Catalog tables referenced as a whole row (qualify marks them ``TableColumn``)."""
    found: list[str] = []
    for scope in traverse_scope(qualified):
        for node in scope.expression.find_all(exp.TableColumn):
            source = scope.sources.get(node.name)
            real = catalog.table(source.name) if isinstance(source, exp.Table) else None
            if real is not None and real.name not in found:
                found.append(real.name)
    return found


# --- the secure rewrite ----------------------------------------------------------------------


def rewrite(tree: exp.Expr, catalog: Catalog, policy: AccessPolicy) -> exp.Expr:
    """A copy of ``tree`` where each restricted table is read through its secure view."""
    restricted = policy.restricted_tables()
    rewritten = tree.copy()
    ctes = {cte.alias_or_name.lower() for cte in rewritten.find_all(exp.CTE)}
    for table in list(rewritten.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier) or (
                not table.db and table.name.lower() in ctes):
            continue
        real = catalog.table(table.name)
        if real is not None and real.name in restricted:
            if table.db or table.catalog:
                _unqualify_columns(rewritten, table)
            table.replace(secure_view(table, real, policy))
    _drop_denied_exclusions(rewritten, tree, catalog, policy)
    return rewritten


def _unqualify_columns(tree: exp.Expr, table: exp.Table) -> None:
    """``shop.customers.phone`` names the table by its full path, which the secure view
    (aliased ``customers``) no longer has: the column keeps only the alias."""
    if table.alias:
        return  # with an alias, columns already use it
    for column in tree.find_all(exp.Column):
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
    inner = exp.select(*projections).from_(source)
    condition = policy.row_filters.get(real.name)
    if condition:
        inner = inner.where(exp.Paren(this=row_condition(condition)))
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
    return sqlglot.parse_one(text, read="duckdb")


def _projection(table: Table, column: Column, policy: AccessPolicy) -> exp.Expr:
    ref = exp.column(column.name, quoted=True)
    mode = policy.masks.get(f"{table.name}.{column.name}")
    if mode is None:
        return ref
    masked = mask_expression(ref, column, mode, policy.key)
    return exp.alias_(masked, column.name, quoted=True)


TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "NVARCHAR", "CLOB")
DATE_TYPES = ("DATE", "TIMESTAMP", "DATETIME", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")

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
    kind = column.type.upper()
    if kind.endswith("[]"):  # a list (extracted names): mask each item, or redact the list
        if mode == "redact":
            return exp.Cast(this=exp.Null(), to=exp.DataType.build(column.type, dialect="duckdb"))
        item = Column(name="x", type=column.type[:-2], tags=column.tags)
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
    if mode == "redact":
        if kind.startswith(TEXT_TYPES):
            return _template("CASE WHEN {c} IS NULL THEN NULL ELSE '[redacted]' END", ref)
        return exp.Cast(this=exp.Null(), to=exp.DataType.build(column.type, dialect="duckdb"))
    if kind.startswith(TEXT_TYPES):
        return _template(PARTIAL_TEXT[_partial_kind(column)], ref)
    if kind.startswith(DATE_TYPES):  # keep the year: enough for ages, not for identity
        return exp.Cast(this=_template("date_trunc('year', {c})", ref),
                        to=exp.DataType.build(column.type, dialect="duckdb"))
    return exp.Cast(this=exp.Null(), to=exp.DataType.build(column.type, dialect="duckdb"))


def _partial_kind(column: Column) -> str:
    pii = str(column.tags.get("pii") or "")
    if pii in PARTIAL_TEXT:
        return pii
    if column.tags.get("pii_mentions") or pii in ("free_text", "text"):
        return "text"
    return "number"


PLACEHOLDER = "__nl2sql_value__"


@functools.lru_cache(maxsize=64)
def _parsed_template(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql.format(c=PLACEHOLDER), read="duckdb")


def _template(sql: str, ref: exp.Expr) -> exp.Expr:
    # parsed once per template (the parse was most of a masked query's check time)
    return _parsed_template(sql).transform(
        lambda node: ref.copy() if isinstance(node, exp.Column) and node.name == PLACEHOLDER
        else node)


# --- what the answer says about masking -------------------------------------------------------


def masking(qualified: exp.Expr, catalog: Catalog, policy: AccessPolicy,
            columns_read: list[str]) -> list[dict[str, Any]]:
    """Per output column (by position), the masked source columns it derives from.

    Uses sqlglot's column lineage, so ``upper(phone)``, aliases, CTEs and UNIONs count;
    when lineage cannot follow a column, every masked column the query reads is listed
    against it (the values are masked either way: this only decides what is reported).
    """
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.scope import build_scope

    masked_read = [ref for ref in columns_read if ref in policy.masks]
    opaque = _opaque_reads(qualified, catalog, policy)
    if not masked_read and not opaque:
        return []
    schema: dict[str, object] = dict(catalog.sqlglot_schema())
    report: list[dict[str, Any]] = list(opaque)
    selects = qualified.selects if isinstance(qualified, (exp.Select, exp.SetOperation)) else []
    scope = build_scope(qualified)  # once: lineage would qualify the query again per column
    for position, name in enumerate(s.alias_or_name for s in selects):
        try:
            node = lineage(name, qualified, schema=schema, dialect="duckdb", scope=scope,
                           copy=False)
            sources = {leaf for n in node.walk() if (leaf := _leaf(n)) is not None}
        except Exception:  # noqa: BLE001 - lineage gives up on some shapes; report all then
            sources = set(masked_read)
        for ref in sorted(s for s in sources if s in policy.masks):
            report.append({"position": position, "source": ref, "mode": policy.masks[ref]})
    return report


def _opaque_reads(qualified: exp.Expr, catalog: Catalog,
                  policy: AccessPolicy) -> list[dict[str, Any]]:
    """Masked columns reached without naming them (whole rows, ``COLUMNS(*)``): their
    output positions are unknown until the query runs, so they are reported without one."""
    tables = set(row_references(qualified, catalog))
    if any(True for _ in qualified.find_all(exp.Columns)):
        tables |= {t.name for t in qualified.find_all(exp.Table)}
    return [{"position": None, "source": ref, "mode": mode}
            for ref, mode in sorted(policy.masks.items()) if ref.split(".")[0] in tables]


def _leaf(node: Any) -> str | None:
    source = node.expression
    if isinstance(source, exp.Table):
        return f"{source.name}.{node.name.split('.')[-1]}"
    return None
