"""Column profiles: row counts, distinct counts, null shares, ranges, frequent values.

Part of introspection (:mod:`nl2sql.schema.introspect`), kept apart because its cost
is what a first question on a new database mostly pays. Not SUMMARIZE: its quantiles,
means and deviations are read by nobody, and its fixed cost per call dominated a
database of many small tables. Instead, two kinds of query, each batched over many
tables with ``UNION ALL`` (a query's fixed cost is paid once per batch, not per table):

1. one aggregate per table: ``count(*)``, and per column the non-null count, the
   distinct count and, for numbers and dates, the range;
2. one grouping of the values of the few text columns that get frequent values or
   labels (see :func:`wants_top_values`, :func:`wants_labels`).

Distinct counts are exact on tables of up to :data:`EXACT_ROWS` rows (by DuckDB's
estimate). Above, a column's count is a HyperLogLog estimate (``approx_count_distinct``:
one streaming pass with no hash table of every value; DuckDB's is typically within a
few percent, and off by up to ~15% on some columns) and its profile
says so (``distinct_exact`` False, shown as ``≈``); key columns (primary, foreign and
unique keys) stay exact, and so does any column whose values were grouped anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from nl2sql.catalog import Column, Profile, Table
from nl2sql.column_types import is_numeric, is_temporal, is_text
from nl2sql.schema.source import Source

EXACT_ROWS = 200_000  # up to this many rows (estimated) every distinct count is exact
SMALL_ROWS = 100_000  # tables up to this size are profiled single-threaded (less overhead)
BATCH = 25  # tables per batched query
TOP_VALUES_MAX_DISTINCT = 60  # text columns with at most this many values get frequent values
TOP_VALUES_KEEP = 12
LABELS_MAX = 5000
PERSON_PARTS = {"first", "last", "full", "given", "family", "surname", "email", "mail", "phone",
                "mobile", "fax", "address", "street", "contact", "username", "password", "ssn"}


def profile_tables(con: duckdb.DuckDBPyConnection, source: Source,
                   tables: dict[str, Table]) -> None:
    """Fill row counts and column profiles of ``tables`` in place. A table whose queries
    fail keeps empty profiles; the others are not affected."""
    sizes, unique = _estimates(con, source)
    referenced = {fk.ref_table.lower() for t in tables.values() for fk in t.foreign_keys}
    todo = [t for t in tables.values() if t.columns]
    small = [t for t in todo if sizes.get(t.name, EXACT_ROWS + 1) <= SMALL_ROWS]
    large = [t for t in todo if t not in small]
    with _single_threaded(con, bool(small)):  # tiny scans: threads only add hand-offs
        _profile(con, small, sizes, unique)
    _profile(con, large, sizes, unique)
    values = [(t, c) for t in todo for c in t.columns
              if wants_top_values(c, t, t.name.lower() in referenced) or wants_labels(c)]
    _fill_values(con, values, referenced)


def _estimates(con: duckdb.DuckDBPyConnection,
               source: Source) -> tuple[dict[str, int], set[tuple[str, str]]]:
    """Estimated row counts (the source's win over the workspace's on a shared name) and
    single-column unique constraints, read once for the whole database."""
    names = [source.alias] + ([source.workspace_alias] if source.workspace else [])
    sizes: dict[str, int] = {}
    unique: set[tuple[str, str]] = set()
    try:
        for db in reversed(names):
            sizes.update({str(name): int(size or 0) for name, size in con.execute(
                "SELECT table_name, estimated_size FROM duckdb_tables() "
                "WHERE database_name = ?", [db]).fetchall()})
            unique |= {(str(table), str(cols[0])) for table, cols in con.execute(
                "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                "WHERE database_name = ? AND constraint_type = 'UNIQUE'", [db]).fetchall()
                if cols and len(cols) == 1}
    except duckdb.Error:
        pass  # without estimates every table counts as big: estimates are marked as such
    return sizes, unique


def _keys(table: Table, unique: set[tuple[str, str]]) -> set[str]:
    keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
    return keys | {c for t, c in unique if t == table.name}


@contextmanager
def _single_threaded(con: duckdb.DuckDBPyConnection, wanted: bool) -> Iterator[None]:
    if not wanted:
        yield
        return
    try:
        before = con.execute("SELECT current_setting('threads')").fetchone()
        con.execute("SET threads = 1")
    except duckdb.Error:
        yield
        return
    try:
        yield
    finally:
        if before is not None:
            con.execute(f"SET threads = {int(before[0])}")


def _profile(con: duckdb.DuckDBPyConnection, tables: list[Table], sizes: dict[str, int],
             unique: set[tuple[str, str]]) -> None:
    plans = [_aggregate(t, sizes.get(t.name), _keys(t, unique)) for t in tables]
    results = _batched(con, [sql for sql, _ in plans])
    for table, (_, exact), rows in zip(tables, plans, results, strict=True):
        if rows:
            _read_aggregate(table, exact, list(rows[0][0]))


def _aggregate(table: Table, estimated: int | None, keys: set[str]) -> tuple[str, list[bool]]:
    """One query: ``[count(*), per column: count, distinct(, min, max)]`` as text."""
    big = estimated is None or estimated > EXACT_ROWS
    exact = [not big or c.name in keys for c in table.columns]
    parts = ["count(*)"]
    for column, is_exact in zip(table.columns, exact, strict=True):
        name = _ident(column.name)
        if not big:  # one pass, and cheaper than count(DISTINCT)'s hash table per column
            distinct = f"len(list_distinct(list({name})))"
        else:
            distinct = f"count(DISTINCT {name})" if is_exact else f"approx_count_distinct({name})"
        parts += [f"count({name})", distinct]
        if _ranged(column):
            parts += [f"min({name})", f"max({name})"]
    cells = ", ".join(f"({p})::VARCHAR" for p in parts)
    return f"SELECT [{cells}] AS v FROM {_ident(table.name)}", exact


def _read_aggregate(table: Table, exact: list[bool], cells: list[str | None]) -> None:
    values = iter(cells)
    rows = int(next(values) or 0)
    table.row_count = rows
    for column, is_exact in zip(table.columns, exact, strict=True):
        present, distinct = int(next(values) or 0), int(next(values) or 0)
        low = high = None
        if _ranged(column):
            low, high = next(values), next(values)
        column.profile = Profile(distinct=min(distinct, present), distinct_exact=is_exact,
                                 null_share=round(1 - present / rows, 4) if rows else 0.0,
                                 min=low, max=high)


def _ranged(column: Column) -> bool:
    return is_numeric(column.type) or is_temporal(column.type)


def _fill_values(con: duckdb.DuckDBPyConnection, wanted: list[tuple[Table, Column]],
                 referenced: set[str]) -> None:
    """Frequent values and labels, from one grouping per column, batched."""
    queries = [
        f"SELECT {c_ident}::VARCHAR AS v, count(*) AS n FROM {_ident(t.name)} "
        f"WHERE {c_ident} IS NOT NULL GROUP BY 1 "
        f"QUALIFY row_number() OVER (ORDER BY n DESC, v) <= {LABELS_MAX + 1}"
        for t, c in wanted for c_ident in [_ident(c.name)]]
    for (table, column), rows in zip(wanted, _batched(con, queries), strict=True):
        assert column.profile is not None
        counted = sorted(((str(v), int(n)) for v, n in rows), key=lambda vn: (-vn[1], vn[0]))
        if len(counted) <= LABELS_MAX:  # every value seen: the count is exact now
            column.profile.distinct, column.profile.distinct_exact = len(counted), True
        if wants_top_values(column, table, table.name.lower() in referenced):
            # More values than the profile said (an estimate under-counted): not categorical.
            top = counted[: TOP_VALUES_KEEP * 6]
            column.profile.top_values = [] if len(counted) > TOP_VALUES_MAX_DISTINCT else top
        elif len(counted) <= LABELS_MAX:
            column.profile.labels = sorted(v for v, _ in counted)


def _batched(con: duckdb.DuckDBPyConnection, queries: list[str]) -> list[list[tuple]]:
    """The rows of each query, run :data:`BATCH` at a time as one ``UNION ALL``. When a
    batch fails (a table a query cannot read), its queries run one by one; a query that
    fails alone gives no rows."""
    results: list[list[tuple]] = [[] for _ in queries]
    for start in range(0, len(queries), BATCH):
        chunk = list(enumerate(queries))[start:start + BATCH]
        union = " UNION ALL ".join(f"SELECT {i} AS q, * FROM ({sql})" for i, sql in chunk)
        try:
            for row in con.execute(union).fetchall():
                results[row[0]].append(tuple(row[1:]))
            continue
        except duckdb.Error:
            pass
        for i, sql in chunk:
            try:
                results[i] = [tuple(r) for r in con.execute(sql).fetchall()]
            except duckdb.Error:
                results[i] = []
    return results


def _naming(column: Column) -> bool:
    parts = set(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", column.name).lower().replace("_", " ").split())
    return bool(parts & {"name", "title", "label"}) and not parts & PERSON_PARTS


def wants_top_values(column: Column, table: Table, lookup: bool) -> bool:
    """Low-cardinality text whose values repeat (a status, a city), or the names of a
    lookup table (``lookup``: referenced by a foreign key, like genres or media types).
    Elsewhere unique values (e-mails, names) are not categories and are never listed."""
    profile = column.profile
    if not (profile and is_text(column.type) and 0 < profile.distinct <= TOP_VALUES_MAX_DISTINCT):
        return False
    rows = table.row_count or 0
    repeats = 0 < profile.distinct < rows and (rows < 20 or profile.distinct <= rows * 0.5)
    return repeats or (lookup and _naming(column))


def wants_labels(column: Column) -> bool:
    """Naming columns (name, title) that are not about people: worth matching questions to."""
    profile = column.profile
    return bool(profile and is_text(column.type) and _naming(column)
                and 0 < profile.distinct <= LABELS_MAX)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
