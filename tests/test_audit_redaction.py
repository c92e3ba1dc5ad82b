"""The audit log keeps no personal value (issue 12, route 4).

A steward types raw phones, e-mails, ID numbers, names and birth dates into literals, makes
casts fail on them and asks questions quoting them; the analyst (and the steward) then
list the log in every format and must find none of the database's personal values. The
unit cases pin down which literals the syntax tree redacts and which it keeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import REPO_ROOT, IsolatedEnv

from nl2sql import pipeline
from nl2sql.errors import ExecutionError, InvalidSQL
from nl2sql.governance import audit
from nl2sql.governance.audit_redact import REDACTED, Redactor, scrub_message
from nl2sql.settings import Settings

PERSONAL = ("phone", "email", "id_number", "name", "birth_date")


@pytest.fixture(scope="module")
def shop_catalog(sample_db_path: Path, shared_cache_dir: Path) -> Any:
    """The sample database's catalog with its semantic layer (the policy's roles)."""
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir,
                        schemas_dir=REPO_ROOT / "schemas")
    return pipeline.load_catalog(settings)[1]


@pytest.fixture(scope="module")
def people(sample_db_path: Path) -> list[dict[str, str]]:
    """Every customer's personal values, as text."""
    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        rows = con.execute(f"SELECT {', '.join(PERSONAL)} FROM customers "
                           "ORDER BY customer_id").fetchall()
    finally:
        con.close()
    return [dict(zip(PERSONAL, (str(v) for v in row), strict=True)) for row in rows]


def leaked(text: str, people: list[dict[str, str]]) -> list[str]:
    """The personal values of ``people`` that appear in ``text`` (names of 3+ characters:
    a two-character name can be a common word)."""
    found = []
    for person in people:
        for kind, value in person.items():
            if (kind != "name" or len(value) >= 3) and value in text:
                found.append(f"{kind}={value}")
    return found


# ----------------------------------------------------------------------- the syntax tree

# (sql, redacted columns, literals that stay): each {v} is a customer's phone, {e} e-mail,
# {i} ID number; no placeholder may survive.
TREE_CASES = [
    ("SELECT name FROM customers WHERE phone = '{p}' AND city = 'Shanghai'",
     ["customers.phone"], ["'Shanghai'"]),
    ("SELECT name FROM customers WHERE '{p}' = phone", ["customers.phone"], []),
    ("SELECT name FROM customers WHERE phone IN ('{p}', '13800000000') LIMIT 5",
     ["customers.phone"], ["LIMIT 5"]),
    ("SELECT name FROM customers WHERE phone IN (SELECT '{p}')", ["customers.phone"], []),
    ("SELECT name FROM customers WHERE email LIKE '{e}%'", ["customers.email"], []),
    ("SELECT name FROM customers WHERE lower(email) = lower('{e}')", ["customers.email"], []),
    ("SELECT name FROM customers WHERE phone BETWEEN '{p}' AND '{p}'", ["customers.phone"], []),
    ("SELECT name FROM customers WHERE contains(id_number, '{i}')",
     ["customers.id_number"], []),
    ("SELECT name FROM customers WHERE CAST(phone AS BIGINT) = {p}", ["customers.phone"], []),
    # the other string forms hold values too
    ("SELECT name FROM customers WHERE phone = $${p}$$", ["customers.phone"], []),
    ("SELECT name FROM customers WHERE email = E'{e}' OR email = N'{e}'",
     ["customers.email"], []),
    ("SELECT name FROM customers WHERE phone = -{p}", ["customers.phone"], []),
    ("SELECT name FROM customers WHERE birth_date = DATE '1990-01-01'",
     ["customers.birth_date"], []),
    ("SELECT o.order_id FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
     "AND c.id_number = '{i}' WHERE o.status = 'paid'", ["customers.id_number"], ["'paid'"]),
    ("SELECT * FROM (SELECT phone AS p, city FROM customers) t WHERE t.p = '{p}' "
     "AND t.city = 'Beijing'", ["customers.phone"], ["'Beijing'"]),
    ("WITH x AS (SELECT email AS mail FROM customers) SELECT * FROM x WHERE mail = '{e}'",
     ["customers.email"], []),
    ("SELECT count(*) FROM orders WHERE customer_id IN "
     "(SELECT customer_id FROM customers WHERE phone = '{p}')", ["customers.phone"], []),
    ("SELECT CASE WHEN phone = '{p}' THEN 'match' END FROM customers", ["customers.phone"],
     ["'match'"]),
    # a literal hidden in a CTE and joined later: the detectors still recognise it
    ("WITH v AS (SELECT '{p}' AS x) SELECT name FROM customers JOIN v ON customers.phone = v.x",
     [], []),
    # a column that does not exist (a failed query's typo): counts as personal
    ("SELECT name FROM customers WHERE phonee = '{p}'", ["*"], []),
    # SQL that does not parse: its strings go, found by sqlglot's tokenizer
    ("SELECT name FROM customers WHERE phone = '{p}' AND", ["*"], []),
]


