"""``nl2sql scan-pii --write``: findings added to a semantic-layer YAML without touching
anything a person wrote, atomically, idempotently, and loadable by the semantic layer."""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import load_yaml

from nl2sql.errors import ConfigError
from nl2sql.governance import pii_write
from nl2sql.governance.pii import ColumnFinding
from nl2sql.schema import semantic

# A hand-written file with what round trips tend to lose: comments (head, end-of-line,
# between keys), blank lines, quoting styles, an anchor and its alias, flow and block
# lists, a long line and a plain scalar folded by hand over two lines.
PERSON_FILE = """\
# Semantic layer for the shop, kept by the data team.
database: shop   # do not rename
description: 'Shop data (2023-2025).'

tables:
  customers:
    description: Customers,
      one row per account.        # folded by hand
    columns:
      phone:
        pii: email                # a person's (wrong) call: must be kept
      name:
        pii: null                 # "not personal here": a decision too
        synonyms: [姓名, "full name"]
      city:
        values: &cities
          "Xi'an": [西安]
          Shanghai: [上海, 沪]

  orders:
    columns:
      shipping_city:
        values: *cities
      status:
        synonyms:
          - state
          - 订单状态
terms:
  sales:
    sql: sum(orders.total_amount)  # the long line below stays on one line
    description: LONG
""".replace("LONG", "Total order value in CNY (all orders, including cancelled and refunded "
                   "ones; see net sales and the refund rate).")


def finding(table: str, column: str, kinds: list[str], share: float = 1.0,
            confidence: str = "high", evidence: str = "name+values", n: int = 200,
            kind_shares: dict[str, float] | None = None) -> ColumnFinding:
    return ColumnFinding(table=table, column=column, type="VARCHAR", kinds=kinds, share=share,
                         confidence=confidence, evidence=evidence, rows_sampled=n,
                         kind_shares=kind_shares or {k: share for k in kinds})


FINDINGS = [
    finding("customers", "phone", ["phone"]),
    finding("customers", "name", ["person_name"]),
    finding("customers", "email", ["email"], share=0.985),
    finding("agents", "name", ["person_name"], n=30),
    finding("reviews", "review_text", ["phone", "email", "address"], share=0.022,
            confidence="medium", evidence="embedded", n=1000),
]


def write(path: Path, findings: list[ColumnFinding] = FINDINGS) -> pii_write.WriteReport:
    return pii_write.write_findings(pii_write.load_target(path, "shop"), findings)


def lines_kept_in_order(old: str, new: str) -> bool:
    remaining = iter(new.splitlines())
    return all(line in remaining for line in old.splitlines())


def added_lines(old: str, new: str) -> list[str]:
    """The lines ``new`` adds to ``old`` (stripped), in order."""
    a, b = old.splitlines(), new.splitlines()
    return [line.strip() for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes()
            if tag != "equal" for line in b[j1:j2]]


@pytest.fixture
def person_file(tmp_path: Path) -> Path:
    path = tmp_path / "schemas" / "shop.yaml"
    path.parent.mkdir()
    path.write_text(PERSON_FILE, encoding="utf-8")
    return path


def test_adds_only_new_keys_and_keeps_every_line_a_person_wrote(person_file: Path) -> None:
    report = write(person_file)
    new = person_file.read_text(encoding="utf-8")
    assert lines_kept_in_order(PERSON_FILE, new)
    added = added_lines(PERSON_FILE, new)
    assert added == [
        "email:",
        "pii: email  # scan-pii: high, 98.5% of 200 sampled",
        "agents:",
        "columns:",
        "name:",
        "pii: person_name  # scan-pii: high, 100% of 30 sampled",
        "reviews:",
        "columns:",
        "review_text:",
        "tags:",
        "pii_mentions: [phone, email, address]  # scan-pii: medium, 2.2% of 1000 sampled",
        "redact_text: [email, phone, address]  # scan-pii: medium, 2.2% of 1000 sampled",
    ]
    assert not any(line.startswith(("mask", "deny")) for line in added)  # policy is a person's
    assert report.changed and not report.created and report.reformatted_lines == 0
    assert [(e.table, e.column, e.key) for e in report.written] == [
        ("customers", "email", "pii"), ("agents", "name", "pii"),
        ("reviews", "review_text", "tags.pii_mentions"), ("reviews", "review_text", "redact_text")]


