"""Start-up cost of a one-shot CLI run: what it must not import, and that the light
parameter check in front of Typer's keeps Typer's own messages."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import IsolatedEnv, clean_environ

# Heavy modules a warm `nl2sql sql` / `nl2sql ask --drafter offline` has no use for.
NOT_NEEDED = ("pydantic", "sqlalchemy", "openai", "httpx", "prompt_toolkit", "matplotlib",
              "plotext", "rich", "yaml")

PROBE = """
import json, sys
from nl2sql.interfaces.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nMODULES " + json.dumps(sorted(m.split(".")[0] for m in sys.modules)) + "\\n")
"""


def loaded_modules(args: list[str], cwd: Path, cache_dir: Path) -> tuple[str, set[str]]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PROBE), *args], cwd=cwd,
                          env=clean_environ(cache_dir), capture_output=True, text=True,
                          timeout=120, check=False)
    line = next(ln for ln in done.stderr.splitlines() if ln.startswith("MODULES "))
    return done.stdout, set(json.loads(line.removeprefix("MODULES ")))


@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["sql", "SELECT count(*) AS n FROM customers", "-f", "csv"],
    ["ask", "How many customers are in each city?", "--drafter", "offline", "-f", "csv"],
], ids=["sql", "ask-offline"])
def test_one_shot_run_skips_heavy_imports(args: list[str], isolated_env: IsolatedEnv,
                                          sample_db_path: Path) -> None:
    argv = [*args, "--db", str(sample_db_path)]
    isolated_env.run(*argv)  # the introspection cache is warm from here on
    out, modules = loaded_modules(argv, isolated_env.cwd, isolated_env.cache_dir)
    assert out.strip(), "the command printed nothing"
    assert not modules & set(NOT_NEEDED), modules & set(NOT_NEEDED)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", "１２"])
def test_bad_numbers_still_get_typers_message(value: str, isolated_env: IsolatedEnv,
                                              sample_db_path: Path) -> None:
    result = isolated_env.run("sql", "SELECT 1", "--db", str(sample_db_path), "--limit", value)
    assert result.returncode == 2
    assert "Invalid value for '--limit'" in result.stderr


def test_plain_values_are_coerced_without_pydantic() -> None:
    from nl2sql.interfaces.fast_params import _light_value

    class Info:
        min, max, clamp = 1, 10, False

    assert _light_value("7", int, Info()) == 7
    assert _light_value("11", int, Info()) is None  # out of range: Typer says why
    assert _light_value(False, bool, Info()) is False
    assert _light_value("text", str, Info()) == "text"
    assert _light_value(3, str, Info()) is None


def test_only_the_command_that_runs_is_built() -> None:
    from nl2sql.interfaces.cli import app
    from nl2sql.interfaces.lazy_commands import click_command

    group = click_command(app)
    assert group.commands.built == []
    with pytest.raises(SystemExit):
        group(args=["sql", "--help"], prog_name="nl2sql", standalone_mode=True)
    assert group.commands.built == ["sql"]


def test_lazy_commands_match_typers_own() -> None:
    """Same names in the same order, each command with the same options, defaults and help."""
    import typer

    from nl2sql.interfaces.cli import app
    from nl2sql.interfaces.lazy_commands import click_command

    full = typer.main.get_command(app)
    lazy = click_command(app)
    assert list(lazy.commands) == list(full.commands)
    assert [p.name for p in lazy.params] == [p.name for p in full.params]

    def shape(command: object) -> list[tuple[object, ...]]:
        return [(p.name, tuple(p.opts), p.default, p.required, getattr(p, "help", None))
                for p in command.params]  # type: ignore[attr-defined]

    for name, command in full.commands.items():
        built = lazy.commands[name]
        assert shape(built) == shape(command), name
        assert built.help == command.help
