"""The data dictionary as typed values: the document :func:`~.builder.build` makes and the
renderers read.

Field order is the ``--format json`` key order: :meth:`Document.to_json` is ``asdict``, so
the JSON stays one-to-one with these classes (tuples become lists). The mappings that stay
mappings are keyed by data, not by schema: role name → what that role sees, stored value →
its aliases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

VERSION = 1


@dataclass(frozen=True)
class DatabaseInfo:
    name: str
    description: str | None
    source: str
    dialect: str
    semantic_files: list[str]
    generated_at: str  # ISO-8601, seconds
    # How the policy came to be, when a reader must know: a file chosen by its tables, or
    # the scanner's defaults protecting a database no policy covers (Catalog.notes).
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    tables: int
    columns: int
    personal_data_columns: int  # tagged pii or pii_mentions
    withheld_columns: int  # values not shown


@dataclass(frozen=True)
class RoleView:
    """A role as the dictionary lists it (the default marked, and why)."""

    name: str
    description: str | None
    default: bool
    default_reason: str | None
    users: list[str]  # empty: anyone may take it


@dataclass(frozen=True)
class Reference:
    """A foreign key of this table: ``columns`` → ``table``.``ref_columns``."""

    columns: list[str]
    table: str
    ref_columns: list[str]


@dataclass(frozen=True)
class Referrer:
    """A foreign key of another ``table`` pointing here (``references`` seen from the other
    side)."""

    table: str
    columns: list[str]
    ref_columns: list[str]


@dataclass(frozen=True)
class TableAccess:
    """What one role (or the base policy) may read of a table."""

    access: str  # visible | denied
    row_filter: str | None


@dataclass(frozen=True)
class TablePolicy:
    base: TableAccess
    roles: dict[str, TableAccess]


@dataclass(frozen=True)
class ColumnPolicy:
    """Access labels: visible, masked (partial), hashed, redacted, denied."""

    base: str
    roles: dict[str, str]


@dataclass(frozen=True)
class ProfileView:
    """The part of a column's profile the dictionary may show (values dropped if withheld)."""

    distinct: int
    distinct_exact: bool  # False: an estimate (a big table), shown as "≈"
    null_share: float
    min: str | None
    max: str | None
    top_values: list[tuple[str, int]]  # seen at least MIN_SHOWN_COUNT times
    rare_values_left_out: int


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    type: str
    nullable: bool
    primary_key: bool
    references: list[str]  # "table.column" this column points to
    key: str | None  # "PK, FK → customers.customer_id"
    description: str | None
    synonyms: list[str]
    values: dict[str, list[str]]  # stored value → aliases ({} when withheld)
    pii: str | None  # the kind of personal data the column holds
    pii_mentions: list[str]  # kinds mentioned inside its free text
    withheld: str | None  # why values are not shown
    profile: ProfileView | None
    policy: ColumnPolicy


@dataclass(frozen=True)
class TableEntry:
    name: str
    anchor: str  # unique URL fragment
    kind: str  # table | view
    description: str | None
    row_count: int | None
    primary_key: list[str]
    references: list[Reference]
    referenced_by: list[Referrer]
    synonyms: list[str]
    policy: TablePolicy
    columns: list[ColumnEntry]


@dataclass(frozen=True)
class TermEntry:
    name: str
    sql: str
    synonyms: list[str]
    description: str | None


@dataclass(frozen=True)
class Examples:
    count: int  # verified question → SQL pairs (the pairs themselves are not shown)


@dataclass(frozen=True)
class Document:
    """The whole dictionary of one database."""

    version: int
    database: DatabaseInfo
    summary: Summary
    roles: list[RoleView]
    tables: list[TableEntry]
    terms: list[TermEntry]
    examples: Examples

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` object (stable keys; see ``tests/test_datadict.py``)."""
        return asdict(self)
