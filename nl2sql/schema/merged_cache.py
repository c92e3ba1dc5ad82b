"""The catalog after the semantic layer, cached beside introspection's: a warm-start saving.

Merging ``schemas/*.yaml`` into the introspected catalog (importing and running the YAML
parser, checking every rule, copying the catalog) cost about as much as the rest of a warm
``nl2sql sql`` apart from imports. Its result depends only on:

- the database files (introspection's :func:`~nl2sql.schema.introspect.file_key`);
- every semantic-layer file that could apply: each ``*.yaml``/``*.yml`` in the schemas
  folder (a new file can start to apply by its tables) and the file named by
  ``--semantic``, each by path, inode, size, modification and change time;
- the code that merges (the modules below, by size and modification time), so an upgrade
  or a local edit of the merge never meets a catalog merged by other code.

When all of these are unchanged the merged catalog is read from one file (0600, in the
0700 cache folder: it holds profiles, like introspection's cache). Anything else, and the
catalog is merged as before. A policy edit therefore applies on the next run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nl2sql.catalog import Catalog
from nl2sql.files import stat_key, write_private
from nl2sql.schema.introspect import cache_path, file_key
from nl2sql.schema.source import Source

MERGED_VERSION = 1
_HERE = Path(__file__).resolve().parent
# The code whose output is cached: the merge, the choice of file, the catalog's own shape.
_MERGING_CODE = (_HERE / "semantic.py", _HERE / "semantic_choice.py",
                 _HERE.parent / "catalog.py", Path(__file__).resolve())


def _stat_key(path: Path) -> list[Any]:
    key = stat_key(path)
    return [str(path), *key] if key is not None else [str(path), None]


def key_of(source: Source, schemas_dir: Path, explicit: Path | None) -> list[Any]:
    """Everything the merged catalog depends on, as comparable data (stat calls only)."""
    try:
        files = sorted(p for p in schemas_dir.glob("*.y*ml"))
    except OSError:
        files = []
    semantic_files = [_stat_key(p) for p in files]
    if explicit is not None:
        semantic_files.append(["explicit", *_stat_key(explicit)])
    return [MERGED_VERSION, file_key(source), str(schemas_dir.resolve()), semantic_files,
            [_stat_key(p) for p in _MERGING_CODE]]


def _path(cache_dir: Path, source: Source) -> Path:
    return cache_path(cache_dir, source, ".merged.json")


def load(cache_dir: Path, source: Source, key: list[Any]) -> Catalog | None:
    """The merged catalog saved under exactly ``key``, else None."""
    try:
        data = json.loads(_path(cache_dir, source).read_text(encoding="utf-8"))
        # JSON has no tuples: compare the key as it comes back from JSON
        if isinstance(data, dict) and data.get("merged_key") == json.loads(json.dumps(key)):
            return Catalog.from_json(data["catalog"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing or damaged: merged again
    return None


def save(cache_dir: Path, source: Source, catalog: Catalog, key: list[Any]) -> None:
    """Write atomically, owner-only; failing to cache never fails a question."""
    write_private(_path(cache_dir, source),
                  json.dumps({"merged_key": key, "catalog": catalog.to_json()},
                             ensure_ascii=False))