def test_values_a_person_set_are_kept_and_disagreements_reported(person_file: Path) -> None:
    report = write(person_file)
    kept = {(e.table, e.column): e for e in report.kept}
    assert set(kept) == {("customers", "phone"), ("customers", "name")}
    assert kept["customers", "phone"].file_value == "email"
    assert kept["customers", "name"].file_value is None  # "pii: null" is a decision too
    assert {(e.table, e.column) for e in report.disagreements} == set(kept)
    data = load_yaml(person_file.read_text(encoding="utf-8"))
    assert data["tables"]["customers"]["columns"]["phone"] == {"pii": "email"}
    assert data["tables"]["customers"]["columns"]["name"]["pii"] is None
    text = "\n".join(pii_write.report_lines(report))
    assert "! customers.phone: the file says pii: email, the scan found phone" in text
    assert "! customers.name: the file says pii: null" in text
    as_json = report.to_json()
    assert [d["column"] for d in as_json["disagreements"]] == ["phone", "name"]
    assert as_json["written"][0] == {"table": "customers", "column": "email", "key": "pii",
                                     "value": "email", "note": "high, 98.5% of 200 sampled",
                                     "file_value": None}


def test_an_agreeing_value_is_kept_without_a_disagreement(person_file: Path) -> None:
    report = write(person_file, [finding("customers", "phone", ["email"])])
    assert not report.written and not report.changed and not report.disagreements
    assert len(report.kept) == 1 and report.kept[0].agrees


def test_second_run_changes_nothing(person_file: Path) -> None:
    first = write(person_file)
    text, stat = person_file.read_bytes(), person_file.stat()
    second = write(person_file)
    assert first.changed and not second.changed and not second.written
    assert person_file.read_bytes() == text
    assert person_file.stat().st_mtime_ns == stat.st_mtime_ns  # not even rewritten
    assert len(second.kept) == len(first.kept) + len(first.written)
    assert "unchanged; 0 written" in pii_write.report_lines(second)[0]


def test_written_file_loads_in_the_semantic_layer(person_file: Path, sample_catalog: Any) -> None:
    write(person_file)
    merged = semantic.apply(sample_catalog, person_file.parent)
    assert merged.semantic_files == [str(person_file)]
    assert merged.table("agents").column("name").tags == {"pii": "person_name"}
    assert merged.table("customers").column("email").tags == {"pii": "email"}
    assert merged.table("customers").column("phone").tags == {"pii": "email"}  # kept
    assert merged.table("reviews").column("review_text").tags == {
        "pii_mentions": ["phone", "email", "address"],
        "redact_text": ["email", "phone", "address"]}
    assert merged.table("orders").column("shipping_city").values["Xi'an"] == ["西安"]  # alias kept


def test_creates_a_missing_file(tmp_path: Path, sample_catalog: Any) -> None:
    path = tmp_path / "shop.yaml"
    report = write(path)
    text = path.read_text(encoding="utf-8")
    assert report.created and report.changed and len(report.written) == 6
    assert text.startswith("# Semantic layer for shop.")
    assert load_yaml(text)["database"] == "shop"
    merged = semantic.apply(sample_catalog, tmp_path)
    assert merged.table("customers").column("phone").tags == {"pii": "phone"}
    assert merged.table("customers").column("name").tags == {"pii": "person_name"}
    assert not write(path).changed


def test_creates_a_file_with_nothing_found(tmp_path: Path, sample_catalog: Any) -> None:
    path = tmp_path / "other_name.yaml"
    report = write(path, [])
    assert report.created and not report.written
    assert load_yaml(path.read_text(encoding="utf-8")) == {"database": "shop"}
    assert semantic.apply(sample_catalog, tmp_path).semantic_files == [str(path)]


