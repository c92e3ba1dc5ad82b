"""In-text redaction (``redact_text``): the patterns, the policy that carries it, the
semantic layer that states it and the scanner that proposes it.

The attacks on the sample database are in tests/test_redaction_attacks.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import load_yaml
from sqlglot import exp

from nl2sql import pii_patterns
from nl2sql.catalog import Catalog, Column, Profile, Role, Table
from nl2sql.errors import ConfigError
from nl2sql.governance import pii_detect, pii_write
from nl2sql.governance.pii import ColumnFinding
from nl2sql.safety import policy
from nl2sql.safety.policy.rewrite import redact_expression, rewrite
from nl2sql.schema import semantic
from nl2sql.settings import PROJECT_ROOT

FIXTURES = Path(__file__).parent / "fixtures"
CASES: list[dict[str, Any]] = load_yaml(
    (FIXTURES / "redaction_cases.yaml").read_text(encoding="utf-8"))
ALL = pii_patterns.REDACTABLE_KINDS


def redacted(texts: list[str | None], kinds: frozenset[str] = ALL,
             column_type: str = "VARCHAR") -> list[Any]:
    """What DuckDB returns for each text through the secure view's expression."""
    expression = redact_expression(exp.column("t", quoted=True), Column("t", column_type),
                                   kinds).sql(dialect="duckdb")
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE x (i INTEGER, t {column_type})")
        con.executemany("INSERT INTO x VALUES (?, ?)", list(enumerate(texts)))
        return [r[0] for r in con.execute(f"SELECT {expression} FROM x ORDER BY i").fetchall()]
    finally:
        con.close()


# --- the patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:30] or "empty" for c in CASES])
def test_redaction_case(case: dict[str, Any]) -> None:
    kinds = frozenset(case.get("redact", ALL))
    assert redacted([case["text"]], kinds) == [case["shown"]]
    assert sorted(pii_detect.detect(case["text"]) & ALL) == sorted(case["detected"])


def test_every_value_the_detectors_report_is_redacted() -> None:
    """One source of truth: over every labelled value of the scanner's fixture and the
    cases above, nothing the detectors report as a phone, e-mail, ID or card survives
    the SQL redaction, and the detectors find none of those kinds in what is left."""
    labelled = load_yaml((FIXTURES / "pii_values.yaml").read_text(encoding="utf-8"))["values"]
    texts = [str(e["value"]) for e in labelled] + [c["text"] for c in CASES]
    found = [[m for m in pii_detect.find_all(t) if m.kind in ALL] for t in texts]
    assert sum(map(len, found)) > 300  # the check has something to check
    for text, matches, shown in zip(texts, found, redacted(texts), strict=True):
        survivors = [m.text for m in matches if m.text in shown]
        assert not survivors, f"{text!r} -> {shown!r}"
        assert not [m for m in pii_detect.find_all(shown) if m.kind in ALL], (text, shown)
        for m in matches:
            assert pii_patterns.token(m.kind) in shown or m.kind == "phone", (text, shown)
            # the SQL skips texts without a CANDIDATE: every value must hold one
            assert re.search(pii_patterns.CANDIDATE, m.text), m


def test_null_and_lists_of_text() -> None:
    assert redacted([None]) == [None]
    lists = redacted([["a 13812345678", None, "b@c.com"]], column_type="VARCHAR[]")  # type: ignore[list-item]
    assert lists == [["a [phone]", None, "[email]"]]


# --- the semantic layer ----------------------------------------------------------------------


def _shop_with(tmp_path: Path, change: Any) -> Path:
    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    change(data)
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                        encoding="utf-8")
    return tmp_path


