"""The one output path: formats, tables that fit the console, numbers for people."""

from __future__ import annotations

import csv
import decimal
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from nl2sql.errors import ConfigError
from nl2sql.governance.audit import AuditRecord
from nl2sql.governance.pii import ColumnFinding
from nl2sql.interfaces import listings, render
from nl2sql.interfaces.output import Format, emit, parse_format
from nl2sql.values import Answer

# too long for 80 columns beside the rest of an audit line, short enough for 200
LONG_SQL = "SELECT customer_id, name, phone, city FROM customers WHERE city = 'Shanghai' LIMIT 3"


def record(query: str, **extra: Any) -> AuditRecord:
    return AuditRecord.from_json({"v": 1, "time": "2026-03-04T09:30:15.123+00:00", "user": "alice",
            "role": "analyst", "database": "shop", "command": "sql", "question": None,
            "sql": query, "decision": "accepted", "rows": 3, "elapsed_ms": 12.3456,
            "masking": [{"column": "phone", "source": "customers.phone", "mode": "partial"}],
            "redacted": []})  # written by this version (an older line is redacted when listed)


def printed(output: Any, width: int, fmt: Format = Format.TABLE, wide: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    emit(output, fmt, console, wide=wide)
    return console.file.getvalue()  # type: ignore[attr-defined]


def findings() -> list[ColumnFinding]:
    return [ColumnFinding("support_tickets", "transcript", "VARCHAR", ["phone", "email"],
                          0.0234567, "medium", "embedded",
                          ["135****4698", "a***@126.com", "3**************1"]),
            ColumnFinding("customers", "phone", "VARCHAR", ["phone"], 1.0, "high",
                          "name+values", ["150****2860", "181****3341"])]


# --- formats ------------------------------------------------------------------------------


def test_one_format_type_and_one_check() -> None:
    assert [f.value for f in Format] == ["table", "csv", "json", "markdown"]
    assert parse_format("csv") is Format.CSV
    with pytest.raises(ConfigError, match=r"--format must be one of table, json, not 'csv'"):
        parse_format("csv", (Format.TABLE, Format.JSON))


@pytest.mark.parametrize(("args", "choices"), [
    (("ask", "how many customers"), "table, csv, json, markdown"),
    (("sql", "select 1"), "table, csv, json, markdown"),
    (("schema",), "text, json"),
    (("scan-pii",), "table, csv, json, markdown"),
    (("audit",), "table, csv, json, markdown"),
    (("eval", "questions.yaml"), "table, csv, json, markdown"),
    (("extract", "--from", "reviews.review_text", "--spec", "review_insights"), "table, json"),
    (("catalog",), "markdown, html, json"),
    (("shell",), "table, csv, json, markdown"),
])
def test_a_bad_format_is_one_line_and_exit_2(isolated_env: Any, args: tuple[str, ...],
                                              choices: str) -> None:
    result = isolated_env.run(*args, "--format", "xml", input="")
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error (config): --format must be one of {choices}, not 'xml'\n"
    assert result.stdout == ""


# --- tables fit the console ---------------------------------------------------------------


def test_audit_at_80_columns_cuts_the_query_never_the_short_columns() -> None:
    text = printed(listings.audit_output([record(LONG_SQL), record("SELECT 1")]), 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, text
    body = [line for line in lines if line.startswith("2026-")]
    assert len(body) == 2
    for line in body:  # time, user, role, command, decision in full
        assert line.split()[:6] == ["2026-03-04", "09:30:15Z", "alice", "analyst", "sql",
                                    "accepted"], line
    assert "SELECT custome" in body[0] and "…" in body[0]  # shrunk, not gone
    assert LONG_SQL not in text
    assert "SELECT 1" in body[1]
    assert "--wide" in text  # what was hidden to fit is said


def test_audit_at_200_columns_shows_every_column_and_the_whole_query() -> None:
    text = printed(listings.audit_output([record(LONG_SQL)]), 200)
    assert max(len(line) for line in text.splitlines()) <= 200
    header = next(line for line in text.splitlines() if "decision" in line)
    for name in ("time", "user", "role", "command", "decision", "query", "rows", "masked",
                 "elapsed_ms"):
        assert name in header
    assert LONG_SQL in text and "customers.phone" in text
    assert "12.35" in text and "12.3456" not in text  # rounded for people


def test_wide_shows_full_values_on_a_narrow_console() -> None:
    text = printed(listings.audit_output([record(LONG_SQL)]), 80, wide=True)
    assert LONG_SQL in text and "customers.phone" in text and "…" not in text


@pytest.mark.parametrize("width", [80, 200])
def test_pii_findings_fit_and_keep_share_and_confidence(width: int) -> None:
    text = printed(listings.pii_output(findings()), width)
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "2.3%" in text and "100.0%" in text and "medium" in text and "high" in text
    assert "support_tickets" in text and "transcript" in text  # names are never cut here
    assert ("name+values" in text) == (width == 200)  # evidence is hidden before they are
    assert ("135****4698; a***@126.com; 3**************1" in text) == (width == 200)


def test_csv_and_markdown_listings_are_never_cut() -> None:
    output = listings.audit_output([record(LONG_SQL)])
    rows = list(csv.reader(io.StringIO(printed(output, 40, Format.CSV))))
    assert rows[0][5] == "query" and rows[1][5] == LONG_SQL
    assert rows[1][0] == "2026-03-04T09:30:15.123+00:00" and rows[1][8] == "12.3456"
    markdown = printed(output, 40, Format.MARKDOWN)
    assert LONG_SQL in markdown and "| 12.35 |" in markdown
    assert json.loads(printed(output, 40, Format.JSON))[0]["elapsed_ms"] == 12.3456


# --- numbers for people, full precision for scripts ---------------------------------------


def answer() -> Answer:
    return Answer(question=None, sql="SELECT …", columns=["city", "avg_total", "revenue", "n"],
                  types=["VARCHAR", "DOUBLE", "DECIMAL(18,4)", "BIGINT"],
                  rows=[("Shanghai", 2 / 3, decimal.Decimal("1234567.8912"), 1234567),
                        ("Beijing", 0.000123, decimal.Decimal("0.5000"), None)],
                  drafter="user")


def test_table_and_markdown_round_averages_and_money() -> None:
    table = printed(render.answer_output(answer()), 120)
    assert "0.67" in table and "1234567.89" in table and "0.00012" in table
    assert "0.6666" not in table and "1234567.8912" not in table
    assert "│ 1234567 │" in table and "1,234" not in table  # integers as they are
    markdown = printed(render.answer_output(answer()), 120, Format.MARKDOWN)
    assert "| Shanghai | 0.67 | 1234567.89 | 1234567 |" in markdown
    assert "| Beijing | 0.00012 | 0.50 | NULL |" in markdown


def test_csv_and_json_keep_full_precision() -> None:
    rows = list(csv.reader(io.StringIO(render.answer_text(answer(), Format.CSV))))
    assert rows[1] == ["Shanghai", repr(2 / 3), "1234567.8912", "1234567"]
    assert rows[2] == ["Beijing", "0.000123", "0.5000", ""]
    data = json.loads(render.answer_text(answer(), Format.JSON))
    assert data["rows"][0][1] == 2 / 3 and data["rows"][0][2] == 1234567.8912


def test_the_cli_rounds_the_table_but_not_csv(isolated_env: Any, sample_db_path: Path) -> None:
    query = "SELECT 2.0 / 3 AS ratio, CAST(1234.5678 AS DECIMAL(10, 4)) AS money"
    table = isolated_env.run("sql", query, "--db", str(sample_db_path))
    assert table.returncode == 0 and "0.67" in table.stdout and "1234.57" in table.stdout
    machine = isolated_env.run("sql", query, "--db", str(sample_db_path), "-f", "csv")
    assert machine.stdout.splitlines()[1].startswith("0.6666") and "1234.5678" in machine.stdout


# --- the version --------------------------------------------------------------------------


def test_version_from_package_metadata(isolated_env: Any) -> None:
    from importlib.metadata import version

    result = isolated_env.run("--version")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout == f"nl2sql {version('nl2sql')}\n"