@pytest.mark.parametrize(("sql", "columns", "kept"), TREE_CASES,
                         ids=[f"tree{n}" for n in range(len(TREE_CASES))])
def test_literals_compared_with_personal_columns_are_redacted(
        sql: str, columns: list[str], kept: list[str], shop_catalog: Any,
        people: list[dict[str, str]]) -> None:
    person = people[7]
    text = sql.format(p=person["phone"], e=person["email"], i=person["id_number"])
    found = Redactor.for_catalog(shop_catalog).sql(text)
    assert found is not None
    assert not leaked(found.sql, people), found.sql
    assert found.redacted == columns
    for literal in kept:
        assert literal in found.sql, found.sql
    assert REDACTED in found.sql or "[phone]" in found.sql


def test_literals_of_other_columns_are_kept(shop_catalog: Any) -> None:
    sql = "SELECT city, count(*) FROM customers WHERE vip_level = 'gold' GROUP BY 1 LIMIT 10"
    found = Redactor.for_catalog(shop_catalog).sql(sql)
    assert found is not None and found.sql == sql and found.redacted == []


def test_without_a_catalog_every_compared_literal_goes() -> None:
    found = Redactor().sql("SELECT city FROM customers WHERE city = 'Shanghai' LIMIT 10")
    assert found is not None
    assert found.sql == f"SELECT city FROM customers WHERE city = '{REDACTED}' LIMIT 10"


@pytest.mark.parametrize("message", [
    "Conversion Error: Could not convert string '{p}' to INT32 when casting from source column phone",
    "Binder Error: Referenced column \"{p}\" not found in FROM clause!",
    "Conversion Error: invalid date field format: \"{e}\"\nLINE 1: ... WHERE phone = {p}",
])
def test_error_messages_are_scrubbed(message: str, people: list[dict[str, str]]) -> None:
    text = message.format(p=people[3]["phone"], e=people[3]["email"])
    cleaned = scrub_message(text)
    assert cleaned is not None and not leaked(cleaned, people), cleaned


def test_a_failed_query_records_the_columns_it_touched(shop_catalog: Any,
                                                       people: list[dict[str, str]]) -> None:
    phone = people[0]["phone"]
    record = audit.failure_record(
        f"SELECT CAST(phone AS INTEGER) FROM customers WHERE email = '{people[0]['email']}'",
        ExecutionError(f"Conversion Error: Could not convert string '{phone}' to INT32"),
        is_sql=True, user="ann", role="steward", database="shop", source_kind="duckdb",
        command="sql", drafter="user", elapsed_ms=1, catalog=shop_catalog)
    assert record.columns == ["customers.phone", "customers.email"]
    assert record.tables == ["customers"] and record.redacted == ["customers.email"]
    assert not leaked(json.dumps(record.to_json(), ensure_ascii=False), people)
    refused = audit.failure_record(f"SELECT * FROM customers WHERE phone = '{phone}' AND",
                                   InvalidSQL("near 'AND'"), is_sql=True, user="ann",
                                   role="analyst", database="shop", source_kind="duckdb",
                                   command="sql", drafter="user", elapsed_ms=1,
                                   catalog=shop_catalog)
    assert phone not in json.dumps(refused.to_json())


