"""Secure by default (issue 12, route 9): a renamed copy of the sample database opened with
no policy at all — phones, ID numbers and birth dates in clear, and no note. Each test here
attacks as a user would and looks for raw values in every channel: rows, errors, notes,
``--format json``, ``schema``, ``catalog`` and the files the run leaves behind."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import REPO_ROOT, IsolatedEnv, copy_database, load_yaml, one_fast

from nl2sql.governance import pii, pii_default

SHOP_YAML = REPO_ROOT / "schemas" / "shop.yaml"


def values(db: Path, sql: str) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [str(v) for (v,) in con.execute(sql).fetchall() if v is not None]
    finally:
        con.close()


def leaked(secrets: list[str], *texts: str) -> list[str]:
    joined = "\n".join(texts)
    return [s for s in secrets if s in joined]


def output(result: Any) -> str:
    return result.stdout + "\n" + result.stderr


@pytest.fixture
def renamed_copy(sample_db_path: Path, tmp_path: Path) -> Path:
    """``nl2sql sample-db --out big.duckdb``: the sample under another name."""
    return copy_database(sample_db_path, tmp_path / "copies" / "big.duckdb")


@pytest.fixture
def customer_secrets(sample_db_path: Path) -> list[str]:
    return values(sample_db_path, "SELECT phone FROM customers UNION ALL SELECT email FROM "
                                  "customers UNION ALL SELECT id_number FROM customers UNION ALL "
                                  "SELECT DISTINCT CAST(birth_date AS VARCHAR) FROM customers")


# --- 1. a renamed copy keeps the sample's policy ------------------------------------------------

ATTACKS = [
    "SELECT * FROM customers",
    "SELECT name, phone, email, id_number FROM customers",
    "SELECT * FROM customers WHERE phone LIKE '1%' AND email LIKE '%@%'",
    "SELECT regexp_extract(email, '^[^@]+') AS local_part, right(id_number, 8) AS tail "
    "FROM customers",
    "SELECT string_agg(phone, ',') AS phones, string_agg(id_number, ',') AS ids FROM customers",
    "SELECT CAST(phone AS BIGINT) AS n FROM customers",  # the error quotes a value
    "SELECT birth_date FROM customers",
    "SELECT max(birth_date) AS newest FROM customers",
    "SELECT c.* FROM customers c JOIN orders o USING (customer_id) LIMIT 50",
]


@pytest.mark.parametrize("role", [None, "analyst"])
@pytest.mark.parametrize("sql", one_fast(ATTACKS))
def test_a_renamed_copy_of_the_sample_shows_no_raw_personal_value(
        sql: str, role: str | None, isolated_env: IsolatedEnv, renamed_copy: Path,
        customer_secrets: list[str]) -> None:
    args = ["sql", sql, "--db", str(renamed_copy), "-f", "json",
            *(["--role", role] if role else [])]
    result = isolated_env.run(*args)
    assert result.returncode in (0, 3, 4), result.stderr
    assert not leaked(customer_secrets, output(result))[:3]
    data = json.loads(result.stdout)
    if result.returncode == 0:
        assert data["role"] == "analyst"  # the sample's most restricted role is the default
        assert any("shop.yaml" in n and "big" in n for n in data["notes"]), data["notes"]


def test_a_renamed_copy_answers_questions_without_raw_values(
        isolated_env: IsolatedEnv, renamed_copy: Path, customer_secrets: list[str]) -> None:
    result = isolated_env.run("ask", "phone numbers and e-mails of customers in Shanghai",
                              "--db", str(renamed_copy), "--drafter", "offline", "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["rows"] and data["masking"], data
    assert not leaked(customer_secrets, output(result))


@pytest.mark.parametrize("command", [["schema", "-f", "json"], ["schema"],
                                     ["catalog", "-f", "json"], ["catalog"]])
def test_a_renamed_copy_says_which_file_applied(command: list[str], isolated_env: IsolatedEnv,
                                                renamed_copy: Path,
                                                customer_secrets: list[str]) -> None:
    result = isolated_env.run(*command, "--db", str(renamed_copy))
    assert result.returncode == 0, result.stderr
    assert not leaked(customer_secrets, output(result))
    assert str(SHOP_YAML) in result.stdout
    assert "has all its tables" in result.stdout


def test_the_steward_of_a_renamed_copy_still_sees_clear_values(
        isolated_env: IsolatedEnv, renamed_copy: Path, customer_secrets: list[str]) -> None:
    result = isolated_env.run("sql", "SELECT phone, email FROM customers", "--db",
                              str(renamed_copy), "--role", "steward", "-f", "json")
    assert result.returncode == 0, result.stderr
    assert leaked(customer_secrets, result.stdout)  # the policy of shop.yaml, steward included


# --- 2. a database no policy covers is masked by default --------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "杰"]


def _resident_id(i: int, born: dt.date) -> str:
    first17 = f"110101{born:%Y%m%d}{i % 1000:03d}"
    return first17 + pii.id_check_digit(first17)


def build_people_db(path: Path, rows: int = 60) -> dict[str, list[str]]:
    """A database nobody wrote a policy for: people with phones, e-mails, IDs and birth
    dates, notes that sometimes quote a phone or an e-mail, and a table with no personal
    data. Returns the raw personal values by kind."""
    secrets: dict[str, list[str]] = {"name": [], "phone": [], "email": [], "id": [],
                                     "birth": [], "in_text": []}
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE TABLE people (person_id INTEGER PRIMARY KEY, full_name VARCHAR, "
                    "mobile VARCHAR, mail VARCHAR, id_card VARCHAR, birth_date DATE, "
                    "city VARCHAR, notes VARCHAR)")
        con.execute("CREATE TABLE visits (visit_id INTEGER, person_id INTEGER, amount DOUBLE, "
                    "channel VARCHAR)")
        for i in range(rows):
            name = SURNAMES[i % 10] + GIVEN[(i * 3) % 10] + GIVEN[(i * 7 + 1) % 10]
            phone = f"139{(i * 7919 + 12345678) % 100_000_000:08d}"
            email = f"person{i}.x@example.cn"
            born = dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 27)
            note = ("The parcel arrived in good condition, thank you for the quick service."
                    if i % 6 else f"Please call me back on 138{i:08d} or write to "
                                  f"reply{i}@mail.example.cn about the delivery.")
            if i % 6 == 0:
                secrets["in_text"] += [f"138{i:08d}", f"reply{i}@mail.example.cn"]
            con.execute("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [i, name, phone, email, _resident_id(i, born), born,
                         ["Beijing", "Shanghai"][i % 2], note])
            con.execute("INSERT INTO visits VALUES (?, ?, ?, ?)",
                        [i, i, 10.5 * i, ["web", "app"][i % 2]])
            secrets["name"].append(name)
            secrets["phone"].append(phone)
            secrets["email"].append(email)
            secrets["id"].append(_resident_id(i, born))
            secrets["birth"].append(born.isoformat())
    finally:
        con.close()
    return secrets


@pytest.fixture
def people_db(tmp_path: Path) -> tuple[Path, list[str]]:
    path = tmp_path / "crm" / "crm.duckdb"
    path.parent.mkdir()
    secrets = build_people_db(path)
    return path, [v for kind in secrets.values() for v in kind]


@pytest.fixture
def no_schemas(isolated_env: IsolatedEnv, tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "no-schemas"
    folder.mkdir()
    return {"NL2SQL_SCHEMAS": str(folder)}


NO_POLICY_ATTACKS = [
    "SELECT * FROM people",
    "SELECT full_name, mobile, mail, id_card FROM people",
    "SELECT notes FROM people WHERE notes LIKE '%138%' OR notes LIKE '%@%'",
    "SELECT regexp_extract(notes, '1[3-9][0-9]{9}') AS phone FROM people",
    "SELECT CAST(id_card AS BIGINT) AS n FROM people",
    "SELECT birth_date FROM people",
    "SELECT p.*, v.amount FROM people p JOIN visits v USING (person_id)",
]


@pytest.mark.parametrize("sql", one_fast(NO_POLICY_ATTACKS))
def test_a_database_without_a_policy_is_masked_by_default(
        sql: str, isolated_env: IsolatedEnv, people_db: tuple[Path, list[str]],
        no_schemas: dict[str, str]) -> None:
    db, secrets = people_db
    result = isolated_env.run("sql", sql, "--db", str(db), "-f", "json", env=no_schemas)
    assert result.returncode in (0, 3, 4), result.stderr
    assert not leaked(secrets, output(result))[:3]
    if result.returncode == 0:
        notes = json.loads(result.stdout)["notes"]
        assert any("no access policy covers crm" in n and "scan-pii --write" in n
                   for n in notes), notes


def test_the_defaults_follow_the_kinds(isolated_env: IsolatedEnv,
                                       people_db: tuple[Path, list[str]],
                                       no_schemas: dict[str, str]) -> None:
    db, _ = people_db
    result = isolated_env.run("schema", "-f", "json", "--db", str(db), env=no_schemas)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    columns = {c["name"]: c for c in data["tables"]["people"]["columns"]}
    assert "birth_date" not in columns  # denied, as shop.yaml denies it
    assert {n: columns[n]["tags"].get("mask") for n in ("full_name", "mobile", "mail", "id_card",
                                                        "notes", "city")} == {
        "full_name": "partial", "mobile": "partial", "mail": "partial", "id_card": "partial",
        "notes": None, "city": None}
    # free text: the values inside it are replaced, the words stay readable
    assert set(columns["notes"]["tags"]["redact_text"]) == {
        "phone", "email", "id_number", "bank_card", "address"}
    assert set(columns["notes"]["tags"]["pii_mentions"]) == {"phone", "email"}
    assert all(not c["tags"] for c in data["tables"]["visits"]["columns"])
    (note,) = data["notes"]
    assert "people.birth_date denied" in note and "people.notes text redacted" in note


def test_free_text_keeps_its_words_and_loses_its_values(
        isolated_env: IsolatedEnv, people_db: tuple[Path, list[str]],
        no_schemas: dict[str, str]) -> None:
    db, _ = people_db
    result = isolated_env.run("sql", "SELECT notes FROM people WHERE person_id = 6", "-f", "csv",
                              "--db", str(db), env=no_schemas)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        "Please call me back on [phone] or write to [email] about the delivery.")


@pytest.mark.parametrize("command", one_fast([["schema"], ["schema", "-f", "json"], ["catalog"],
                                               ["catalog", "-f", "json"],
                                               ["catalog", "-f", "html"]]))
def test_schema_and_catalog_carry_the_note_and_no_value(
        command: list[str], isolated_env: IsolatedEnv, people_db: tuple[Path, list[str]],
        no_schemas: dict[str, str]) -> None:
    db, secrets = people_db
    result = isolated_env.run(*command, "--db", str(db), env=no_schemas)
    assert result.returncode == 0, result.stderr
    assert not leaked(secrets, output(result))
    assert "no access policy covers crm" in result.stdout
    where = Path(no_schemas["NL2SQL_SCHEMAS"]) / "crm.yaml"  # where the policy would go
    assert f"scan-pii --write {where}" in result.stdout.replace("\\", "")


def test_the_scan_is_cached_without_values(isolated_env: IsolatedEnv, tmp_path: Path,
                                           people_db: tuple[Path, list[str]],
                                           no_schemas: dict[str, str]) -> None:
    db, secrets = people_db
    cache = tmp_path / "own-cache"
    env = {**no_schemas, "NL2SQL_CACHE_DIR": str(cache)}
    assert isolated_env.run("sql", "SELECT count(*) FROM people", "--db", str(db),
                            env=env).returncode == 0
    (saved,) = (cache / "pii_defaults").iterdir()
    assert saved.stat().st_mode & 0o777 == 0o600
    text = saved.read_text(encoding="utf-8")
    assert not leaked(secrets, text)
    # the next run reads it: plant a finding there and see it applied
    data = json.loads(text)
    data["findings"].append({"table": "visits", "column": "channel", "kinds": ["phone"],
                             "free_text": False})
    saved.write_text(json.dumps(data), encoding="utf-8")
    result = isolated_env.run("sql", "SELECT channel FROM visits", "--db", str(db), "-f",
                              "json", env=env)
    assert json.loads(result.stdout)["masking"][0]["source"] == "visits.channel"


def test_a_file_that_only_tags_personal_data_is_not_a_policy(
        isolated_env: IsolatedEnv, tmp_path: Path, people_db: tuple[Path, list[str]]) -> None:
    """What ``scan-pii --write`` leaves (pii: tags, no rule) keeps the defaults on, and adds
    the columns it tags; the first rule a person writes switches them off."""
    db, secrets = people_db
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    policy = schemas / "crm.yaml"
    policy.write_text("tables:\n  visits:\n    columns:\n      channel: {pii: person_name}\n",
                      encoding="utf-8")
    env = {"NL2SQL_SCHEMAS": str(schemas)}
    result = isolated_env.run("sql", "SELECT mobile, channel FROM people JOIN visits "
                              "USING (person_id)", "--db", str(db), "-f", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert {m["source"] for m in json.loads(result.stdout)["masking"]} == {
        "people.mobile", "visits.channel"}
    assert not leaked(secrets, output(result))
    policy.write_text("tables:\n  people:\n    columns:\n      mobile: {mask: none}\n",
                      encoding="utf-8")
    result = isolated_env.run("sql", "SELECT mobile FROM people", "--db", str(db), "-f", "json",
                              env=env)
    data = json.loads(result.stdout)
    assert data["masking"] == [] and not any("no access policy" in n for n in data["notes"])
    assert leaked(secrets, result.stdout)  # the person's decision: in clear


def test_a_database_without_personal_data_gets_no_mask_and_no_note(
        isolated_env: IsolatedEnv, tmp_path: Path, no_schemas: dict[str, str]) -> None:
    db = tmp_path / "plant" / "sensors.duckdb"
    db.parent.mkdir()
    con = duckdb.connect(str(db))
    try:
        con.execute("CREATE TABLE readings (reading_id INTEGER, sensor VARCHAR, version "
                    "VARCHAR, value DOUBLE, taken DATE, remark VARCHAR)")
        con.execute("INSERT INTO readings SELECT i, 'S-' || (i % 7), '1.2.' || (i % 4), i * 0.5, "
                    "DATE '2024-01-01' + CAST(i AS INTEGER), 'Reading within the expected range for sensor ' "
                    "|| (i % 7) || ' on line ' || (i % 3) || ', no action needed.' "
                    "FROM range(500) t(i)")
    finally:
        con.close()
    for command in (["sql", "SELECT * FROM readings LIMIT 5", "-f", "json"],
                    ["schema", "-f", "json"]):
        result = isolated_env.run(*command, "--db", str(db), env=no_schemas)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["notes"] == [], data["notes"]
        assert not data.get("masking")
    text = isolated_env.run("schema", "--db", str(db), env=no_schemas).stdout
    assert "-- note" not in text


# --- 3. --semantic and NL2SQL_SEMANTIC ---------------------------------------------------------


@pytest.fixture
def anonymous_copy(sample_db_path: Path, tmp_path: Path) -> Path:
    return copy_database(sample_db_path, tmp_path / "anon" / "extract_2026.duckdb")


@pytest.mark.parametrize("how", one_fast(["flag", "env"]))
def test_a_file_named_outright_applies_with_its_roles(
        how: str, isolated_env: IsolatedEnv, anonymous_copy: Path, no_schemas: dict[str, str],
        customer_secrets: list[str]) -> None:
    named = (["--semantic", str(SHOP_YAML)], {}) if how == "flag" else (
        [], {"NL2SQL_SEMANTIC": str(SHOP_YAML)})
    env = {**no_schemas, **named[1]}
    sql = "SELECT phone, email, id_number FROM customers"
    analyst = isolated_env.run("sql", sql, "--db", str(anonymous_copy), *named[0], "-f", "json",
                               env=env)
    assert analyst.returncode == 0, analyst.stderr
    data = json.loads(analyst.stdout)
    assert data["role"] == "analyst" and len(data["masking"]) == 3
    assert not any("has all its tables" in n for n in data["notes"])  # named, not guessed
    assert not leaked(customer_secrets, output(analyst))
    steward = isolated_env.run("sql", sql, "--db", str(anonymous_copy), *named[0], "--role",
                               "steward", "-f", "json", env=env)
    assert steward.returncode == 0, steward.stderr
    assert json.loads(steward.stdout)["masking"] == []
    assert leaked(customer_secrets, steward.stdout)
    schema = isolated_env.run("schema", "--db", str(anonymous_copy), *named[0], env=env)
    assert f"-- semantic layer: {SHOP_YAML}" in schema.stdout


def test_the_shell_takes_a_named_file(isolated_env: IsolatedEnv, anonymous_copy: Path,
                                      no_schemas: dict[str, str],
                                      customer_secrets: list[str]) -> None:
    result = isolated_env.run("shell", "--db", str(anonymous_copy), "--semantic", str(SHOP_YAML),
                              input="SELECT phone, id_number FROM customers LIMIT 20\n",
                              env=no_schemas)
    assert result.returncode == 0, result.stderr
    assert "****" in result.stdout
    assert not leaked(customer_secrets, output(result))


@pytest.mark.parametrize(("text", "message"), one_fast([
    ("database: hr\ntables:\n  payroll:\n    columns:\n      salary: {deny: true}\n",
     "(written for database hr) does not describe extract_2026: it has no payroll"),
    ("tables:\n  customers:\n    columns:\n      fax: {mask: redact}\n",
     "does not describe extract_2026: it has no customers.fax"),
    ("tables: [unclosed\n", "not valid YAML"),
    (None, "semantic-layer file not found"),
]))
@pytest.mark.parametrize("command", one_fast(["sql", "schema", "shell", "catalog"]))
def test_a_wrong_file_named_outright_is_refused(
        text: str | None, message: str, command: str, isolated_env: IsolatedEnv,
        anonymous_copy: Path, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    args = {"sql": ["sql", "SELECT 1"], "schema": ["schema"], "shell": ["shell"],
            "catalog": ["catalog"]}[command]
    result = isolated_env.run(*args, "--db", str(anonymous_copy), "--semantic", str(path),
                              input="SELECT 1\n")
    assert result.returncode == 2, output(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (config)"), result.stderr
    assert message in lines[0]


def test_a_wrong_file_in_the_environment_is_refused_in_json(
        isolated_env: IsolatedEnv, anonymous_copy: Path, tmp_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT 1", "--db", str(anonymous_copy), "-f", "json",
                              env={"NL2SQL_SEMANTIC": str(tmp_path / "missing.yaml")})
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "config" and "missing.yaml" in error["message"]


def test_two_files_that_fit_equally_are_refused(isolated_env: IsolatedEnv, tmp_path: Path,
                                                renamed_copy: Path) -> None:
    schemas = tmp_path / "two"
    schemas.mkdir()
    for name in ("shop_a.yaml", "shop_b.yaml"):
        shutil.copyfile(SHOP_YAML, schemas / name)
    result = isolated_env.run("sql", "SELECT 1", "--db", str(renamed_copy),
                              env={"NL2SQL_SCHEMAS": str(schemas)})
    assert result.returncode == 2
    assert "shop_a.yaml and" in result.stderr and "--semantic" in result.stderr
    chosen = isolated_env.run("sql", "SELECT 1", "--db", str(renamed_copy), "--semantic",
                              str(schemas / "shop_b.yaml"), env={"NL2SQL_SCHEMAS": str(schemas)})
    assert chosen.returncode == 0, chosen.stderr


# --- 4. the quick scan's text filter misses nothing the scanner finds ------------------------


def test_the_text_prefilter_passes_every_text_the_scanner_finds_something_in() -> None:
    """DuckDB picks which texts Python searches with PREFILTER: a text it drops is one the
    defaults never see, so it must pass every labelled value in which find_all finds a kind."""
    entries = load_yaml((REPO_ROOT / "tests" / "fixtures" / "pii_values.yaml")
                        .read_text(encoding="utf-8"))
    texts = [str(e["value"]) for e in (entries if isinstance(entries, list)
                                       else entries.get("values", []))]
    texts += ["Call 138 1234 5678 today", "mail: a.b@c.cn", "IP 10.0.0.1 / ::1", "住在人民路100号",
              "ship to 221 Baker Street, London", "card 6222 0212 3456 7890 123",
              "身份证11010119900307123X", "(010) 2345-6789", "１３８１２３４５６７８"]
    found = [t for t in texts if pii.find_all(t)]
    assert len(found) > 50
    con = duckdb.connect()
    try:
        passed = {t for (t,) in con.execute(
            "SELECT t FROM unnest(?) AS u(t) WHERE regexp_matches(t, ?)",
            [found, pii_default.PREFILTER]).fetchall()}
    finally:
        con.close()
    missed = [t for t in found if t not in passed]
    assert not missed, missed[:10]
    missed_here = [t for t in found if not pii_default.PY_PREFILTER.search(t)]
    assert not missed_here, missed_here[:10]


@pytest.mark.parametrize(("kinds", "free_text", "rule"), [
    (("phone",), False, pii_default.Rule(mask="partial")),
    (("birth_date",), False, pii_default.Rule(deny=True)),
    (("ip_address",), False, pii_default.Rule(mask="hash")),
    (("phone", "birth_date"), False, pii_default.Rule(deny=True)),
    (("personal data",), False, pii_default.Rule(mask="redact")),
    (("phone", "email"), True, pii_default.Rule(redact_text=(
        "email", "id_number", "bank_card", "phone", "address"))),
])
def test_rules_by_kind(kinds: tuple[str, ...], free_text: bool, rule: Any) -> None:
    finding = pii_default.Finding("t", "c", kinds, free_text)
    assert pii_default.rule_for(finding) == rule
