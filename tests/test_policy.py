"""The access policy: roles, denied tables and columns, masking by lineage, row filters.

Cases live in tests/fixtures/policy_cases.yaml and are checked by running queries through
the real pipeline (guard + confined engine) and comparing with SQL run directly on the
sample database, never by comparing SQL text.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import load_yaml
from rows import normalize

from nl2sql import pipeline
from nl2sql.catalog import Catalog, Column, Role, Table
from nl2sql.errors import ConfigError, UnsafeSQL
from nl2sql.safety import policy
from nl2sql.settings import PROJECT_ROOT, Settings

CASES = load_yaml(
    (Path(__file__).parent / "fixtures" / "policy_cases.yaml").read_text(encoding="utf-8"))

EXTRA_ROLES: dict[str, Any] = {
    "online": {"description": "Marketplace partner: orders outside the store only.",
               "unmask": "all", "allow": "all",
               "row_filters": {"orders": "channel <> 'store'"}},
    "shanghai": {"description": "The Shanghai office.", "unmask": "all", "allow": "all",
                 "row_filters": {
                     "customers": "city = 'Shanghai'",
                     "orders": "customer_id IN (SELECT customer_id FROM customers "
                               "WHERE city = 'Shanghai')"}},
    "hasher": {"description": "Phone hashed, e-mail redacted, birth date as its year.",
               "columns": {"customers.phone": {"mask": "hash"},
                           "customers.email": {"mask": "redact"},
                           "customers.birth_date": {"deny": False, "mask": "partial"}}},
    "no_customers": {"description": "No customer table at all.", "unmask": "all",
                     "deny_tables": ["customers"]},
}


@pytest.fixture(scope="module")
def policy_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """schemas/shop.yaml plus the test roles above, in a folder of its own."""
    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    data["roles"].update(EXTRA_ROLES)
    folder = tmp_path_factory.mktemp("policy-schemas")
    (folder / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def sessions(sample_db_path: Path, shared_cache_dir: Path, policy_schemas: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, pipeline.Session]]:
    """``sessions[role]``: one open session per role (opened on first use)."""
    opened: dict[str, pipeline.Session] = {}
    key_file = tmp_path_factory.mktemp("mask-key") / "mask.key"

    class Lazy(dict[str, pipeline.Session]):
        def __missing__(self, role: str) -> pipeline.Session:
            settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir,
                                schemas_dir=policy_schemas, role=role, mask_key_file=key_file,
                                drafter="offline", row_limit=100_000)
            opened[role] = self[role] = pipeline.open_session(settings)
            return opened[role]

    try:
        yield Lazy()
    finally:
        for session in opened.values():
            session.close()


def _strings(rows: list[tuple[Any, ...]]) -> list[str]:
    return [str(v) for row in rows for v in row if v is not None]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_policy_case(case: dict[str, Any], sessions: dict[str, pipeline.Session],
                     gold: Any) -> None:
    session = sessions[case["role"]]
    if "refused" in case:
        with pytest.raises(UnsafeSQL) as caught:
            pipeline.run_sql(session, case["sql"])
        assert caught.value.details.get("rule") == case["refused"], caught.value.message
        assert case["message"] in caught.value.message
        return
    answer = pipeline.run_sql(session, case["sql"])
    assert answer.role == case["role"]
    if "gold" in case:
        assert normalize(answer.rows) == normalize(gold(case["gold"]))
    reported = {(m.column, m.source) for m in answer.masking}
    for column, source in (case.get("masked") or {}).items():
        assert (column, source) in reported, answer.masking
    for column, pattern in (case.get("pattern") or {}).items():
        values = [r[answer.columns.index(column)] for r in answer.rows]
        assert values, "no rows to check"
        bad = [v for v in values if v is not None and not re.search(pattern, str(v))]
        assert not bad, f"{column}: {bad[:3]} do not match {pattern}"
    if "raw_absent" in case:
        raw = {str(v) for v in _strings(gold(case["raw_absent"])) if len(str(v)) >= 5}
        shown = " ".join(_strings(answer.rows))
        leaked = [v for v in raw if v in shown]
        assert not leaked, f"raw values leaked: {leaked[:3]}"
    if case["role"] == "steward" or not case.get("masked"):
        assert not any(m.source in ("customers.phone",) for m in answer.masking) or \
            case["role"] not in ("steward",)


def test_masked_value_is_no_oracle(sessions: dict[str, pipeline.Session], gold: Any) -> None:
    """Filtering on a real phone number finds nothing for the analyst: the mask applies
    inside WHERE too, so masked data cannot be recovered by guessing."""
    # Sessions first: a cold one introspects in this process, which DuckDB refuses while
    # gold's connection (another configuration) holds the same file open here.
    analyst, steward = sessions["analyst"], sessions["steward"]
    phone = gold("SELECT phone FROM customers WHERE customer_id = 1")[0][0]
    sql = f"SELECT count(*) FROM customers WHERE phone = '{phone}'"
    assert pipeline.run_sql(analyst, sql).rows == [(0,)]
    assert pipeline.run_sql(steward, sql).rows == [(1,)]


def test_steward_reports_no_masking(sessions: dict[str, pipeline.Session]) -> None:
    answer = pipeline.run_sql(sessions["steward"], "SELECT phone, email FROM customers LIMIT 5")
    assert answer.masking == [] and not any("masked" in n for n in answer.notes)
    assert all(re.fullmatch(r"1\d{10}", r[0]) for r in answer.rows)


def test_masking_report_is_typed_and_serialises_to_the_public_shape(
        sessions: dict[str, pipeline.Session]) -> None:
    """The guard reports positions, the answer names them; JSON and audit keep the shape
    ``{"column", "source", "mode"}``, and a masked column reached through a whole row has no
    position until the query runs: it is reported against ``*``."""
    from nl2sql.governance.audit import answer_record
    from nl2sql.values import MaskedColumn, MaskedSource

    session = sessions["hasher"]
    query = session_check(session, "SELECT c, upper(phone) AS p FROM customers c")
    assert MaskedSource(1, "customers.phone", "hash") in query.masking
    assert MaskedSource(None, "customers.email", "redact") in query.masking
    answer = pipeline.run_sql(session, "SELECT c, upper(phone) AS p FROM customers c LIMIT 1")
    assert MaskedColumn("p", "customers.phone", "hash") in answer.masking
    assert MaskedColumn("*", "customers.email", "redact") in answer.masking
    shape = [{"column": m.column, "source": m.source, "mode": m.mode} for m in answer.masking]
    assert answer.to_json()["masking"] == shape
    record = answer_record(answer, user="u", role="hasher", source_kind="duckdb",
                           command="sql").to_json()
    assert record["masking"] == shape and list(record["masking"][0]) == ["column", "source", "mode"]


UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


@pytest.mark.parametrize(("type_name", "mode", "value", "tags", "shown"), [
    ("VARCHAR", "partial", "+15551234567", {}, "+15*****4567"),
    ("TEXT", "partial", "ann@example.com", {"pii": "email"}, "a***@example.com"),
    ("VARCHAR[]", "partial", ["Alice", "Bob"], {"pii": "person_name"}, ["A****", "B**"]),
    ("VARCHAR", "redact", "x", {}, "[redacted]"),
    # ENUM and UUID are text (column_types): masked like text, not emptied
    ("UUID", "partial", UUID, {}, "6ba*****************************30c8"),
    ("ENUM('happy', 'sad')", "partial", "happy", {"pii": "person_name"}, "h****"),
    ("ENUM('happy', 'sad')", "redact", "happy", {}, "[redacted]"),
    ("DATE", "partial", "2020-05-06", {}, "2020-01-01"),
    ("TIMESTAMP_NS", "partial", "2020-05-06 01:02:03", {}, "2020-01-01 00:00:00"),
    ("TIME", "partial", "10:11:12", {}, None),  # a time of day has no year to keep
    ("INTEGER", "partial", 5, {}, None),
    ("DATE", "redact", "2020-05-06", {}, None),
])
def test_masks_run_on_every_kind_of_column(type_name: str, mode: str, value: Any,
                                           tags: dict[str, str], shown: Any) -> None:
    """Each mask is valid DuckDB for its column's type and shows what it promises."""
    import duckdb
    from sqlglot import exp

    masked = policy.mask_expression(exp.column("v"), Column("v", type_name, tags=tags), mode)
    sql = f"SELECT CAST({masked.sql(dialect='duckdb')} AS VARCHAR) FROM (SELECT CAST(? AS " \
          f"{type_name}) AS v)"
    row = duckdb.connect().execute(sql, [value]).fetchone()
    assert row is not None
    expected = str(shown).replace("'", "") if isinstance(shown, list) else shown
    assert row[0] == expected


