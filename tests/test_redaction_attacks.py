"""Personal data inside free text never reaches the analyst, whatever the route.

The sample database's reviews and support transcripts hold customers' phones and e-mails
in their prose. The raw values are computed here from the stored text with the detectors
(never a hard-coded list); every attack of ``tests/fixtures/redaction_attacks.yaml`` runs
as the analyst on each free-text column, and neither its rows nor its error message may
hold any of them, in any spelling. The CLI's json, csv and ``ask`` outputs are checked the
same way, and the steward, who may read the text, still sees every value in clear.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import pytest
from conftest import load_yaml, one_fast

from nl2sql import pipeline
from nl2sql.errors import NL2SQLError
from nl2sql.governance import pii_detect
from nl2sql.settings import PROJECT_ROOT, Settings

CASES: list[dict[str, Any]] = load_yaml(
    (Path(__file__).parent / "fixtures" / "redaction_attacks.yaml").read_text(encoding="utf-8"))
#: The free-text columns of the sample database and the kinds hidden inside them.
FREE_TEXT = (("reviews", "review_text"), ("support_tickets", "transcript"))
KINDS = ("phone", "email", "id_number", "bank_card")


@pytest.fixture(scope="module")
def raw_values(sample_db_path: Path) -> dict[str, set[str]]:
    """``{column: raw values}``: every phone, e-mail, ID and card number the detectors
    find in the stored text of each free-text column."""
    import duckdb

    found: dict[str, set[str]] = {}
    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        for table, column in FREE_TEXT:
            texts = con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()
            found[column] = {m.text for (text,) in texts if text
                             for m in pii_detect.find_all(text) if m.kind in KINDS}
    finally:
        con.close()
    return found


def spellings(value: str) -> set[str]:
    """The forms a leaked value could take: as stored, digits only, reversed (lower case)."""
    forms = {value.lower(), value.lower()[::-1]}
    digits = re.sub(r"[^0-9]", "", value)
    if len(digits) >= 7 and "@" not in value:
        forms |= {digits, digits[::-1]}
    return forms


def cell_texts(value: Any) -> list[str]:
    """A result value as the texts to search: itself, and squeezed to letters, digits, ``@``
    and ``.`` (a list of characters or of character codes reads as its string too)."""
    if isinstance(value, (list, tuple)):
        items = list(value)
        joined = "".join(chr(v) if isinstance(v, int) and 0 <= v < 0x110000 else str(v)
                         for v in items)
        texts = [str(items), joined]
    else:
        texts = [str(value)]
    return [t.lower() for t in texts] + [re.sub(r"[^0-9a-z@.]", "", t.lower()) for t in texts]


def leaks(raw: set[str], outputs: list[Any]) -> list[str]:
    """The raw values (any spelling) found in ``outputs``."""
    haystacks = [t for value in outputs if value is not None for t in cell_texts(value)]
    return sorted(v for v in raw if any(form in text for form in spellings(v)
                                        for text in haystacks))


@pytest.fixture(scope="module")
def sessions(sample_db_path: Path, shared_cache_dir: Path) -> Iterator[dict[str, pipeline.Session]]:
    """The analyst's and the steward's sessions on the sample database, with the
    repository's own semantic layer (schemas/shop.yaml)."""
    opened: dict[str, pipeline.Session] = {}
    try:
        for role in ("analyst", "steward"):
            opened[role] = pipeline.open_session(Settings(
                db=str(sample_db_path), cache_dir=shared_cache_dir,
                schemas_dir=PROJECT_ROOT / "schemas", role=role, drafter="offline",
                row_limit=100_000))
        yield opened
    finally:
        for session in opened.values():
            session.close()


def test_the_sample_text_holds_personal_data(raw_values: dict[str, set[str]]) -> None:
    """The attacks below mean something only if there is something to leak."""
    for _, column in FREE_TEXT:
        assert len(raw_values[column]) >= 10, raw_values[column]
        assert any("@" in v for v in raw_values[column])
        assert any(re.fullmatch(r"1[3-9]\d{9}", v) for v in raw_values[column])


@pytest.mark.parametrize(("table", "column"), FREE_TEXT)
@pytest.mark.parametrize("case", one_fast(CASES), ids=[c["id"] for c in CASES])
def test_attack_as_analyst_leaks_nothing(case: dict[str, Any], table: str, column: str,
                                         sessions: dict[str, pipeline.Session],
                                         raw_values: dict[str, set[str]]) -> None:
    sql = Template(case["sql"]).substitute(table=table, col=column)
    try:
        answer = pipeline.run_sql(sessions["analyst"], sql)
    except NL2SQLError as exc:  # refused or failed: the message is an output channel too
        outputs: list[Any] = [str(exc), exc.message, json.dumps(exc.details, default=str)]
    else:
        outputs = [v for row in answer.rows for v in row] + list(answer.notes)
    leaked = leaks(raw_values[column], outputs)
    assert not leaked, f"{len(leaked)} raw value(s) leaked, e.g. {leaked[:3]}"


