"""Extraction never launders a personal column (issue 12, route 3).

A steward extracts with ``--key phone`` (or ``--key email``) from an unrestricted text
column, so the workspace table holds raw phones as its key and as ``source_key``. The
analyst then reads that table directly, joined with the source, filtered on a raw value and
through ``ask``: every route shows the key masked exactly as ``customers.phone`` is, because
the workspace records each column's lineage and the policy derives the rule from it on
every resolve (a policy change applies without extracting again). Hash masks keep the join
to the source; partial masks do not (different values share a mask), which is shown too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import REPO_ROOT, IsolatedEnv, load_yaml

PHONE_MASK = re.compile(r"^1\d\d\*{4}\d{4}$")


@pytest.fixture(scope="module")
def customers(sample_db_path: Path) -> dict[str, list[str]]:
    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        rows = con.execute("SELECT phone, email FROM customers ORDER BY customer_id").fetchall()
    finally:
        con.close()
    return {"phone": [r[0] for r in rows], "email": [r[1] for r in rows]}


def extract(env: IsolatedEnv, db: Path, ws: Path, key: str, into: str) -> None:
    """The steward's extraction keyed by a personal column (offline: detectors only)."""
    run = env.run("extract", "--from", "customers.city", "--key", key, "--spec",
                  "pii_mentions", "--into", into, "--db", str(db), "--role", "steward",
                  "-f", "json", env={"NL2SQL_WORKSPACE": str(ws)})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["summary"]["written"] > 0


def query(env: IsolatedEnv, db: Path, ws: Path, sql: str, role: str = "analyst",
          command: str = "sql", **extra: str) -> Any:
    run = env.run(command, sql, "--db", str(db), "--role", role, "-f", "json",
                  env={"NL2SQL_WORKSPACE": str(ws), **extra})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def raw_in(answer: Any, values: list[str]) -> list[str]:
    text = json.dumps(answer, ensure_ascii=False)
    return [v for v in values if v in text]


