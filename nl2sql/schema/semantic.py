"""Stage 2 — the semantic layer: ``schemas/<database>.yaml`` merged over introspection.

The file adds what a database cannot say about itself: descriptions,
synonyms in English and Chinese, value aliases (``Shanghai: [上海, 沪]``),
business terms (``sales = sum(orders.total_amount)``), verified examples and the access
policy (masks, denies, row filters, roles). Which file applies (named with ``--semantic``,
named after the database, or the one whose tables the database has) is decided by
:mod:`nl2sql.schema.semantic_choice`. See docs/configuration.md for the format.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from nl2sql import column_types
from nl2sql.catalog import (
    DENY_TAG,
    MASK_TAG,
    REDACT_TEXT_TAG,
    Catalog,
    Column,
    Example,
    Role,
    Table,
    Term,
)
from nl2sql.errors import ConfigError
from nl2sql.pii_patterns import REDACT_ORDER, REDACTABLE_KINDS
from nl2sql.schema.semantic_choice import choose, load_yaml, read_heads

TOP_KEYS = {"database", "description", "tables", "terms", "examples", "roles"}
TERM_KEYS = {"sql", "synonyms", "description", "alternatives"}
TABLE_KEYS = {"description", "synonyms", "columns", "deny", "row_filter", "tags"}
COLUMN_KEYS = {"description", "synonyms", "values", "pii", "mask", "deny", "redact_text", "tags"}
ROLE_COLUMN_KEYS = {"mask", "deny", "redact_text"}
ROLE_KEYS = {"description", "default", "columns", "unmask", "allow", "deny_tables",
             "row_filters", "users"}
MASK_MODES = ("none", "partial", "hash", "redact")


def find_file(schemas_dir: Path, database: str) -> Path | None:
    """``schemas/<database>.yaml``, or any YAML there whose ``database:`` says so (the
    choice by name; :func:`apply` also chooses by tables, see :mod:`.semantic_choice`)."""
    direct = schemas_dir / f"{database}.yaml"
    if direct.is_file():
        return direct
    return next((path for path, head in read_heads(schemas_dir, None)
                 if head.database == database), None)


def apply(catalog: Catalog, schemas_dir: Path, explicit: Path | None = None,
          cache_dir: Path | None = None) -> Catalog:
    """A copy of ``catalog`` with its semantic file merged in (unchanged if none applies).

    ``explicit`` is a file named outright (``--semantic``); otherwise the file comes from
    ``schemas_dir``, by the database's name or by its tables (:mod:`.semantic_choice`; the
    folder's index is kept in ``cache_dir``). A file chosen by its tables adds a note saying so.

    >>> from nl2sql.catalog import Catalog
    >>> apply(Catalog(name="nothing_here", tables={}), Path("/nonexistent")).terms
    []
    """
    choice = choose(schemas_dir, catalog, explicit, cache_dir)
    if choice is None:
        return catalog
    path = choice.path
    data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    _check_keys(data, TOP_KEYS, str(path))
    merged = copy.deepcopy(catalog)
    merged.semantic_files = [str(path)]
    note = choice.note(catalog)
    if note:
        merged.notes = [*merged.notes, note]
    merged.description = _text(data.get("description"), path, "description")
    for name, spec in (data.get("tables") or {}).items():
        _merge_table(merged, str(name), spec or {}, path)
    merged.terms = [_term(str(n), s, path) for n, s in (data.get("terms") or {}).items()]
    merged.examples = [_example(e, path) for e in data.get("examples") or []]
    merged.roles = _roles(data.get("roles"), merged, path)
    return merged


def has_policy(catalog: Catalog) -> bool:
    """Whether anything says who may see what: roles, or a ``mask``/``deny``/``redact_text``
    on a column or a ``deny``/``row_filter`` on a table (``mask: none`` counts: someone
    decided).
    Without any, a database is protected by the scanner's defaults (see
    :mod:`nl2sql.governance.pii_default`).

    >>> from nl2sql.catalog import Column, Table
    >>> t = Table("t", [Column("phone", "VARCHAR", tags={"pii": "phone"})])
    >>> has_policy(Catalog("x", {"t": t}))
    False
    >>> t.columns[0].tags["mask"] = "none"
    >>> has_policy(Catalog("x", {"t": t}))
    True
    """
    if catalog.roles:
        return True
    for table in catalog.tables.values():
        if DENY_TAG in table.tags or table.row_filter is not None:
            return True
        if any(MASK_TAG in c.tags or DENY_TAG in c.tags or REDACT_TEXT_TAG in c.tags
               for c in table.columns):
            return True
    return False


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
    _merge_table_tags(table, spec, path)


def _merge_table_tags(table: Table, spec: dict[str, Any], path: Path) -> None:
    table.tags = {k: spec[k] for k in ("deny", "row_filter") if k in spec}
    table.tags.update(spec.get("tags") or {})
    _check_policy(table.tags, path, f"tables.{table.name}")


def _merge_column(column: Column, spec: dict[str, Any], path: Path, where: str) -> None:
    _check_keys(spec, COLUMN_KEYS, f"{path}: {where}")
    column.description = _text(spec.get("description"), path, where) or column.description
    column.synonyms = _strings(spec.get("synonyms"), path, f"{where}.synonyms")
    values = spec.get("values") or {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: {where}.values must map stored values to aliases")
    column.values = {str(k): _strings(v, path, f"{where}.values.{k}") for k, v in values.items()}
    column.tags = {k: spec[k] for k in ("pii", "mask", "deny", REDACT_TEXT_TAG) if k in spec}
    column.tags.update(spec.get("tags") or {})
    _check_policy(column.tags, path, where)
    if REDACT_TEXT_TAG in column.tags:
        column.tags[REDACT_TEXT_TAG] = _redaction(column, column.tags[REDACT_TEXT_TAG], path,
                                                  where)


def _redaction(column: Column, value: Any, path: Path, where: str) -> list[str]:
    """``redact_text`` as the list of kinds it hides (``all`` spelled out, in the order the
    redaction applies them; ``none`` or ``[]``: nothing), refusing unknown kinds and
    columns that hold no text: a typo must not silently leave values in clear."""
    text_items = column_types.item_type(column.type) or column.type
    if not column_types.is_text(text_items):
        raise ConfigError(f"{path}: {where}.redact_text applies to text columns, "
                          f"not {column.type}")
    if value in ("all", True):
        return list(REDACT_ORDER)
    if value in ("none", False, None):
        return []
    kinds = [value] if isinstance(value, str) else value
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ConfigError(f"{path}: {where}.redact_text must be all, none or a list of "
                          f"kinds ({', '.join(REDACT_ORDER)})")
    unknown = [k for k in kinds if k not in REDACTABLE_KINDS]
    if unknown:
        raise ConfigError(f"{path}: {where}.redact_text: unknown kind {unknown[0]!r} "
                          f"(kinds: {', '.join(REDACT_ORDER)}, or all)")
    return [k for k in REDACT_ORDER if k in kinds]


def _check_policy(tags: dict[str, Any], path: Path, where: str) -> None:
    """``mask``, ``deny`` and ``row_filter`` decide what people see: typos must not pass."""
    if "mask" in tags and tags["mask"] not in MASK_MODES:
        raise ConfigError(f"{path}: {where}.mask must be one of {', '.join(MASK_MODES)}, "
                          f"not {tags['mask']!r}")
    if "deny" in tags and not isinstance(tags["deny"], bool):
        raise ConfigError(f"{path}: {where}.deny must be true or false")
    if "row_filter" in tags and not isinstance(tags["row_filter"], str):
        raise ConfigError(f"{path}: {where}.row_filter must be an SQL condition in quotes")


def _roles(spec: Any, catalog: Catalog, path: Path) -> dict[str, Role]:
    if spec is None:
        return {}
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{path}: roles must map role names to their rules")
    return {str(name): _role(str(name), rules or {}, catalog, path)
            for name, rules in spec.items()}


def _role(name: str, spec: Any, catalog: Catalog, path: Path) -> Role:
    where = f"{path}: roles.{name}"
    _check_keys(spec, ROLE_KEYS, where)
    columns = spec.get("columns") or {}
    if not isinstance(columns, dict):
        raise ConfigError(f"{where}.columns must map table.column to mask/deny")
    role = Role(
        name=name, description=_text(spec.get("description"), path, f"roles.{name}"),
        default=bool(spec.get("default", False)),
        columns={str(k): _role_column(str(k), v, catalog, path, f"roles.{name}")
                 for k, v in columns.items()},
        unmask=_everything_or(spec.get("unmask"), catalog, path, f"roles.{name}.unmask"),
        allow=_everything_or(spec.get("allow"), catalog, path, f"roles.{name}.allow"),
        deny_tables=[_known_table(t, catalog, where)
                     for t in _strings(spec.get("deny_tables"), path, "deny_tables")],
        row_filters=_row_filters(spec.get("row_filters"), catalog, where),
        users=_strings(spec.get("users"), path, f"roles.{name}.users"))
    return role


def _role_column(ref: str, rules: Any, catalog: Catalog, path: Path,
                 where: str) -> dict[str, Any]:
    known = _known_column(ref, catalog, f"{path}: {where}")
    _check_keys(rules, ROLE_COLUMN_KEYS, f"{path}: {where}.columns.{ref}")
    _check_policy(rules, path, f"{where}.columns.{ref}")
    rules = dict(rules)
    if REDACT_TEXT_TAG in rules:
        table_name, _, column_name = known.partition(".")
        table = catalog.table(table_name)
        column = table.column(column_name) if table else None
        assert column is not None  # _known_column found it
        rules[REDACT_TEXT_TAG] = _redaction(column, rules[REDACT_TEXT_TAG], path,
                                            f"{where}.columns.{ref}")
    return rules


def _everything_or(value: Any, catalog: Catalog, path: Path, where: str) -> list[str]:
    """``all`` or a list of ``table.column`` / ``table`` names."""
    if value in ("all", "*", True):
        return ["*"]
    names = _strings(value, path, where)
    for name in names:
        if "." in name:
            _known_column(name, catalog, f"{path}: {where}")
        else:
            _known_table(name, catalog, f"{path}: {where}")
    return names


def _row_filters(value: Any, catalog: Catalog, where: str) -> dict[str, str | None]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.row_filters must map a table to an SQL condition")
    filters: dict[str, str | None] = {}
    for table, condition in value.items():
        name = _known_table(str(table), catalog, where)
        if condition is not None and condition != "none" and not isinstance(condition, str):
            raise ConfigError(f"{where}.row_filters.{table} must be an SQL condition in quotes")
        filters[name] = None if condition in (None, "none") else condition
    return filters


def _known_table(name: str, catalog: Catalog, where: str) -> str:
    table = catalog.table(name)
    if table is None:
        raise ConfigError(f"{where}: table {name!r} is not in database {catalog.name!r}")
    return table.name


def _known_column(ref: str, catalog: Catalog, where: str) -> str:
    table_name, _, column_name = ref.partition(".")
    table = catalog.table(_known_table(table_name, catalog, where))
    column = table.column(column_name) if table else None
    if table is None or column is None:
        raise ConfigError(f"{where}: {ref!r} is not a table.column of {catalog.name!r}")
    return f"{table.name}.{column.name}"


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