def test_a_column_with_several_kinds_gets_its_main_kind_and_mentions(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    write(path, [finding("customers", "email", ["phone", "email"],
                         kind_shares={"phone": 0.35, "email": 0.6})])
    spec = load_yaml(path.read_text(encoding="utf-8"))["tables"]["customers"]["columns"]
    assert spec["email"] == {"pii": "email", "tags": {"pii_mentions": ["phone"]}}


def test_name_only_findings_say_so(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    write(path, [finding("customers", "email", ["email"], share=0.0, confidence="low",
                         evidence="name", kind_shares={"email": 0.0})])
    assert "# scan-pii: low, 0% of 200 sampled, by column name only" in path.read_text("utf-8")


def test_keys_match_tables_and_columns_case_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text("database: shop\ntables:\n  Customers:\n    columns:\n      PHONE:\n"
                    "        description: mobile\n", encoding="utf-8")
    write(path, [finding("customers", "phone", ["phone"])])
    data = load_yaml(path.read_text(encoding="utf-8"))
    assert list(data["tables"]) == ["Customers"]
    assert data["tables"]["Customers"]["columns"] == {"PHONE": {"description": "mobile",
                                                                "pii": "phone"}}


def test_empty_and_flow_style_sections_still_get_the_keys(tmp_path: Path,
                                                          sample_catalog: Any) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text("database: shop\ntables:\n  customers: {columns: {}}\n", encoding="utf-8")
    report = write(path, [finding("customers", "phone", ["phone"])])
    assert report.changed and len(report.written) == 1
    merged = semantic.apply(sample_catalog, tmp_path)
    assert merged.table("customers").column("phone").tags == {"pii": "phone"}


def test_crlf_line_ends_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_bytes(b"# team file\r\ndatabase: shop\r\ntables:\r\n  customers:\r\n"
                     b"    columns:\r\n      phone:\r\n        description: mobile\r\n")
    write(path, [finding("customers", "phone", ["phone"])])
    raw = path.read_bytes()
    assert raw.startswith(b"# team file\r\ndatabase: shop\r\n")
    assert b"pii: phone" in raw and raw.count(b"\n") == raw.count(b"\r\n")


def test_a_file_named_for_another_name_gets_a_database_key(tmp_path: Path) -> None:
    path = tmp_path / "governance.yaml"
    path.write_text("# ours\ntables: {}\n", encoding="utf-8")
    report = write(path, [finding("customers", "phone", ["phone"])])
    data = load_yaml(path.read_text(encoding="utf-8"))
    assert data["database"] == "shop" and any("database: shop" in n for n in report.notes)
    assert semantic.find_file(tmp_path, "shop") == path


@pytest.mark.parametrize(("text", "message"), [
    ("database: chinook\ntables: {}\n", "semantic layer of database 'chinook', not 'shop'"),
    ("tables: [customers\n", "not valid YAML"),
    ("database: shop\ndatabase: shop\n", "not valid YAML"),  # duplicate key
    ("- customers\n- orders\n", "the top level must be a mapping"),
])
def test_refuses_files_it_must_not_write(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        pii_write.load_target(path, "shop")
    assert "\n" not in err.value.message
    assert path.read_text(encoding="utf-8") == text


def test_refuses_a_column_spec_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    text = "database: shop\ntables:\n  customers:\n    columns:\n      phone: [oops]\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tables\.customers\.columns\.phone must be a mapping"):
        write(path, [finding("customers", "phone", ["phone"])])
    assert path.read_text(encoding="utf-8") == text


def test_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        pii_write.load_target(tmp_path / "nowhere" / "shop.yaml", "shop")


def test_a_file_edited_during_the_scan_is_not_overwritten(person_file: Path) -> None:
    target = pii_write.load_target(person_file, "shop")
    edited = PERSON_FILE + "# a person's edit while the scan ran\n"
    person_file.write_text(edited, encoding="utf-8")
    with pytest.raises(ConfigError, match="changed during the scan"):
        pii_write.write_findings(target, FINDINGS)
    assert person_file.read_text(encoding="utf-8") == edited


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_whole(person_file: Path, monkeypatch: Any,
                                                  failure: BaseException) -> None:
    def fail(*_: Any) -> None:
        raise failure

    monkeypatch.setattr(os, "fsync", fail)  # dies after the temporary file is written
    expected = ConfigError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        write(person_file)
    assert person_file.read_text(encoding="utf-8") == PERSON_FILE
    assert os.listdir(person_file.parent) == ["shop.yaml"]  # no temporary file left behind


def test_the_file_keeps_its_permissions(person_file: Path) -> None:
    person_file.chmod(0o640)
    write(person_file)
    assert person_file.stat().st_mode & 0o777 == 0o640


def test_splice_is_refused_when_the_edit_is_not_purely_additive() -> None:
    assert pii_write._splice("a: 1\n", "a: 1\n", "a: 2\n") is None
    assert pii_write._splice("a: 1\nb:\n  c: 2\n", "a: 1\nb:\n  c: 2\n",
                             "a: 1\nb:\n  c: 2\n  d: 3\n") == "a: 1\nb:\n  c: 2\n  d: 3\n"


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


@pytest.mark.slow  # a full scan, twice
def test_cli_scan_pii_write_json_then_idempotent(isolated_env: Any, sample_db_path: Path,
                                                 sample_catalog: Any) -> None:
    schemas = isolated_env.cwd / "schemas"
    schemas.mkdir()
    path = schemas / "shop.yaml"
    path.write_text(PERSON_FILE, encoding="utf-8")
    args = ("scan-pii", "--db", str(sample_db_path), "--format", "json", "--write", str(path))
    first = isolated_env.run(*args)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    written = {(w["table"], w["column"], w["key"]): w["value"] for w in data["written"]}
    assert written == {
        ("customers", "birth_date", "pii"): "birth_date",
        ("customers", "email", "pii"): "email",
        ("customers", "id_number", "pii"): "id_number",
        ("agents", "name", "pii"): "person_name",
        ("reviews", "review_text", "tags.pii_mentions"): written[
            "reviews", "review_text", "tags.pii_mentions"],
        ("support_tickets", "transcript", "tags.pii_mentions"): written[
            "support_tickets", "transcript", "tags.pii_mentions"],
        ("reviews", "review_text", "redact_text"): ["email", "phone", "address"],
        ("support_tickets", "transcript", "redact_text"): ["email", "phone", "address"],
    }
    for key in (("reviews", "review_text"), ("support_tickets", "transcript")):
        assert {"phone", "email", "address"} <= set(written[(*key, "tags.pii_mentions")])
    assert {(d["column"], d["file_value"]) for d in data["disagreements"]} == {
        ("phone", "email"), ("name", None)}
    assert data["changed"] and data["columns"]
    assert lines_kept_in_order(PERSON_FILE, path.read_text(encoding="utf-8"))
    merged = semantic.apply(sample_catalog, schemas)
    assert merged.table("customers").column("id_number").tags == {"pii": "id_number"}

    text = path.read_bytes()
    second = json.loads(isolated_env.run(*args).stdout)
    assert not second["changed"] and second["written"] == [] and path.read_bytes() == text
    # the other commands read the file too
    schema = isolated_env.run("schema", "--db", str(sample_db_path), "--format", "json",
                              env={"NL2SQL_SCHEMAS": str(schemas)})
    assert schema.returncode == 0, schema.stderr


def test_cli_scan_pii_write_text_report(isolated_env: Any, sample_db_path: Path) -> None:
    path = isolated_env.cwd / "shop.yaml"
    table = isolated_env.run("scan-pii", "--db", str(sample_db_path), "--write", str(path),
                             "--sample", "300")
    assert table.returncode == 0, table.stderr
    assert f"{path}: created; 10 written, 0 kept, 0 disagreement(s)" in table.stdout
    assert "+ customers.phone: pii: phone  (high, 100% of 300 sampled)" in table.stdout
    csv = isolated_env.run("scan-pii", "--db", str(sample_db_path), "--write", str(path),
                           "--sample", "300", "--format", "csv")
    assert csv.returncode == 0 and csv.stdout.startswith("table,column,kinds")
    assert "unchanged" not in csv.stdout and f"{path}: unchanged" in csv.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("database: chinook\n", "semantic layer of database 'chinook', not 'shop'"),
    ("tables: [oops\n", "not valid YAML"),
])
def test_cli_scan_pii_write_refuses_with_exit_2(isolated_env: Any, sample_db_path: Path,
                                                text: str, message: str) -> None:
    path = isolated_env.cwd / "shop.yaml"
    path.write_text(text, encoding="utf-8")
    result = isolated_env.run("scan-pii", "--db", str(sample_db_path), "--write", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error (config): ")
    assert message in result.stderr and result.stdout == ""
    assert path.read_text(encoding="utf-8") == text


@pytest.mark.slow  # a full scan of the sample database
def test_repo_semantic_layer_gains_only_reviewable_lines(tmp_path: Path, sample_db_path: Path,
                                                         sample_catalog: Any) -> None:
    """The real schemas/shop.yaml: only added lines, and it still loads."""
    from nl2sql.governance import pii
    from nl2sql.schema.source import resolve

    repo_file = Path(__file__).resolve().parent.parent / "schemas" / "shop.yaml"
    path = tmp_path / "shop.yaml"
    shutil.copyfile(repo_file, path)
    findings = pii.scan(resolve(str(sample_db_path)), sample_catalog, tmp_path / "cache")
    report = write(path, findings)
    assert report.reformatted_lines == 0
    assert lines_kept_in_order(repo_file.read_text(encoding="utf-8"),
                               path.read_text(encoding="utf-8"))
    semantic.apply(sample_catalog, tmp_path)