def session_check(session: pipeline.Session, sql: str) -> Any:
    from nl2sql.safety import guard

    return guard.check(sql, session.catalog, access=session.access)


def test_masking_is_reported_in_notes(sessions: dict[str, pipeline.Session]) -> None:
    answer = pipeline.run_sql(sessions["analyst"], "SELECT upper(phone) AS p FROM customers")
    assert "masked for role analyst: p (customers.phone, partial)" in answer.notes


def test_shown_sql_is_the_checked_sql_not_the_secure_rewrite(
        sessions: dict[str, pipeline.Session]) -> None:
    """The answer shows the query as the user wrote it; the secure views (which hold the
    mask key for hash masks) are internal."""
    answer = pipeline.run_sql(sessions["hasher"], "SELECT phone FROM customers LIMIT 3")
    assert "sha256" not in answer.sql and answer.sql.startswith("SELECT phone FROM customers")
    key = sessions["hasher"].access.key
    assert len(key) == 32 and key not in answer.sql


def test_hash_key_file_is_private_and_stable(tmp_path: Path, sample_db_path: Path,
                                             shared_cache_dir: Path,
                                             policy_schemas: Path) -> None:
    key_file = tmp_path / "state" / "mask.key"
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir,
                        schemas_dir=policy_schemas, role="hasher", mask_key_file=key_file)
    values = []
    for _ in range(2):
        with pipeline.open_session(settings) as session:
            values.append(pipeline.run_sql(session, "SELECT phone FROM customers "
                                                    "ORDER BY customer_id LIMIT 3").rows)
    assert values[0] == values[1]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.write_text("another-key\n")
    with pipeline.open_session(settings) as session:
        changed = pipeline.run_sql(session, "SELECT phone FROM customers "
                                            "ORDER BY customer_id LIMIT 3").rows
    assert changed != values[0]


