"""Dialect robustness: read SQLite, MySQL or Postgres SQL and hand back DuckDB SQL.

Models (and people) write the habits of the database they know best. Before any
model round trip, :func:`to_duckdb` parses the query with sqlglot in the dialect
it was written in, repairs the common slips on the syntax tree using the catalog
(table and column names and their types) and generates DuckDB SQL. Every repair
is a small named function whose docstring says which habit it fixes; the ones
that changed something are listed on the result, for the answer's notes.

The guard still checks the DuckDB SQL that comes out: nothing here decides what
may run.

    >>> from nl2sql.catalog import Catalog, Table, Column
    >>> cat = Catalog(name="db", tables={"t": Table("t", [Column("city", "TEXT")])})
    >>> out = to_duckdb('SELECT city FROM t WHERE city = "Paris"', "sqlite", cat)
    >>> out.sql
    "SELECT city FROM t WHERE city = 'Paris'"
    >>> out.repairs
    ['double_quoted_string: "Paris" is not a column; read as the string \\'Paris\\'']

The package has three modules: :mod:`.transpile` (parse, repair, emit: :func:`to_duckdb`),
:mod:`.kinds` (what names refer to and the kinds of values) and :mod:`.repairs` (one
function per habit, and which run for each dialect).
"""

from nl2sql.safety.dialects.kinds import Ref, Types, type_kind
from nl2sql.safety.dialects.repairs import REPAIRS, Repair
from nl2sql.safety.dialects.transpile import (
    DIALECTS,
    Transpiled,
    dialect_name,
    syntax_notes,
    to_duckdb,
)

__all__ = ["DIALECTS", "REPAIRS", "Ref", "Repair", "Transpiled", "Types", "dialect_name",
           "syntax_notes", "to_duckdb", "type_kind"]
