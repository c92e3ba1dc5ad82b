"""The merged catalog (introspection + semantic layer) is cached, and never stale: a policy
edit, a new file that starts to apply by its tables, or ``--semantic`` take effect on the
next run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import IsolatedEnv

from nl2sql.pipeline import session as session_module
from nl2sql.schema import merged_cache, semantic
from nl2sql.settings import Settings

REPO_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "shop.yaml"
CITY_SQL = "SELECT city FROM customers WHERE customer_id <= 3 ORDER BY customer_id"


def settings_for(db: Path, schemas: Path, cache: Path) -> Settings:
    return Settings(db=str(db), schemas_dir=schemas, cache_dir=cache)


def test_a_warm_start_reads_the_merged_catalog_without_merging(
        sample_db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    shutil.copy(REPO_SCHEMA, schemas / "shop.yaml")
    settings = settings_for(sample_db_path, schemas, tmp_path / "cache")
    _, first = session_module.load_catalog(settings)

    def no_merging(*args: object, **kwargs: object) -> None:
        raise AssertionError("merged again although nothing changed")

    monkeypatch.setattr(semantic, "apply", no_merging)
    _, second = session_module.load_catalog(settings)
    assert second == first  # the cache round-trips the whole catalog: roles, terms, tags
    assert second.roles and second.semantic_files == [str(schemas / "shop.yaml")]
    cached = next((tmp_path / "cache" / "catalogs").glob("*.merged.json"))
    assert cached.stat().st_mode & 0o777 == 0o600


def test_a_damaged_cache_is_merged_again(sample_db_path: Path, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    shutil.copy(REPO_SCHEMA, schemas / "shop.yaml")
    settings = settings_for(sample_db_path, schemas, tmp_path / "cache")
    _, first = session_module.load_catalog(settings)
    cached = next((tmp_path / "cache" / "catalogs").glob("*.merged.json"))
    data = json.loads(cached.read_text())
    data["catalog"]["tables"] = "not tables"
    cached.write_text(json.dumps(data))
    _, again = session_module.load_catalog(settings)
    assert again == first


def test_a_policy_edit_applies_on_the_next_run(isolated_env: IsolatedEnv,
                                               sample_db_path: Path, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    policy = schemas / "shop.yaml"
    shutil.copy(REPO_SCHEMA, policy)
    env = {"NL2SQL_SCHEMAS": str(schemas)}
    args = ("sql", CITY_SQL, "--db", str(sample_db_path), "--role", "analyst", "-f", "csv")
    before = isolated_env.run(*args, env=env)
    assert before.stdout.splitlines()[1:] and "[redacted]" not in before.stdout, before.stderr
    text = policy.read_text(encoding="utf-8")
    marker = "      city:\n"
    assert marker in text
    policy.write_text(text.replace(marker, marker + "        mask: redact\n", 1),
                      encoding="utf-8")
    after = isolated_env.run(*args, env=env)
    assert after.returncode == 0, after.stderr
    assert after.stdout.splitlines()[1:] == ["[redacted]"] * 3, after.stdout


def test_a_file_that_starts_to_apply_by_its_tables_is_seen(isolated_env: IsolatedEnv,
                                                           sample_db_path: Path,
                                                           tmp_path: Path) -> None:
    renamed = tmp_path / "big.duckdb"
    shutil.copy(sample_db_path, renamed)
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    env = {"NL2SQL_SCHEMAS": str(schemas)}
    args = ("schema", "--db", str(renamed), "-f", "json")
    first = json.loads(isolated_env.run(*args, env=env).stdout)
    assert first["semantic_files"] == []
    shutil.copy(REPO_SCHEMA, schemas / "shop.yaml")
    second = json.loads(isolated_env.run(*args, env=env).stdout)
    assert second["semantic_files"] == [str(schemas / "shop.yaml")]


def test_the_key_follows_every_input(sample_db_path: Path, tmp_path: Path) -> None:
    from nl2sql.schema.source import resolve

    source = resolve(str(sample_db_path))
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    base = merged_cache.key_of(source, schemas, None)
    (schemas / "other.yaml").write_text("database: other\n")
    with_file = merged_cache.key_of(source, schemas, None)
    explicit = merged_cache.key_of(source, schemas, REPO_SCHEMA)
    assert len({json.dumps(k) for k in (base, with_file, explicit)}) == 3
    assert merged_cache.key_of(source, schemas, REPO_SCHEMA) == explicit  # and is stable