# --- choosing roles ----------------------------------------------------------------------


def test_default_role_is_the_most_restricted(sessions: dict[str, pipeline.Session]) -> None:
    catalog = sessions["analyst"].catalog
    assert policy.default_role(catalog) == "no_customers"  # a denied table outweighs masks
    shop_only = Catalog(name="shop", tables=catalog.tables,
                        roles={k: catalog.roles[k] for k in ("steward", "analyst")})
    assert policy.default_role(shop_only) == "analyst"


def test_shop_default_role_is_analyst(sample_db_path: Path, shared_cache_dir: Path) -> None:
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir)
    with pipeline.open_session(settings) as session:
        assert session.access.role == "analyst"
        assert session.access.masks == {"customers.phone": "partial",
                                        "customers.email": "partial",
                                        "customers.id_number": "partial"}
        assert session.access.denied_columns == {"customers.birth_date"}
        shown = session.drafting_catalog.table("customers")
        assert shown is not None and shown.column("birth_date") is None
        assert session.catalog.table("customers").column("birth_date") is not None  # type: ignore[union-attr]


def test_explicit_default_wins() -> None:
    catalog = _tiny(roles={"open": Role("open", default=True, unmask=["*"]),
                           "closed": Role("closed")})
    assert policy.default_role(catalog) == "open"


def test_unknown_role_and_user_limits() -> None:
    catalog = _tiny(roles={"steward": Role("steward", users=["alice"])})
    with pytest.raises(ConfigError, match="no role 'boss'"):
        policy.for_role(catalog, "boss")
    with pytest.raises(ConfigError, match="limited to alice"):
        policy.for_role(catalog, "steward", user="mallory")
    assert policy.for_role(catalog, "steward", user="alice").role == "steward"