def test_the_question_loses_what_the_sql_and_the_messages_gave_away(
        shop_catalog: Any, people: list[dict[str, str]]) -> None:
    """A question is prose: the detectors find phones, not names. A name the SQL compares
    with customers.name, or that a message quotes, is removed from the question too."""
    name, phone = people[2]["name"], people[2]["phone"]
    answered = audit.AuditRecord(
        time="", user="ann", command="ask", role="steward", drafter="model:x",
        question=f"phone of {name}, or whoever has {phone}",
        sql=f"SELECT phone FROM customers WHERE name = '{name}'", decision="accepted")
    declined = audit.AuditRecord(
        time="", user="ann", command="ask", role="steward", drafter="offline",
        question=f"orders of customer {name}", decision="declined",
        reason=f"I understood “orders rows” but not “{name}”.")
    for record in (answered, declined):
        kept = Redactor.for_catalog(shop_catalog).record(record)
        assert kept.question is not None and name not in kept.question
        assert phone not in kept.question and REDACTED in kept.question
        assert name not in json.dumps(kept.to_json(), ensure_ascii=False)


# ----------------------------------------------------------------------- the whole route


def test_analyst_listing_the_log_sees_no_raw_value(isolated_env: IsolatedEnv,
                                                   sample_db_path: Path, tmp_path: Path,
                                                   people: list[dict[str, str]]) -> None:
    log = tmp_path / "audit.jsonl"
    env = {"NL2SQL_AUDIT_LOG": str(log)}
    a, b = [p for p in people if len(p["name"]) >= 3][3:5]
    db = ("--db", str(sample_db_path))
    steward = [
        ("sql", f"SELECT name FROM customers WHERE phone = '{a['phone']}'"),
        ("sql", f"SELECT name FROM customers WHERE email IN ('{a['email']}', '{b['email']}')"),
        ("sql", f"SELECT name FROM customers WHERE id_number LIKE '{a['id_number'][:14]}%'"),
        ("sql", f"SELECT phone FROM customers WHERE name = '{a['name']}' "
                f"OR birth_date = '{a['birth_date']}'"),
        ("sql", f"SELECT count(*) FROM orders o JOIN customers c USING (customer_id) "
                f"WHERE lower(c.email) = '{b['email']}'"),
        # failing casts: DuckDB quotes the value it could not convert
        ("sql", "SELECT CAST(phone AS INTEGER) FROM customers"),
        ("sql", "SELECT CAST(email AS INTEGER) FROM customers"),
        ("sql", "SELECT CAST(id_number AS BIGINT) FROM customers"),
        ("sql", f"SELECT CAST('{b['phone']}' || phone AS DATE) FROM customers"),
        # does not parse
        ("sql", f"SELECT * FROM customers WHERE phone = '{b['phone']}' AND"),
        ("sql", f"SELECT * FROM customers WHERE phone = \"{b['phone']}\""),
        ("ask", f"who has the phone number {b['phone']} or the e-mail {a['email']}?"),
        # declined: the offline drafter quotes the words it did not understand (the name)
        ("ask", f"orders of customer {a['name']}"),
    ]
    for command, text in steward:
        run = isolated_env.run(command, text, *db, "--role", "steward", "-f", "json", env=env)
        assert run.returncode in (0, 2, 3, 4, 6), run.stderr
    # extractions: a --where quoting a raw value (its record keeps the selection SQL), and
    # one whose selection fails on a cast (DuckDB quotes the phone it could not convert)
    for where in (f"phone = '{a['phone']}' OR email = '{b['email']}'",
                  "CAST(phone AS INTEGER) > 0"):
        run = isolated_env.run("extract", "--from", "customers.city", "--key", "customer_id",
                               "--spec", "pii_mentions", "--sample", "1", "--where", where,
                               *db, "--role", "steward", "-f", "json", env=env)
        assert run.returncode in (0, 4), run.stderr
    assert len(log.read_text(encoding="utf-8").splitlines()) == len(steward) + 2
    # the raw file a tool would read holds no value either
    assert not leaked(log.read_text(encoding="utf-8"), people)
    for fmt in ("table", "json", "csv", "markdown"):
        for who in ((), ("NL2SQL_ROLE", "steward")):
            listing = isolated_env.run("audit", "-f", fmt, "--wide",
                                       env={**env, **dict([who] if who else [])})
            assert listing.returncode == 0, listing.stderr
            assert not leaked(listing.stdout + listing.stderr, people), (fmt, who)
    shown = json.loads(isolated_env.run("audit", "-f", "json", env=env).stdout)
    failed = [r for r in shown if r["decision"] == "failed" and "CAST(email" in (r["sql"] or "")]
    assert failed and failed[0]["columns"] == ["customers.email"]  # what it reached for
    assert shown[0]["redacted"] == ["customers.phone"]
    assert shown[0]["sql"].startswith(f"SELECT name FROM customers WHERE phone = '{REDACTED}'")


