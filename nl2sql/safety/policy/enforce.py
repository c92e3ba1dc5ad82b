"""The guard's part of the policy: refuse any reference to what a role is denied.

The checks run on the parsed and the qualified tree, so ``*``, aliases, subqueries, CTEs,
whole-row references and ``COLUMNS(...)`` are seen through; each refusal says why.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from nl2sql.catalog import Catalog
from nl2sql.errors import UnsafeSQL
from nl2sql.safety.policy.roles import AccessPolicy


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
    scopes = list(traverse_scope(qualified))
    # Each scope looks at every whole-row reference below its expression, nested scopes'
    # included (a correlated ``c`` names the outer row). Searching each scope's whole
    # subtree made a chain of UNIONs quadratic, so the tree is searched once and each
    # reference is handed to the scopes above it, in the order a per-scope search finds them.
    expressions = {id(scope.expression) for scope in scopes}
    below: dict[int, list[exp.TableColumn]] = {}
    for node in qualified.find_all(exp.TableColumn):
        ancestor: exp.Expr | None = node
        while ancestor is not None:
            if id(ancestor) in expressions:
                below.setdefault(id(ancestor), []).append(node)
            ancestor = ancestor.parent
    found: list[str] = []
    for scope in scopes:
        for node in below.get(id(scope.expression), []):
            source = scope.sources.get(node.name)
            real = catalog.table(source.name) if isinstance(source, exp.Table) else None
            if real is not None and real.name not in found:
                found.append(real.name)
    return found
