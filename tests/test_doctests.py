"""The ``>>>`` examples in the product's docstrings run, and hold.

Every module under ``nl2sql/`` whose source has an example is found by reading the files
(so a module that moves or is added is picked up without editing this list), imported, and
its examples run with :mod:`doctest`, one test per module.
"""

from __future__ import annotations

import doctest
import importlib
import io
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nl2sql"
EXAMPLE = re.compile(r"^\s*>>> (?!#)", re.M)  # ">>> # ..." is prose (doctest skips it too)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if EXAMPLE.search(path.read_text(encoding="utf-8")):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


MODULES = modules_with_examples()


def test_the_examples_are_found() -> None:
    # a broken search would make the test below pass by running nothing
    assert len(MODULES) >= 10, MODULES
    assert "nl2sql.column_types" in MODULES and "nl2sql.safety.policy.rewrite" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    assert tests, f"{name} has '>>>' lines but doctest finds no example in its docstrings"
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in tests:
        runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, report.getvalue()
