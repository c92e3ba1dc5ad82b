"""The user nl2sql acts for comes from the real uid, not from the environment."""

from __future__ import annotations

import json
import os
import pwd
import re
from pathlib import Path

import pytest
import yaml
from conftest import IsolatedEnv, load_yaml

from nl2sql.identity import current_user
from nl2sql.settings import PROJECT_ROOT


@pytest.mark.parametrize("variable", ["LOGNAME", "USER", "LNAME", "USERNAME"])
def test_environment_variables_cannot_change_the_user(variable: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "steward-impersonated")
    assert current_user() == pwd.getpwuid(os.getuid()).pw_name != "steward-impersonated"


def test_a_uid_without_an_account_is_named_by_number(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", missing)
    assert current_user() == str(os.getuid())


def steward_limited_to_alice(tmp_path: Path) -> Path:
    """A copy of the sample policy whose steward role only alice-the-steward may take."""
    data = load_yaml((PROJECT_ROOT / "schemas" / "shop.yaml").read_text(encoding="utf-8"))
    data["roles"]["steward"]["users"] = ["alice-the-steward"]
    folder = tmp_path / "schemas"
    folder.mkdir()
    (folder / "shop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def test_logname_does_not_pass_a_users_limit(isolated_env: IsolatedEnv, sample_db_path: Path,
                                             tmp_path: Path) -> None:
    """The attack: a role limited to another user, claimed by setting LOGNAME/USER."""
    folder = steward_limited_to_alice(tmp_path)
    spoof = {"LOGNAME": "alice-the-steward", "USER": "alice-the-steward",
             "NL2SQL_SCHEMAS": str(folder), "NL2SQL_AUDIT_LOG": str(tmp_path / "audit.jsonl")}
    result = isolated_env.run("sql", "SELECT phone FROM customers LIMIT 1", "--role", "steward",
                              "--db", str(sample_db_path), env=spoof)
    assert result.returncode == 2 and "limited to alice-the-steward" in result.stderr
    assert not re.search(r"1[3-9]\d{9}", result.stdout + result.stderr)
    [record] = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert record["decision"] == "refused" and record["role"] == "steward"
    assert record["user"] == current_user() and record["command"] == "sql"
    assert "limited to" in record["reason"]


def test_a_refused_role_switch_in_the_shell_is_audited(isolated_env: IsolatedEnv,
                                                       sample_db_path: Path,
                                                       tmp_path: Path) -> None:
    folder = steward_limited_to_alice(tmp_path)
    log = tmp_path / "audit.jsonl"
    result = isolated_env.run("shell", "--db", str(sample_db_path), input="\\role steward\n",
                              env={"LOGNAME": "alice-the-steward", "NL2SQL_SCHEMAS": str(folder),
                                   "NL2SQL_AUDIT_LOG": str(log)})
    assert "limited to alice-the-steward" in result.stdout + result.stderr
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert (record["decision"], record["role"], record["command"]) == ("refused", "steward",
                                                                       "shell")
