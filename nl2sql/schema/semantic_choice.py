"""Which semantic-layer file describes a database: named outright, named after it, or the
one whose tables it has.

The order, first that applies:

1. ``--semantic FILE`` (``NL2SQL_SEMANTIC``): that file. A missing, unreadable or
   non-fitting file is an error: a policy someone named must not be skipped silently.
2. By name: ``<schemas>/<database>.yaml``, else a file there whose ``database:`` names the
   database.
3. By tables: a file *fits* a database when it describes at least one table and every
   table it describes exists in the database with every column it describes (names
   compared case-insensitively). Among the fitting files, the one describing the most
   tables wins; a tie between the best is refused (:class:`ConfigError` naming them),
   because which policy protects a database must not depend on the order of a listing.

Step 3 is what keeps a renamed copy (``nl2sql sample-db --out big.duckdb``) under the
policy of ``shop.yaml``. A file's policy must not be lost to a rename, and a file is never
applied to a database lacking its tables (merging it would fail anyway).

Steps 2 and 3 need, of every file in the folder, only its ``database:`` and the names of its
tables and columns. Parsing each YAML file on every start would cost more than the rest of
a warm start, so those names are kept in a small index in the cache directory
(``semantic_index.json``, mode 0600), keyed by each file's path, size and modification time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nl2sql.catalog import Catalog
from nl2sql.errors import ConfigError
from nl2sql.files import stat_key, write_private

INDEX_VERSION = 1
SETTING, NAME, TABLES = "setting", "name", "tables"  # how a file was chosen

def load_yaml(path: Path) -> Any:
    """A semantic-layer file's data; ConfigError (one line) when it cannot be read."""
    import yaml  # here, not at the top: a warm start reads the merged catalog's cache instead

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read the semantic-layer file: {reason}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc


@dataclass(frozen=True)
class FileHead:
    """What choosing needs of a file: its ``database:`` and the tables and columns it
    describes (names as written)."""

    database: str | None = None
    tables: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any) -> FileHead:
        """The head of a file's data (anything not shaped as expected counts as absent:
        merging the file reports it properly)."""
        if not isinstance(data, dict):
            return cls()
        database = data.get("database")
        tables: dict[str, list[str]] = {}
        spec = data.get("tables")
        if isinstance(spec, dict):
            for name, table in spec.items():
                columns = table.get("columns") if isinstance(table, dict) else None
                tables[str(name)] = [str(c) for c in columns] if isinstance(columns, dict) else []
        return cls(database=None if database is None else str(database), tables=tables)

    def missing_from(self, catalog: Catalog) -> list[str]:
        """The tables and ``table.column`` names it describes that ``catalog`` lacks."""
        missing: list[str] = []
        for name, columns in self.tables.items():
            table = catalog.table(name)
            if table is None:
                missing.append(name)
                continue
            missing += [f"{name}.{c}" for c in columns if table.column(c) is None]
        return missing

    def fits(self, catalog: Catalog) -> bool:
        return bool(self.tables) and not self.missing_from(catalog)


@dataclass(frozen=True)
class Choice:
    """The file that applies and how it was chosen (``setting``, ``name`` or ``tables``)."""

    path: Path
    by: str
    database: str | None = None  # the file's own ``database:``

    def note(self, catalog: Catalog) -> str | None:
        """What a reader must be told: a file chosen by its tables was written for another
        name, and may not be what was meant."""
        if self.by != TABLES:
            return None
        written = f" (written for database {self.database})" if self.database else ""
        return (f"semantic layer {self.path}{written} applies to {catalog.name} because "
                f"{catalog.name} has all its tables; name another with --semantic FILE")


def choose(schemas_dir: Path, catalog: Catalog, explicit: Path | None = None,
           cache_dir: Path | None = None) -> Choice | None:
    """The semantic-layer file for ``catalog`` (None when none applies); see the module."""
    if explicit is not None:
        return _explicit(explicit, catalog)
    direct = schemas_dir / f"{catalog.name}.yaml"
    if direct.is_file():
        return Choice(direct, NAME)
    heads = read_heads(schemas_dir, cache_dir)
    for path, head in heads:
        if head.database == catalog.name:
            return Choice(path, NAME, head.database)
    fitting = [(len(head.tables), path, head) for path, head in heads if head.fits(catalog)]
    if not fitting:
        return None
    best = max(n for n, _, _ in fitting)
    top = [(path, head) for n, path, head in fitting if n == best]
    if len(top) > 1:
        names = " and ".join(str(p) for p, _ in top)
        raise ConfigError(f"{names} both describe all of their {best} tables in {catalog.name}: "
                          f"name the one that applies with --semantic FILE (or NL2SQL_SEMANTIC)")
    path, head = top[0]
    return Choice(path, TABLES, head.database)


def _explicit(path: Path, catalog: Catalog) -> Choice:
    if not path.is_file():
        raise ConfigError(f"semantic-layer file not found: {path} (from --semantic or "
                          "NL2SQL_SEMANTIC)")
    head = FileHead.of(load_yaml(path))
    missing = head.missing_from(catalog)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        written = f" (written for database {head.database})" if head.database else ""
        raise ConfigError(f"{path}{written} does not describe {catalog.name}: it has no "
                          f"{shown}")
    return Choice(path, SETTING, head.database)


# --- the index of a folder's files --------------------------------------------------------


def read_heads(schemas_dir: Path, cache_dir: Path | None) -> list[tuple[Path, FileHead]]:
    """Every ``*.yaml``/``*.yml`` file in ``schemas_dir`` (sorted) with its head, from the
    index where the file is unchanged; a file that is not valid YAML is an error (its
    policy may be the one that applies)."""
    try:
        paths = sorted(p for p in schemas_dir.glob("*.y*ml") if p.is_file())
    except OSError:
        return []
    if not paths:
        return []
    index = _read_index(cache_dir)
    heads: list[tuple[Path, FileHead]] = []
    changed = False
    for path in paths:
        key = stat_key(path)
        entry = index.get(str(path))
        if key is not None and isinstance(entry, dict) and entry.get("key") == key:
            heads.append((path, FileHead(entry.get("database"), dict(entry.get("tables") or {}))))
            continue
        head = FileHead.of(load_yaml(path))
        heads.append((path, head))
        index[str(path)] = {"key": key, "database": head.database, "tables": head.tables}
        changed = True
    if changed:
        _write_index(cache_dir, {str(p): index[str(p)] for p, _ in heads})
    return heads


def _index_file(cache_dir: Path) -> Path:
    return cache_dir / "semantic_index.json"


def _read_index(cache_dir: Path | None) -> dict[str, Any]:
    if cache_dir is None:
        return {}
    try:
        data = json.loads(_index_file(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or damaged: rebuilt from the files
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        return {}
    files = data.get("files")
    return dict(files) if isinstance(files, dict) else {}


def _write_index(cache_dir: Path | None, files: dict[str, Any]) -> None:
    """Atomically, owner-only; failing to write it never fails a question."""
    if cache_dir is not None:
        write_private(_index_file(cache_dir),
                      json.dumps({"version": INDEX_VERSION, "files": files}, ensure_ascii=False))
