"""Stage 2 — the semantic layer: ``schemas/<database>.yaml`` merged over introspection.

The file adds what a database cannot say about itself: descriptions,
synonyms in English and Chinese, value aliases (``Shanghai: [上海, 沪]``),
business terms (``sales = sum(orders.total_amount)``) and verified examples.
See the README section "Semantic layer" for the format.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from nl2sql.catalog import Catalog, Column, Example, Table, Term
from nl2sql.errors import ConfigError

TOP_KEYS = {"database", "description", "tables", "terms", "examples", "roles"}
TERM_KEYS = {"sql", "synonyms", "description", "alternatives"}
TABLE_KEYS = {"description", "synonyms", "columns", "deny", "row_filter", "tags"}
COLUMN_KEYS = {"description", "synonyms", "values", "pii", "mask", "deny", "tags"}


def find_file(schemas_dir: Path, database: str) -> Path | None:
    """``schemas/<database>.yaml``, or any YAML there whose ``database:`` says so."""
    direct = schemas_dir / f"{database}.yaml"
    if direct.is_file():
        return direct
    if not schemas_dir.is_dir():
        return None
    for path in sorted(schemas_dir.glob("*.y*ml")):
        head = _load_yaml(path)
        if isinstance(head, dict) and head.get("database") == database:
            return path
    return None


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def apply(catalog: Catalog, schemas_dir: Path) -> Catalog:
    """A copy of ``catalog`` with its semantic file merged in (unchanged if none).

    >>> from nl2sql.catalog import Catalog
    >>> apply(Catalog(name="nothing_here", tables={}), Path("/nonexistent")).terms
    []
    """
    path = find_file(schemas_dir, catalog.name)
    if path is None:
        return catalog
    data = _load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    _check_keys(data, TOP_KEYS, str(path))
    merged = copy.deepcopy(catalog)
    merged.semantic_files = [str(path)]
    merged.description = _text(data.get("description"), path, "description")
    for name, spec in (data.get("tables") or {}).items():
        _merge_table(merged, str(name), spec or {}, path)
    merged.terms = [_term(str(n), s, path) for n, s in (data.get("terms") or {}).items()]
    merged.examples = [_example(e, path) for e in data.get("examples") or []]
    return merged


def _merge_table(catalog: Catalog, name: str, spec: dict[str, Any], path: Path) -> None:
    table = catalog.table(name)
    if table is None:
        raise ConfigError(f"{path}: table {name!r} is not in database {catalog.name!r}")
    _check_keys(spec, TABLE_KEYS, f"{path}: tables.{name}")
    table.description = _text(spec.get("description"), path, name) or table.description
    table.synonyms = _strings(spec.get("synonyms"), path, f"{name}.synonyms")
    for column_name, column_spec in (spec.get("columns") or {}).items():
        column = table.column(str(column_name))
        if column is None:
            raise ConfigError(f"{path}: column {name}.{column_name} does not exist")
        _merge_column(column, column_spec or {}, path, f"{name}.{column_name}")
    _merge_table_tags(table, spec)


def _merge_table_tags(table: Table, spec: dict[str, Any]) -> None:
    table.tags = {k: spec[k] for k in ("deny", "row_filter") if k in spec}
    table.tags.update(spec.get("tags") or {})


def _merge_column(column: Column, spec: dict[str, Any], path: Path, where: str) -> None:
    _check_keys(spec, COLUMN_KEYS, f"{path}: {where}")
    column.description = _text(spec.get("description"), path, where) or column.description
    column.synonyms = _strings(spec.get("synonyms"), path, f"{where}.synonyms")
    values = spec.get("values") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: {where}.values must map stored values to aliases")
    column.values = {str(k): _strings(v, path, f"{where}.values.{k}") for k, v in values.items()}
    column.tags = {k: spec[k] for k in ("pii", "mask", "deny") if k in spec}
    column.tags.update(spec.get("tags") or {})


def _term(name: str, spec: Any, path: Path) -> Term:
    if isinstance(spec, str):
        return Term(name=name, sql=spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("sql"), str):
        raise ConfigError(f"{path}: terms.{name} needs an 'sql' expression")
    _check_keys(spec, TERM_KEYS, f"{path}: terms.{name}")
    return Term(name=name, sql=spec["sql"], synonyms=_strings(spec.get("synonyms"), path, name),
                description=_text(spec.get("description"), path, name),
                alternatives=_strings(spec.get("alternatives"), path, f"{name}.alternatives"))


def _example(spec: Any, path: Path) -> Example:
    if not isinstance(spec, dict) or not spec.get("question") or not spec.get("sql"):
        raise ConfigError(f"{path}: every example needs a 'question' and an 'sql'")
    return Example(question=str(spec["question"]), sql=str(spec["sql"]).strip())


def _check_keys(spec: Any, allowed: set[str], where: str) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _strings(value: Any, path: Path, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, int, float)):
        return [str(value)]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ConfigError(f"{path}: {where} must be a list of strings")


def _text(value: Any, path: Path, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{path}: {where}: description must be text")
