"""Transpiling: parse in the dialect the SQL was written in, run the repairs, emit DuckDB.

Text that is not exactly one query (or that the guard refuses on sight) is handed on
untouched, so the guard refuses it in its own words on the text as it was written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError

from nl2sql.catalog import Catalog
from nl2sql.errors import ConfigError, UnsafeSQL
from nl2sql.safety.dialects.repairs import REPAIRS, Repair
from nl2sql.safety.parse_errors import parse_failure

logging.getLogger("sqlglot").setLevel(logging.ERROR)

DIALECTS = ("duckdb", "sqlite", "mysql", "postgres", "spark")
QUERY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)


@dataclass(frozen=True)
class Transpiled:
    """DuckDB SQL and the repairs that produced it (``name: what changed``)."""

    sql: str
    dialect: str
    repairs: list[str] = field(default_factory=list)


def to_duckdb(sql: str, dialect: str, catalog: Catalog,
              max_chars: int | None = None) -> Transpiled:
    """Transpile ``sql`` from ``dialect`` to DuckDB, repairing the usual slips.

    ``duckdb`` is the identity. Text that is not exactly one query, or that the guard
    refuses on sight (longer than ``max_chars``, control characters, too many parts),
    is handed on untouched: the guard refuses it in its own words, on the text as it
    was written. Raises :class:`ConfigError` for an unknown dialect, and when the text does
    not parse in the dialect it claims :class:`InvalidSQL` (a syntax error) or, for text
    unsafe on its face, :class:`UnsafeSQL` (:func:`nl2sql.safety.parse_errors.parse_failure`).
    """
    dialect = dialect_name(dialect)
    untouched = Transpiled(sql=sql, dialect=dialect)
    if dialect == "duckdb" or not _fit_to_transpile(sql, max_chars) \
            or not _duckdb_sees_one_statement(sql):
        return untouched
    statements = _parse(sql, dialect)
    if len(statements) != 1 or not isinstance(statements[0], QUERY_ROOTS) \
            or _too_big(statements[0]):
        return untouched
    tree: exp.Expr = statements[0]
    repairs = syntax_notes(sql, dialect)
    try:
        for repair in REPAIRS[dialect]:
            tree, done = _apply(repair, tree, catalog, dialect)
            repairs.extend(done)
        return Transpiled(sql=tree.sql(dialect="duckdb"), dialect=dialect, repairs=repairs)
    except RecursionError as exc:
        raise UnsafeSQL("the query is nested too deeply to check", rule="too_deep") from exc


def dialect_name(dialect: str) -> str:
    """The dialect's canonical (lower-case) name; :class:`ConfigError` if it is not known.

    >>> dialect_name("SQLite")
    'sqlite'
    """
    name = dialect.strip().lower()
    if name not in DIALECTS:
        raise ConfigError(f"--dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}")
    return name


MAX_NODES = 5_000  # the guard's own bound; a bigger tree is its to refuse


def _fit_to_transpile(sql: str, max_chars: int | None) -> bool:
    """False for text the guard refuses as text: empty, too long, control characters."""
    if not sql.strip() or (max_chars is not None and len(sql) > max_chars):
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r" for c in sql)


def _duckdb_sees_one_statement(sql: str) -> bool:
    """False when DuckDB's reading of the raw text has more than one statement, where the
    dialect may read one (a comment or string that ends elsewhere: ``-- x\\r; DROP …``,
    MySQL's ``'a\\'; DROP …``). Such text goes to the guard as written, and is refused."""
    try:
        tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql)
    except TokenError:
        return True  # not DuckDB's syntax at all: the dialect's reading decides
    ends = [i for i, t in enumerate(tokens) if t.token_type == sqlglot.TokenType.SEMICOLON]
    return all(i == len(tokens) - 1 or all(t.token_type == sqlglot.TokenType.SEMICOLON
                                           for t in tokens[i:]) for i in ends)


def _too_big(tree: exp.Expr) -> bool:
    return any(count > MAX_NODES for count, _ in enumerate(tree.walk(), start=1))


def _apply(repair: Repair, tree: exp.Expr, catalog: Catalog,
           dialect: str) -> tuple[exp.Expr, list[str]]:
    """Run one repair on a copy; a repair sqlglot cannot carry out is skipped, whole."""
    try:
        return repair(tree.copy(), catalog, dialect)
    except SqlglotError:
        return tree, []


def _parse(sql: str, dialect: str) -> list[exp.Expr]:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, TokenError) as exc:
        raise parse_failure(sql, exc, dialect, label=f"the SQL does not parse as {dialect}",
                            ) from exc
    except RecursionError as exc:
        raise UnsafeSQL("the query is nested too deeply to check", rule="too_deep") from exc
    except (AttributeError, ValueError, TypeError, IndexError, KeyError) as exc:
        # sqlglot can trip over malformed input: a parse failure, not a crash
        raise UnsafeSQL(f"the SQL does not parse as {dialect}", rule="parse") from exc
    if not statements:
        raise UnsafeSQL("the query is empty", rule="empty")
    return statements



# --- syntax habits the parser already understands ------------------------------------------


def syntax_notes(sql: str, dialect: str) -> list[str]:
    """Name the MySQL/SQLite syntax habits found in the tokens: backtick-quoted
    identifiers and ``LIMIT offset, count``. sqlglot's parser reads both; DuckDB
    knows neither, so the regenerated SQL uses double quotes and ``LIMIT … OFFSET``."""
    if dialect not in ("sqlite", "mysql"):
        return []
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except TokenError:
        return []
    notes: list[str] = []
    backticked = [t.text for t in tokens
                  if t.token_type == sqlglot.TokenType.IDENTIFIER and sql[t.start:t.start + 1] == "`"]
    if backticked:
        names = ", ".join(f"`{name}`" for name in dict.fromkeys(backticked))
        notes.append(f"backtick_identifier: {names} quoted with double quotes")
    for i in range(len(tokens) - 3):
        kinds = [t.token_type for t in tokens[i:i + 4]]
        if kinds == [sqlglot.TokenType.LIMIT, sqlglot.TokenType.NUMBER, sqlglot.TokenType.COMMA,
                     sqlglot.TokenType.NUMBER]:
            offset, count = tokens[i + 1].text, tokens[i + 3].text
            notes.append(f"limit_offset_comma: LIMIT {offset}, {count} is LIMIT {count} "
                         f"OFFSET {offset}")
    return notes
