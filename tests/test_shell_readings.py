"""``nl2sql shell`` in a pseudo-terminal: a question declined as ambiguous lists numbered
readings; typing a number runs that one (guarded, masked and audited under the session's
role), anything else goes on as usual. Reuses :mod:`test_shell`'s driver.

The shell runs with ``products.unit_price`` redacted for the default (analyst) role, so the
two readings of "What is the average unit price?" differ: the line price is shown, the
list price is masked even though a person picked that reading.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_shell as driver
from test_readings import AMBIGUOUS, masked_unit_price

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal"),
              pytest.mark.slow]


@pytest.fixture(scope="module")
def shell(sample_db_path: Path, shared_cache_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[driver.Shell]:
    home = tmp_path_factory.mktemp("readings-home")
    env = {"NL2SQL_SEMANTIC": str(masked_unit_price(home)),
           "NL2SQL_AUDIT_LOG": str(home / "audit.jsonl"), "NL2SQL_DRAFTER": "offline"}
    opened = driver.Shell(sample_db_path, home, shared_cache_dir, env=env)
    try:
        yield opened
    finally:
        opened.close()


def offered(shell: driver.Shell) -> str:
    out = shell.run(AMBIGUOUS)
    text = " ".join(out.split())
    assert "error (declined): I can read this question 2 ways" in text, out
    assert "1. average order_items.unit_price" in text
    assert "2. average products.unit_price" in text
    assert "type 1-2 to run that reading" in text
    return out


def audit_records(shell: driver.Shell) -> list[dict[str, Any]]:
    path = shell.home / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_typing_a_number_runs_that_reading(shell: driver.Shell, gold: Any) -> None:
    offered(shell)
    out = shell.run("1")
    assert "AVG(order_items.unit_price)" in out, out
    assert "Understood as: average order_items.unit_price" in " ".join(out.split())
    header, rows = driver.table_rows(out)
    assert header == ["avg_unit_price"]
    expected = gold("SELECT avg(unit_price) FROM order_items")[0][0]
    assert round(float(rows[0][0].replace(",", "")), 1) == round(float(expected), 1)
    last = audit_records(shell)[-1]
    assert (last["question"], last["decision"], last["command"]) == (
        AMBIGUOUS, "accepted", "shell")
    assert "order_items.unit_price" in last["columns"]


def test_a_chosen_reading_is_masked_for_the_role(shell: driver.Shell) -> None:
    offered(shell)
    out = shell.run("2")
    assert "AVG(products.unit_price)" in out, out
    _, rows = driver.table_rows(out)
    assert len(rows) == 1 and rows[0][0] == "NULL"
    assert "masked for role analyst: avg_unit_price (products.unit_price, redact)" in out
    last = audit_records(shell)[-1]
    assert last["role"] == "analyst"
    assert last["masking"] == [{"column": "avg_unit_price", "source": "products.unit_price",
                                "mode": "redact"}]


def test_anything_else_goes_on_as_normal_input(shell: driver.Shell, gold: Any) -> None:
    offered(shell)
    out = shell.run("How many customers are in each city?")
    _, rows = driver.table_rows(out)
    assert {r[0]: int(r[1]) for r in rows} == dict(
        gold("SELECT city, count(*) FROM customers GROUP BY 1"))
    again = shell.run("2")  # the readings were for the line right after them only
    assert "AVG(" not in again and "error (" in again, again