def _review_text(data: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = data["tables"]["reviews"]["columns"]["review_text"]
    return spec


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: _review_text(d).update(redact_text=["phone", "fax"]),
     "reviews.review_text.redact_text: unknown kind 'fax' (kinds: email, id_number, "
     "bank_card, phone, address, or all)"),
    (lambda d: _review_text(d).update(redact_text={"phone": True}),
     "reviews.review_text.redact_text must be all, none or a list of kinds"),
    (lambda d: d["tables"]["reviews"]["columns"]["rating"].update(redact_text="all"),
     "reviews.rating.redact_text applies to text columns, not INTEGER"),
    (lambda d: d["roles"]["analyst"].update(
        columns={"reviews.review_text": {"redact_text": ["ip"]}}),
     "roles.analyst.columns.reviews.review_text.redact_text: unknown kind 'ip'"),
])
def test_redact_text_errors_name_the_file(change: Any, message: str, tmp_path: Path,
                                          sample_catalog: Catalog) -> None:
    folder = _shop_with(tmp_path, change)
    with pytest.raises(ConfigError) as caught:
        semantic.apply(sample_catalog, folder)
    text = str(caught.value)
    assert message in text and text.startswith(str(folder / "shop.yaml")) and "\n" not in text


def test_the_shop_layer_redacts_its_free_text(sample_catalog: Catalog) -> None:
    merged = semantic.apply(sample_catalog, PROJECT_ROOT / "schemas")
    analyst = policy.resolve(merged, "analyst")
    assert dict(analyst.redactions) == {"reviews.review_text": ALL,
                                        "support_tickets.transcript": ALL}
    assert analyst.summary()["redacted_text"]["reviews.review_text"] == list(
        pii_patterns.REDACT_ORDER)
    assert not policy.resolve(merged, "steward").redactions  # unmask: all lifts it
    assert policy.default_role(merged) == "analyst"


@pytest.mark.parametrize(("role", "expected"), [
    ({"columns": {"reviews.review_text": {"redact_text": ["email"]}}}, {"email"}),
    ({"columns": {"reviews.review_text": {"redact_text": "none"}}}, None),
    ({"unmask": ["reviews.review_text"]}, None),
    ({"unmask": ["reviews"]}, None),
    ({"unmask": ["customers"]}, set(ALL)),
])
def test_roles_change_or_lift_the_redaction(role: dict[str, Any], expected: set[str] | None,
                                            tmp_path: Path, sample_catalog: Catalog) -> None:
    folder = _shop_with(tmp_path, lambda d: d["roles"].update(someone=role))
    merged = semantic.apply(sample_catalog, folder)
    got = policy.resolve(merged, "someone").redactions.get("reviews.review_text")
    assert (set(got) if got is not None else None) == expected


# --- the policy, built in code ---------------------------------------------------------------


def _catalog() -> Catalog:
    notes = Table("notes", [Column("id", "INTEGER"), Column("body", "VARCHAR", profile=Profile(
        min="a 13812345678", max="z@q.com", top_values=[("13812345678", 2)]))])
    insights = Table("note_insights", [Column("id", "INTEGER"), Column("topic", "VARCHAR")],
                     tags={"extracted": {"source_table": "notes", "source_column": "body",
                                         "key": "id"}})
    return Catalog(name="n", tables={"notes": notes, "note_insights": insights},
                   roles={"reader": Role("reader"), "vouched": Role("vouched",
                                                                    allow=["note_insights"])})


def test_a_policy_built_in_code_redacts() -> None:
    access = policy.AccessPolicy(redactions={"notes.body": policy.ALL_TEXT_KINDS})
    assert access.restricts and access.restricted_tables() == {"notes"}
    assert not access.sees_in_clear("notes.body") and access.sees_in_clear("notes.id")
    tree = rewrite(exp.select("body").from_("notes"), _catalog(), access)
    assert "REGEXP_REPLACE" in tree.sql(dialect="duckdb")
    with pytest.raises(ValueError, match="unknown redaction kind"):
        policy.AccessPolicy(redactions={"notes.body": frozenset({"fax"})})