def schemas_with(tmp_path: Path, **rules: dict[str, Any]) -> Path:
    """schemas/shop.yaml with some customers columns' rules changed, in a folder of its own
    (``extract/`` specs linked along)."""
    data = load_yaml((REPO_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    for column, change in rules.items():
        data["tables"]["customers"]["columns"][column].update(change)
    folder = tmp_path / "schemas"
    folder.mkdir()
    (folder / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (folder / "extract").symlink_to(REPO_ROOT / "schemas" / "extract")
    return folder


@pytest.mark.slow
def test_a_copied_key_is_masked_for_the_analyst_on_every_route(
        isolated_env: IsolatedEnv, sample_db_path: Path, tmp_path: Path,
        customers: dict[str, list[str]]) -> None:
    ws = tmp_path / "ws.duckdb"
    extract(isolated_env, sample_db_path, ws, "phone", "by_phone")
    phones = customers["phone"]
    # the lineage is in the workspace's metadata: the rule is derived from it, not copied
    con = duckdb.connect(str(ws), read_only=True)
    try:
        (recorded,) = con.execute("SELECT lineage_json FROM _nl2sql_extractions "
                                  "WHERE table_name = 'by_phone'").fetchone() or (None,)
    finally:
        con.close()
    lineage = json.loads(recorded)
    assert lineage["phone"] == lineage["source_key"] == {"source": "customers.phone",
                                                         "copy": True, "pii": "phone"}
    assert lineage["pii_kinds"] == {"source": "customers.city", "copy": False}

    direct = query(isolated_env, sample_db_path, ws,
                   "SELECT phone, source_key, pii_count FROM by_phone")
    assert len(direct["rows"]) == len(phones) and not raw_in(direct, phones)
    assert all(PHONE_MASK.match(r[0]) and r[0] == r[1] for r in direct["rows"])
    assert {m["source"] for m in direct["masking"]} == {"by_phone.phone", "by_phone.source_key"}
    # exactly as the source shows it: the same masked values
    source = query(isolated_env, sample_db_path, ws, "SELECT phone FROM customers")
    assert sorted(r[0] for r in direct["rows"]) == sorted(r[0] for r in source["rows"])
    attacks = [
        "SELECT c.customer_id, w.phone, w.source_key FROM by_phone w "
        "JOIN customers c ON c.phone = w.phone",
        "SELECT * FROM by_phone",
        "SELECT upper(source_key), phone || '' FROM by_phone",
        "SELECT customer_id FROM customers WHERE phone IN (SELECT source_key FROM by_phone)",
        "SELECT regexp_extract(source_key, '\\d+', 0) FROM by_phone",
    ]
    for sql in attacks:
        assert not raw_in(query(isolated_env, sample_db_path, ws, sql), phones), sql
    # filtering on a raw value finds nothing: the filter sees the masked key
    found = query(isolated_env, sample_db_path, ws,
                  f"SELECT count(*) FROM by_phone WHERE phone = '{phones[0]}' "
                  f"OR source_key = '{phones[0]}'")
    assert found["rows"] == [[0]]
    asked = query(isolated_env, sample_db_path, ws, "list the phone of every by_phone row",
                  command="ask")
    assert asked["rows"] and not raw_in(asked, phones)
    # the steward, who may read customers.phone in clear, reads the key in clear and joins
    steward = query(isolated_env, sample_db_path, ws,
                    "SELECT count(*) FROM by_phone w JOIN customers c ON c.phone = w.phone",
                    role="steward")
    assert steward["rows"] == [[len(phones)]]


def test_hash_masks_keep_the_join_partial_masks_do_not(
        isolated_env: IsolatedEnv, sample_db_path: Path, tmp_path: Path,
        customers: dict[str, list[str]]) -> None:
    ws = tmp_path / "ws.duckdb"
    extract(isolated_env, sample_db_path, ws, "email", "by_email")
    emails = customers["email"]
    join = "SELECT count(*) FROM by_email w JOIN customers c ON c.email = w.email"
    # partial: 'z***@qq.com' stands for many addresses, so the join pairs wrong rows
    partial = query(isolated_env, sample_db_path, ws, join)
    assert partial["rows"][0][0] > len(emails)
    # hash: equal values stay equal (the same key hashes both sides), the join holds
    hashed = schemas_with(tmp_path, email={"mask": "hash"})
    extra = {"NL2SQL_SCHEMAS": str(hashed)}
    assert query(isolated_env, sample_db_path, ws, join, **extra)["rows"] == [[len(emails)]]
    shown = query(isolated_env, sample_db_path, ws, "SELECT email, source_key FROM by_email",
                  **extra)
    assert not raw_in(shown, emails)
    assert all(r[0].startswith("#") and r[0] == r[1] for r in shown["rows"])


@pytest.mark.slow
def test_a_policy_change_applies_without_extracting_again(
        isolated_env: IsolatedEnv, sample_db_path: Path, tmp_path: Path,
        customers: dict[str, list[str]]) -> None:
    ws = tmp_path / "ws.duckdb"
    extract(isolated_env, sample_db_path, ws, "phone", "by_phone")
    denied = {"NL2SQL_SCHEMAS": str(schemas_with(tmp_path, phone={"deny": True}))}
    refused = isolated_env.run("sql", "SELECT source_key FROM by_phone", "--db",
                               str(sample_db_path), "-f", "json",
                               env={"NL2SQL_WORKSPACE": str(ws), **denied})
    assert refused.returncode == 3 and "source_key" in refused.stdout + refused.stderr
    rest = query(isolated_env, sample_db_path, ws, "SELECT * EXCLUDE (phone, source_key) "
                 "FROM by_phone", **denied)
    assert "phone" not in rest["columns"] and not raw_in(rest, customers["phone"])
    # a workspace written before lineage was recorded: rebuilt from the extraction's key
    con = duckdb.connect(str(ws))
    try:
        con.execute("ALTER TABLE _nl2sql_extractions DROP COLUMN lineage_json")
    finally:
        con.close()
    old = query(isolated_env, sample_db_path, ws, "SELECT phone, source_key FROM by_phone")
    assert old["rows"] and not raw_in(old, customers["phone"])
