"""Introspection (structure, comments, profiles), its on-disk cache, and the semantic layer.

Expected values are computed from the databases themselves (DuckDB / sqlite3), never
copied from the generator, so the tests follow the data.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import introspect_db

import nl2sql.schema.introspect as introspect_mod
from nl2sql.catalog import Catalog
from nl2sql.errors import ConfigError
from nl2sql.schema.semantic import apply

SHOP_TABLES = {"customers", "products", "orders", "order_items", "agents", "reviews",
               "support_tickets"}
ORDER_STATUSES = {"paid", "shipped", "delivered", "cancelled", "refunded"}


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.rglob("*.json") if p.is_file())


def count_reflect_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = introspect_mod.reflect

    def counting(source: Any) -> Any:
        calls.append(1)
        return real(source)

    monkeypatch.setattr(introspect_mod, "reflect", counting)
    return calls


@pytest.fixture
def shop_con(sample_db_path: Path) -> Any:
    con = duckdb.connect(str(sample_db_path), read_only=True)
    yield con
    con.close()


def scalar(con: Any, sql: str) -> Any:
    return con.execute(sql).fetchone()[0]


# --------------------------------------------------------------------------- sample DB


def test_sample_tables_and_row_counts(sample_catalog: Catalog, shop_con: Any) -> None:
    assert sample_catalog.name == "shop"
    assert sample_catalog.dialect == "duckdb"
    assert set(sample_catalog.tables) == SHOP_TABLES
    for name, table in sample_catalog.tables.items():
        assert table.kind == "table"
        assert table.row_count == scalar(shop_con, f"SELECT count(*) FROM {name}"), name
    assert sample_catalog.fingerprint


def test_sample_columns_and_types(sample_catalog: Catalog, shop_con: Any) -> None:
    for name, table in sample_catalog.tables.items():
        expected = shop_con.execute(
            "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE table_name = ? ORDER BY column_index", [name]).fetchall()
        assert [c.name for c in table.columns] == [e[0] for e in expected], name
        for column, (_, data_type, nullable) in zip(table.columns, expected, strict=True):
            assert column.nullable == bool(nullable), f"{name}.{column.name}"
            base = data_type.split("(")[0]
            if base == "DECIMAL":
                assert column.type.split("(")[0] in ("DECIMAL", "NUMERIC"), column.type
                assert column.type.replace(" ", "").endswith(
                    data_type[len("DECIMAL"):].replace(" ", "")), (column.type, data_type)
            else:
                assert column.type.startswith(base), (f"{name}.{column.name}", column.type,
                                                      data_type)
    orders = sample_catalog.tables["orders"]
    assert orders.column("order_date").type.startswith("TIMESTAMP")
    assert orders.column("STATUS") is orders.column("status")  # case-insensitive lookup
    assert sample_catalog.table("ORDERS") is orders


def test_sample_primary_keys(sample_catalog: Catalog) -> None:
    tables = sample_catalog.tables
    assert tables["customers"].primary_key == ["customer_id"]
    assert tables["orders"].primary_key == ["order_id"]
    assert tables["support_tickets"].primary_key == ["ticket_id"]
    assert tables["order_items"].primary_key == ["order_id", "line_no"]
    pk_columns = [c.name for c in tables["order_items"].columns if c.primary_key]
    assert sorted(pk_columns) == ["line_no", "order_id"]
    assert not tables["orders"].column("customer_id").primary_key


def test_sample_foreign_keys(sample_catalog: Catalog) -> None:
    def fks(table: str) -> set[tuple[tuple[str, ...], str, tuple[str, ...]]]:
        return {(tuple(fk.columns), fk.ref_table, tuple(fk.ref_columns))
                for fk in sample_catalog.tables[table].foreign_keys}

    assert fks("orders") == {(("customer_id",), "customers", ("customer_id",))}
    assert fks("order_items") == {(("order_id",), "orders", ("order_id",)),
                                  (("product_id",), "products", ("product_id",))}
    assert fks("reviews") == {(("product_id",), "products", ("product_id",)),
                              (("customer_id",), "customers", ("customer_id",))}
    assert fks("support_tickets") == {(("customer_id",), "customers", ("customer_id",)),
                                      (("order_id",), "orders", ("order_id",)),
                                      (("agent_id",), "agents", ("agent_id",))}
    assert fks("customers") == set()


def test_sample_comments_match_duckdb(sample_catalog: Catalog, shop_con: Any) -> None:
    table_comments = dict(shop_con.execute(
        "SELECT table_name, comment FROM duckdb_tables()").fetchall())
    column_comments = {(t, c): x for t, c, x in shop_con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns()").fetchall()}
    assert any(table_comments.values()), "the sample database should carry comments"
    for name, table in sample_catalog.tables.items():
        assert table.comment == (table_comments[name] or None), name
        for column in table.columns:
            assert column.comment == (column_comments[(name, column.name)] or None), \
                f"{name}.{column.name}"
    assert sample_catalog.tables["orders"].about  # description or comment
    assert "paid" in (sample_catalog.tables["orders"].column("status").comment or "")


def test_sample_distinct_counts_are_close(sample_catalog: Catalog, shop_con: Any) -> None:
    for table, column in [("orders", "status"), ("orders", "channel"), ("customers", "city"),
                          ("customers", "customer_id"), ("products", "category"),
                          ("order_items", "product_id")]:
        exact = scalar(shop_con, f"SELECT count(DISTINCT {column}) FROM {table}")
        profile = sample_catalog.tables[table].column(column).profile
        assert profile is not None
        assert abs(profile.distinct - exact) <= max(2, 0.2 * exact), (table, column,
                                                                      profile.distinct, exact)
    assert sample_catalog.tables["orders"].column("status").profile.distinct == 5


def test_sample_null_share(sample_catalog: Catalog, shop_con: Any) -> None:
    profile = sample_catalog.tables["support_tickets"].column("closed_at").profile
    exact = scalar(shop_con, "SELECT avg((closed_at IS NULL)::INTEGER) FROM support_tickets")
    assert profile.null_share > 0
    assert profile.null_share == pytest.approx(exact, abs=0.01)
    assert sample_catalog.tables["orders"].column("status").profile.null_share == 0


@pytest.mark.parametrize(("table", "column"), [
    ("customers", "signup_date"), ("customers", "birth_date"), ("orders", "order_date"),
    ("support_tickets", "opened_at"), ("orders", "total_amount"), ("reviews", "rating"),
])
def test_sample_min_max(sample_catalog: Catalog, shop_con: Any, table: str, column: str) -> None:
    low, high = shop_con.execute(
        f"SELECT min({column})::VARCHAR, max({column})::VARCHAR FROM {table}").fetchone()
    profile = sample_catalog.tables[table].column(column).profile
    assert (profile.min, profile.max) == (low, high)


def test_sample_top_values_of_status(sample_catalog: Catalog, shop_con: Any) -> None:
    top = dict(sample_catalog.tables["orders"].column("status").profile.top_values)
    assert set(top) == ORDER_STATUSES
    exact = dict(shop_con.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall())
    assert top == exact
    counts = [n for _, n in sample_catalog.tables["orders"].column("status").profile.top_values]
    assert counts == sorted(counts, reverse=True), "most frequent first"


@pytest.mark.parametrize(("table", "column"), [
    ("customers", "phone"), ("customers", "email"), ("customers", "id_number"),
    ("customers", "name"), ("reviews", "review_text"), ("support_tickets", "transcript"),
    ("products", "name"),
])
def test_no_top_values_for_high_cardinality_text(sample_catalog: Catalog, table: str,
                                                 column: str) -> None:
    assert sample_catalog.tables[table].column(column).profile.top_values == []


def test_top_values_only_for_text(sample_catalog: Catalog) -> None:
    for table in sample_catalog.tables.values():
        for column in table.columns:
            if column.profile and column.profile.top_values:
                assert "CHAR" in column.type.upper() or "TEXT" in column.type.upper(), \
                    f"{table.name}.{column.name} ({column.type})"


def test_catalog_json_round_trip(sample_catalog: Catalog) -> None:
    data = json.loads(json.dumps(sample_catalog.to_json(), ensure_ascii=False))
    again = Catalog.from_json(data)
    assert json.loads(json.dumps(again.to_json(), ensure_ascii=False)) == data
    assert again.tables["orders"].column("status").profile.top_values[0] == \
        sample_catalog.tables["orders"].column("status").profile.top_values[0]


# --------------------------------------------------------------------------- awkward names


def test_views_keywords_and_chinese_names(odd_db_path: Path, tmp_path: Path) -> None:
    catalog = introspect_db(odd_db_path, tmp_path / "cache")
    assert catalog.name == "odd"
    assert set(catalog.tables) == {"Order Details", "订单", "big_orders"}
    assert catalog.tables["big_orders"].kind == "view"
    assert [c.name for c in catalog.tables["big_orders"].columns] == ["编号", "金额", "城市"]
    assert catalog.tables["big_orders"].row_count == 2
    details = catalog.tables["Order Details"]
    assert [c.name for c in details.columns] == ["id", "Unit Price", "select", "CamelCase"]
    assert catalog.tables["订单"].primary_key == ["编号"]
    assert dict(catalog.tables["订单"].column("城市").profile.top_values) == {"上海": 2, "北京": 1}


# --------------------------------------------------------------------------- Chinook


@pytest.fixture(scope="module")
def chinook_catalog(chinook_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return introspect_db(chinook_path, tmp_path_factory.mktemp("chinook-cache"))


@pytest.fixture
def chinook_con(chinook_path: Path) -> Any:
    con = sqlite3.connect(f"file:{chinook_path}?mode=ro", uri=True)
    yield con
    con.close()


def test_chinook_tables(chinook_catalog: Catalog, chinook_con: Any) -> None:
    names = {r[0] for r in chinook_con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
    assert set(chinook_catalog.tables) == names
    assert {"Album", "Artist", "Track", "Invoice", "InvoiceLine", "PlaylistTrack"} <= names
    assert chinook_catalog.dialect == "sqlite"
    for name, table in chinook_catalog.tables.items():
        assert table.row_count == chinook_con.execute(
            f'SELECT count(*) FROM "{name}"').fetchone()[0], name
        assert table.comment is None  # SQLite has no comments


def test_chinook_columns_types_keys(chinook_catalog: Catalog, chinook_con: Any) -> None:
    for name, table in chinook_catalog.tables.items():
        info = chinook_con.execute(f'PRAGMA table_info("{name}")').fetchall()
        assert [c.name for c in table.columns] == [r[1] for r in info]
        assert sorted(table.primary_key) == sorted(r[1] for r in info if r[5])
    assert sorted(chinook_catalog.tables["PlaylistTrack"].primary_key) == ["PlaylistId",
                                                                          "TrackId"]
    invoice = chinook_catalog.tables["Invoice"]
    assert invoice.column("InvoiceDate").type.upper().startswith("DATETIME")
    assert invoice.column("Total").type.upper().split("(")[0] in ("NUMERIC", "DECIMAL")
    assert invoice.column("BillingCountry").type.upper().startswith(("NVARCHAR", "VARCHAR"))
    assert not invoice.column("InvoiceId").nullable


def test_chinook_foreign_keys(chinook_catalog: Catalog, chinook_con: Any) -> None:
    for name, table in chinook_catalog.tables.items():
        rows = chinook_con.execute(f'PRAGMA foreign_key_list("{name}")').fetchall()
        expected = {(r[3], r[2], r[4]) for r in rows}
        got = {(c, fk.ref_table, r) for fk in table.foreign_keys
               for c, r in zip(fk.columns, fk.ref_columns, strict=True)}
        assert got == expected, name
    refs = {fk.ref_table for fk in chinook_catalog.tables["Employee"].foreign_keys}
    assert refs == {"Employee"}  # ReportsTo: self reference


def test_chinook_profiles(chinook_catalog: Catalog, chinook_con: Any) -> None:
    invoice = chinook_catalog.tables["Invoice"]
    low, high = chinook_con.execute("SELECT min(InvoiceDate), max(InvoiceDate) FROM Invoice"
                                    ).fetchone()
    profile = invoice.column("InvoiceDate").profile
    assert profile.min[:10] == low[:10] and profile.max[:10] == high[:10]
    top = dict(invoice.column("BillingCountry").profile.top_values)
    exact = dict(chinook_con.execute(
        "SELECT BillingCountry, count(*) FROM Invoice GROUP BY 1").fetchall())
    best = max(exact, key=exact.__getitem__)
    assert top[best] == exact[best]
    company = chinook_catalog.tables["Customer"].column("Company").profile
    share = chinook_con.execute("SELECT avg(Company IS NULL) FROM Customer").fetchone()[0]
    assert company.null_share == pytest.approx(share, abs=0.01)
    assert chinook_catalog.tables["Track"].column("Name").profile.top_values == []


# --------------------------------------------------------------------------- the cache


def test_second_call_is_served_from_cache(sample_db_path: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = introspect_db(sample_db_path, cache)
    assert len(cache_files(cache)) == 1

    def boom(source: Any) -> Any:
        raise AssertionError("reflect() must not run when the cache is fresh")

    monkeypatch.setattr(introspect_mod, "reflect", boom)
    second = introspect_db(sample_db_path, cache)
    assert second.to_json() == first.to_json()


def test_cache_is_readable_by_its_owner_only(sample_db_path: Path, tmp_path: Path) -> None:
    """The cache holds profiles (ranges, frequent values): another local user must not read
    them, whatever the umask says."""
    import os
    import stat

    cache = tmp_path / "cache"
    old = os.umask(0o022)
    try:
        introspect_db(sample_db_path, cache)
    finally:
        os.umask(old)
    [written] = cache_files(cache)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700


def test_cache_is_per_database(sample_db_path: Path, chinook_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shop = introspect_db(sample_db_path, cache)
    chinook = introspect_db(chinook_path, cache)
    assert len(cache_files(cache)) == 2
    assert introspect_db(sample_db_path, cache).to_json() == shop.to_json()
    assert introspect_db(chinook_path, cache).to_json() == chinook.to_json()


def test_cache_invalidated_by_schema_change(sample_db_copy: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    before = introspect_db(sample_db_copy, cache)
    assert before.tables["orders"].column("coupon_code") is None
    con = duckdb.connect(str(sample_db_copy))
    con.execute("ALTER TABLE orders ADD COLUMN coupon_code VARCHAR")
    con.execute("CREATE TABLE promotions (promo_id INTEGER PRIMARY KEY, title VARCHAR)")
    con.close()
    calls = count_reflect_calls(monkeypatch)
    after = introspect_db(sample_db_copy, cache)
    assert calls, "a changed schema must be introspected again"
    assert after.tables["orders"].column("coupon_code") is not None
    assert "promotions" in after.tables
    assert after.fingerprint != before.fingerprint
    calls.clear()
    assert introspect_db(sample_db_copy, cache).to_json() == after.to_json()
    assert not calls, "unchanged again: served from the cache"


def test_cache_invalidated_by_data_change(sample_db_copy: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = introspect_db(sample_db_copy, cache)
    assert "lost" not in dict(before.tables["orders"].column("status").profile.top_values)
    con = duckdb.connect(str(sample_db_copy))
    con.execute("UPDATE orders SET status = 'lost' WHERE order_id <= 3")
    con.close()
    after = introspect_db(sample_db_copy, cache)
    assert dict(after.tables["orders"].column("status").profile.top_values)["lost"] == 3


@pytest.mark.parametrize("damage", [
    "", "{not json", "[]", "null", '{"fingerprint": 1}', "\x00\x01\x02 binary",
], ids=["empty", "not-json", "json-list", "json-null", "stale-fingerprint", "binary"])
def test_damaged_cache_is_rebuilt(sample_db_path: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    cache = tmp_path / "cache"
    good = introspect_db(sample_db_path, cache)
    (path,) = cache_files(cache)
    path.write_text(damage, encoding="utf-8")
    calls = count_reflect_calls(monkeypatch)
    rebuilt = introspect_db(sample_db_path, cache)
    assert calls, "a damaged cache must be rebuilt"
    assert rebuilt.to_json() == good.to_json()
    assert json.loads(path.read_text(encoding="utf-8"))["fingerprint"] == good.fingerprint


def test_cache_with_matching_fingerprint_but_broken_body_is_rebuilt(
        sample_db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    good = introspect_db(sample_db_path, cache)
    (path,) = cache_files(cache)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tables"]["orders"]["columns"][0] = {"name": "order_id"}  # type missing
    data["tables"]["orders"]["unexpected"] = True
    path.write_text(json.dumps(data), encoding="utf-8")
    calls = count_reflect_calls(monkeypatch)
    assert introspect_db(sample_db_path, cache).to_json() == good.to_json()
    assert calls


def test_unwritable_cache_does_not_fail(sample_db_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    catalog = introspect_db(sample_db_path, blocker)
    assert set(catalog.tables) == SHOP_TABLES


# --------------------------------------------------------------------------- semantic layer

SEMANTIC_YAML = """
    database: shop
    description: A test shop.
    tables:
      orders:
        description: One row per checkout.
        synonyms: [purchases, 订单]
        columns:
          status:
            description: Where the order is.
            synonyms: [state, 状态]
            values:
              delivered: [已送达, received]
              cancelled: 取消
          total_amount:
            synonyms: [revenue, 金额]
      customers:
        columns:
          phone:
            pii: phone
          city:
            values:
              Shanghai: [上海, 沪]
    terms:
      sales:
        sql: sum(orders.total_amount)
        synonyms: [revenue, 销售额]
        description: Order totals in CNY.
      order count: count(DISTINCT orders.order_id)
    examples:
      - question: How many orders were cancelled?
        sql: |
          SELECT count(*) FROM orders WHERE status = 'cancelled'