@pytest.mark.parametrize(("table", "column"), FREE_TEXT)
def test_no_raw_value_is_an_oracle(table: str, column: str,
                                   sessions: dict[str, pipeline.Session],
                                   raw_values: dict[str, set[str]]) -> None:
    """Guessing does not work either: searching the text for each real value (or its
    first seven characters) finds no row for the analyst, and every one for the steward."""
    values = sorted(raw_values[column])
    listed = ", ".join("('" + v.replace("'", "''") + "')" for v in values)
    sql = (f"SELECT count(DISTINCT g.v) FROM (VALUES {listed}) AS g(v) JOIN {table} AS t "
           f"ON strpos(lower(t.{column}), lower(g.v)) > 0")
    prefixes = sql.replace("lower(g.v)", "lower(left(g.v, 7))")
    assert pipeline.run_sql(sessions["analyst"], sql).rows == [(0,)]
    assert pipeline.run_sql(sessions["analyst"], prefixes).rows == [(0,)]
    assert pipeline.run_sql(sessions["steward"], sql).rows == [(len(values),)]


@pytest.mark.parametrize(("table", "column"), FREE_TEXT)
def test_the_analyst_sees_tokens_where_the_values_were(table: str, column: str,
                                                       sessions: dict[str, pipeline.Session],
                                                       raw_values: dict[str, set[str]]) -> None:
    sql = f"SELECT {column} FROM {table}"
    shown = " ".join(r[0] for r in pipeline.run_sql(sessions["analyst"], sql).rows if r[0])
    assert "[phone]" in shown and "[email]" in shown
    clear = [r[0] for r in pipeline.run_sql(sessions["steward"], sql).rows]
    assert not leaks(raw_values[column], [shown])
    assert set(leaks(raw_values[column], clear)) == raw_values[column]  # all there in clear


@pytest.mark.parametrize(("table", "column"), FREE_TEXT)
def test_street_addresses_are_redacted_too(table: str, column: str, sample_db_path: Path,
                                           sessions: dict[str, pipeline.Session]) -> None:
    import duckdb

    con = duckdb.connect(str(sample_db_path), read_only=True)
    try:
        texts = [t for (t,) in con.execute(f"SELECT {column} FROM {table}").fetchall() if t]
    finally:
        con.close()
    addresses = {m.text for t in texts for m in pii_detect.find_all(t) if m.kind == "address"}
    assert len(addresses) >= 3
    sql = f"SELECT {column} FROM {table}"
    shown = "\n".join(r[0] for r in pipeline.run_sql(sessions["analyst"], sql).rows if r[0])
    assert "[address]" in shown
    assert not [a for a in addresses if a in shown]
    clear = "\n".join(r[0] for r in pipeline.run_sql(sessions["steward"], sql).rows if r[0])
    assert all(a in clear for a in addresses)


@pytest.mark.parametrize("fmt", one_fast(["json", "csv"]))
def test_cli_outputs_leak_nothing(fmt: str, isolated_env: Any, sample_db_path: Path,
                                  raw_values: dict[str, set[str]]) -> None:
    for table, column in FREE_TEXT:
        sql = f"SELECT {column}, regexp_extract({column}, '[^ ]*@[^ ]*') AS m FROM {table}"
        out = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", fmt,
                               "--limit", "100000")
        assert out.returncode == 0, out.stderr
        assert not leaks(raw_values[column], [out.stdout, out.stderr])
        steward = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", fmt,
                                   "--limit", "100000", "--role", "steward")
        assert set(leaks(raw_values[column], [steward.stdout])) == raw_values[column]


def test_cli_errors_leak_nothing(isolated_env: Any, sample_db_path: Path,
                                 raw_values: dict[str, set[str]]) -> None:
    # the first row that fails holds an e-mail: raw for the steward, a token for the analyst
    sql = ("SELECT CAST(review_text AS INTEGER) FROM reviews "
           "WHERE review_text LIKE '%@%' OR review_text LIKE '%[email]%'")
    for fmt in ("table", "json"):
        out = isolated_env.run("sql", sql, "--db", str(sample_db_path), "-f", fmt)
        assert out.returncode == 4, out.stderr  # the cast fails: an execution error
        assert not leaks(raw_values["review_text"], [out.stdout, out.stderr])
    steward = isolated_env.run("sql", sql, "--db", str(sample_db_path), "--role", "steward")
    assert steward.returncode == 4 and leaks(raw_values["review_text"], [steward.stderr])


@pytest.mark.parametrize(("question", "column"), [
    ("show the review text of all reviews", "review_text"),
    ("show the transcript of all support tickets", "transcript"),
])
def test_ask_leaks_nothing(question: str, column: str, isolated_env: Any,
                           sample_db_path: Path, raw_values: dict[str, set[str]]) -> None:
    out = isolated_env.run("ask", question, "--db", str(sample_db_path), "--drafter",
                           "offline", "-f", "json", "--limit", "100000")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert column in data["columns"], data["sql"]  # the question did reach the text
    assert not leaks(raw_values[column], [out.stdout, out.stderr])
