"""One classifier for column types: what kind of value a catalog type name holds.

Type names come from DuckDB, SQLite (declared types: ``VARCHAR(20)``, ``NVARCHAR``,
``DATETIME``), PostgreSQL, MySQL and extracted tables (``VARCHAR[]``). Every stage that
decides by type (introspection's profiles, policy masks, the scanner, charts, the
dictionary, dialect repair, the offline drafter) asks here, so they cannot disagree.

>>> [kind_of(t) for t in ("BIGINT", "VARCHAR(20)", "DECIMAL(19, 4)", "DATETIME", "INTERVAL")]
['integer', 'text', 'decimal', 'temporal', 'interval']
>>> [kind_of(t) for t in ("ENUM('a', 'b')", "JSON", "VARCHAR[]", "BOOLEAN", "BLOB", "UUID")]
['text', 'json', 'list', 'boolean', 'binary', 'text']
>>> is_numeric("HUGEINT"), is_text("CLOB"), is_temporal("TIMESTAMP WITH TIME ZONE")
(True, True, True)
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["integer", "decimal", "text", "temporal", "boolean", "json", "binary", "list",
               "struct", "interval", "other"]

_TEXT_WORDS = ("CHAR", "CLOB", "TEXT", "STRING", "ENUM", "UUID")
_DECIMAL_WORDS = ("REAL", "FLOA", "DOUB", "DEC", "NUMERIC", "NUMBER", "MONEY")
_BINARY_WORDS = ("BLOB", "BYTEA", "BINARY", "BYTES")


def kind_of(type_name: str) -> Kind:
    """The kind of value a column of ``type_name`` holds (``other`` when unknown)."""
    name = type_name.strip().upper()
    if name.endswith("]") or name.startswith(("LIST", "ARRAY")):
        return "list"
    if name.startswith(("STRUCT", "MAP", "UNION", "ROW(")):
        return "struct"
    if name.startswith("INTERVAL"):
        return "interval"
    if name.startswith("JSON"):
        return "json"
    if "BOOL" in name:
        return "boolean"
    if "INT" in name and "INTERVAL" not in name and "POINT" not in name:
        return "integer"
    if any(word in name for word in _TEXT_WORDS):
        return "text"
    if "DATE" in name or "TIME" in name:
        return "temporal"
    if any(word in name for word in _DECIMAL_WORDS):
        return "decimal"
    if any(word in name for word in _BINARY_WORDS):
        return "binary"
    return "other"


def is_numeric(type_name: str) -> bool:
    return kind_of(type_name) in ("integer", "decimal")


def is_text(type_name: str) -> bool:
    """Text values (ENUM and UUID included); JSON is not, though it holds text."""
    return kind_of(type_name) == "text"


def is_temporal(type_name: str) -> bool:
    return kind_of(type_name) == "temporal"


def item_type(type_name: str) -> str | None:
    """The item type of a list type (``VARCHAR[]`` → ``VARCHAR``), else None."""
    name = type_name.strip()
    return name[:-2] if name.endswith("[]") else None
