"""The attack corpus (tests/fixtures/attacks/*.yaml), run as a restricted role against the
sample database: no case may put a raw personal value into anything the role receives —
stdout, stderr, files it writes, the audit listing, caches — and refusals are one line.

One test per group of cases that share a setup and a role (a group's SQL cases run through
one shell): a failure lists every case of the group that leaked, with the route and the
channel. ``python tests/attack_corpus.py`` prints the corpus table (see docs/governance.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from attack_corpus import (
    ROUTES,
    Needle,
    Outcome,
    Runner,
    groups_of,
    load_corpus,
    normalise,
    secrets_of,
    split_segments,
    table,
)

CASES, SETUPS = load_corpus()
GROUPS = groups_of(CASES, SETUPS)


@pytest.fixture(scope="module")
def runner(sample_db_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    yield Runner(sample_db_path, tmp_path_factory.mktemp("attacks"),
                 tmp_path_factory.mktemp("attacks-cache"))


def test_the_corpus_covers_every_route_with_at_least_300_cases() -> None:
    assert len(CASES) >= 300
    assert {c.category for c in CASES} == set(ROUTES)
    assert all(sum(c.category == route for c in CASES) >= 5 for route in ROUTES)


def test_raw_values_are_recognised_in_every_form(sample_db_path: Path) -> None:
    """The search itself must be able to fail: each raw form of a value is found."""
    secrets = secrets_of(sample_db_path)
    phone, email = secrets.samples["phone"], secrets.samples["email"]
    spaced = f"{phone[:3]}-{phone[3:7]} {phone[7:]}"
    for output in (phone, spaced, phone[::-1], email.upper(), f"<td>{email}</td>",
                   '"' + "".join(f"\\u{ord(ch):04x}" for ch in email) + '"',
                   secrets.samples["id_number"], secrets.samples["birth_date"],
                   secrets.samples["text_phone"], secrets.samples["text_email"]):
        assert secrets.find(f"row: {output} ·"), output
    masked = f"{phone[:3]}****{phone[-4:]}"
    assert not secrets.find(f"{masked} {email[0]}***@{email.split('@')[1]}")
    assert not secrets.find(phone, typed=f"WHERE phone = '{phone}'")  # the case's own literal
    assert {n.kind for n in secrets.needles} >= {"phone", "email", "id_number", "birth_date",
                                                 "reversed phone"}
    assert normalise("138-1234 5678") == "13812345678"
    assert Needle("phone", "x", "13812345678").value in normalise("+86 138 1234 5678")


def test_shell_output_is_cut_at_the_markers() -> None:
    assert split_segments("a\nerror: no table `zz_case_0`\nformat: json\nb\n"
                          "x zz_case_1\n", 2) == ["a", "b"]


# The fast subset runs the SQL tricks on masked columns and on free text; the other routes
# (most need a setup: a steward's session first, a renamed copy, hostile files) and the long
# tail run in CI. Each of those routes also has a test file of its own in the fast subset
# (test_audit_redaction, test_secure_default, test_extract_lineage, test_untrusted_files,
# test_protected_outputs, test_schema_output_policy, test_guard_cost).
FAST_GROUPS = ("0-masks/none", "1-free-text/none")
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[] if n in FAST_GROUPS else [pytest.mark.slow])
    for n, g in GROUPS.items()])
def test_nothing_raw_reaches_the_role(name: str, runner: Runner) -> None:
    outcomes = runner.run_group(name, GROUPS[name])
    bad = [o for o in outcomes if not o.ok]
    assert not bad, "\n" + table(outcomes) + "\n" + "\n".join(describe(o) for o in bad)


def describe(outcome: Outcome) -> str:
    case = outcome.case
    what = "; ".join(outcome.leaks) or f"{outcome.result}, expected {case.expect}"
    return f"- {case.id} ({case.category}, {case.run} {' | '.join(case.text)[:120]}): " \
           f"{what}\n    {outcome.detail[-300:]!r}"
