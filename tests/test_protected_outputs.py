"""No file nl2sql writes may replace the database it reads — by name, through a symbolic
link or as a hard link (issue: `catalog --output <the db>` overwrote it with Markdown, and a
hard-linked workspace made `extract` write into the source database)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import IsolatedEnv


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LINKS: dict[str, Callable[[Path, Path], None]] = {
    "same name": lambda db, target: None,
    "symbolic link": lambda db, target: target.symlink_to(db),
    "hard link": lambda db, target: os.link(db, target),
}


def target_for(kind: str, db: Path, name: str) -> Path:
    if kind == "same name":
        return db
    target = db.parent / name
    LINKS[kind](db, target)
    return target


@pytest.mark.parametrize("kind", LINKS)
def test_catalog_output_never_replaces_the_database(kind: str, isolated_env: IsolatedEnv,
                                                    sample_db_copy: Path) -> None:
    before = digest(sample_db_copy)
    target = target_for(kind, sample_db_copy, "dictionary.md")
    result = isolated_env.run("catalog", "--db", str(sample_db_copy), "--output", str(target))
    assert result.returncode == 2, result.stderr
    assert "refusing to write --output" in result.stderr and "database file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert digest(sample_db_copy) == before


SHELL_WRITERS = {"\\export": ".csv", "\\catalog": ".md", "\\chart bar": ".png"}


@pytest.mark.parametrize("kind", LINKS)
def test_shell_files_never_replace_the_database(kind: str, isolated_env: IsolatedEnv,
                                                sample_db_copy: Path) -> None:
    """Each of the shell's file writers, in one session (one shell start per link kind)."""
    before = digest(sample_db_copy)
    lines = "SELECT status, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1;\n"
    for number, (command, suffix) in enumerate(SHELL_WRITERS.items()):
        lines += f"{command} {target_for(kind, sample_db_copy, f'out{number}{suffix}')}\n"
    result = isolated_env.run("shell", "--db", str(sample_db_copy), input=lines)
    said = result.stdout + result.stderr
    # \catalog and \chart refuse a name without their extension before anything else
    refused = 1 if kind == "same name" else len(SHELL_WRITERS)
    assert said.count("refusing to write") == refused, said
    assert said.count("error") >= len(SHELL_WRITERS), said
    assert digest(sample_db_copy) == before


def test_a_hard_linked_workspace_is_refused(isolated_env: IsolatedEnv,
                                            sample_db_copy: Path) -> None:
    before = digest(sample_db_copy)
    workspace = sample_db_copy.parent / "workspace.duckdb"
    os.link(sample_db_copy, workspace)
    result = isolated_env.run("extract", "--from", "support_tickets.transcript", "--spec",
                              "pii_mentions", "--limit", "5", "--db", str(sample_db_copy),
                              env={"NL2SQL_WORKSPACE": str(workspace)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is the source database itself" in result.stderr
    assert digest(sample_db_copy) == before


def test_other_files_are_still_written(isolated_env: IsolatedEnv, sample_db_copy: Path) -> None:
    """The refusal is about the database, not about writing next to it."""
    target = sample_db_copy.parent / "dictionary.md"
    result = isolated_env.run("catalog", "--db", str(sample_db_copy), "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8").startswith("#")
