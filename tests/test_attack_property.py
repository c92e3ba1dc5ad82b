"""Property (issue 12, "How to prove it"): whatever query a restricted role runs, nothing it
receives contains a raw personal value — not the rows, nor the notes, errors or the format.

Each example is a few queries drawn from the evaluation sets' gold SQL, the benign part of the
guard corpus and generated shapes over the restricted tables (masked customer columns and the
free text of reviews and tickets), typed into one ``nl2sql shell`` as the default role in one
output format. Everything the shell prints is searched for every raw value of the database
(:class:`attack_corpus.Secrets`: the masked and denied columns' values and the phones, e-mails
and addresses the scanner finds inside free text, digit-only and reversed forms too).

tests/test_policy_fuzz.py checks the engine's rows for the structured columns; this checks the
whole CLI output and the free text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from attack_corpus import Secrets, secrets_of
from conftest import clean_environ, examples, known_safe_sql, run_cli_in_process
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st


def _known_sql() -> list[str]:
    # the shell reads one statement per line
    return [" ".join(sql.split()) for sql in known_safe_sql()]


KNOWN = _known_sql()
#: (table, key, restricted text columns) the generated shapes read
TABLES = [("customers", "customer_id", ["phone", "email", "id_number"]),
          ("reviews", "review_id", ["review_text"]),
          ("support_tickets", "ticket_id", ["transcript"])]
WRAPS = ["{x}", "upper({x})", "reverse({x})", "substr({x}, 2, 40)", "right({x}, 30)",
         "regexp_extract({x}, '[0-9]{{6,}}')", "regexp_extract({x}, '[A-Za-z0-9._]+@[a-z.]+')",
         "replace({x}, '-', '')", "concat({x}, '|')", "to_json({x})", "string_split({x}, ' ')",
         "regexp_replace({x}, '[^0-9@.a-z]', '', 'g')", "translate({x}, '0123456789', 'abcdefghij')"]
AGGREGATES = ["string_agg({e}, ',')", "min({e})", "max({e})", "list({e})", "first({e})"]
FILTERS = ["", " WHERE {x} LIKE '%@%'", " WHERE {x} LIKE '%1%'",
           " WHERE regexp_matches({x}, '1[3-9][0-9]{{9}}')", " WHERE {x} IS NOT NULL"]


@st.composite
def generated(draw: st.DrawFn) -> str:
    table, key, columns = draw(st.sampled_from(TABLES))
    column = draw(st.sampled_from(columns))
    expression = draw(st.sampled_from(WRAPS)).format(x=column)
    where = draw(st.sampled_from(FILTERS)).format(x=column)
    shape = draw(st.integers(0, 3))
    if shape == 0:
        return f"SELECT {key}, {expression} AS v FROM {table}{where} LIMIT 50"
    if shape == 1:
        aggregate = draw(st.sampled_from(AGGREGATES)).format(e=expression)
        return f"SELECT {aggregate} AS v FROM {table}{where}"
    if shape == 2:
        return (f"WITH t AS (SELECT {expression} AS v FROM {table}{where}) "
                f"SELECT v FROM t ORDER BY v LIMIT 20")
    return f"SELECT to_json(s) AS v FROM (SELECT {key}, {expression} AS e FROM {table}{where}) s"


QUERIES = st.one_of(st.sampled_from(KNOWN), generated())


@pytest.fixture(scope="module")
def secrets(sample_db_path: Path) -> Secrets:
    return secrets_of(sample_db_path)


class Place:
    """Where the shell runs: a folder and its environment (a short repr: Hypothesis prints
    a failing example's arguments, and the environment is long)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def __repr__(self) -> str:
        return f"Place({self.root})"


@pytest.fixture(scope="module")
def environment(sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Place:
    root = tmp_path_factory.mktemp("attack-property")
    env = clean_environ(root / "cache") | {
        "XDG_STATE_HOME": str(root / "state"), "XDG_DATA_HOME": str(root / "data"),
        "COLUMNS": "4000", "NL2SQL_DB": str(sample_db_path)}
    return Place(root, env)


def test_the_sources_are_there() -> None:
    assert len(KNOWN) > 250


# Thorough by nature (CI): the fast subset has the corpus and the per-route tests.
@pytest.mark.slow
# No shrinking: one example is a shell run (~0.3 s to start); a failing example is reported
# as drawn. Up to 8 queries per shell: the start, not the queries, is what an example costs.
@settings(max_examples=examples(35), deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(queries=st.lists(QUERIES, min_size=2, max_size=8),
       fmt=st.sampled_from(["table", "json", "csv", "markdown"]))
def test_nothing_a_restricted_role_receives_holds_a_raw_value(
        queries: list[str], fmt: str, secrets: Secrets,
        environment: Place) -> None:
    script = f"\\format {fmt}\n" + "\n".join(queries) + "\n"
    result = run_cli_in_process(["shell"], cwd=environment.root, env=environment.env,
                                input=script)
    assert "Traceback (most recent call last)" not in result.stdout + result.stderr
    leaked = secrets.find(result.stdout + "\n" + result.stderr, typed=script)
    assert not leaked, (f"{queries} ({fmt}) gave away "
                        f"{sorted({f'{n.kind} from {n.source}' for n in leaked})}")
