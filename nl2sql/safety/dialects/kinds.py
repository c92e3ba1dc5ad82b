"""Types for the repairs: what a column name refers to and what kind of value an
expression holds, as DuckDB sees it (the catalog's types classified by
:mod:`nl2sql.column_types`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from nl2sql import column_types
from nl2sql.catalog import Catalog, Column

# --- types: what a name refers to and what kind of value an expression is ------------------

INT, REAL, TEXT, TEMPORAL, BOOL, OTHER = "int", "real", "text", "temporal", "bool", "other"
NUMERIC = (INT, REAL)


# The repairs reason in DuckDB's coarse kinds; the catalog's types are classified once, by
# nl2sql.column_types, and folded into them here.
_KINDS: dict[str, str] = {"integer": INT, "decimal": REAL, "text": TEXT, "temporal": TEMPORAL,
                          "boolean": BOOL}


def type_kind(type_name: str) -> str:
    """The kind of value DuckDB holds for a catalog type name (DuckDB's or SQLite's).

    >>> [type_kind(t) for t in ("BIGINT", "VARCHAR(20)", "DECIMAL(19, 4)", "DATETIME", "INTERVAL")]
    ['int', 'text', 'real', 'temporal', 'other']
    """
    return _KINDS.get(column_types.kind_of(type_name), OTHER)


@dataclass(frozen=True)
class Ref:
    """Where a column reference resolves: the scope owning its source, the source's
    (lower-case) name, the column's (lower-case) name and its kind. ``affinity``: in
    SQLite the column has a type affinity (a table's column, or a derived table's
    column that passes one through); computed columns have none."""

    scope: Scope
    source: str
    name: str
    kind: str
    affinity: bool

    @property
    def key(self) -> tuple[int, str, str]:
        return (id(self.scope), self.source, self.name)


class Types:
    """Column resolution and expression kinds for one tree, against the catalog.

    Built from sqlglot's scopes on the unqualified tree, so the SQL keeps the
    shape it was written in. Rebuild it after a repair changes the tree.
    """

    def __init__(self, tree: exp.Expr, catalog: Catalog) -> None:
        self.catalog = catalog
        self.refs: dict[int, Ref] = {}
        # Looked up once per table and per SELECT, not scanned per column: a wide query
        # made these scans quadratic (2,400 columns: 1.4 s to transpile from SQLite, ×3 per
        # doubling; now 0.5 s).
        self._columns: dict[str, dict[str, Column]] = {}
        self._projections: dict[int, dict[str, exp.Expr]] = {}
        self.scopes: list[Scope] = list(traverse_scope(tree))  # inner scopes come first
        for scope in self.scopes:
            for column in _local_columns(scope.expression):
                ref = self._resolve(column, scope)
                if ref is not None:
                    self.refs[id(column)] = ref

    def ref(self, column: exp.Column) -> Ref | None:
        return self.refs.get(id(column))

    def _resolve(self, column: exp.Column, scope: Scope) -> Ref | None:
        current: Scope | None = scope
        while current is not None:
            ref = self._resolve_in(column, current)
            if ref is not None:
                return ref
            if column.table and _source(current, column.table) is not None:
                return None
            current = current.parent
        return None

    def _resolve_in(self, column: exp.Column, scope: Scope) -> Ref | None:
        name = column.name.lower()
        if column.table:
            source = _source(scope, column.table)
            return self._from_source(scope, column.table.lower(), source, name) if source else None
        for alias, source in scope.sources.items():
            ref = self._from_source(scope, alias.lower(), source, name)
            if ref is not None:
                return ref
        return None

    def _from_source(self, scope: Scope, alias: str, source: object, name: str) -> Ref | None:
        if isinstance(source, exp.Table):
            column = self._table_columns(source.name).get(name)
            if column is None:
                return None
            return Ref(scope, alias, name, type_kind(column.type), affinity=True)
        select = _first_select(source.expression) if isinstance(source, Scope) else None
        projection = self._select_outputs(select).get(name) if select is not None else None
        if projection is None:
            return None
        inner = projection.unalias()
        return Ref(scope, alias, name, self.kind(inner), self.has_affinity(inner))

    def _table_columns(self, name: str) -> dict[str, Column]:
        """A catalog table's columns by lower-case name (the first of equal names wins,
        as ``Table.column`` has it); empty for a table the catalog does not have."""
        columns = self._columns.get(name)
        if columns is None:
            columns = self._columns[name] = {}
            table = self.catalog.table(name)
            for column in table.columns if table else []:
                columns.setdefault(column.name.lower(), column)
        return columns

    def _select_outputs(self, select: exp.Select) -> dict[str, exp.Expr]:
        """A SELECT's projections by lower-case output name (the first one wins)."""
        outputs = self._projections.get(id(select))
        if outputs is None:
            outputs = self._projections[id(select)] = {}
            for projection in select.expressions:
                outputs.setdefault(projection.alias_or_name.lower(), projection)
        return outputs

    def kind(self, node: exp.Expr) -> str:
        """``int``, ``real``, ``text``, ``temporal``, ``bool`` or ``other`` — as DuckDB sees it."""
        if isinstance(node, exp.Paren):
            return self.kind(node.this)
        if isinstance(node, exp.Neg):
            inner = self.kind(node.this)
            return REAL if inner == TEXT else inner
        if isinstance(node, exp.Literal):
            return TEXT if node.is_string else (INT if node.is_int else REAL)
        if isinstance(node, exp.Column):
            ref = self.ref(node)
            return ref.kind if ref else OTHER
        if isinstance(node, exp.Cast):
            return type_kind(node.to.sql(dialect="duckdb"))
        if isinstance(node, exp.Subquery | exp.Select):
            select = node.unnest() if isinstance(node, exp.Subquery) else node
            if isinstance(select, exp.Select) and len(select.expressions) == 1:
                return self.kind(select.expressions[0].unalias())
            return OTHER
        return self._function_kind(node)

    def _function_kind(self, node: exp.Expr) -> str:
        if isinstance(node, exp.Count | exp.Length | exp.IntDiv | exp.StrPosition):
            return INT
        if isinstance(node, exp.Avg):
            return TEMPORAL if self.kind(node.this) == TEMPORAL else REAL
        if isinstance(node, exp.Div):
            return INT if self.is_integer_division(node) else REAL
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Mod):
            kinds = {self.kind(node.this), self.kind(node.expression)}
            if kinds <= {INT}:
                return INT
            return REAL if kinds <= {INT, REAL, TEXT} else OTHER
        if isinstance(node, exp.Sum | exp.Abs):
            inner = self.kind(node.this)
            return inner if inner in NUMERIC else (REAL if inner == TEXT else OTHER)
        if isinstance(node, exp.Min | exp.Max | exp.AnyValue | exp.Coalesce):
            return self.kind(node.this)
        if isinstance(node, exp.Round):
            return REAL
        if isinstance(node, exp.Lower | exp.Upper | exp.Substring | exp.DPipe | exp.Concat | exp.Trim):
            return TEXT
        if isinstance(node, exp.Predicate | exp.Not | exp.And | exp.Or):
            return BOOL
        return OTHER

    def is_integer_division(self, node: exp.Div) -> bool:
        """``a / b`` divides integers in SQLite and Postgres (``typed`` division)."""
        return bool(node.args.get("typed")) and self.kind(node.this) == INT \
            and self.kind(node.expression) == INT

    def has_affinity(self, node: exp.Expr) -> bool:
        """SQLite: a stored column or a CAST has an affinity; other expressions have none.

        A scalar subquery has the affinity of the column it returns.
        """
        while isinstance(node, exp.Paren):
            node = node.this
        if isinstance(node, exp.Column):
            ref = self.ref(node)
            return bool(ref and ref.affinity)
        if isinstance(node, exp.Cast):
            return True
        if isinstance(node, exp.Subquery):
            select = node.unnest()
            if isinstance(select, exp.Select) and len(select.expressions) == 1:
                return self.has_affinity(select.expressions[0].unalias())
        return False