def test_no_roles_means_one_default_role() -> None:
    catalog = _tiny()
    assert policy.role_names(catalog) == ["default"]
    access = policy.for_role(catalog)
    assert access.masks == {"t.secret": "redact"} and access.role == "default"


def _tiny(roles: dict[str, Role] | None = None) -> Catalog:
    table = Table("t", [Column("id", "INTEGER"), Column("secret", "VARCHAR",
                                                        tags={"mask": "redact"})])
    return Catalog(name="tiny", tables={"t": table}, roles=roles or {})


# --- the policy file is checked ----------------------------------------------------------


@pytest.mark.parametrize(("change", "message"), [
    ({"tables": {"customers": {"columns": {"phone": {"mask": "blur"}}}}}, "mask must be one of"),
    ({"tables": {"customers": {"columns": {"phone": {"deny": "yes"}}}}}, "deny must be true"),
    ({"roles": {"x": {"columns": {"customers.nope": {"mask": "hash"}}}}}, "customers.nope"),
    ({"roles": {"x": {"row_filters": {"nope": "1 = 1"}}}}, "table 'nope'"),
    ({"roles": {"x": {"unmask": ["customers.nope"]}}}, "customers.nope"),
    ({"roles": {"x": {"grant": "all"}}}, "unknown key 'grant'"),
    ({"roles": {"x": {"row_filters": {"orders": "no_such_column = 1"}}}}, "row filter"),
    ({"roles": {"x": {"row_filters": {"orders": "1 = 1; DROP TABLE orders"}}}}, "row filter"),
    # valid after WHERE, but not one condition: it would break every query on orders
    ({"roles": {"x": {"row_filters": {"orders": "true ORDER BY 1"}}}}, "not one SQL condition"),
])
def test_policy_file_errors(change: dict[str, Any], message: str, tmp_path: Path,
                            sample_db_path: Path, shared_cache_dir: Path) -> None:
    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    for key, value in change.items():
        if key == "tables":
            for table, spec in value.items():
                for column, rules in spec["columns"].items():
                    data["tables"][table]["columns"][column].update(rules)
        else:
            data[key] = value
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                        encoding="utf-8")
    settings = Settings(db=str(sample_db_path), cache_dir=shared_cache_dir,
                        schemas_dir=tmp_path, role="x" if "roles" in change else None)
    with pytest.raises(ConfigError, match=re.escape(message)):
        pipeline.open_session(settings).close()


# --- the CLI, the audit log and the shell --------------------------------------------------


def test_cli_role_json_and_audit(isolated_env: Any, sample_db_path: Path,
                                 tmp_path: Path) -> None:
    import json

    env = {"NL2SQL_AUDIT_LOG": str(tmp_path / "audit.jsonl")}  # this test's records only

    sql = "SELECT name, upper(phone) AS p FROM customers ORDER BY customer_id LIMIT 2"
    analyst = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json", env=env)
    assert analyst.returncode == 0, analyst.stderr
    data = json.loads(analyst.stdout)
    assert data["role"] == "analyst"
    assert data["masking"] == [{"column": "p", "source": "customers.phone", "mode": "partial"}]
    assert all("****" in row[1] for row in data["rows"])
    steward = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", "json",
                               "--role", "steward", env=env)
    assert json.loads(steward.stdout)["masking"] == []
    refused = isolated_env.run("sql", "SELECT birth_date FROM customers", "--db",
                               str(sample_db_path), env=env)
    assert refused.returncode == 3
    assert "customers.birth_date is not available to role analyst" in refused.stderr
    bad = isolated_env.run("ask", "how many customers", "--db", str(sample_db_path),
                           "--role", "boss", env=env)
    assert bad.returncode == 2 and "no role 'boss'" in bad.stderr
    log = isolated_env.run("audit", "-f", "json", env=env)
    records = json.loads(log.stdout)
    assert len(records) == 3  # the unknown role stopped before anything was asked
    by_role = {(r["role"], r["decision"]): r for r in records}
    assert by_role[("analyst", "accepted")]["masking"] == data["masking"]  # the same shape
    assert by_role[("steward", "accepted")]["masking"] == []
    assert by_role[("analyst", "refused")]["rule"] == "denied"


