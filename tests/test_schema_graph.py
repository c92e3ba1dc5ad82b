"""The foreign-key graph (nl2sql.schema.graph): paths through bridge tables, tables that
join nothing, keys to the table itself, and the direction of each hop."""

from __future__ import annotations

import pytest

from nl2sql.catalog import Catalog, Column, ForeignKey, Table
from nl2sql.schema.graph import (
    foreign_key_to,
    join_key,
    neighbours,
    referenced_table,
    shortest_path,
)


def _table(name: str, *refs: tuple[str, str]) -> Table:
    """A table with an ``id`` key and one ``<column> -> <table>.id`` key per ref."""
    columns = [Column("id", "INTEGER", primary_key=True)]
    columns += [Column(column, "INTEGER") for column, _ in refs]
    keys = [ForeignKey([column], target, ["id"]) for column, target in refs]
    return Table(name, columns, primary_key=["id"], foreign_keys=keys)


@pytest.fixture(scope="module")
def shop() -> Catalog:
    """customer 1-n orders n-m product (through the order_item bridge); employee has a
    manager (itself); audit_log joins nothing; a key to a table outside the catalog."""
    tables = [
        _table("customer"),
        _table("orders", ("customer_id", "customer"), ("warehouse_id", "warehouse")),
        _table("order_item", ("order_id", "Orders"), ("product_id", "product")),
        _table("product", ("category_id", "category")),
        _table("category"),
        _table("employee", ("manager_id", "employee")),
        _table("audit_log"),
    ]
    return Catalog(name="shop", tables={t.name: t for t in tables})


def test_neighbours_are_undirected_and_skip_unknown_tables(shop: Catalog) -> None:
    graph = neighbours(shop)
    assert graph["orders"] == {"customer", "order_item"}  # warehouse is not in the catalog
    assert graph["customer"] == {"orders"}
    assert graph["order_item"] == {"orders", "product"}  # "Orders": matched case-insensitively
    assert graph["employee"] == {"employee"}
    assert graph["audit_log"] == set()


@pytest.mark.parametrize(("start", "goal", "path"), [
    ("customer", "customer", ["customer"]),
    ("customer", "orders", ["customer", "orders"]),
    ("orders", "product", ["orders", "order_item", "product"]),  # through the bridge
    ("product", "orders", ["product", "order_item", "orders"]),
    ("customer", "category", ["customer", "orders", "order_item", "product", "category"]),
    ("employee", "employee", ["employee"]),  # a key to itself is no detour
    ("customer", "audit_log", None),
    ("audit_log", "customer", None),
    ("employee", "customer", None),
    ("customer", "warehouse", None),  # referenced, but not a table of the catalog
])
def test_shortest_path(shop: Catalog, start: str, goal: str, path: list[str] | None) -> None:
    assert shortest_path(neighbours(shop), start, goal) == path


def test_shortest_path_prefers_alphabetical_ties() -> None:
    """Two equally short routes: the same one every time (the drafts must be reproducible)."""
    graph = {"a": {"m", "b"}, "b": {"a", "z"}, "m": {"a", "z"}, "z": {"b", "m"}}
    assert shortest_path(graph, "a", "z") == ["a", "b", "z"]


@pytest.mark.parametrize(("a", "b", "column", "holder"), [
    ("orders", "customer", "customer_id", True),  # many-to-one: orders holds the key
    ("customer", "orders", "customer_id", False),  # one-to-many: rows may repeat
    ("order_item", "orders", "order_id", True),
    ("employee", "employee", "manager_id", True),
    ("customer", "product", None, None),
    ("audit_log", "customer", None, None),
])
def test_join_key(shop: Catalog, a: str, b: str, column: str | None,
                  holder: bool | None) -> None:
    key = join_key(shop, a, b)
    if column is None:
        assert key is None
    else:
        assert key is not None
        assert (key[0].columns, key[1]) == ([column], holder)


@pytest.mark.parametrize(("table", "target", "column"), [
    ("orders", "customer", "customer_id"),
    ("orders", "CUSTOMER", "customer_id"),
    ("customer", "orders", None),  # the key is held by the other side
    ("employee", "employee", "manager_id"),
    ("orders", "warehouse", "warehouse_id"),  # a key is a key, in the catalog or not
])
def test_foreign_key_to(shop: Catalog, table: str, target: str, column: str | None) -> None:
    assert foreign_key_to(shop, table, target) == column


@pytest.mark.parametrize(("table", "column", "referenced"), [
    ("order_item", "order_id", "orders"),  # the catalog's spelling, not the key's ("Orders")
    ("employee", "manager_id", "employee"),
    ("orders", "warehouse_id", None),  # not in the catalog
    ("orders", "id", None),
])
def test_referenced_table(shop: Catalog, table: str, column: str, referenced: str | None) -> None:
    assert referenced_table(shop, table, column) == referenced


def test_composite_keys_are_not_single_column_references() -> None:
    line = Table("line", [Column("a", "INTEGER"), Column("b", "INTEGER")],
                 foreign_keys=[ForeignKey(["a", "b"], "head", ["a", "b"])])
    head = Table("head", [Column("a", "INTEGER"), Column("b", "INTEGER")], primary_key=["a", "b"])
    catalog = Catalog(name="c", tables={"line": line, "head": head})
    assert foreign_key_to(catalog, "line", "head") is None
    assert referenced_table(catalog, "line", "a") is None
    assert shortest_path(neighbours(catalog), "line", "head") == ["line", "head"]
