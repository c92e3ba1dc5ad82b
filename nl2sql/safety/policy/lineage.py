"""What the answer says about masking: which output columns carry masked data.

Column lineage (``sqlglot.lineage``) follows each output column to its sources, for the
answer's notes and the audit log.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.optimizer.scope import Scope
from sqlglot.schema import MappingSchema, Schema

from nl2sql.catalog import Catalog
from nl2sql.safety.policy.enforce import row_references
from nl2sql.safety.policy.roles import AccessPolicy
from nl2sql.values import MaskedSource


def masking(qualified: exp.Expr, catalog: Catalog, policy: AccessPolicy,
            columns_read: list[str], schema: Schema | None = None) -> list[MaskedSource]:
    """Per output column (by position), the masked source columns it derives from.

    Uses sqlglot's column lineage, so ``upper(phone)``, aliases, CTEs and UNIONs count;
    when lineage cannot follow a column, every masked column the query reads is listed
    against it (the values are masked either way: this only decides what is reported).
    """
    from sqlglot.lineage import to_node
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
    from sqlglot.optimizer.scope import build_scope

    altered = policy.altered  # masked columns and redacted text
    masked_read = [ref for ref in columns_read if ref in altered]
    opaque = _opaque_reads(qualified, catalog, policy)
    if not masked_read and not opaque:
        return []
    report: list[MaskedSource] = list(opaque)
    selects = qualified.selects if isinstance(qualified, (exp.Select, exp.SetOperation)) else []
    # Everything lineage needs is built once for the whole query, not once per output
    # column: the scope (lineage would qualify the query again), the schema, and the
    # lineage graph, whose nodes are shared between columns. sqlglot's ``lineage()`` per
    # column rebuilt the schema, copied the SELECT per node (``trim_selects``) and scanned
    # every projection: a 2,400-column query took minutes (see benchmarks/bench_guard.py).
    scope = build_scope(qualified)
    if schema is None:
        schema = MappingSchema(dict(catalog.sqlglot_schema()), dialect="duckdb")
    first: dict[str, exp.Expr] = {}  # lineage follows the first output of a name
    for select in selects:
        first.setdefault(select.alias_or_name, select)
    cache: dict[tuple[Any, ...], Any] = {}
    scope_meta: dict[int, tuple[bool, dict[str, exp.Expr]]] = {}
    for position, name in enumerate(s.alias_or_name for s in selects):
        try:
            # as lineage() names a column: normalized, and it must be one of the outputs
            wanted = normalize_identifiers(name, dialect="duckdb").name
            if scope is None or wanted not in first:
                raise ValueError(f"cannot find column {wanted!r}")
            sources = _direct(first[wanted], scope)
            if sources is None:
                node = to_node(wanted, scope, "duckdb", schema=schema, trim_selects=False,
                               _cache=cache, _scope_meta=scope_meta)
                sources = {leaf for n in node.walk() if (leaf := _leaf(n)) is not None}
        except Exception:  # noqa: BLE001 - lineage gives up on some shapes; report all then
            sources = set(masked_read)
        for ref in sorted(s for s in sources if s in altered):
            report.append(MaskedSource(position, ref, altered[ref]))
    return report


def _opaque_reads(qualified: exp.Expr, catalog: Catalog,
                  policy: AccessPolicy) -> list[MaskedSource]:
    """Masked columns reached without naming them (whole rows, ``COLUMNS(*)``): their
    output positions are unknown until the query runs, so they are reported without one."""
    tables = set(row_references(qualified, catalog))
    if any(True for _ in qualified.find_all(exp.Columns)):
        tables |= {t.name for t in qualified.find_all(exp.Table)}
    return [MaskedSource(None, ref, mode)
            for ref, mode in sorted(policy.altered.items()) if ref.split(".")[0] in tables]


def _direct(select: exp.Expr, scope: Scope) -> set[str] | None:
    """The source of an output that is a plain column of a catalog table, as lineage would
    name it, without building lineage nodes (most of a wide SELECT); None otherwise."""
    column = select.this if isinstance(select, exp.Alias) else select
    if not (isinstance(column, exp.Column) and isinstance(scope.expression, exp.Select)
            and isinstance(column.this, exp.Identifier) and not column.this.quoted
            and not scope.pivots):
        return None  # lineage names quoted identifiers by their SQL: leave those to it
    source = scope.sources.get(column.table)
    return {f"{source.name}.{column.name}"} if isinstance(source, exp.Table) else None


def _leaf(node: Any) -> str | None:
    source = node.expression
    if isinstance(source, exp.Table):
        return f"{source.name}.{node.name.split('.')[-1]}"
    return None