def test_redacted_text_shows_no_profile_values_and_taints_what_was_extracted() -> None:
    catalog = _catalog()
    catalog.tables["notes"].columns[1].tags = {"redact_text": ["phone", "email"]}
    reader = policy.resolve(catalog, "reader")
    assert reader.redactions["notes.body"] == frozenset({"phone", "email"})
    profile = policy.visible(catalog, reader).tables["notes"].columns[1].profile
    assert profile is not None and (profile.min, profile.max, profile.top_values) == (
        None, None, [])
    # what `nl2sql extract` wrote as text from the clear text reads redacted the same way
    assert reader.redactions["note_insights.topic"] == frozenset({"phone", "email"})
    assert "note_insights.id" not in reader.redactions  # the key, a number
    assert "note_insights.topic" not in policy.resolve(catalog, "vouched").redactions


def test_a_mask_on_top_applies_to_the_redacted_text() -> None:
    access = policy.AccessPolicy(masks={"notes.body": "partial"},
                                 redactions={"notes.body": frozenset({"email"})})
    sql = rewrite(exp.select("body").from_("notes"), _catalog(), access).sql(dialect="duckdb")
    assert sql.index("CASE WHEN LENGTH(CASE WHEN REGEXP_MATCHES(") < sql.index("REGEXP_REPLACE(")
    assert access.altered == {"notes.body": "partial"}


# --- scan-pii --write ------------------------------------------------------------------------


def _prose(kinds: list[str]) -> ColumnFinding:
    return ColumnFinding(table="reviews", column="review_text", type="VARCHAR", kinds=kinds,
                         share=0.02, confidence="medium", evidence="embedded",
                         kind_shares={k: 0.01 for k in kinds}, rows_sampled=1000)


def test_scan_proposes_redaction_for_prose_only() -> None:
    entries = pii_write.proposals(_prose(["phone", "email", "address"]))
    assert [(e.key, e.value) for e in entries] == [
        ("tags.pii_mentions", ["phone", "email", "address"]),
        ("redact_text", ["email", "phone", "address"])]
    assert [e.key for e in pii_write.proposals(_prose(["ip_address"]))] == ["tags.pii_mentions"]
    whole = ColumnFinding(table="customers", column="phone", type="VARCHAR", kinds=["phone"],
                          share=1.0, confidence="high", evidence="name+values")
    assert "redact_text" not in {e.key for e in pii_write.proposals(whole)}


@pytest.mark.parametrize(("file_says", "agrees"), [
    ("redact_text: all", True),
    ("redact_text: [phone, email, bank_card]", True),
    ("redact_text: [email]", False),
    ("redact_text: none", False),
])
def test_scan_keeps_a_redaction_a_person_wrote(file_says: str, agrees: bool,
                                               tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    text = ("database: shop\ntables:\n  reviews:\n    columns:\n      review_text:\n"
            f"        {file_says}\n")
    path.write_text(text, encoding="utf-8")
    report = pii_write.write_findings(pii_write.load_target(path, "shop"),
                                      [_prose(["phone", "email"])])
    kept = [e for e in report.kept if e.key == "redact_text"]
    assert len(kept) == 1 and kept[0].agrees is agrees
    assert re.search(r"^        " + re.escape(file_says) + "$", path.read_text(encoding="utf-8"),
                     re.M)
    lines = "\n".join(pii_write.report_lines(report))
    assert ("! reviews.review_text: the file says redact_text" in lines) is not agrees


def test_scan_writes_a_redaction_the_semantic_layer_reads(tmp_path: Path,
                                                          sample_catalog: Catalog) -> None:
    path = tmp_path / "shop.yaml"
    report = pii_write.write_findings(pii_write.load_target(path, "shop"),
                                      [_prose(["phone", "email"])])
    assert ("reviews", "review_text", "redact_text") in {
        (e.table, e.column, e.key) for e in report.written}
    assert "redact_text: [email, phone]  # scan-pii: medium, 1% of 1000 sampled" in \
        path.read_text(encoding="utf-8")
    merged = semantic.apply(sample_catalog, tmp_path)
    assert policy.resolve(merged, "default").redactions == {
        "reviews.review_text": frozenset({"email", "phone"})}
