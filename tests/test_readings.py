"""Readings of an ambiguous question, declines that help, and the offline drafter's
confidence and assumptions (issue 13): the drafter, the pipeline and ``nl2sql ask``.

"unit price" names ``order_items.unit_price`` (what each line sold at) and
``products.unit_price`` (today's list price); asked with no table named and no other column
to tie it to, both readings make sense, so the drafter offers both instead of picking one.
Asked per category, the category is the products', and so is the price (an assumption the
answer states).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from nl2sql import pipeline
from nl2sql.drafting.offline import draft
from nl2sql.errors import ConfigError, DrafterDeclined
from nl2sql.settings import PROJECT_ROOT, Settings
from nl2sql.values import confidence_of

if TYPE_CHECKING:
    from conftest import IsolatedEnv

AMBIGUOUS = "What is the average unit price?"
PER_CATEGORY = "categories with an average unit price above 1500"
CHOICES = ["unit price read as order_items.unit_price", "unit price read as products.unit_price"]


@pytest.fixture(scope="module")
def session(sample_db_path: Path, shared_cache_dir: Path) -> Iterator[pipeline.Session]:
    settings = Settings(db=str(sample_db_path), drafter="offline", cache_dir=shared_cache_dir)
    with pipeline.open_session(settings) as opened:
        yield opened


def readings_of(question: str, session: pipeline.Session) -> DrafterDeclined:
    with pytest.raises(DrafterDeclined) as caught:
        draft(question, session.drafting_catalog)
    return caught.value


# --------------------------------------------------------------------------- the drafter


@pytest.mark.parametrize("question", [AMBIGUOUS, "average unit price", "平均单价是多少"])
def test_unit_price_alone_has_two_readings(question: str, session: pipeline.Session) -> None:
    declined = readings_of(question, session)
    assert [r.choice.split(" read as ")[1] for r in declined.readings] == [
        "order_items.unit_price", "products.unit_price"]
    first, second = declined.readings
    assert "AVG(order_items.unit_price)" in first.sql and "order_items" in first.understood
    assert "AVG(products.unit_price)" in second.sql and "JOIN" not in second.sql
    assert first.understood != second.understood
    assert declined.details["understood"] == "" and declined.details["unknown_words"] == []


@pytest.mark.parametrize("question", [PER_CATEGORY, "average unit price per category",
                                      "每个品类的平均单价"])
def test_per_category_the_price_is_the_products(question: str,
                                                session: pipeline.Session) -> None:
    # issue 13: "categories with an average unit price above 1500" used order_items' price
    drafted = draft(question, session.drafting_catalog)
    assert "AVG(products.unit_price)" in drafted.sql and "order_items" not in drafted.sql
    assert any("unit price read as products.unit_price" in a or "单价 read as products" in a
               for a in drafted.assumptions)
    assert drafted.confidence == "medium"


def test_each_reading_runs_and_they_answer_differently(session: pipeline.Session,
                                                       gold: Any) -> None:
    answers = [pipeline.ask(session, AMBIGUOUS, reading=n) for n in (1, 2)]
    assert [a.interpretation for a in answers] == [r.understood for r in
                                                   readings_of(AMBIGUOUS, session).readings]
    lines = gold("SELECT avg(unit_price) FROM order_items")[0][0]
    listed = gold("SELECT avg(unit_price) FROM products")[0][0]
    for answer, expected in zip(answers, (lines, listed), strict=True):
        assert float(answer.rows[0][0]) == pytest.approx(float(expected))
        assert answer.drafter == "offline"
    assert answers[0].rows != answers[1].rows


@pytest.mark.parametrize("question, column", [
    ("average unit price of products per category", "products.unit_price"),
    ("average unit price of order items per category", "order_items.unit_price"),
    ("products with an average unit price above 100 per category", "products.unit_price"),
])
def test_a_named_table_settles_the_reading(question: str, column: str,
                                           session: pipeline.Session) -> None:
    drafted = draft(question, session.drafting_catalog)
    assert f"AVG({column})" in drafted.sql


def test_a_reading_that_is_not_there_is_an_input_error(session: pipeline.Session) -> None:
    with pytest.raises(ConfigError, match="there is no reading 3: the question has 2"):
        draft(AMBIGUOUS, session.drafting_catalog, reading=3)
    plain = draft("How many customers are in each city?", session.drafting_catalog, reading=1)
    assert plain.sql == draft("How many customers are in each city?",
                              session.drafting_catalog).sql


@pytest.mark.parametrize("question, unknown", [
    ("How many orders are unicorns?", ["unicorn"]),
    ("tell me a joke", None),
])
def test_every_offline_decline_says_what_it_understood(question: str, unknown: list[str] | None,
                                                       session: pipeline.Session) -> None:
    declined = readings_of(question, session)
    data = declined.to_json()
    assert isinstance(data["understood"], str)
    assert data["unknown_words"] == data["unknown"]
    if unknown is not None:
        assert data["unknown_words"] == unknown
        assert data["understood"].startswith("order_count")
    assert data["readings"] == []


# --------------------------------------------------------------------------- confidence


@pytest.mark.parametrize("question, assumed", [
    ("How many customers are in each city?", []),
    ("How many orders per month in 2024?", ["time column orders.order_date (no date named)"]),
    ("哪个品类的销量最高？", ["品类 read as products.category"]),
    ("total quantity sold per customer city", ["join path order_items → orders → customers"]),
])
def test_offline_answers_carry_confidence_and_assumptions(question: str, assumed: list[str],
                                                          session: pipeline.Session) -> None:
    answer = pipeline.ask(session, question)
    assert answer.assumptions == assumed
    assert answer.confidence == ("medium" if assumed else "high") == confidence_of(assumed)


def test_hand_written_sql_is_not_rated(session: pipeline.Session) -> None:
    answer = pipeline.run_sql(session, "SELECT count(*) FROM customers")
    assert answer.confidence is None and answer.assumptions == []


# --------------------------------------------------------------------------- nl2sql ask


def ask(env: IsolatedEnv, db: Path, *args: str) -> Any:
    return env.run("ask", *args, "--db", str(db), "--drafter", "offline")


def test_ask_json_decline_lists_the_readings(isolated_env: IsolatedEnv,
                                             sample_db_path: Path) -> None:
    result = ask(isolated_env, sample_db_path, AMBIGUOUS, "-f", "json")
    assert result.returncode == 6, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "declined"
    assert {"message", "understood", "unknown", "unknown_words", "readings"} <= set(error)
    assert error["understood"] == "" and error["unknown_words"] == []
    assert [r["choice"] for r in error["readings"]] == CHOICES
    for reading in error["readings"]:
        assert {"understood", "sql", "choice", "assumptions"} == set(reading)
        assert reading["sql"].startswith("SELECT AVG(")


def test_ask_text_decline_numbers_the_readings(isolated_env: IsolatedEnv,
                                               sample_db_path: Path) -> None:
    result = ask(isolated_env, sample_db_path, AMBIGUOUS)
    assert result.returncode == 6 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error (declined): I can read this question 2 ways")
    assert "--reading N" in lines[0]
    assert lines[1].startswith("  1. average order_items.unit_price")
    assert lines[2].strip().startswith("SELECT") and "AVG(order_items.unit_price)" in lines[2]
    assert lines[3].startswith("  2. average products.unit_price")
    assert "AVG(products.unit_price)" in lines[4] and len(lines) == 5


def test_ask_reading_answers_with_the_chosen_reading(isolated_env: IsolatedEnv,
                                                     sample_db_path: Path) -> None:
    result = ask(isolated_env, sample_db_path, AMBIGUOUS, "--reading", "2", "-f", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert "AVG(products.unit_price)" in data["sql"]
    assert data["interpretation"].startswith("average products.unit_price")
    assert data["confidence"] == "high" and data["assumptions"] == []
    missing = ask(isolated_env, sample_db_path, AMBIGUOUS, "--reading", "5")
    assert missing.returncode == 2 and "there is no reading 5" in missing.stderr


def test_ask_json_answer_has_confidence_and_assumptions(isolated_env: IsolatedEnv,
                                                        sample_db_path: Path) -> None:
    result = ask(isolated_env, sample_db_path, "How many orders per month in 2024?", "-f", "json")
    data = json.loads(result.stdout)
    assert data["confidence"] == "medium"
    assert data["assumptions"] == ["time column orders.order_date (no date named)"]
    table = ask(isolated_env, sample_db_path, "How many orders per month in 2024?")
    assert ("(assumed: time column orders.order_date (no date named))"
            in " ".join(table.stdout.split()))


def test_a_chosen_reading_is_still_masked(isolated_env: IsolatedEnv, sample_db_path: Path,
                                          tmp_path: Path) -> None:
    """The reading is guarded under the role like any draft: a masked column stays masked."""
    semantic = masked_unit_price(tmp_path)
    result = ask(isolated_env, sample_db_path, AMBIGUOUS, "--reading", "2", "-f", "json",
                 "--semantic", str(semantic))
    data = json.loads(result.stdout)
    assert data["role"] == "analyst"
    assert data["masking"] == [{"column": "avg_unit_price", "source": "products.unit_price",
                                "mode": "redact"}]
    assert {row[0] for row in data["rows"]} == {None}


@pytest.mark.parametrize("role, readings", [("analyst", 0), ("steward", 2)])
def test_readings_come_from_what_the_role_may_see(role: str, readings: int,
                                                  isolated_env: IsolatedEnv,
                                                  sample_db_path: Path, tmp_path: Path) -> None:
    """With products.unit_price denied to the analyst, the question has one reading for
    them (the line price, answered) and two for the steward, who may see both columns."""
    semantic = masked_unit_price(tmp_path, "deny: true")
    result = ask(isolated_env, sample_db_path, AMBIGUOUS, "-f", "json", "--role", role,
                 "--semantic", str(semantic))
    data = json.loads(result.stdout)
    if readings:
        assert len(data["error"]["readings"]) == readings
    else:
        assert "AVG(order_items.unit_price)" in data["sql"], data
        assert "products.unit_price" not in result.stdout


def masked_unit_price(folder: Path, rule: str = "mask: redact") -> Path:
    """The shop semantic layer with products.unit_price under ``rule`` for every role but
    the steward (who unmasks and is allowed all)."""
    text = (PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8")
    listed = "        description: Current list price per unit in CNY.\n"
    assert text.count(listed) == 1
    path = folder / f"shop-{rule.split(':')[0]}.yaml"
    path.write_text(text.replace(listed, f"{listed}        {rule}\n"), encoding="utf-8")
    return path
