"""Shell history: one file per role, readable by its owner only (a steward's typed literals
never come back in an analyst's Ctrl-R, nor to another local user)."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nl2sql.interfaces.shell.loop import history_file, role_history


def fake_state(role: str) -> Any:
    return SimpleNamespace(session=SimpleNamespace(access=SimpleNamespace(role=role)))


def test_history_files_are_private_and_per_role(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    old = tmp_path / "nl2sql" / "history-analyst"
    old.parent.mkdir(mode=0o755)
    old.write_text("")
    old.chmod(0o644)  # left world-readable by an older version
    analyst, steward = history_file("analyst"), history_file("steward")
    assert analyst != steward and analyst == old
    for path in (analyst, steward):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert history_file("../../etc/passwd").parent == tmp_path / "nl2sql"


def test_lines_are_filed_under_the_role_they_were_typed_as(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    state = fake_state("steward")
    history = role_history(state)
    history.store_string("SELECT * FROM customers WHERE phone = '13812345678'")
    state.session.access.role = "analyst"  # \role analyst
    history.store_string("SELECT count(*) FROM orders")
    recalled = list(role_history(fake_state("analyst")).load_history_strings())
    assert recalled == ["SELECT count(*) FROM orders"]
    assert "13812345678" in history_file("steward").read_text(encoding="utf-8")
    assert "13812345678" not in history_file("analyst").read_text(encoding="utf-8")
