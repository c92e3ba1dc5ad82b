"""Typed reads of the column and table tags nl2sql itself uses (``pii``, ``pii_mentions``,
``mask``, ``deny``, ``row_filter``, ``extracted``); the tags stay a free mapping in the
semantic layer and in the catalog cache."""

from __future__ import annotations

from typing import Any

import pytest

from nl2sql.catalog import Catalog, Column, Extraction, Table


@pytest.mark.parametrize(("tags", "kind", "mentions", "personal", "mask", "denied"), [
    ({}, None, [], False, "none", False),
    ({"pii": "phone"}, "phone", [], True, "none", False),
    ({"pii": True}, "personal data", [], True, "none", False),
    ({"pii": False, "mask": "hash"}, None, [], False, "hash", False),
    ({"pii_mentions": ["phone", "email"]}, None, ["phone", "email"], True, "none", False),
    ({"pii_mentions": "address", "deny": True}, None, ["address"], True, "none", True),
    ({"pii": "email", "mask": "partial", "deny": False, "owner": "crm"}, "email", [], True,
     "partial", False),
])
def test_column_tags(tags: dict[str, Any], kind: str | None, mentions: list[str],
                     personal: bool, mask: str, denied: bool) -> None:
    column = Column("c", "VARCHAR", tags=tags)
    assert column.pii_kind == kind and column.pii_mentions == mentions
    assert column.holds_personal_data is personal
    assert column.mask_mode == mask and column.denied is denied


EXTRACTED = {"spec": "reviews_v1", "spec_hash": "ab12", "source_table": "reviews",
             "source_column": "review_text", "key": "review_id", "model": "m",
             "workspace": True}


@pytest.mark.parametrize(("tags", "denied", "row_filter", "extraction"), [
    ({}, False, None, None),
    ({"deny": True}, True, None, None),
    ({"row_filter": "region = 'east'"}, False, "region = 'east'", None),
    ({"row_filter": ""}, False, None, None),
    ({"extracted": "not a mapping"}, False, None, None),
    ({"extracted": EXTRACTED}, False, None,
     Extraction("reviews", "review_text", "review_id", spec="reviews_v1", model="m")),
])
def test_table_tags(tags: dict[str, Any], denied: bool, row_filter: str | None,
                    extraction: Extraction | None) -> None:
    table = Table("t", [Column("a", "INTEGER")], tags=tags)
    assert table.denied is denied and table.row_filter == row_filter
    assert table.extraction == extraction


def test_tags_survive_the_catalog_cache_unchanged() -> None:
    """The cache stores tags as written: reading it back gives the same tags and answers."""
    column = Column("note", "TEXT", tags={"pii_mentions": ["phone"], "mask": "redact",
                                          "owner": {"team": "crm"}})
    table = Table("t", [column], tags={"extracted": EXTRACTED, "row_filter": "1 = 1"})
    catalog = Catalog(name="x", tables={"t": table})
    data = catalog.to_json()
    assert data["tables"]["t"]["tags"] == table.tags
    assert data["tables"]["t"]["columns"][0]["tags"] == column.tags
    again = Catalog.from_json(data)
    assert again == catalog
    back = again.tables["t"]
    assert back.columns[0].pii_mentions == ["phone"] and back.columns[0].mask_mode == "redact"
    assert back.extraction is not None and back.extraction.source_column == "review_text"