def _source(scope: Scope, name: str) -> object | None:
    wanted = name.lower()
    return next((s for alias, s in scope.sources.items() if alias.lower() == wanted), None)


def _first_select(node: exp.Expr) -> exp.Select | None:
    while isinstance(node, exp.SetOperation):
        node = node.this
    while isinstance(node, exp.Subquery):
        node = node.this
    return node if isinstance(node, exp.Select) else None


def _is_nested_query(node: exp.Expr) -> bool:
    return isinstance(node, exp.Select | exp.SetOperation | exp.Subquery)


def local_walk(node: exp.Expr, stop: Callable[[exp.Expr], bool] | None = None) -> Iterator[exp.Expr]:
    """Every node under ``node`` (itself included) without entering nested queries,
    nor any node for which ``stop`` is true (that node itself is still yielded)."""
    yield node
    if stop is not None and stop(node):
        return
    for child in node.iter_expressions():
        if _is_nested_query(child):
            continue
        yield from local_walk(child, stop)


def _local_columns(query: exp.Expr) -> Iterator[exp.Column]:
    """The columns that belong to ``query``'s own scope (not to nested queries)."""
    for child in query.iter_expressions():
        if _is_nested_query(child):
            continue
        for node in local_walk(child):
            if isinstance(node, exp.Column):
                yield node


def _projection_aliases(select: exp.Expr) -> set[str]:
    if not isinstance(select, exp.Select):
        return set()
    return {p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias)}
