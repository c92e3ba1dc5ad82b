"""What the answer says about masking: which output columns carry masked data.

Column lineage (``sqlglot.lineage``) follows each output column to its sources, for the
answer's notes and the audit log.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from nl2sql.catalog import Catalog
from nl2sql.safety.policy.enforce import row_references
from nl2sql.safety.policy.roles import AccessPolicy
from nl2sql.values import MaskedSource


def masking(qualified: exp.Expr, catalog: Catalog, policy: AccessPolicy,
            columns_read: list[str]) -> list[MaskedSource]:
    """Per output column (by position), the masked source columns it derives from.

    Uses sqlglot's column lineage, so ``upper(phone)``, aliases, CTEs and UNIONs count;
    when lineage cannot follow a column, every masked column the query reads is listed
    against it (the values are masked either way: this only decides what is reported).
    """
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.scope import build_scope

    altered = policy.altered  # masked columns and redacted text
    masked_read = [ref for ref in columns_read if ref in altered]
    opaque = _opaque_reads(qualified, catalog, policy)
    if not masked_read and not opaque:
        return []
    schema: dict[str, object] = dict(catalog.sqlglot_schema())
    report: list[MaskedSource] = list(opaque)
    selects = qualified.selects if isinstance(qualified, (exp.Select, exp.SetOperation)) else []
    scope = build_scope(qualified)  # once: lineage would qualify the query again per column
    for position, name in enumerate(s.alias_or_name for s in selects):
        try:
            node = lineage(name, qualified, schema=schema, dialect="duckdb", scope=scope,
                           copy=False)
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


def _leaf(node: Any) -> str | None:
    source = node.expression
    if isinstance(source, exp.Table):
        return f"{source.name}.{node.name.split('.')[-1]}"
    return None
