"""The catalog's seam for tables that live beside the database.

Introspection describes the database's own tables. Features that keep tables of their
own next to it (the extraction workspace, :mod:`nl2sql.extract.workspace`) plug in here
as a :class:`CatalogContributor`, passed down by the interface that opens the session,
so the core stages never import a feature package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from nl2sql.catalog import Table
from nl2sql.schema.source import Source

if TYPE_CHECKING:
    import duckdb


class CatalogContributor(Protocol):
    """Adds tables to the catalog of a source."""

    def locate(self, source: Source) -> Source:
        """``source`` with whatever must be attached (read-only) beside it."""
        ...

    def fingerprint(self, con: duckdb.DuckDBPyConnection, source: Source) -> list[Any]:
        """What makes a cached catalog stale on this contributor's side."""
        ...

    def tables(self, con: duckdb.DuckDBPyConnection, source: Source,
               existing: dict[str, Table]) -> dict[str, Table]:
        """Its tables as catalog tables (a name in ``existing`` is skipped: the source wins)."""
        ...


Contributors = Sequence[CatalogContributor]