def test_cli_ask_as_analyst_masks_and_hides(isolated_env: Any, sample_db_path: Path) -> None:
    import json

    out = isolated_env.run("ask", "list the name and phone of customers in Shanghai", "--db",
                           str(sample_db_path), "-f", "json", "--drafter", "offline")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    phones = [row[data["columns"].index("phone")] for row in data["rows"]]
    assert phones and all(re.fullmatch(r"1\d\d\*{4}\d{4}", p) for p in phones)
    question = "earliest birth date of customers"
    hidden = isolated_env.run("ask", question, "--db", str(sample_db_path), "--drafter",
                              "offline")
    assert hidden.returncode == 6 and "birth" in hidden.stderr  # not visible to the analyst
    steward = isolated_env.run("ask", question, "--db", str(sample_db_path),
                               "--drafter", "offline", "--role", "steward", "-f", "json")
    assert steward.returncode == 0, steward.stderr


def test_shell_role_command(isolated_env: Any, sample_db_path: Path) -> None:
    script = ("\\role\n"
              "SELECT phone FROM customers ORDER BY customer_id LIMIT 1\n"
              "\\role steward\n"
              "SELECT phone FROM customers ORDER BY customer_id LIMIT 1\n"
              "\\describe customers\n")
    proc = isolated_env.run("shell", "--db", str(sample_db_path), "-f", "csv", input=script)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "role analyst" in out and "masked: customers.phone (partial)" in out
    assert "not available: customers.birth_date" in out
    lines = out.splitlines()
    masked = [line for line in lines if re.fullmatch(r"1\d\d\*{4}\d{4}", line)]
    clear = [line for line in lines if re.fullmatch(r"1\d{10}", line)]
    assert len(masked) == 1 and len(clear) == 1
    assert "role steward" in out and "birth_date" in out.split("role steward", 1)[1]


def test_shell_pii_and_audit_commands(isolated_env: Any, sample_db_path: Path) -> None:
    script = ("SELECT count(*) AS n FROM customers\n"
              "\\audit 1\n"
              "\\pii 300\n")
    proc = isolated_env.run("shell", "--db", str(sample_db_path), "-f", "csv", input=script,
                            env={"COLUMNS": "400"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    audit_part = out.split("audit log", 1)[1].split("personal data", 1)[0]
    assert "SELECT COUNT(*) AS n FROM customers" in audit_part and "analyst" in audit_part
    scan_part = out.split("personal data", 1)[1]
    for column in ("phone", "email", "id_number", "birth_date"):
        assert column in scan_part
    assert "(not available to role analyst)" in scan_part  # birth_date examples withheld
    assert not re.search(r"\b(19|20)\d\d-\*\*", scan_part)


def test_shell_catalog_command(isolated_env: Any, sample_db_path: Path) -> None:
    target = isolated_env.cwd / "dictionary.html"
    script = f"\\catalog\n\\catalog {target}\n\\catalog out.txt\n"
    proc = isolated_env.run("shell", "--db", str(sample_db_path), input=script)
    assert proc.returncode == 0, proc.stderr
    assert "# Data dictionary: shop" in proc.stdout and "masked (partial)" in proc.stdout
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "writes .html, .md or .json files" in proc.stdout + proc.stderr


def test_audit_answers_who_read_a_column(isolated_env: Any, sample_db_path: Path,
                                         tmp_path: Path) -> None:
    import json

    env = {"NL2SQL_AUDIT_LOG": str(tmp_path / "audit.jsonl")}  # this test's records only
    db = ("--db", str(sample_db_path))
    isolated_env.run("sql", "SELECT upper(phone) AS p FROM customers LIMIT 1", *db, env=env)
    isolated_env.run("sql", "SELECT city FROM customers LIMIT 1", *db, "--role", "steward",
                     env=env)
    isolated_env.run("sql", "SELECT birth_date FROM customers", *db, env=env)
    isolated_env.run("sql", "SELECT count(*) FROM orders", *db, env=env)

    def listed(*filters: str) -> list[dict[str, Any]]:
        out = isolated_env.run("audit", "-f", "json", *filters, env=env)
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout))

    phone = listed("--column", "customers.phone")
    assert [(r["role"], r["decision"]) for r in phone] == [("analyst", "accepted")]
    # phone, city, and the refusal: a refused query records the columns it reached for
    assert len(listed("--column", "customers")) == 3
    assert [(r["decision"], r["columns"]) for r in listed("--column", "customers.birth_date")] \
        == [("refused", ["customers.birth_date"])]
    assert [r["sql"] for r in listed("--decision", "refused")] == [
        "SELECT birth_date FROM customers"]
    assert len(listed("--role", "steward")) == 1 and len(listed("--command", "sql")) == 4
    assert listed("--command", "extract") == []