def test_lines_written_before_redaction_are_redacted_when_listed(
        isolated_env: IsolatedEnv, tmp_path: Path, people: list[dict[str, str]]) -> None:
    """A log main wrote (raw literals, raw DuckDB errors) is listed redacted."""
    phone, email = people[5]["phone"], people[5]["email"]
    log = tmp_path / "audit.jsonl"
    old = {"v": 1, "time": "2026-01-01T09:30:00.000+00:00", "user": "steve", "role": "steward",
           "database": "shop", "command": "sql",
           "sql": f"SELECT name FROM customers WHERE phone = '{phone}'",
           "attempts": [{"sql": f"SELECT name FROM customers WHERE phone = '{phone}'",
                         "drafter": "user", "ok": False, "stage": "execute",
                         "error": {"kind": "execution", "rule": None,
                                   "message": f"Could not convert string '{email}' to INT32"}}],
           "decision": "failed", "reason": f"Could not convert string '{email}' to INT32",
           "error": {"kind": "execution", "message": f"Could not convert string '{email}'"}}
    log.write_text(json.dumps(old) + "\n", encoding="utf-8")
    for fmt in ("table", "json", "csv", "markdown"):
        listing = isolated_env.run("audit", "-f", fmt, "--wide",
                                   env={"NL2SQL_AUDIT_LOG": str(log)})
        assert listing.returncode == 0, listing.stderr
        assert phone not in listing.stdout and email not in listing.stdout, fmt
    (shown,) = json.loads(isolated_env.run("audit", "-f", "json",
                                           env={"NL2SQL_AUDIT_LOG": str(log)}).stdout)
    assert shown["redacted"] == ["*"] and shown["user"] == "steve"


def test_the_quick_check_before_the_detectors_passes_every_value_they_find() -> None:
    """mask_values skips the detectors for a string that cannot hold a value: it must never
    skip one that does (every labelled value of the scanner's fixture, and look-alikes)."""
    from conftest import load_yaml

    from nl2sql.governance import audit_redact
    from nl2sql.governance.pii_detect import find_all

    labelled = load_yaml((Path(__file__).parent / "fixtures" / "pii_values.yaml")
                         .read_text(encoding="utf-8"))["values"]
    texts = [str(v["value"]) for v in labelled] + ["10.0.0.1", "ip 1.2.3.4", "Ｘ＠ＱＱ．ＣＯＭ"]
    found = [t for t in texts if find_all(t)]
    assert len(found) > 100
    missed = [t for t in found if not audit_redact._MAY_HOLD_A_VALUE.search(t)]
    assert not missed, missed[:5]
    assert audit_redact.mask_values("SELECT count(*) FROM orders") == "SELECT count(*) FROM orders"
