"""The folders are the architecture: imports run one way, from interfaces down to the
foundation. Every import counts, function-level ones included (parsed, not executed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nl2sql"

# Lower layers never import higher ones. Same-rank packages may not import each other
# unless listed in ALLOWED_SIDEWAYS.
LAYERS: dict[str, int] = {
    "": 0,            # foundation: errors, settings, values, catalog, lexicon, files, ...
    "embeddings": 1,  # text vectors (local model or /v1/embeddings): foundation only
    "schema": 1,
    "drafting": 2,
    "safety": 3,
    "pipeline": 4,
    "governance": 5,
    "extract": 6,     # uses the scanner's detectors and the audit log
    "interfaces": 7,
}


def layer_of(module: str) -> str:
    """``nl2sql.safety.policy.rewrite`` → ``safety``; a top-level module → foundation."""
    parts = module.split(".")
    assert parts[0] == "nl2sql"
    if module == "nl2sql.__main__":
        return "interfaces"  # the program itself: it loads the CLI
    if len(parts) == 1:
        return ""
    top = parts[1]
    if top in LAYERS:
        return top
    return ""  # a foundation module at the top of the package


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every nl2sql module ``path`` imports (absolute or relative), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "nl2sql"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nl2sql":
                continue
            if target == "nl2sql":  # from nl2sql import pipeline, ...
                found += [(node.lineno, f"nl2sql.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = layer_of(module_name(path))
        for line, target in imports(path):
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if LAYERS[theirs] >= LAYERS[mine]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine or 'foundation'}) "
                           f"imports {target} ({theirs or 'foundation'})")
    return bad


def test_imports_run_from_interfaces_down_to_the_foundation() -> None:
    assert violations() == []


def test_every_folder_is_a_known_layer() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LAYERS) - {""}, folders - set(LAYERS)


@pytest.mark.parametrize("source, expected", [
    ("from nl2sql.interfaces import render\n", "nl2sql.interfaces"),
    ("def f():\n    from nl2sql.extract.workspace import x\n", "nl2sql.extract.workspace"),
    ("from nl2sql import pipeline\n", "nl2sql.pipeline"),
    ("import nl2sql.governance.audit as audit\n", "nl2sql.governance.audit"),
])
def test_the_checker_sees_every_form_of_import(tmp_path: Path, source: str, expected: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above could pass by seeing nothing: each import form is found."""
    fake = PACKAGE / "schema" / "_layer_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: source)
    assert [t for _, t in imports(fake)] == [expected]
    assert layer_of(expected) != "schema" and LAYERS[layer_of(expected)] > LAYERS["schema"]