def test_views_over_tables_with_rules_are_denied(sample_db_copy: Path, shared_cache_dir: Path,
                                                  tmp_path: Path) -> None:
    """A view runs over its tables without the secure rewrite: a view reading a table with
    rules is denied (also through another view) unless the role's allow vouches for it."""
    import duckdb

    con = duckdb.connect(str(sample_db_copy))
    try:
        con.execute("CREATE VIEW contacts AS SELECT name, phone FROM customers")
        con.execute("CREATE VIEW vip_contacts AS SELECT * FROM contacts")
        con.execute("CREATE VIEW city_counts AS SELECT city, count(*) AS n FROM customers "
                    "GROUP BY city")
        con.execute("CREATE VIEW product_names AS SELECT name FROM products")
    finally:
        con.close()
    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    data["roles"]["analyst"]["allow"] = ["city_counts"]
    (tmp_path / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                        encoding="utf-8")

    def settings(role: str) -> Settings:
        return Settings(db=str(sample_db_copy), cache_dir=shared_cache_dir,
                        schemas_dir=tmp_path, role=role)

    with pipeline.open_session(settings("analyst")) as analyst:
        for view in ("contacts", "vip_contacts"):
            with pytest.raises(UnsafeSQL, match=f"view {view} reads") as caught:
                pipeline.run_sql(analyst, f"SELECT * FROM {view}")
            assert caught.value.details["rule"] == "denied"
        assert analyst.drafting_catalog.table("contacts") is None
        assert pipeline.run_sql(analyst, "SELECT count(*) FROM product_names").rows[0][0] > 0
        assert pipeline.run_sql(analyst, "SELECT sum(n) FROM city_counts").rows[0][0] > 0
    with pipeline.open_session(settings("steward")) as steward:
        rows = pipeline.run_sql(steward, "SELECT phone FROM vip_contacts LIMIT 3").rows
        assert all(re.fullmatch(r"1\d{10}", r[0]) for r in rows)


def test_explain_never_shows_the_mask_key(sessions: dict[str, pipeline.Session]) -> None:
    """EXPLAIN of a hashed query has the same plan, with the key blanked: the plan prints
    expressions (wrapped across lines), and a key in it would make hashes reversible."""
    from nl2sql.safety import guard

    session = sessions["hasher"]
    key = session.access.key
    query = guard.check("SELECT count(*) FROM customers WHERE phone = 'x'", session.catalog,
                        access=session.access)
    assert query.executed_sql is not None and key in query.executed_sql
    plan = session.engine.explain(query)
    flat = "".join(ch for ch in plan if ch.isalnum())
    assert key[:8] not in flat and key not in flat
    assert "sha256" in flat.lower() or "FILTER" in plan


def test_shell_describe_says_which_columns_a_role_reads_changed(isolated_env: Any,
                                                               sample_db_path: Path) -> None:
    script = "\\describe customers\n\\describe reviews\n"
    out = isolated_env.run("shell", "--db", str(sample_db_path), "--role", "analyst",
                           input=script).stdout
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "masked (partial)" in rows["phone"]
    assert "text redacted" in rows["review_text"]
    assert "masked" not in rows["rating"] and "redacted" not in rows["rating"]