"""


def write_semantic(folder: Path, text: str, name: str = "shop.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_semantic_layer_is_merged(sample_catalog: Catalog, tmp_path: Path) -> None:
    path = write_semantic(tmp_path / "schemas", SEMANTIC_YAML)
    merged = apply(sample_catalog, tmp_path / "schemas")
    assert merged.semantic_files == [str(path)]
    assert merged.description == "A test shop."
    orders = merged.tables["orders"]
    assert orders.description == "One row per checkout."
    assert orders.about == "One row per checkout."
    assert orders.synonyms == ["purchases", "订单"]
    status = orders.column("status")
    assert status.description == "Where the order is."
    assert status.synonyms == ["state", "状态"]
    assert status.values == {"delivered": ["已送达", "received"], "cancelled": ["取消"]}
    assert status.profile is not None and status.profile.top_values  # introspection kept
    amount = orders.column("total_amount")
    assert amount.synonyms == ["revenue", "金额"]
    assert amount.about == amount.comment  # no description: the DB comment still shows
    assert merged.tables["customers"].column("phone").tags.get("pii") == "phone"
    assert merged.tables["customers"].column("city").values == {"Shanghai": ["上海", "沪"]}
    terms = {t.name: t for t in merged.terms}
    assert terms["sales"].sql == "sum(orders.total_amount)"
    assert terms["sales"].synonyms == ["revenue", "销售额"]
    assert terms["sales"].description == "Order totals in CNY."
    assert terms["order count"].sql == "count(DISTINCT orders.order_id)"
    assert [e.question for e in merged.examples] == ["How many orders were cancelled?"]
    assert merged.examples[0].sql == "SELECT count(*) FROM orders WHERE status = 'cancelled'"
    # the input catalog is not modified
    assert sample_catalog.tables["orders"].description is None
    assert sample_catalog.terms == []


def test_semantic_file_found_by_database_key(sample_catalog: Catalog, tmp_path: Path) -> None:
    path = write_semantic(tmp_path / "schemas", SEMANTIC_YAML, name="any-name.yml")
    merged = apply(sample_catalog, tmp_path / "schemas")
    assert merged.semantic_files == [str(path)]
    assert merged.tables["orders"].synonyms == ["purchases", "订单"]


def test_no_semantic_file_leaves_catalog_alone(sample_catalog: Catalog, tmp_path: Path) -> None:
    write_semantic(tmp_path / "schemas", "database: another_db\n", name="other.yaml")
    assert apply(sample_catalog, tmp_path / "schemas") is sample_catalog
    assert apply(sample_catalog, tmp_path / "does-not-exist") is sample_catalog


@pytest.mark.parametrize(("yaml_text", "named"), [
    pytest.param("tables:\n  ordrs:\n    description: typo\n", "ordrs", id="unknown-table"),
    pytest.param("tables:\n  orders:\n    columns:\n      statuss:\n        description: x\n",
                 "statuss", id="unknown-column"),
    pytest.param("tables:\n  orders:\n    descripton: typo\n", "descripton",
                 id="unknown-table-key"),
    pytest.param("tables:\n  orders:\n    columns:\n      status:\n        synonym: [x]\n",
                 "synonym", id="unknown-column-key"),
    pytest.param("tabels:\n  orders:\n    description: typo\n", "tabels",
                 id="unknown-top-level-key"),
    pytest.param("terms:\n  sales:\n    sql: sum(orders.total_amount)\n    synonym: [x]\n",
                 "synonym", id="unknown-term-key"),
])
def test_semantic_errors_name_the_culprit(sample_catalog: Catalog, tmp_path: Path,
                                          yaml_text: str, named: str) -> None:
    write_semantic(tmp_path / "schemas", yaml_text)
    with pytest.raises(ConfigError) as info:
        apply(sample_catalog, tmp_path / "schemas")
    assert named in info.value.message
    assert "shop.yaml" in info.value.message


@pytest.mark.parametrize("yaml_text", [
    "tables: [\n",                       # not YAML
    "- just\n- a list\n",                # not a mapping
    "terms:\n  sales:\n    synonyms: [x]\n",  # term without sql
    "examples:\n  - question: only a question\n",
    "tables:\n  orders:\n    columns:\n      status:\n        values: [a, b]\n",
])
def test_semantic_malformed_files(sample_catalog: Catalog, tmp_path: Path,
                                  yaml_text: str) -> None:
    write_semantic(tmp_path / "schemas", yaml_text)
    with pytest.raises(ConfigError):
        apply(sample_catalog, tmp_path / "schemas")


def test_project_semantic_layer_fits_the_sample_db(sample_catalog: Catalog) -> None:
    """schemas/shop.yaml (when present) only names tables and columns that exist."""
    from nl2sql.settings import Settings

    schemas = Settings().schemas_dir
    if not (schemas / "shop.yaml").is_file():
        pytest.skip("schemas/shop.yaml not written yet")
    merged = apply(sample_catalog, schemas)
    assert merged.semantic_files


# --------------------------------------------------------------------------- big tables, warm start


@pytest.fixture
def keyed_db(tmp_path: Path) -> Path:
    """A table with every kind of key, a low- and a high-cardinality text column."""
    path = tmp_path / "keyed.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE region (region_id INTEGER PRIMARY KEY, region_name VARCHAR)")
    con.execute("INSERT INTO region SELECT range, 'region ' || range FROM range(40)")
    con.execute("CREATE TABLE facts (id INTEGER PRIMARY KEY, code VARCHAR UNIQUE, "
                "region_id INTEGER REFERENCES region (region_id), city VARCHAR, note VARCHAR, "
                "amount DOUBLE)")
    con.execute("INSERT INTO facts SELECT range, 'C' || range, range % 40, "
                "['Paris', 'Lyon', 'Nice'][range % 3 + 1], 'note ' || (range * 7919 % 3001), "
                "(range % 997) * 1.5 FROM range(5000)")
    con.close()
    return path


def test_big_tables_estimate_distinct_counts_and_say_so(keyed_db: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql.schema import profiling

    monkeypatch.setattr(profiling, "EXACT_ROWS", 1000)  # facts (5,000 rows) counts as big
    facts = introspect_db(keyed_db, tmp_path / "cache").tables["facts"]
    con = duckdb.connect(str(keyed_db), read_only=True)
    try:
        for name in ("id", "code", "region_id", "city", "note", "amount"):
            profile = facts.column(name).profile
            assert profile is not None
            exact = scalar(con, f"SELECT count(DISTINCT {name}) FROM facts")
            # keys (primary, unique, foreign) stay exact, and so do grouped values (city)
            expected_exact = name in ("id", "code", "region_id", "city")
            assert profile.distinct_exact is expected_exact, name
            if expected_exact:
                assert profile.distinct == exact, name
            else:
                assert abs(profile.distinct - exact) <= 0.25 * exact, (name, profile.distinct)
    finally:
        con.close()
    assert dict(facts.column("city").profile.top_values) == {"Paris": 1667, "Lyon": 1667,
                                                             "Nice": 1666}


def test_small_tables_count_exactly(keyed_db: Path, tmp_path: Path) -> None:
    catalog = introspect_db(keyed_db, tmp_path / "cache")
    for table in catalog.tables.values():
        for column in table.columns:
            assert column.profile is not None and column.profile.distinct_exact, column.name
    assert catalog.tables["facts"].column("note").profile.distinct == 3001
    assert catalog.tables["facts"].column("amount").profile.distinct == 997
    assert catalog.tables["facts"].row_count == 5000


def test_profiles_survive_a_table_that_cannot_be_read(keyed_db: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """One failing query in a batch: the batch is retried table by table."""
    from nl2sql.schema import profiling

    real = profiling._aggregate

    def broken_for_region(table: Any, estimated: Any, keys: Any) -> Any:
        sql, exact = real(table, estimated, keys)
        return (sql.replace('FROM "region"', 'FROM "no_such_table"'), exact)

    monkeypatch.setattr(profiling, "_aggregate", broken_for_region)
    catalog = introspect_db(keyed_db, tmp_path / "cache")
    assert catalog.tables["region"].row_count is None
    assert catalog.tables["facts"].row_count == 5000


def test_warm_cache_is_read_without_opening_the_database(sample_db_copy: Path,
                                                         tmp_path: Path) -> None:
    import os

    from nl2sql.schema.source import resolve

    cache = tmp_path / "cache"
    source = resolve(str(sample_db_copy))
    assert introspect_mod.load_unchanged(cache, source) is None  # nothing cached yet
    built = introspect_db(sample_db_copy, cache)
    warm = introspect_mod.load_unchanged(cache, source)
    assert warm is not None and warm.to_json() == built.to_json()
    stat = os.stat(sample_db_copy)
    os.utime(sample_db_copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert introspect_mod.load_unchanged(cache, source) is None  # touched: check the schema
    introspect_db(sample_db_copy, cache)  # same fingerprint: the cache is trusted again
    assert introspect_mod.load_unchanged(cache, source) is not None


def test_cache_of_an_older_version_is_not_trusted(sample_db_path: Path, tmp_path: Path) -> None:
    from nl2sql.schema.source import resolve

    cache = tmp_path / "cache"
    introspect_db(sample_db_path, cache)
    [path] = cache_files(cache)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["file_key"][0] = introspect_mod.CACHE_VERSION - 1
    path.write_text(json.dumps(data), encoding="utf-8")
    assert introspect_mod.load_unchanged(cache, resolve(str(sample_db_path))) is None
