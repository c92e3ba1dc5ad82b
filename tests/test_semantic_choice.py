"""Which semantic-layer file applies: named outright, named after the database, or the one
whose tables the database has (a renamed copy of the sample database opened with no policy
at all: phones, ID numbers and birth dates in clear)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nl2sql.catalog import Catalog, Column, Table
from nl2sql.errors import ConfigError
from nl2sql.schema import semantic
from nl2sql.schema.semantic_choice import FileHead, choose, read_heads

SHOP_YAML = Path(__file__).resolve().parent.parent / "schemas" / "shop.yaml"


def catalog(name: str, tables: dict[str, list[str]]) -> Catalog:
    return Catalog(name=name, tables={t: Table(t, [Column(c, "VARCHAR") for c in cols])
                                      for t, cols in tables.items()})


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


PEOPLE = "tables:\n  people:\n    columns:\n      phone: {pii: phone, mask: partial}\n"
PEOPLE_AND_ORDERS = PEOPLE + "  orders:\n    columns:\n      amount: {description: money}\n"
DB = {"people": ["id", "phone"], "orders": ["id", "amount"], "other": ["x"]}


@pytest.mark.parametrize(("files", "database", "expected", "by"), [
    # by name: the stem, then a file whose database: names it; either beats a better table fit
    ({"big.yaml": PEOPLE, "x.yaml": PEOPLE_AND_ORDERS}, "big", "big.yaml", "name"),
    ({"a.yaml": "database: big\n" + PEOPLE, "x.yaml": PEOPLE_AND_ORDERS}, "big", "a.yaml", "name"),
    # by tables: every table and column it names exists; the most tables wins
    ({"a.yaml": PEOPLE, "b.yaml": PEOPLE_AND_ORDERS}, "big", "b.yaml", "tables"),
    ({"a.yaml": "database: shop\n" + PEOPLE}, "big", "a.yaml", "tables"),
    # names compare case-insensitively, as catalog lookups do
    ({"a.yaml": "tables:\n  PEOPLE:\n    columns:\n      Phone: {mask: hash}\n"}, "big", "a.yaml",
     "tables"),
    # a file naming a table (or a column) the database lacks never applies
    ({"a.yaml": PEOPLE + "  invoices: {}\n"}, "big", None, None),
    ({"a.yaml": "tables:\n  people:\n    columns:\n      fax: {}\n"}, "big", None, None),
    # a file describing no table fits nothing (it would fit every database)
    ({"a.yaml": "database: elsewhere\ndescription: nothing about tables\n"}, "big", None, None),
    ({}, "big", None, None),
])
def test_choice(tmp_path: Path, files: dict[str, str], database: str, expected: str | None,
                by: str | None) -> None:
    for name, text in files.items():
        write(tmp_path / "schemas", name, text)
    choice = choose(tmp_path / "schemas", catalog(database, DB), cache_dir=tmp_path / "cache")
    if expected is None:
        assert choice is None
    else:
        assert choice is not None and (choice.path.name, choice.by) == (expected, by)


def test_a_tie_between_the_best_fits_is_refused(tmp_path: Path) -> None:
    """Which policy protects a database must not depend on the order of a listing."""
    write(tmp_path / "schemas", "a.yaml", PEOPLE)
    write(tmp_path / "schemas", "b.yaml", PEOPLE.replace("partial", "redact"))
    with pytest.raises(ConfigError) as caught:
        choose(tmp_path / "schemas", catalog("big", DB), cache_dir=tmp_path / "cache")
    message = caught.value.message
    assert "a.yaml" in message and "b.yaml" in message and "--semantic" in message
    assert "\n" not in message


def test_a_renamed_copy_of_the_sample_gets_shop_yaml_with_a_note(tmp_path: Path) -> None:
    tables = {"customers": ["customer_id", "name", "gender", "birth_date", "phone", "email",
                            "id_number", "city", "province", "signup_date", "vip_level"]}
    head = FileHead.of(semantic.load_yaml(SHOP_YAML))
    for name, columns in head.tables.items():
        tables.setdefault(name, list(columns))
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "shop.yaml").write_text(SHOP_YAML.read_text(encoding="utf-8"), encoding="utf-8")
    merged = semantic.apply(catalog("big", tables), schemas, cache_dir=tmp_path / "cache")
    assert merged.semantic_files == [str(schemas / "shop.yaml")]
    assert {"analyst", "steward"} <= set(merged.roles)
    assert merged.table("customers").column("phone").mask_mode == "partial"  # type: ignore[union-attr]
    (note,) = merged.notes
    assert "shop.yaml" in note and "big" in note and "--semantic" in note


def test_a_file_named_outright_wins_and_must_fit(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    write(schemas, "big.yaml", PEOPLE)  # by name, but the setting wins
    chosen = write(tmp_path, "mine.yaml", PEOPLE_AND_ORDERS)
    choice = choose(schemas, catalog("big", DB), explicit=chosen)
    assert choice is not None and (choice.path, choice.by) == (chosen, "setting")
    assert choice.note(catalog("big", DB)) is None
    wrong = write(tmp_path, "wrong.yaml", "database: hr\ntables:\n  payroll:\n    columns:\n"
                                          "      salary: {deny: true}\n")
    with pytest.raises(ConfigError, match=r"wrong\.yaml \(written for database hr\) does not "
                                          r"describe big: it has no payroll"):
        choose(schemas, catalog("big", DB), explicit=wrong)


@pytest.mark.parametrize(("text", "message"), [
    (None, "semantic-layer file not found"),
    ("tables: [unclosed\n", "not valid YAML"),
    ("\udcff", "cannot read"),
])
def test_a_bad_file_named_outright_is_a_config_error(tmp_path: Path, text: str | None,
                                                      message: str) -> None:
    path = tmp_path / "policy.yaml"
    if text == "\udcff":
        path.write_bytes(b"tables:\n  \xff\xfe: {}\n")
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        semantic.apply(catalog("big", DB), tmp_path / "schemas", explicit=path)


def test_the_folder_index_is_reused_and_follows_edits(tmp_path: Path) -> None:
    """Choosing by tables must not parse every YAML file on every start."""
    schemas, cache = tmp_path / "schemas", tmp_path / "cache"
    a = write(schemas, "a.yaml", PEOPLE)
    assert choose(schemas, catalog("big", DB), cache_dir=cache) is not None
    index = cache / "semantic_index.json"
    assert index.stat().st_mode & 0o777 == 0o600
    data = json.loads(index.read_text(encoding="utf-8"))
    assert data["files"][str(a)]["tables"] == {"people": ["phone"]}
    # the index answers while the file is unchanged: a planted entry is believed...
    data["files"][str(a)]["tables"] = {"orders": []}
    index.write_text(json.dumps(data), encoding="utf-8")
    assert choose(schemas, catalog("big", {"orders": ["id"]}), cache_dir=cache) is not None
    # ...and an edit (here: the same size, the same modification time) is read again
    stat = a.stat()
    a.write_text(PEOPLE.replace("partial", "hash   "), encoding="utf-8")
    os.utime(a, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert choose(schemas, catalog("big", {"orders": ["id"]}), cache_dir=cache) is None
    heads = dict(read_heads(schemas, cache))
    assert heads[a].tables == {"people": ["phone"]}


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    schemas, cache = tmp_path / "schemas", tmp_path / "cache"
    write(schemas, "a.yaml", PEOPLE)
    cache.mkdir()
    (cache / "semantic_index.json").write_text("{not json", encoding="utf-8")
    choice = choose(schemas, catalog("big", DB), cache_dir=cache)
    assert choice is not None and choice.by == "tables"


@pytest.mark.parametrize(("tags", "table_tags", "roles", "expected"), [
    ({}, {}, False, False),
    ({"pii": "phone"}, {}, False, False),  # a tag says what it is, not who may see it
    ({"pii_mentions": ["phone"]}, {}, False, False),
    ({"mask": "partial"}, {}, False, True),
    ({"mask": "none"}, {}, False, True),  # someone decided: clear
    ({"deny": False}, {}, False, True),
    ({}, {"deny": True}, False, True),
    ({}, {"row_filter": "id > 0"}, False, True),
    ({}, {}, True, True),
])
def test_has_policy(tags: dict[str, object], table_tags: dict[str, object], roles: bool,
                    expected: bool) -> None:
    column = Column("phone", "VARCHAR", tags=dict(tags))
    cat = Catalog("x", {"t": Table("t", [column], tags=dict(table_tags))})
    if roles:
        from nl2sql.catalog import Role

        cat.roles = {"analyst": Role("analyst")}
    assert semantic.has_policy(cat) is expected
